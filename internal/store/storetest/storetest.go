// Package storetest is the conformance suite of the storage contract. Every
// backend runs it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite never depends on sub-millisecond precision or on the time zone of
// the times a backend returns: times are compared with Equal after
// truncating to the millisecond, and the times it stores are given in a
// non-UTC zone on purpose.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/internal/store"
)

// Run runs the conformance suite. open must return a fresh, empty, migrated
// store each time it is called and arrange for it to be closed (t.Cleanup);
// every subtest calls it once, and subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Settings", []testCase{{"RoundTrip", testSettings}}},
		{"Clients", []testCase{{"CRUD", testClients}, {"ModifyClient", testModifyClient}, {"ModifyClientConcurrent", testModifyClientConcurrent}}},
		{"Connections", []testCase{{"CRUD", testConnections}, {"ByName", testConnectionByName}}},
		{"ResourceServers", []testCase{{"CRUD", testResourceServers}, {"ByIdentifier", testResourceServerByIdentifier}}},
		{"ClientGrants", []testCase{{"CRUD", testClientGrants}}},
		{"ApplyTenant", []testCase{
			{"Insert", testApplyInsert},
			{"Idempotent", testApplyIdempotent},
			{"UpsertByNaturalKey", testApplyUpsert},
			{"AllOrNothingConnectionID", testApplyAtomicConnection},
			{"AllOrNothingGrantID", testApplyAtomicGrant},
			{"FileState", testApplyFileState},
			{"FileStateAllOrNothing", testApplyFileStateAtomic},
		}},
		{"Users", []testCase{
			{"CRUD", testUsersCRUD},
			{"Conflicts", testUsersConflicts},
			{"Blocked", testUsersBlocked},
			{"List", testUsersList},
			{"DeleteRevokesTokens", testUsersDeleteTokens},
			{"PurgeExpired", testPurgeExpired},
		}},
		{"UsersAdmin", usersAdminCases},
		{"RecordLogin", []testCase{
			{"Signup", testRecordLoginSignup},
			{"NoSignup", testRecordLoginNoSignup},
			{"Existing", testRecordLoginExisting},
			{"Blocked", testRecordLoginBlocked},
			{"UserIDTaken", testRecordLoginUserIDTaken},
		}},
		{"Codes", []testCase{
			{"RoundTrip", testCodeRoundTrip},
			{"NotFound", testCodeNotFound},
			{"Replace", testCodeReplace},
			{"Attempts", testCodeAttempts},
			{"WrongThenRight", testCodeWrongThenRight},
			{"Expired", testCodeExpired},
			{"ConcurrentRight", testCodeConcurrentRight},
			{"ConcurrentWrong", testCodeConcurrentWrong},
			{"Redeem", testRedeem},
			{"RedeemConcurrent", testRedeemConcurrent},
		}},
		{"CheckCode", checkCodeCases},
		{"Ephemerals", ephemeralCases},
		{"Outbox", outboxCases},
		{"RefreshTokens", []testCase{
			{"Rotate", testRefreshRotate},
			{"RotateInherits", testRefreshRotateInherits},
			{"Reuse", testRefreshReuse},
			{"Expired", testRefreshExpired},
			{"IdleExpiry", testRefreshIdle},
			{"ReuseLeeway", testRefreshLeeway},
			{"UseNonRotating", testRefreshUse},
			{"Revoke", testRefreshRevoke},
			{"ListLive", testRefreshList},
			{"NotFound", testRefreshNotFound},
			{"Conflict", testRefreshConflict},
			{"ConcurrentRotate", testRefreshConcurrent},
		}},
		{"SigningKeys", signingKeyCases},
		{"Logs", []testCase{
			{"AppendGet", testLogsAppendGet},
			{"EveryColumn", testLogsEveryColumn},
			{"Queries", testLogsQueries},
			{"HandBuilt", testLogsHandBuilt},
			{"SortPage", testLogsSortPage},
			{"TotalCap", testLogsTotalCap},
			{"After", testLogsAfter},
			{"Scan", testLogsScan},
			{"Purge", testLogsPurge},
			{"Counts", testLogsCounts},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, open(t))
				})
			}
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// --- helpers ---------------------------------------------------------------

// zone is deliberately not UTC: backends must store the instant, not the
// wall clock.
var zone = time.FixedZone("UTC+05:30", 5*3600+1800)

// base is a fixed, millisecond-aligned instant.
func base() time.Time { return time.Date(2025, 6, 1, 9, 30, 0, 0, zone) }

// at returns base plus d.
func at(d time.Duration) time.Time { return base().Add(d) }

// hash stands in for a keyed hash of s.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// opts compares records: times to the millisecond, nil and empty
// slices/maps alike.
var opts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
	}),
	cmpopts.EquateEmpty(),
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func diff[T any](t *testing.T, what string, want, got T, extra ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, append(cmp.Options{opts}, extra...)...); d != "" {
		t.Fatalf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// --- fixtures --------------------------------------------------------------

func sampleClient(id string) store.Client {
	return store.Client{
		ClientID:                       id,
		SecretHash:                     hash("secret-" + id),
		Name:                           "App " + id,
		Description:                    "A test application",
		AppType:                        "regular_web",
		TokenEndpointAuthMethod:        "client_secret_post",
		GrantTypes:                     []string{"authorization_code", "refresh_token", "http://auth0.com/oauth/grant-type/passwordless/otp"},
		Callbacks:                      []string{"https://app.example.com/callback"},
		AllowedLogoutURLs:              []string{"https://app.example.com/"},
		WebOrigins:                     []string{"https://app.example.com"},
		AllowedOrigins:                 []string{"https://app.example.com"},
		CrossOriginAuthentication:      true,
		IsTokenEndpointIPHeaderTrusted: false,
		IsFirstParty:                   true,
		OIDCConformant:                 true,
		CreatedAt:                      at(0),
		UpdatedAt:                      at(time.Minute),
	}
}

func sampleConnection(id, name string) store.Connection {
	return store.Connection{
		ID:       id,
		Name:     name,
		Strategy: "email",
		Options: store.ConnectionOptions{
			Name:                 name,
			TOTP:                 store.TOTP{Length: 6, TimeStep: 300},
			DisableSignup:        false,
			BruteForceProtection: true,
			AuthParams:           map[string]string{"scope": "openid email"},
			Email: &store.EmailTemplate{
				From:    "{{ application.name }} <root@example.com>",
				Subject: "Welcome",
				Body:    "<p>Your code is {{ code }}</p>",
				Syntax:  "liquid",
			},
		},
		EnabledClients: []string{"client_a", "client_b"},
		CreatedAt:      at(0),
		UpdatedAt:      at(time.Minute),
	}
}

func sampleSMSConnection(id, name string) store.Connection {
	return store.Connection{
		ID:       id,
		Name:     name,
		Strategy: "sms",
		Options: store.ConnectionOptions{
			Name:                name,
			TOTP:                store.TOTP{Length: 6, TimeStep: 180},
			DisableSignup:       true,
			From:                "+15550001111",
			Template:            "Your code is @@password@@",
			Syntax:              "md_with_macros",
			Provider:            "twilio",
			TwilioSID:           "AC123",
			TwilioToken:         "tok",
			MessagingServiceSID: "MG123",
			ForwardReqInfo:      true,
		},
		EnabledClients: []string{"client_a"},
		CreatedAt:      at(2 * time.Minute),
		UpdatedAt:      at(3 * time.Minute),
	}
}

func sampleResourceServer(id, identifier string) store.ResourceServer {
	return store.ResourceServer{
		ID:                 id,
		Identifier:         identifier,
		Name:               "API " + identifier,
		Scopes:             []store.Scope{{Value: "read:things", Description: "Read things"}, {Value: "write:things"}},
		SigningAlg:         "RS256",
		AllowOfflineAccess: true,
		TokenLifetime:      86400,
		SkipConsent:        true,
		IsSystem:           false,
		CreatedAt:          at(0),
		UpdatedAt:          at(time.Minute),
	}
}

func sampleGrant(id, clientID, audience string) store.ClientGrant {
	return store.ClientGrant{
		ID:        id,
		ClientID:  clientID,
		Audience:  audience,
		Scope:     []string{"read:things", "write:things"},
		CreatedAt: at(0),
	}
}

// --- settings --------------------------------------------------------------

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.Ping(ctx), "Ping")

	got, err := s.GetSettings(ctx)
	must(t, err, "GetSettings on an empty store")
	diff(t, "empty settings", store.TenantSettings{}, got)

	want := store.TenantSettings{
		FriendlyName:    "Acme",
		SupportEmail:    "support@acme.example",
		DefaultAudience: "https://api.acme.example/",
		Flags:           store.TenantFlags{EnforceClientAuthOnPasswordlessStart: true},
		Latchkey:        store.LatchkeySettings{EnumerationSafeSignup: true},
		Branding: store.Branding{Colors: store.BrandingColors{Primary: "#0059d6", PageBackground: "#fff"},
			LogoURL: "https://cdn.acme.example/logo.png", FaviconURL: "https://cdn.acme.example/favicon.ico",
			Font: store.BrandingFont{URL: "https://cdn.acme.example/brand.woff2"}},
	}
	must(t, s.PutSettings(ctx, want), "PutSettings")
	got, err = s.GetSettings(ctx)
	must(t, err, "GetSettings")
	diff(t, "settings", want, got)

	// A second put replaces the whole document.
	want2 := store.TenantSettings{FriendlyName: "Acme 2"}
	must(t, s.PutSettings(ctx, want2), "PutSettings again")
	got, err = s.GetSettings(ctx)
	must(t, err, "GetSettings again")
	diff(t, "replaced settings", want2, got)
}

// --- configuration records -------------------------------------------------

