package storetest

import (
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

// fileState reads the recorded tenant-file state.
func fileState(t *testing.T, s store.Store) map[string][]byte {
	t.Helper()
	st, err := s.TenantFileState(t.Context())
	must(t, err, "TenantFileState")
	if st == nil {
		t.Fatal("TenantFileState returned nil, want an empty map")
	}
	return st
}

// testApplyFileState: the last-applied state of the tenant file is stored
// with the records, entry by entry (an entry replaces that path's, other
// paths stay), byte for byte.
func testApplyFileState(t *testing.T, s store.Store) {
	ctx := t.Context()
	diff(t, "state of a new store", map[string][]byte{}, fileState(t, s))

	// Hashes are binary: NUL bytes and high bytes survive.
	bin := append([]byte{0, 0xff, 0x80}, hash("x")...)
	cfg := tenantConfig()
	cfg.FileState = map[string][]byte{
		"settings.friendly_name":     hash("Acme"),
		"clients[client_a].name":     hash("App client_a"),
		"clients[client_a]":          bin,
		"client_grants[a b c].scope": hash("scope"),
	}
	must(t, s.ApplyTenant(ctx, cfg), "ApplyTenant with state")
	diff(t, "state after apply", cfg.FileState, fileState(t, s))
	diff(t, "records after apply", configSnapshot(tenantConfig()), takeSnapshot(t, s), snapshotOpts)

	// A state-only apply (the file changed where the store already agreed)
	// updates the entries it names and keeps the others.
	must(t, s.ApplyTenant(ctx, store.TenantConfig{FileState: map[string][]byte{
		"settings.friendly_name": hash("Acme 2"),
		"settings.support_email": hash("ops@example.com"),
	}}), "state-only ApplyTenant")
	want := map[string][]byte{
		"settings.friendly_name":     hash("Acme 2"),
		"settings.support_email":     hash("ops@example.com"),
		"clients[client_a].name":     hash("App client_a"),
		"clients[client_a]":          bin,
		"client_grants[a b c].scope": hash("scope"),
	}
	diff(t, "state after state-only apply", want, fileState(t, s))
	diff(t, "records after state-only apply", configSnapshot(tenantConfig()), takeSnapshot(t, s), snapshotOpts)

	// An apply without state leaves the state alone.
	must(t, s.ApplyTenant(ctx, store.TenantConfig{Clients: []store.Client{sampleClient("client_c")}}), "ApplyTenant without state")
	diff(t, "state after an apply without state", want, fileState(t, s))

	// A nil hash forgets its path (a missing one is no error).
	must(t, s.ApplyTenant(ctx, store.TenantConfig{FileState: map[string][]byte{
		"settings.support_email": nil,
		"settings.never_stated":  nil,
	}}), "ApplyTenant forgetting paths")
	delete(want, "settings.support_email")
	diff(t, "state after forgetting a path", want, fileState(t, s))
}

// testApplyFileStateAtomic: a failed ApplyTenant records none of its state,
// and one whose records are rolled back leaves the previous state intact.
func testApplyFileStateAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := tenantConfig()
	first.FileState = map[string][]byte{"settings.friendly_name": hash("Acme"), "connections[email].options.totp.length": hash("6")}
	must(t, s.ApplyTenant(ctx, first), "first ApplyTenant")
	before := takeSnapshot(t, s)

	cfg := tenantConfig()
	cfg.Settings.FriendlyName = "Changed"
	cfg.Connections = append(cfg.Connections,
		sampleConnection("con_dup", "dup-one"),
		sampleConnection("con_dup", "dup-two"),
	)
	cfg.FileState = map[string][]byte{
		"settings.friendly_name":                 hash("Changed"),
		"connections[email].options.totp.length": hash("8"),
		"connections[dup-one]":                   hash("dup-one"),
	}
	err := s.ApplyTenant(ctx, cfg)
	wantErr(t, err, store.ErrConflict, "ApplyTenant with two connections sharing an ID")
	diff(t, "records after failed apply", before, takeSnapshot(t, s), snapshotOpts)
	diff(t, "state after failed apply", first.FileState, fileState(t, s))
}