// kind describes one configuration record type for the generic CRUD test.
type kind[T any] struct {
	create func(context.Context, T) error
	get    func(context.Context, string) (T, error)
	list   func(context.Context) ([]T, error)
	update func(context.Context, T) error
	delete func(context.Context, string) error
	key    func(T) string

	// a and b are two distinct records; changed is a with its mutable
	// fields changed (same key).
	a, b, changed T
	// conflicts must each fail to be created once a and b exist.
	conflicts []T
	// updateConflicts must each fail to update (they are b, moved onto a
	// unique key of a).
	updateConflicts []T
}

func testCRUD[T any](t *testing.T, k kind[T]) {
	ctx := t.Context()
	sortByKey := cmpopts.SortSlices(func(x, y T) bool { return k.key(x) < k.key(y) })

	// Missing records.
	_, err := k.get(ctx, k.key(k.a))
	wantErr(t, err, store.ErrNotFound, "get missing")
	wantErr(t, k.update(ctx, k.a), store.ErrNotFound, "update missing")
	wantErr(t, k.delete(ctx, k.key(k.a)), store.ErrNotFound, "delete missing")
	list, err := k.list(ctx)
	must(t, err, "list empty")
	if len(list) != 0 {
		t.Fatalf("list on an empty store = %d records, want 0", len(list))
	}

	// Create and read back.
	must(t, k.create(ctx, k.a), "create a")
	must(t, k.create(ctx, k.b), "create b")
	got, err := k.get(ctx, k.key(k.a))
	must(t, err, "get a")
	diff(t, "get a", k.a, got)
	got, err = k.get(ctx, k.key(k.b))
	must(t, err, "get b")
	diff(t, "get b", k.b, got)
	list, err = k.list(ctx)
	must(t, err, "list")
	diff(t, "list", []T{k.a, k.b}, list, sortByKey)

	// Duplicate keys.
	for i, c := range k.conflicts {
		wantErr(t, k.create(ctx, c), store.ErrConflict, fmt.Sprintf("create conflict #%d", i))
	}
	list, err = k.list(ctx)
	must(t, err, "list after conflicts")
	diff(t, "list after conflicts", []T{k.a, k.b}, list, sortByKey)

	// Update.
	must(t, k.update(ctx, k.changed), "update a")
	got, err = k.get(ctx, k.key(k.a))
	must(t, err, "get updated a")
	diff(t, "updated a", k.changed, got)
	for i, u := range k.updateConflicts {
		wantErr(t, k.update(ctx, u), store.ErrConflict, fmt.Sprintf("update conflict #%d", i))
		got, err = k.get(ctx, k.key(k.b))
		must(t, err, "get b after update conflict")
		diff(t, "b after update conflict", k.b, got)
	}

	// Delete.
	must(t, k.delete(ctx, k.key(k.a)), "delete a")
	_, err = k.get(ctx, k.key(k.a))
	wantErr(t, err, store.ErrNotFound, "get deleted a")
	wantErr(t, k.delete(ctx, k.key(k.a)), store.ErrNotFound, "delete a twice")
	wantErr(t, k.update(ctx, k.changed), store.ErrNotFound, "update deleted a")
	list, err = k.list(ctx)
	must(t, err, "list after delete")
	diff(t, "list after delete", []T{k.b}, list, sortByKey)
}

func testClients(t *testing.T, s store.Store) {
	a, b := sampleClient("client_a"), sampleClient("client_b")
	b.SecretHash = nil // a public client
	b.AppType = "spa"
	b.TokenEndpointAuthMethod = "none"
	changed := a
	changed.Name = "Renamed"
	changed.SecretHash = hash("rotated")
	changed.Callbacks = []string{"https://app.example.com/cb2", "http://localhost:3000/cb"}
	changed.CrossOriginAuthentication = false
	changed.UpdatedAt = at(time.Hour)
	dup := sampleClient("client_a")
	dup.Name = "Duplicate"

	testCRUD(t, kind[store.Client]{
		create: s.CreateClient, get: s.GetClient, list: s.ListClients,
		update: s.UpdateClient, delete: s.DeleteClient,
		key: func(c store.Client) string { return c.ClientID },
		a:   a, b: b, changed: changed,
		conflicts: []store.Client{dup},
	})
}

func testConnections(t *testing.T, s store.Store) {
	a, b := sampleConnection("con_a", "email"), sampleSMSConnection("con_b", "sms")
	changed := a
	changed.Options.TOTP.Length = 8
	changed.Options.DisableSignup = true
	changed.Options.Email = nil
	changed.EnabledClients = nil
	changed.UpdatedAt = at(time.Hour)
	sameID := sampleConnection("con_a", "other")
	sameName := sampleConnection("con_c", "email")
	bOntoA := b
	bOntoA.Name = "email"

	testCRUD(t, kind[store.Connection]{
		create: s.CreateConnection, get: s.GetConnection, list: s.ListConnections,
		update: s.UpdateConnection, delete: s.DeleteConnection,
		key: func(c store.Connection) string { return c.ID },
		a:   a, b: b, changed: changed,
		conflicts:       []store.Connection{sameID, sameName},
		updateConflicts: []store.Connection{bOntoA},
	})
}

func testConnectionByName(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetConnectionByName(ctx, "email")
	wantErr(t, err, store.ErrNotFound, "by name on empty store")

	c := sampleConnection("con_a", "email")
	must(t, s.CreateConnection(ctx, c), "create")
	must(t, s.CreateConnection(ctx, sampleSMSConnection("con_b", "sms")), "create sms")
	got, err := s.GetConnectionByName(ctx, "email")
	must(t, err, "by name")
	diff(t, "by name", c, got)

	// Renaming moves the name.
	c.Name = "email-renamed"
	must(t, s.UpdateConnection(ctx, c), "rename")
	_, err = s.GetConnectionByName(ctx, "email")
	wantErr(t, err, store.ErrNotFound, "old name")
	got, err = s.GetConnectionByName(ctx, "email-renamed")
	must(t, err, "new name")
	diff(t, "renamed", c, got)

	// The old name is free again.
	must(t, s.CreateConnection(ctx, sampleConnection("con_c", "email")), "reuse freed name")

	must(t, s.DeleteConnection(ctx, "con_a"), "delete")
	_, err = s.GetConnectionByName(ctx, "email-renamed")
	wantErr(t, err, store.ErrNotFound, "by name after delete")
}

func testResourceServers(t *testing.T, s store.Store) {
	a := sampleResourceServer("rs_a", "https://api.a.example/")
	b := sampleResourceServer("rs_b", "https://api.b.example/")
	b.Scopes = nil
	b.IsSystem = true
	changed := a
	changed.Name = "Renamed API"
	changed.Scopes = []store.Scope{{Value: "admin"}}
	changed.TokenLifetime = 600
	changed.UpdatedAt = at(time.Hour)
	sameID := sampleResourceServer("rs_a", "https://api.c.example/")
	sameIdentifier := sampleResourceServer("rs_c", "https://api.a.example/")
	bOntoA := b
	bOntoA.Identifier = a.Identifier

	testCRUD(t, kind[store.ResourceServer]{
		create: s.CreateResourceServer, get: s.GetResourceServer, list: s.ListResourceServers,
		update: s.UpdateResourceServer, delete: s.DeleteResourceServer,
		key: func(r store.ResourceServer) string { return r.ID },
		a:   a, b: b, changed: changed,
		conflicts:       []store.ResourceServer{sameID, sameIdentifier},
		updateConflicts: []store.ResourceServer{bOntoA},
	})
}

func testResourceServerByIdentifier(t *testing.T, s store.Store) {
	ctx := t.Context()
	const id = "https://api.example.com/"
	_, err := s.GetResourceServerByIdentifier(ctx, id)
	wantErr(t, err, store.ErrNotFound, "by identifier on empty store")

	r := sampleResourceServer("rs_a", id)
	must(t, s.CreateResourceServer(ctx, r), "create")
	must(t, s.CreateResourceServer(ctx, sampleResourceServer("rs_b", "urn:other")), "create other")
	got, err := s.GetResourceServerByIdentifier(ctx, id)
	must(t, err, "by identifier")
	diff(t, "by identifier", r, got)

	// Identifiers are exact: no normalisation of the trailing slash.
	_, err = s.GetResourceServerByIdentifier(ctx, "https://api.example.com")
	wantErr(t, err, store.ErrNotFound, "identifier without the trailing slash")

	must(t, s.DeleteResourceServer(ctx, "rs_a"), "delete")
	_, err = s.GetResourceServerByIdentifier(ctx, id)
	wantErr(t, err, store.ErrNotFound, "by identifier after delete")
}

func testClientGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	// The referenced records exist, so backends may enforce references.
	for _, c := range []string{"client_a", "client_b"} {
		must(t, s.CreateClient(ctx, sampleClient(c)), "create client")
	}
	for _, r := range []store.ResourceServer{
		sampleResourceServer("rs_a", "https://api.a.example/"),
		sampleResourceServer("rs_b", "https://api.b.example/"),
	} {
		must(t, s.CreateResourceServer(ctx, r), "create resource server")
	}

	a := sampleGrant("cgr_a", "client_a", "https://api.a.example/")
	b := sampleGrant("cgr_b", "client_a", "https://api.b.example/")
	b.Scope = nil
	changed := a
	changed.Scope = []string{"read:things"}
	sameID := sampleGrant("cgr_a", "client_b", "https://api.b.example/")
	sameKey := sampleGrant("cgr_c", "client_a", "https://api.a.example/")
	bOntoA := b
	bOntoA.Audience = a.Audience

	testCRUD(t, kind[store.ClientGrant]{
		create: s.CreateClientGrant, get: s.GetClientGrant, list: s.ListClientGrants,
		update: s.UpdateClientGrant, delete: s.DeleteClientGrant,
		key: func(g store.ClientGrant) string { return g.ID },
		a:   a, b: b, changed: changed,
		conflicts:       []store.ClientGrant{sameID, sameKey},
		updateConflicts: []store.ClientGrant{bOntoA},
	})

	// Same audience for another client is fine.
	must(t, s.CreateClientGrant(ctx, sampleGrant("cgr_d", "client_b", "https://api.a.example/")), "same audience, other client")
}

// --- ApplyTenant -----------------------------------------------------------

// snapshot is everything ApplyTenant touches.
type snapshot struct {
	Settings        store.TenantSettings
	Clients         []store.Client
	Connections     []store.Connection
	ResourceServers []store.ResourceServer
	ClientGrants    []store.ClientGrant
}

var snapshotOpts = cmp.Options{
	cmpopts.SortSlices(func(a, b store.Client) bool { return a.ClientID < b.ClientID }),
	cmpopts.SortSlices(func(a, b store.Connection) bool { return a.Name < b.Name }),
	cmpopts.SortSlices(func(a, b store.ResourceServer) bool { return a.Identifier < b.Identifier }),
	cmpopts.SortSlices(func(a, b store.ClientGrant) bool {
		return a.ClientID+"\x00"+a.Audience < b.ClientID+"\x00"+b.Audience
	}),
}

func takeSnapshot(t *testing.T, s store.Store) snapshot {
	t.Helper()
	ctx := t.Context()
	var snap snapshot
	var err error
	snap.Settings, err = s.GetSettings(ctx)
	must(t, err, "GetSettings")
	snap.Clients, err = s.ListClients(ctx)
	must(t, err, "ListClients")
	snap.Connections, err = s.ListConnections(ctx)
	must(t, err, "ListConnections")
	snap.ResourceServers, err = s.ListResourceServers(ctx)
	must(t, err, "ListResourceServers")
	snap.ClientGrants, err = s.ListClientGrants(ctx)
	must(t, err, "ListClientGrants")
	return snap
}

func tenantConfig() store.TenantConfig {
	settings := store.TenantSettings{FriendlyName: "Acme", DefaultAudience: "https://api.a.example/"}
	return store.TenantConfig{
		Settings:        &settings,
		Clients:         []store.Client{sampleClient("client_a"), sampleClient("client_b")},
		Connections:     []store.Connection{sampleConnection("con_email", "email"), sampleSMSConnection("con_sms", "sms")},
		ResourceServers: []store.ResourceServer{sampleResourceServer("rs_a", "https://api.a.example/")},
		ClientGrants: []store.ClientGrant{
			sampleGrant("cgr_a", "client_a", "https://api.a.example/"),
			sampleGrant("cgr_b", "client_b", "https://api.a.example/"),
		},
	}
}

func configSnapshot(c store.TenantConfig) snapshot {
	return snapshot{
		Settings:        *c.Settings,
		Clients:         c.Clients,
		Connections:     c.Connections,
		ResourceServers: c.ResourceServers,
		ClientGrants:    c.ClientGrants,
	}
}

func testApplyInsert(t *testing.T, s store.Store) {
	cfg := tenantConfig()
	must(t, s.ApplyTenant(t.Context(), cfg), "ApplyTenant")
	diff(t, "after apply", configSnapshot(cfg), takeSnapshot(t, s), snapshotOpts)

	// An empty config changes nothing; a nil Settings leaves settings alone.
	must(t, s.ApplyTenant(t.Context(), store.TenantConfig{}), "ApplyTenant empty")
	diff(t, "after empty apply", configSnapshot(cfg), takeSnapshot(t, s), snapshotOpts)
}

func testApplyIdempotent(t *testing.T, s store.Store) {
	cfg := tenantConfig()
	must(t, s.ApplyTenant(t.Context(), cfg), "first ApplyTenant")
	first := takeSnapshot(t, s)
	must(t, s.ApplyTenant(t.Context(), tenantConfig()), "second ApplyTenant")
	diff(t, "second apply", first, takeSnapshot(t, s), snapshotOpts)
	diff(t, "second apply vs config", configSnapshot(cfg), takeSnapshot(t, s), snapshotOpts)
}

func testApplyUpsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.ApplyTenant(ctx, tenantConfig()), "first ApplyTenant")
	// A record the config does not mention survives.
	extra := sampleClient("client_extra")
	must(t, s.CreateClient(ctx, extra), "create extra client")

	// The same natural keys with new IDs, new CreatedAt and new contents,
	// plus one new record of each kind.
	cfg := tenantConfig()
	cfg.Settings = nil
	later := at(24 * time.Hour)
	for i := range cfg.Clients {
		cfg.Clients[i].Name += " v2"
		cfg.Clients[i].CreatedAt, cfg.Clients[i].UpdatedAt = later, later
	}
	cfg.Clients = append(cfg.Clients, sampleClient("client_c"))
	for i := range cfg.Connections {
		cfg.Connections[i].ID += "_new"
		cfg.Connections[i].Options.TOTP.Length = 8
		cfg.Connections[i].CreatedAt, cfg.Connections[i].UpdatedAt = later, later
	}
	cfg.Connections = append(cfg.Connections, sampleConnection("con_email2", "email2"))
	for i := range cfg.ResourceServers {
		cfg.ResourceServers[i].ID += "_new"
		cfg.ResourceServers[i].TokenLifetime = 60
		cfg.ResourceServers[i].CreatedAt, cfg.ResourceServers[i].UpdatedAt = later, later
	}
	cfg.ResourceServers = append(cfg.ResourceServers, sampleResourceServer("rs_b", "https://api.b.example/"))
	for i := range cfg.ClientGrants {
		cfg.ClientGrants[i].ID += "_new"
		cfg.ClientGrants[i].Scope = []string{"read:things"}
		cfg.ClientGrants[i].CreatedAt = later
	}
	cfg.ClientGrants = append(cfg.ClientGrants, sampleGrant("cgr_c", "client_c", "https://api.b.example/"))
	must(t, s.ApplyTenant(ctx, cfg), "second ApplyTenant")

	// Expected: the new contents, with the stored IDs and CreatedAt kept.
	orig := tenantConfig()
	want := snapshot{
		Settings:        *orig.Settings,
		Clients:         append([]store.Client{extra}, cfg.Clients...),
		Connections:     cfg.Connections,
		ResourceServers: cfg.ResourceServers,
		ClientGrants:    cfg.ClientGrants,
	}
	for i := range orig.Clients {
		want.Clients[i+1].CreatedAt = orig.Clients[i].CreatedAt
	}
	for i := range orig.Connections {
		want.Connections[i].ID = orig.Connections[i].ID
		want.Connections[i].CreatedAt = orig.Connections[i].CreatedAt
	}
	for i := range orig.ResourceServers {
		want.ResourceServers[i].ID = orig.ResourceServers[i].ID
		want.ResourceServers[i].CreatedAt = orig.ResourceServers[i].CreatedAt
	}
	for i := range orig.ClientGrants {
		want.ClientGrants[i].ID = orig.ClientGrants[i].ID
		want.ClientGrants[i].CreatedAt = orig.ClientGrants[i].CreatedAt
	}
	diff(t, "after upsert", want, takeSnapshot(t, s), snapshotOpts)

	// Lookups by the kept IDs work; the config's new IDs were not stored.
	got, err := s.GetConnection(ctx, "con_email")
	must(t, err, "GetConnection by kept ID")
	if got.Options.TOTP.Length != 8 {
		t.Fatalf("connection not updated: TOTP length %d", got.Options.TOTP.Length)
	}
	_, err = s.GetConnection(ctx, "con_email_new")
	wantErr(t, err, store.ErrNotFound, "GetConnection by the config's new ID")
}

// testApplyAtomicConnection applies a config whose connections conflict with
// each other (two different names, one ID): the second insert violates the
// primary key, so nothing of the config may remain.
func testApplyAtomicConnection(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.ApplyTenant(ctx, tenantConfig()), "first ApplyTenant")
	before := takeSnapshot(t, s)

	cfg := tenantConfig()
	cfg.Settings.FriendlyName = "Changed"
	cfg.Clients[0].Name = "Changed"
	cfg.Clients = append(cfg.Clients, sampleClient("client_new"))
	cfg.Connections[0].Options.TOTP.Length = 4
	cfg.Connections = append(cfg.Connections,
		sampleConnection("con_dup", "dup-one"),
		sampleConnection("con_dup", "dup-two"),
	)
	cfg.ResourceServers = append(cfg.ResourceServers, sampleResourceServer("rs_new", "urn:new"))
	err := s.ApplyTenant(ctx, cfg)
	wantErr(t, err, store.ErrConflict, "ApplyTenant with two connections sharing an ID")
	diff(t, "after failed apply", before, takeSnapshot(t, s), snapshotOpts)
	_, err = s.GetConnectionByName(ctx, "dup-one")
	wantErr(t, err, store.ErrNotFound, "first conflicting connection")
}

// testApplyAtomicGrant applies a config with a new client grant whose ID is
// already used by an existing grant for another (client, audience): the
// insert violates the primary key, and the clients, connections and
// settings applied before it must be rolled back.
func testApplyAtomicGrant(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.ApplyTenant(ctx, tenantConfig()), "first ApplyTenant")
	before := takeSnapshot(t, s)

	cfg := tenantConfig()
	cfg.Settings.FriendlyName = "Changed"
	cfg.Clients = append(cfg.Clients, sampleClient("client_new"))
	cfg.Connections = append(cfg.Connections, sampleConnection("con_new", "new"))
	cfg.ResourceServers = append(cfg.ResourceServers, sampleResourceServer("rs_new", "urn:new"))
	cfg.ClientGrants = append(cfg.ClientGrants, sampleGrant("cgr_a", "client_new", "urn:new"))
	err := s.ApplyTenant(ctx, cfg)
	wantErr(t, err, store.ErrConflict, "ApplyTenant with a grant reusing an ID")
	diff(t, "after failed apply", before, takeSnapshot(t, s), snapshotOpts)
	_, err = s.GetClient(ctx, "client_new")
	wantErr(t, err, store.ErrNotFound, "client of the failed apply")
}

// --- users -----------------------------------------------------------------

func sampleUser(id, identifier string, created time.Time) store.User {
	return store.User{
		UserID:        "email|" + id,
		Connection:    "email",
		Identifier:    identifier,
		Email:         identifier,
		EmailVerified: true,
		LoginsCount:   3,
		LastIP:        "198.51.100.7",
		CreatedAt:     created,
		UpdatedAt:     created.Add(time.Hour),
		LastLogin:     created.Add(time.Hour),
	}
}

func testUsersCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetUser(ctx, "email|000000000000000000000001")
	wantErr(t, err, store.ErrNotFound, "GetUser missing")
	_, err = s.FindUser(ctx, "email", "a@example.com")
	wantErr(t, err, store.ErrNotFound, "FindUser missing")
	wantErr(t, s.DeleteUser(ctx, "email|000000000000000000000001"), store.ErrNotFound, "DeleteUser missing")
	wantErr(t, s.SetUserBlocked(ctx, "email|000000000000000000000001", true), store.ErrNotFound, "SetUserBlocked missing")

	u := sampleUser("000000000000000000000001", "a@example.com", base())
	sms := store.User{
		UserID:        "sms|000000000000000000000002",
		Connection:    "sms",
		Identifier:    "+15550001234",
		PhoneNumber:   "+15550001234",
		PhoneVerified: false,
		CreatedAt:     base(),
		UpdatedAt:     base(),
		// Never logged in: LastLogin is zero.
	}
	must(t, s.CreateUser(ctx, u), "CreateUser")
	must(t, s.CreateUser(ctx, sms), "CreateUser sms")

	for _, want := range []store.User{u, sms} {
		got, err := s.GetUser(ctx, want.UserID)
		must(t, err, "GetUser")
		diff(t, "GetUser", want, got)
		got, err = s.FindUser(ctx, want.Connection, want.Identifier)
		must(t, err, "FindUser")
		diff(t, "FindUser", want, got)
	}
	got, err := s.GetUser(ctx, sms.UserID)
	must(t, err, "GetUser sms")
	if !got.LastLogin.IsZero() {
		t.Fatalf("LastLogin of a user who never logged in = %v, want zero", got.LastLogin)
	}

	// FindUser is exact on both parts.
	_, err = s.FindUser(ctx, "sms", "a@example.com")
	wantErr(t, err, store.ErrNotFound, "FindUser other connection")

	must(t, s.DeleteUser(ctx, u.UserID), "DeleteUser")
	_, err = s.GetUser(ctx, u.UserID)
	wantErr(t, err, store.ErrNotFound, "GetUser deleted")
	_, err = s.FindUser(ctx, u.Connection, u.Identifier)
	wantErr(t, err, store.ErrNotFound, "FindUser deleted")
	wantErr(t, s.DeleteUser(ctx, u.UserID), store.ErrNotFound, "DeleteUser twice")
	_, err = s.GetUser(ctx, sms.UserID)
	must(t, err, "other user survives")
}

func testUsersConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := sampleUser("000000000000000000000001", "a@example.com", base())
	must(t, s.CreateUser(ctx, u), "CreateUser")

	sameID := sampleUser("000000000000000000000001", "b@example.com", base())
	sameIdentity := sampleUser("000000000000000000000002", "a@example.com", base())
	otherConnection := sampleUser("000000000000000000000003", "a@example.com", base())
	otherConnection.UserID = "email2|000000000000000000000003"
	otherConnection.Connection = "email2"

	for _, tc := range []struct {
		name string
		u    store.User
		want error
	}{
		{"same user id", sameID, store.ErrConflict},
		{"same connection and identifier", sameIdentity, store.ErrConflict},
		{"same identifier, other connection", otherConnection, nil},
	} {
		err := s.CreateUser(ctx, tc.u)
		if tc.want == nil {
			must(t, err, tc.name)
		} else {
			wantErr(t, err, tc.want, tc.name)
		}
	}
	got, err := s.GetUser(ctx, u.UserID)
	must(t, err, "GetUser")
	diff(t, "user after conflicts", u, got)
}

func testUsersBlocked(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := sampleUser("000000000000000000000001", "a@example.com", base())
	must(t, s.CreateUser(ctx, u), "CreateUser")
	ignoreUpdated := cmpopts.IgnoreFields(store.User{}, "UpdatedAt")

	must(t, s.SetUserBlocked(ctx, u.UserID, true), "block")
	got, err := s.GetUser(ctx, u.UserID)
	must(t, err, "GetUser")
	u.Blocked = true
	diff(t, "blocked user", u, got, ignoreUpdated)

	must(t, s.SetUserBlocked(ctx, u.UserID, true), "block twice")
	must(t, s.SetUserBlocked(ctx, u.UserID, false), "unblock")
	got, err = s.FindUser(ctx, u.Connection, u.Identifier)
	must(t, err, "FindUser")
	u.Blocked = false
	diff(t, "unblocked user", u, got, ignoreUpdated)
	if !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("SetUserBlocked left UpdatedAt at %v", got.UpdatedAt)
	}
}

// testPurgeExpired: only rows that expired before the cut-off go, also
// beyond one batch.
func testPurgeExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 510 {
		c := store.Code{ID: fmt.Sprint("c", i), Connection: "email", Identifier: fmt.Sprintf("u%d@example.com", i),
			Hash: hash(fmt.Sprint(i)), CreatedAt: at(0), ExpiresAt: at(time.Minute)}
		must(t, s.PutCode(ctx, c, nil), "PutCode")
	}
	live := store.Code{ID: "live", Connection: "email", Identifier: "live@example.com", Hash: hash("live"), CreatedAt: at(0), ExpiresAt: at(2 * time.Hour)}
	must(t, s.PutCode(ctx, live, nil), "PutCode live")
	old := sampleToken("rt_old", "", at(-31*24*time.Hour))
	must(t, s.CreateRefreshToken(ctx, old), "CreateRefreshToken old")
	fresh := sampleToken("rt_fresh", "", at(0))
	must(t, s.CreateRefreshToken(ctx, fresh), "CreateRefreshToken fresh")
	idle := sampleToken("rt_idle", "", at(0))
	idle.IdleExpiresAt = at(time.Minute)
	must(t, s.CreateRefreshToken(ctx, idle), "CreateRefreshToken idle")
	idleLive := sampleToken("rt_idle_live", "", at(0))
	idleLive.IdleExpiresAt = at(2 * time.Hour)
	must(t, s.CreateRefreshToken(ctx, idleLive), "CreateRefreshToken idle live")
	revoked := sampleToken("rt_revoked", "fam_revoked", at(0))
	revoked.Revoked = true
	must(t, s.CreateRefreshToken(ctx, revoked), "CreateRefreshToken revoked")

	n, err := s.PurgeExpired(ctx, at(time.Hour))
	must(t, err, "PurgeExpired")
	if n != 513 {
		t.Errorf("purged %d rows, want 513", n)
	}
	for _, gone := range []store.RefreshToken{idle, revoked} {
		_, err = s.GetRefreshToken(ctx, gone.Hash)
		wantErr(t, err, store.ErrNotFound, "purged "+gone.ID)
	}
	if _, err := s.GetRefreshToken(ctx, idleLive.Hash); err != nil {
		t.Errorf("refresh token before its idle expiry purged: %v", err)
	}
	if _, err := s.ConsumeCode(ctx, live.Connection, live.Identifier, live.Hash, at(time.Hour)); err != nil {
		t.Errorf("live code purged: %v", err)
	}
	_, err = s.ConsumeCode(ctx, "email", "u0@example.com", hash("0"), at(time.Hour))
	wantErr(t, err, store.ErrNotFound, "purged code")
	_, err = s.GetRefreshToken(ctx, old.Hash)
	wantErr(t, err, store.ErrNotFound, "purged refresh token")
	if _, err := s.GetRefreshToken(ctx, fresh.Hash); err != nil {
		t.Errorf("live refresh token purged: %v", err)
	}
}

// testUsersDeleteTokens: deleting a user deletes their refresh tokens;
// GetRefreshToken reads a token in any state.
func testUsersDeleteTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := sampleUser("000000000000000000000001", "a@example.com", base())
	must(t, s.CreateUser(ctx, u), "CreateUser")
	rt := sampleToken("rt_1", "fam_1", at(0))
	rt.UserID = u.UserID
	must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken")
	got, err := s.GetRefreshToken(ctx, rt.Hash)
	must(t, err, "GetRefreshToken")
	diff(t, "refresh token", rt, got)
	_, err = s.GetRefreshToken(ctx, hash("nope"))
	wantErr(t, err, store.ErrNotFound, "GetRefreshToken unknown")
	must(t, s.DeleteUser(ctx, u.UserID), "DeleteUser")
	_, err = s.GetRefreshToken(ctx, rt.Hash)
	wantErr(t, err, store.ErrNotFound, "token of a deleted user")
}

func testUsersList(t *testing.T, s store.Store) {
	ctx := t.Context()
	users, err := s.ListUsers(ctx, 0, 10)
	must(t, err, "ListUsers empty")
	if len(users) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(users))
	}

	// Created out of order; ties on CreatedAt are broken by UserID.
	in := []struct {
		id string
		d  time.Duration
	}{
		{"000000000000000000000004", 2 * time.Second},
		{"000000000000000000000003", time.Second},
		{"000000000000000000000001", time.Second},
		{"000000000000000000000005", -time.Second},
		{"000000000000000000000002", 0},
	}
	for i, x := range in {
		must(t, s.CreateUser(ctx, sampleUser(x.id, fmt.Sprintf("u%d@example.com", i), at(x.d))), "CreateUser")
	}
	order := []string{
		"email|000000000000000000000005",
		"email|000000000000000000000002",
		"email|000000000000000000000001",
		"email|000000000000000000000003",
		"email|000000000000000000000004",
	}
	for _, tc := range []struct {
		offset, limit int
		want          []string
	}{
		{0, 100, order},
		{0, 2, order[:2]},
		{2, 2, order[2:4]},
		{4, 2, order[4:]},
		{5, 2, nil},
		{1, 1, order[1:2]},
	} {
		got, err := s.ListUsers(ctx, tc.offset, tc.limit)
		must(t, err, fmt.Sprintf("ListUsers(%d, %d)", tc.offset, tc.limit))
		var ids []string
		for _, u := range got {
			ids = append(ids, u.UserID)
		}
		diff(t, fmt.Sprintf("ListUsers(%d, %d)", tc.offset, tc.limit), tc.want, ids)
	}
	// Listed users are complete records.
	got, err := s.ListUsers(ctx, 0, 1)
	must(t, err, "ListUsers")
	diff(t, "listed user", sampleUser("000000000000000000000005", "u3@example.com", at(-time.Second)), got[0])
}

// --- RecordLogin -----------------------------------------------------------

func emailLogin(id, identifier string, t time.Time) store.Login {
	return store.Login{
		UserID:        "email|" + id,
		Connection:    "email",
		Identifier:    identifier,
		Email:         identifier,
		EmailVerified: true,
		IP:            "203.0.113.9",
		At:            t,
	}
}

func testRecordLoginSignup(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := emailLogin("00000000000000000000000a", "new@example.com", at(time.Hour))
	u, created, err := s.RecordLogin(ctx, l, true)
	must(t, err, "RecordLogin")
	if !created {
		t.Fatal("created = false for a new user")
	}
	want := store.User{
		UserID:        l.UserID,
		Connection:    "email",
		Identifier:    "new@example.com",
		Email:         "new@example.com",
		EmailVerified: true,
		LoginsCount:   1,
		LastIP:        l.IP,
		CreatedAt:     l.At,
		UpdatedAt:     l.At,
		LastLogin:     l.At,
	}
	diff(t, "created user", want, u)
	got, err := s.GetUser(ctx, l.UserID)
	must(t, err, "GetUser")
	diff(t, "stored user", want, got)

	// SMS signup.
	sl := store.Login{
		UserID:        "sms|00000000000000000000000b",
		Connection:    "sms",
		Identifier:    "+15550009999",
		PhoneNumber:   "+15550009999",
		PhoneVerified: true,
		IP:            "2001:db8::1",
		At:            at(2 * time.Hour),
	}
	u, created, err = s.RecordLogin(ctx, sl, true)
	must(t, err, "RecordLogin sms")
	if !created || u.UserID != sl.UserID || !u.PhoneVerified || u.EmailVerified || u.PhoneNumber != sl.PhoneNumber || u.LoginsCount != 1 {
		t.Fatalf("sms signup: created=%v user=%+v", created, u)
	}
}

func testRecordLoginNoSignup(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := emailLogin("00000000000000000000000a", "new@example.com", at(time.Hour))
	_, created, err := s.RecordLogin(ctx, l, false)
	wantErr(t, err, store.ErrNotFound, "RecordLogin without signup")
	if created {
		t.Fatal("created = true with an error")
	}
	_, err = s.FindUser(ctx, l.Connection, l.Identifier)
	wantErr(t, err, store.ErrNotFound, "FindUser after refused signup")
	_, err = s.GetUser(ctx, l.UserID)
	wantErr(t, err, store.ErrNotFound, "GetUser after refused signup")
}

func testRecordLoginExisting(t *testing.T, s store.Store) {
	ctx := t.Context()
	existing := store.User{
		UserID:        "email|00000000000000000000000e",
		Connection:    "email",
		Identifier:    "old@example.com",
		Email:         "old@example.com",
		EmailVerified: false,
		LoginsCount:   0,
		CreatedAt:     base(),
		UpdatedAt:     base(),
	}
	must(t, s.CreateUser(ctx, existing), "CreateUser")

	for i, tc := range []struct {
		allowSignup bool
		verified    bool
	}{
		{true, true},
		{false, false}, // verified stays true once set
		{true, false},
	} {
		// A different UserID in the login is ignored for an existing user.
		l := emailLogin("0000000000000000000000ff", "old@example.com", at(time.Duration(i+1)*time.Hour))
		l.EmailVerified = tc.verified
		l.IP = fmt.Sprintf("192.0.2.%d", i+1)
		u, created, err := s.RecordLogin(ctx, l, tc.allowSignup)
		must(t, err, fmt.Sprintf("RecordLogin #%d", i))
		if created {
			t.Fatalf("RecordLogin #%d: created = true for an existing user", i)
		}
		want := existing
		want.LoginsCount = i + 1
		want.EmailVerified = true
		want.LastIP = l.IP
		want.LastLogin = l.At
		want.UpdatedAt = l.At
		diff(t, fmt.Sprintf("RecordLogin #%d", i), want, u)
		got, err := s.GetUser(ctx, existing.UserID)
		must(t, err, "GetUser")
		diff(t, fmt.Sprintf("stored user #%d", i), want, got)
	}
	_, err := s.GetUser(ctx, "email|0000000000000000000000ff")
	wantErr(t, err, store.ErrNotFound, "the login's UserID was not used")
}

func testRecordLoginBlocked(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := sampleUser("00000000000000000000000c", "blocked@example.com", base())
	u.EmailVerified = false
	must(t, s.CreateUser(ctx, u), "CreateUser")
	must(t, s.SetUserBlocked(ctx, u.UserID, true), "SetUserBlocked")
	stored, err := s.GetUser(ctx, u.UserID)
	must(t, err, "GetUser")

	for _, allowSignup := range []bool{true, false} {
		l := emailLogin("00000000000000000000000d", "blocked@example.com", at(48*time.Hour))
		got, created, err := s.RecordLogin(ctx, l, allowSignup)
		must(t, err, fmt.Sprintf("RecordLogin blocked (allowSignup=%v)", allowSignup))
		if created {
			t.Fatal("created = true for a blocked user")
		}
		if !got.Blocked {
			t.Fatal("Blocked = false for a blocked user")
		}
		diff(t, "blocked user returned", stored, got)
		after, err := s.GetUser(ctx, u.UserID)
		must(t, err, "GetUser")
		diff(t, "blocked user unchanged", stored, after)
	}
}

// testRecordLoginUserIDTaken: a signup whose UserID belongs to another
// identity must not overwrite it.
func testRecordLoginUserIDTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := sampleUser("00000000000000000000000f", "first@example.com", base())
	must(t, s.CreateUser(ctx, u), "CreateUser")
	l := emailLogin("00000000000000000000000f", "second@example.com", at(time.Hour))
	_, created, err := s.RecordLogin(ctx, l, true)
	wantErr(t, err, store.ErrConflict, "RecordLogin with a taken UserID")
	if created {
		t.Fatal("created = true with an error")
	}
	got, err := s.GetUser(ctx, u.UserID)
	must(t, err, "GetUser")
	diff(t, "first user unchanged", u, got)
}

// --- codes -----------------------------------------------------------------

func sampleCode(id, identifier, code string) store.Code {
	return store.Code{
		ID:         id,
		Connection: "email",
		Identifier: identifier,
		Hash:       hash(code),
		ClientID:   "client_a",
		UserIDHint: "0123456789abcdef01234567",
		Send:       "link",
		AuthParams: map[string]string{
			"scope":         "openid profile email",
			"response_type": "code",
			"redirect_uri":  "https://app.example.com/callback",
			"state":         "xyz",
			"nonce":         "n-0S6_WzA2Mj",
		},
		IP:        "203.0.113.5",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		CreatedAt: at(0),
		ExpiresAt: at(5 * time.Minute),
	}
}

func testCodeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	other := sampleCode("code_2", "b@example.com", "123456")
	other.AuthParams = nil
	other.Send = "code"
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	must(t, s.PutCode(ctx, other, nil), "PutCode other")

	got, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("123456"), at(time.Minute))
	must(t, err, "ConsumeCode")
	diff(t, "consumed code", c, got)
	_, err = s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("123456"), at(time.Minute))
	wantErr(t, err, store.ErrNotFound, "second ConsumeCode")

	// The other identifier's code is untouched.
	got, err = s.ConsumeCode(ctx, other.Connection, other.Identifier, hash("123456"), at(time.Minute))
	must(t, err, "ConsumeCode other")
	diff(t, "other code", other, got)
}

func testCodeNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.ConsumeCode(ctx, "email", "a@example.com", hash("123456"), at(0))
	wantErr(t, err, store.ErrNotFound, "ConsumeCode on an empty store")
	must(t, s.PutCode(ctx, sampleCode("code_1", "a@example.com", "123456"), nil), "PutCode")
	_, err = s.ConsumeCode(ctx, "sms", "a@example.com", hash("123456"), at(0))
	wantErr(t, err, store.ErrNotFound, "ConsumeCode other connection")
	_, err = s.ConsumeCode(ctx, "email", "A@example.com", hash("123456"), at(0))
	wantErr(t, err, store.ErrNotFound, "ConsumeCode other identifier")
	// Those did not count as attempts on the real code.
	for i := 0; i < store.MaxCodeAttempts-1; i++ {
		_, err = s.ConsumeCode(ctx, "email", "a@example.com", hash("000000"), at(0))
		wantErr(t, err, store.ErrCodeWrong, "wrong code")
	}
	_, err = s.ConsumeCode(ctx, "email", "a@example.com", hash("123456"), at(0))
	must(t, err, "ConsumeCode")
}

func testCodeReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	c1 := sampleCode("code_1", "a@example.com", "111111")
	must(t, s.PutCode(ctx, c1, nil), "PutCode 1")
	// Use up all but one attempt on the first code.
	for i := 0; i < store.MaxCodeAttempts-1; i++ {
		_, err := s.ConsumeCode(ctx, c1.Connection, c1.Identifier, hash("999999"), at(time.Minute))
		wantErr(t, err, store.ErrCodeWrong, "wrong code on c1")
	}

	c2 := sampleCode("code_2", "a@example.com", "222222")
	c2.Send = "code"
	c2.AuthParams = map[string]string{"scope": "openid"}
	c2.CreatedAt, c2.ExpiresAt = at(2*time.Minute), at(7*time.Minute)
	must(t, s.PutCode(ctx, c2, nil), "PutCode 2")

	// The old code no longer works, and the new one starts with fresh
	// attempts: this wrong attempt is not the last.
	_, err := s.ConsumeCode(ctx, c1.Connection, c1.Identifier, c1.Hash, at(3*time.Minute))
	wantErr(t, err, store.ErrCodeWrong, "replaced code")
	got, err := s.ConsumeCode(ctx, c2.Connection, c2.Identifier, c2.Hash, at(3*time.Minute))
	must(t, err, "ConsumeCode new code")
	want := c2
	want.Attempts = 1
	diff(t, "new code", want, got)
}

func testCodeAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	now := at(time.Minute)
	steps := []struct {
		code string
		want error
	}{
		{"000001", store.ErrCodeWrong},
		{"000002", store.ErrCodeWrong},
		{"000003", store.ErrCodeExhausted}, // the attempt that reaches the cap kills the code
		{"123456", store.ErrCodeExhausted}, // even the right one, afterwards
		{"000004", store.ErrCodeExhausted},
	}
	for i, st := range steps {
		_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash(st.code), now)
		wantErr(t, err, st.want, fmt.Sprintf("attempt %d (%s)", i+1, st.code))
	}
	// A new code revives the identifier.
	must(t, s.PutCode(ctx, sampleCode("code_2", "a@example.com", "654321"), nil), "PutCode new")
	_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("654321"), now)
	must(t, err, "ConsumeCode new code")
}

func testCodeWrongThenRight(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_1", "a@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	for i := 0; i < store.MaxCodeAttempts-1; i++ {
		_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash("000000"), at(time.Minute))
		wantErr(t, err, store.ErrCodeWrong, "wrong code")
	}
	got, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
	must(t, err, "right code after wrong ones")
	if got.Attempts != store.MaxCodeAttempts-1 {
		t.Fatalf("Attempts = %d, want %d", got.Attempts, store.MaxCodeAttempts-1)
	}
	_, err = s.ConsumeCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
	wantErr(t, err, store.ErrNotFound, "consumed code")
}

func testCodeExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		identifier string
		now        time.Time
		hash       []byte
		want       error
	}{
		{"exact@example.com", at(5 * time.Minute), hash("123456"), store.ErrCodeExpired},
		{"later@example.com", at(time.Hour), hash("123456"), store.ErrCodeExpired},
		{"wrong@example.com", at(time.Hour), hash("000000"), store.ErrCodeExpired},
		{"justbefore@example.com", at(5*time.Minute - time.Millisecond), hash("123456"), nil},
	} {
		c := sampleCode("code_"+tc.identifier, tc.identifier, "123456")
		must(t, s.PutCode(ctx, c, nil), "PutCode")
		_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, tc.hash, tc.now)
		if tc.want == nil {
			must(t, err, tc.identifier)
		} else {
			wantErr(t, err, tc.want, tc.identifier)
		}
	}
}

// race runs f(i) for i in [0, n) in n goroutines released together and
// returns the errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors by sentinel; unexpected errors are reported.
func tally(t *testing.T, errs []error, allowed ...error) map[error]int {
	t.Helper()
	counts := map[error]int{}
outer:
	for _, err := range errs {
		if err == nil {
			counts[nil]++
			continue
		}
		for _, a := range allowed {
			if errors.Is(err, a) {
				counts[a]++
				continue outer
			}
		}
		t.Errorf("unexpected error: %v", err)
	}
	return counts
}

const (
	racers = 16
	// rounds repeats each race: one round can miss a check-then-act bug
	// when the scheduler happens to run the racers one after another.
	rounds = 10
)

func testCodeConcurrentRight(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range rounds {
		c := sampleCode(fmt.Sprintf("code_%d", round), fmt.Sprintf("r%d@example.com", round), "123456")
		must(t, s.PutCode(ctx, c, nil), "PutCode")
		var mu sync.Mutex
		var winners []store.Code
		errs := race(racers, func(int) error {
			got, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
			if err == nil {
				mu.Lock()
				winners = append(winners, got)
				mu.Unlock()
			}
			return err
		})
		counts := tally(t, errs, store.ErrNotFound)
		if counts[nil] != 1 || counts[store.ErrNotFound] != racers-1 {
			t.Fatalf("round %d, %d concurrent consumers: %d succeeded, %d not found; want 1 and %d",
				round, racers, counts[nil], counts[store.ErrNotFound], racers-1)
		}
		diff(t, "winner's code", c, winners[0])
	}
}

func testCodeConcurrentWrong(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range rounds {
		c := sampleCode(fmt.Sprintf("code_%d", round), fmt.Sprintf("r%d@example.com", round), "123456")
		must(t, s.PutCode(ctx, c, nil), "PutCode")
		errs := race(racers, func(i int) error {
			_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, hash(fmt.Sprintf("wrong-%d", i)), at(time.Minute))
			return err
		})
		counts := tally(t, errs, store.ErrCodeWrong, store.ErrCodeExhausted)
		if counts[nil] != 0 || counts[store.ErrCodeWrong] != store.MaxCodeAttempts-1 || counts[store.ErrCodeExhausted] != racers-store.MaxCodeAttempts+1 {
			t.Fatalf("round %d, %d concurrent wrong codes: %d wrong, %d exhausted; want %d and %d", round, racers,
				counts[store.ErrCodeWrong], counts[store.ErrCodeExhausted], store.MaxCodeAttempts-1, racers-store.MaxCodeAttempts+1)
		}
		_, err := s.ConsumeCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute))
		wantErr(t, err, store.ErrCodeExhausted, "right code after the race")
	}
}

// --- refresh tokens --------------------------------------------------------

func sampleToken(id, family string, created time.Time) store.RefreshToken {
	return store.RefreshToken{
		ID:        id,
		FamilyID:  family,
		Hash:      hash("token-" + id),
		ClientID:  "client_a",
		UserID:    "email|000000000000000000000001",
		Audience:  "https://api.a.example/",
		Scope:     "openid profile offline_access",
		CreatedAt: created,
		ExpiresAt: created.Add(30 * 24 * time.Hour),
	}
}

var ignoreRotation = cmpopts.IgnoreFields(store.RefreshToken{}, "RotatedAt")

func testRefreshRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := sampleToken("rt_1", "fam_1", at(0))
	must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")
	must(t, s.CreateRefreshToken(ctx, sampleToken("rt_other", "fam_other", at(0))), "CreateRefreshToken other")

	t2 := sampleToken("rt_2", "", at(time.Hour))
	old, err := s.RotateRefreshToken(ctx, t1.Hash, t2, at(time.Hour), 0)
	must(t, err, "rotate t1")
	diff(t, "old token", t1, old, ignoreRotation)

	// next.FamilyID is always the old token's.
	t3 := sampleToken("rt_3", "fam_bogus", at(2*time.Hour))
	old, err = s.RotateRefreshToken(ctx, t2.Hash, t3, at(2*time.Hour), 0)
	must(t, err, "rotate t2")
	wantT2 := t2
	wantT2.FamilyID = "fam_1"
	diff(t, "rotated t2", wantT2, old, ignoreRotation)

	old, err = s.RotateRefreshToken(ctx, t3.Hash, sampleToken("rt_4", "", at(3*time.Hour)), at(3*time.Hour), 0)
	must(t, err, "rotate t3")
	if old.FamilyID != "fam_1" || old.ID != "rt_3" {
		t.Fatalf("rotated t3: ID %q family %q, want rt_3 fam_1", old.ID, old.FamilyID)
	}

	// The other family is untouched.
	_, err = s.RotateRefreshToken(ctx, hash("token-rt_other"), sampleToken("rt_other2", "", at(time.Hour)), at(time.Hour), 0)
	must(t, err, "rotate other family")
}

// testRefreshRotateInherits: the next token takes user, audience, scope and
// family from the old one; another client's rotation changes nothing.
func testRefreshRotateInherits(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := sampleToken("rt_1", "fam_1", at(0))
	must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")

	foreign := store.RefreshToken{ID: "rt_f", Hash: hash("token-rt_f"), ClientID: "client_b", CreatedAt: at(time.Hour), ExpiresAt: at(48 * time.Hour)}
	_, err := s.RotateRefreshToken(ctx, t1.Hash, foreign, at(time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotation by another client")

	next := store.RefreshToken{ID: "rt_2", Hash: hash("token-rt_2"), ClientID: "client_a", CreatedAt: at(time.Hour), ExpiresAt: at(48 * time.Hour)}
	_, err = s.RotateRefreshToken(ctx, t1.Hash, next, at(time.Hour), 0)
	must(t, err, "rotate after the foreign attempt")
	third := store.RefreshToken{ID: "rt_3", Hash: hash("token-rt_3"), ClientID: "client_a", CreatedAt: at(2 * time.Hour), ExpiresAt: at(48 * time.Hour)}
	got, err := s.RotateRefreshToken(ctx, next.Hash, third, at(2*time.Hour), 0)
	must(t, err, "rotate the inherited token")
	if got.UserID != t1.UserID || got.Audience != t1.Audience || got.Scope != t1.Scope || got.FamilyID != "fam_1" {
		t.Fatalf("next token did not inherit: %+v", got)
	}
}

func testRefreshReuse(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := sampleToken("rt_1", "fam_1", at(0))
	must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")
	other := sampleToken("rt_other", "fam_other", at(0))
	must(t, s.CreateRefreshToken(ctx, other), "CreateRefreshToken other")
	t2 := sampleToken("rt_2", "", at(time.Hour))
	_, err := s.RotateRefreshToken(ctx, t1.Hash, t2, at(time.Hour), 0)
	must(t, err, "rotate t1")

	// Presenting t1 again is reuse: the family is revoked.
	t3 := sampleToken("rt_3", "", at(2*time.Hour))
	_, err = s.RotateRefreshToken(ctx, t1.Hash, t3, at(2*time.Hour), 0)
	wantErr(t, err, store.ErrTokenReused, "rotate t1 again")
	_, err = s.RotateRefreshToken(ctx, t2.Hash, sampleToken("rt_4", "", at(2*time.Hour)), at(2*time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotate t2 of the revoked family")
	// The token offered with the reuse was not stored.
	_, err = s.RotateRefreshToken(ctx, t3.Hash, sampleToken("rt_5", "", at(2*time.Hour)), at(2*time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotate the token offered with the reuse")

	// Other families are untouched.
	_, err = s.RotateRefreshToken(ctx, other.Hash, sampleToken("rt_other2", "", at(2*time.Hour)), at(2*time.Hour), 0)
	must(t, err, "rotate other family")
}

func testRefreshExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := sampleToken("rt_1", "fam_1", at(0))
	tok.ExpiresAt = at(time.Hour)
	must(t, s.CreateRefreshToken(ctx, tok), "CreateRefreshToken")
	_, err := s.RotateRefreshToken(ctx, tok.Hash, sampleToken("rt_2", "", at(time.Hour)), at(time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotate at ExpiresAt")
	_, err = s.RotateRefreshToken(ctx, tok.Hash, sampleToken("rt_3", "", at(2*time.Hour)), at(2*time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotate after ExpiresAt")
	// Not rotated by the failed attempts: still usable before expiry.
	_, err = s.RotateRefreshToken(ctx, tok.Hash, sampleToken("rt_4", "", at(time.Hour-time.Millisecond)), at(time.Hour-time.Millisecond), 0)
	must(t, err, "rotate just before ExpiresAt")
}

// testRefreshIdle: a token whose idle expiry has passed is refused, before
// its absolute expiry; the next token carries its own idle expiry.
func testRefreshIdle(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := sampleToken("rt_1", "fam_1", at(0))
	tok.IdleExpiresAt = at(time.Hour)
	must(t, s.CreateRefreshToken(ctx, tok), "CreateRefreshToken")
	got, err := s.GetRefreshToken(ctx, tok.Hash)
	must(t, err, "GetRefreshToken")
	diff(t, "stored token", tok, got)
	_, err = s.RotateRefreshToken(ctx, tok.Hash, sampleToken("rt_2", "", at(time.Hour)), at(time.Hour), 0)
	wantErr(t, err, store.ErrNotFound, "rotate at IdleExpiresAt")
	next := sampleToken("rt_3", "", at(time.Hour-time.Second))
	next.IdleExpiresAt = at(3 * time.Hour)
	_, err = s.RotateRefreshToken(ctx, tok.Hash, next, at(time.Hour-time.Second), 0)
	must(t, err, "rotate before IdleExpiresAt")
	_, err = s.RotateRefreshToken(ctx, next.Hash, sampleToken("rt_4", "", at(2*time.Hour)), at(2*time.Hour), 0)
	must(t, err, "the next token's own idle expiry")
}

// testRefreshLeeway: a rotated token presented again within the leeway is
// exchanged again (no breach); after it, the family is revoked.
func testRefreshLeeway(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := sampleToken("rt_1", "fam_1", at(0))
	must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")
	_, err := s.RotateRefreshToken(ctx, t1.Hash, sampleToken("rt_2", "", at(time.Hour)), at(time.Hour), 30*time.Second)
	must(t, err, "rotate t1")
	old, err := s.RotateRefreshToken(ctx, t1.Hash, sampleToken("rt_3", "", at(time.Hour+29*time.Second)), at(time.Hour+29*time.Second), 30*time.Second)
	must(t, err, "reuse t1 within the leeway")
	if !old.RotatedAt.Equal(at(time.Hour)) {
		t.Errorf("reuse within the leeway moved RotatedAt to %v", old.RotatedAt)
	}
	for _, id := range []string{"rt_2", "rt_3"} {
		got, err := s.GetRefreshToken(ctx, hash("token-"+id))
		must(t, err, "GetRefreshToken "+id)
		if got.FamilyID != "fam_1" || !got.Live(at(time.Hour+29*time.Second)) {
			t.Errorf("%s: family %q live %v", id, got.FamilyID, got.Live(at(time.Hour+29*time.Second)))
		}
	}
	_, err = s.RotateRefreshToken(ctx, t1.Hash, sampleToken("rt_4", "", at(time.Hour+30*time.Second)), at(time.Hour+30*time.Second), 30*time.Second)
	wantErr(t, err, store.ErrTokenReused, "reuse t1 at the end of the leeway")
	for _, id := range []string{"rt_2", "rt_3"} {
		_, err = s.RotateRefreshToken(ctx, hash("token-"+id), sampleToken(id+"_next", "", at(2*time.Hour)), at(2*time.Hour), 30*time.Second)
		wantErr(t, err, store.ErrNotFound, id+" after the breach")
	}
}

// testRefreshUse: a non-rotating use keeps the token and moves its idle
// expiry; a token of another client, expired or rotated is refused (the
// rotated one revoking its family).
func testRefreshUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := sampleToken("rt_1", "fam_1", at(0))
	tok.IdleExpiresAt = at(time.Hour)
	must(t, s.CreateRefreshToken(ctx, tok), "CreateRefreshToken")
	_, err := s.UseRefreshToken(ctx, tok.Hash, "client_b", at(time.Minute), at(2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "use by another client")
	got, err := s.UseRefreshToken(ctx, tok.Hash, "client_a", at(time.Minute), at(2*time.Hour))
	must(t, err, "use")
	want := tok
	want.IdleExpiresAt = at(2 * time.Hour)
	diff(t, "used token", want, got)
	got, err = s.GetRefreshToken(ctx, tok.Hash)
	must(t, err, "GetRefreshToken")
	diff(t, "stored after use", want, got)
	_, err = s.UseRefreshToken(ctx, tok.Hash, "client_a", at(90*time.Minute), time.Time{})
	must(t, err, "use past the first idle expiry, before the moved one")
	_, err = s.UseRefreshToken(ctx, tok.Hash, "client_a", at(31*24*time.Hour), time.Time{})
	wantErr(t, err, store.ErrNotFound, "use after ExpiresAt")

	rot := sampleToken("rt_2", "fam_2", at(0))
	must(t, s.CreateRefreshToken(ctx, rot), "CreateRefreshToken rotating")
	_, err = s.RotateRefreshToken(ctx, rot.Hash, sampleToken("rt_3", "", at(time.Hour)), at(time.Hour), 0)
	must(t, err, "rotate")
	_, err = s.UseRefreshToken(ctx, rot.Hash, "client_a", at(2*time.Hour), time.Time{})
	wantErr(t, err, store.ErrTokenReused, "use of a rotated token")
	_, err = s.UseRefreshToken(ctx, hash("token-rt_3"), "client_a", at(2*time.Hour), time.Time{})
	wantErr(t, err, store.ErrNotFound, "use of the revoked family's newest token")
	_, err = s.UseRefreshToken(ctx, hash("nope"), "client_a", at(0), time.Time{})
	wantErr(t, err, store.ErrNotFound, "use of an unknown token")
}

// testRefreshRevoke: revoking a family, a user's tokens of one client, and
// all of a user's tokens.
func testRefreshRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id, family, client, user string) store.RefreshToken {
		rt := sampleToken(id, family, at(0))
		rt.ClientID, rt.UserID = client, user
		must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken "+id)
		return rt
	}
	a1 := mk("a1", "fam_a", "client_a", "user_1")
	a2 := mk("a2", "fam_a", "client_a", "user_1")
	b1 := mk("b1", "fam_b", "client_b", "user_1")
	c1 := mk("c1", "fam_c", "client_a", "user_1")
	d1 := mk("d1", "fam_d", "client_a", "user_2")
	e1 := mk("e1", "fam_e", "client_a", "user_1")
	e1.Audience = ""
	e1.ID, e1.Hash = "e1b", hash("token-e1b")
	must(t, s.CreateRefreshToken(ctx, e1), "CreateRefreshToken e1b")
	noAudience, otherAudience := "", "https://other.example/"
	live := func(rt store.RefreshToken) bool {
		got, err := s.GetRefreshToken(ctx, rt.Hash)
		must(t, err, "GetRefreshToken "+rt.ID)
		return got.Live(at(time.Hour))
	}
	steps := []struct {
		f    store.RefreshTokenFilter
		n    int
		dead []store.RefreshToken
	}{
		{store.RefreshTokenFilter{FamilyID: "fam_a"}, 2, []store.RefreshToken{a1, a2}},
		{store.RefreshTokenFilter{FamilyID: "fam_a"}, 0, nil},
		{store.RefreshTokenFilter{UserID: "user_1", ClientID: "client_b"}, 1, []store.RefreshToken{b1}},
		{store.RefreshTokenFilter{UserID: "user_1", ClientID: "client_a", Audience: &otherAudience}, 0, nil},
		{store.RefreshTokenFilter{UserID: "user_1", ClientID: "client_a", Audience: &noAudience}, 1, []store.RefreshToken{e1}},
		{store.RefreshTokenFilter{UserID: "user_1"}, 2, []store.RefreshToken{c1}},
	}
	for i, st := range steps {
		n, err := s.RevokeRefreshTokens(ctx, st.f)
		must(t, err, "RevokeRefreshTokens")
		if n != st.n {
			t.Errorf("step %d: revoked %d, want %d", i, n, st.n)
		}
		for _, rt := range st.dead {
			if live(rt) {
				t.Errorf("step %d: %s still live", i, rt.ID)
			}
		}
	}
	if !live(d1) {
		t.Error("another user's token was revoked")
	}
	if _, err := s.RevokeRefreshTokens(ctx, store.RefreshTokenFilter{}); err == nil {
		t.Error("an empty filter revoked something")
	}
}

// testRefreshList: a user's live tokens, one per family (the newest), not
// the rotated, revoked, expired or idle ones, nor another user's.
func testRefreshList(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id, family, client string, created time.Time, f func(*store.RefreshToken)) store.RefreshToken {
		rt := sampleToken(id, family, created)
		rt.ClientID = client
		if f != nil {
			f(&rt)
		}
		must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken "+id)
		return rt
	}
	a := mk("a", "fam_a", "client_a", at(0), nil)
	mk("b", "fam_b", "client_b", at(time.Minute), nil)
	mk("revoked", "fam_r", "client_a", at(0), func(rt *store.RefreshToken) { rt.Revoked = true })
	mk("expired", "fam_x", "client_a", at(0), func(rt *store.RefreshToken) { rt.ExpiresAt = at(time.Hour) })
	mk("idle", "fam_i", "client_a", at(0), func(rt *store.RefreshToken) { rt.IdleExpiresAt = at(time.Hour) })
	mk("other-user", "fam_o", "client_a", at(0), func(rt *store.RefreshToken) { rt.UserID = "email|000000000000000000000002" })
	// A family rotated twice within the leeway: its newest token stands for it.
	_, err := s.RotateRefreshToken(ctx, a.Hash, sampleToken("a2", "", at(2*time.Hour)), at(2*time.Hour), time.Minute)
	must(t, err, "rotate a")
	_, err = s.RotateRefreshToken(ctx, a.Hash, sampleToken("a3", "", at(2*time.Hour+time.Second)), at(2*time.Hour+time.Second), time.Minute)
	must(t, err, "rotate a within the leeway")

	ids := func(f store.RefreshTokenFilter) []string {
		got, err := s.ListRefreshTokens(ctx, f, at(3*time.Hour))
		must(t, err, "ListRefreshTokens")
		out := []string{}
		for _, rt := range got {
			out = append(out, rt.ID)
		}
		return out
	}
	user := sampleToken("x", "", at(0)).UserID
	if got := ids(store.RefreshTokenFilter{UserID: user}); !cmp.Equal(got, []string{"b", "a3"}) {
		t.Errorf("all clients: %v, want [b a3]", got)
	}
	if got := ids(store.RefreshTokenFilter{UserID: user, ClientID: "client_b"}); !cmp.Equal(got, []string{"b"}) {
		t.Errorf("client_b: %v", got)
	}
	if got := ids(store.RefreshTokenFilter{UserID: "nobody"}); len(got) != 0 {
		t.Errorf("unknown user: %v", got)
	}
}

func testRefreshNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.RotateRefreshToken(ctx, hash("nope"), sampleToken("rt_1", "", at(0)), at(0), 0)
	wantErr(t, err, store.ErrNotFound, "rotate unknown token")
	// The offered next token was not stored.
	_, err = s.RotateRefreshToken(ctx, hash("token-rt_1"), sampleToken("rt_2", "", at(0)), at(0), 0)
	wantErr(t, err, store.ErrNotFound, "rotate the next of a failed rotation")
}

func testRefreshConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := sampleToken("rt_1", "fam_1", at(0))
	must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")
	dupID := sampleToken("rt_1", "fam_2", at(0))
	dupID.Hash = hash("different")
	wantErr(t, s.CreateRefreshToken(ctx, dupID), store.ErrConflict, "duplicate ID")

	// A rotation whose next token cannot be stored changes nothing.
	_, err := s.RotateRefreshToken(ctx, t1.Hash, dupID, at(time.Hour), 0)
	wantErr(t, err, store.ErrConflict, "rotate into a duplicate ID")
	_, err = s.RotateRefreshToken(ctx, t1.Hash, sampleToken("rt_2", "", at(time.Hour)), at(time.Hour), 0)
	must(t, err, "rotate after the failed rotation")
}

func testRefreshConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range rounds {
		t1 := sampleToken(fmt.Sprintf("rt_%d", round), fmt.Sprintf("fam_%d", round), at(0))
		must(t, s.CreateRefreshToken(ctx, t1), "CreateRefreshToken")
		var mu sync.Mutex
		var winner string
		errs := race(racers, func(i int) error {
			next := sampleToken(fmt.Sprintf("rt_%d_next_%d", round, i), "", at(time.Hour))
			_, err := s.RotateRefreshToken(ctx, t1.Hash, next, at(time.Hour), 0)
			if err == nil {
				mu.Lock()
				winner = next.ID
				mu.Unlock()
			}
			return err
		})
		counts := tally(t, errs, store.ErrTokenReused, store.ErrNotFound)
		if counts[nil] != 1 {
			t.Fatalf("round %d, %d concurrent rotations: %d succeeded, want 1 (counts %v)", round, racers, counts[nil], counts)
		}
		if counts[store.ErrTokenReused] == 0 {
			t.Fatalf("round %d: no loser saw ErrTokenReused (counts %v)", round, counts)
		}
		// The losers' reuse revoked the family, winner included.
		_, err := s.RotateRefreshToken(ctx, hash("token-"+winner), sampleToken(fmt.Sprintf("rt_%d_after", round), "", at(2*time.Hour)), at(2*time.Hour), 0)
		wantErr(t, err, store.ErrNotFound, "rotate the winner's token after reuse")
	}
}

// redeemLogin is the login RedeemCode records for a code of the email
// connection.
func redeemLogin(c store.Code) store.Login {
	return store.Login{UserID: "email|" + c.UserIDHint, Connection: c.Connection, Identifier: c.Identifier,
		Email: c.Identifier, EmailVerified: true, IP: "203.0.113.9", At: at(time.Minute)}
}

// testRedeem: RedeemCode spends the code and records the login together —
// a signup, then a returning user; a wrong code is counted and spends
// nothing; a refused signup and a blocked user still spend the code.
func testRedeem(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := sampleCode("code_r1", "new@example.com", "123456")
	must(t, s.PutCode(ctx, c, nil), "PutCode")
	_, _, _, err := s.RedeemCode(ctx, c.Connection, c.Identifier, hash("654321"), at(time.Minute), redeemLogin, true)
	wantErr(t, err, store.ErrCodeWrong, "wrong code")
	got, u, created, err := s.RedeemCode(ctx, c.Connection, c.Identifier, hash("123456"), at(time.Minute), redeemLogin, true)
	must(t, err, "RedeemCode")
	if got.ID != c.ID || !created || u.UserID != "email|"+c.UserIDHint || u.LoginsCount != 1 || u.LastIP != "203.0.113.9" {
		t.Fatalf("redeemed %+v, user %+v, created %v", got, u, created)
	}
	_, _, _, err = s.RedeemCode(ctx, c.Connection, c.Identifier, hash("123456"), at(time.Minute), redeemLogin, true)
	wantErr(t, err, store.ErrNotFound, "spent code")

	// A returning user.
	c2 := sampleCode("code_r2", "new@example.com", "111111")
	must(t, s.PutCode(ctx, c2, nil), "PutCode")
	_, u, created, err = s.RedeemCode(ctx, c2.Connection, c2.Identifier, hash("111111"), at(time.Minute), redeemLogin, false)
	must(t, err, "RedeemCode returning")
	if created || u.LoginsCount != 2 {
		t.Errorf("returning user %+v, created %v", u, created)
	}

	// Signup refused: the code is spent all the same, and it says so.
	c3 := sampleCode("code_r3", "stranger@example.com", "222222")
	c3.UserIDHint = "222222222222222222222222"
	must(t, s.PutCode(ctx, c3, nil), "PutCode")
	got, _, _, err = s.RedeemCode(ctx, c3.Connection, c3.Identifier, hash("222222"), at(time.Minute), redeemLogin, false)
	wantErr(t, err, store.ErrNotFound, "signup refused")
	if got.ID != c3.ID {
		t.Errorf("a refused signup does not name the spent code: %+v", got)
	}
	_, err = s.ConsumeCode(ctx, c3.Connection, c3.Identifier, hash("222222"), at(time.Minute))
	wantErr(t, err, store.ErrNotFound, "the code after a refused signup")
	if _, err := s.FindUser(ctx, "email", "stranger@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused signup created a user: %v", err)
	}

	// A blocked user: the login is not counted, the code is spent.
	blocked := true
	_, err = s.UpdateUserFlags(ctx, u.UserID, store.UserFlags{Blocked: &blocked})
	must(t, err, "block")
	c4 := sampleCode("code_r4", "new@example.com", "333333")
	must(t, s.PutCode(ctx, c4, nil), "PutCode")
	_, u, _, err = s.RedeemCode(ctx, c4.Connection, c4.Identifier, hash("333333"), at(time.Minute), redeemLogin, true)
	must(t, err, "RedeemCode blocked")
	if !u.Blocked || u.LoginsCount != 2 {
		t.Errorf("blocked user %+v", u)
	}
	_, err = s.ConsumeCode(ctx, c4.Connection, c4.Identifier, hash("333333"), at(time.Minute))
	wantErr(t, err, store.ErrNotFound, "the code after a blocked user's redemption")
}

// testRedeemConcurrent: of concurrent redemptions of one right code,
// exactly one logs in (once).
func testRedeemConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range rounds {
		c := sampleCode(fmt.Sprintf("code_rc%d", round), fmt.Sprintf("rc%d@example.com", round), "123456")
		c.UserIDHint = fmt.Sprintf("%024d", round+100)
		must(t, s.PutCode(ctx, c, nil), "PutCode")
		errs := race(racers, func(int) error {
			_, _, _, err := s.RedeemCode(ctx, c.Connection, c.Identifier, c.Hash, at(time.Minute), redeemLogin, true)
			return err
		})
		counts := tally(t, errs, store.ErrNotFound)
		if counts[nil] != 1 || counts[store.ErrNotFound] != racers-1 {
			t.Fatalf("round %d: %d logged in, %d not found; want 1 and %d", round, counts[nil], counts[store.ErrNotFound], racers-1)
		}
		u, err := s.FindUser(ctx, c.Connection, c.Identifier)
		must(t, err, "FindUser")
		if u.LoginsCount != 1 {
			t.Fatalf("round %d: %d logins recorded", round, u.LoginsCount)
		}
	}
}
