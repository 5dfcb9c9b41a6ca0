package tenant_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

const (
	webSecret   = "web-secret-0123456789abcdefghij"
	twilioToken = "twilio-token-0123456789abcdefghijklmnopqrstuvwxyz"
	apiID       = "https://api.example.com"
)

// driftFile is the tenant file of the drift tests; edits replace parts of it.
var driftFile = `{
  "settings": {
    "flags": {"enforce_client_authentication_on_passwordless_start": false},
    "attack_protection": {"brute_force_protection": {"enabled": true, "shields": ["block"], "allowlist": [],
                                                     "mode": "count_per_identifier_and_ip", "max_attempts": 10}}
  },
  "clients": [
    {"client_id": "web", "client_secret": "` + webSecret + `", "name": "Web", "app_type": "regular_web",
     "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"], "callbacks": ["https://app.example.com/cb"]},
    {"client_id": "ops", "client_secret": "ops-secret-0123456789abcdefghij", "name": "Ops", "app_type": "non_interactive",
     "grant_types": ["client_credentials"]}
  ],
  "connections": [{"name": "sms", "strategy": "sms", "enabled_clients": ["web"],
                   "options": {"totp": {"length": 6, "time_step": 300}, "provider": "twilio", "from": "+15550001111",
                               "twilio_sid": "AC0123456789abcdef0123456789abcdef", "twilio_token": "` + twilioToken + `",
                               "authParams": "{\"scope\":\"openid\"}"}}],
  "resource_servers": [{"identifier": "` + apiID + `", "name": "API", "scopes": [{"value": "read:x"}], "token_lifetime": 3600}],
  "client_grants": [{"client_id": "ops", "audience": "` + apiID + `", "scope": ["read:x"]}]
}`

// edit replaces old (which must occur once) in driftFile.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := driftFile
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			t.Fatalf("edit: %q occurs %d times", pairs[i], strings.Count(s, pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// Runtime changes, as the Management API and the CLI make them.

func setSettings(t *testing.T, st store.Store, f func(*store.TenantSettings)) {
	t.Helper()
	s, err := st.GetSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f(&s)
	if err := st.PutSettings(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

func modClient(t *testing.T, st store.Store, id string, f func(*store.Client)) {
	t.Helper()
	if _, err := st.ModifyClient(t.Context(), id, func(c *store.Client) error { f(c); return nil }); err != nil {
		t.Fatal(err)
	}
}

func modConn(t *testing.T, st store.Store, name string, f func(*store.Connection)) {
	t.Helper()
	c, err := st.GetConnectionByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	f(&c)
	if err := st.UpdateConnection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func modAPI(t *testing.T, st store.Store, identifier string, f func(*store.ResourceServer)) {
	t.Helper()
	r, err := st.GetResourceServerByIdentifier(t.Context(), identifier)
	if err != nil {
		t.Fatal(err)
	}
	f(&r)
	if err := st.UpdateResourceServer(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func modGrant(t *testing.T, st store.Store, f func(*store.ClientGrant)) {
	t.Helper()
	gs, err := st.ListClientGrants(t.Context())
	if err != nil || len(gs) != 1 {
		t.Fatalf("grants %v %v", gs, err)
	}
	f(&gs[0])
	if err := st.UpdateClientGrant(t.Context(), gs[0]); err != nil {
		t.Fatal(err)
	}
}

func deleteAPI(t *testing.T, st store.Store) {
	t.Helper()
	r, err := st.GetResourceServerByIdentifier(t.Context(), apiID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteResourceServer(t.Context(), r.ID); err != nil {
		t.Fatal(err)
	}
}

// everyRuntimeChange changes one field of each kind of record.
func everyRuntimeChange(t *testing.T, st store.Store) {
	setSettings(t, st, func(s *store.TenantSettings) {
		s.Flags.EnforceClientAuthOnPasswordlessStart = true
		s.AttackProtection.BruteForce.MaxAttempts = 5
	})
	modClient(t, st, "web", func(c *store.Client) { c.Callbacks = []string{"https://new.example.com/cb"} })
	modConn(t, st, "sms", func(c *store.Connection) { c.Options.TOTP.Length = 8 })
	modAPI(t, st, apiID, func(r *store.ResourceServer) { r.TokenLifetime = 7200 })
	modGrant(t, st, func(g *store.ClientGrant) { g.Scope = []string{} })
}

var everyRuntimePath = []string{
	"settings.attack_protection.brute_force_protection.max_attempts",
	"settings.flags.enforce_client_authentication_on_passwordless_start",
	"clients[web].callbacks",
	"connections[sms].options.totp.length",
	"resource_servers[" + apiID + "].token_lifetime",
	"client_grants[ops " + apiID + "].scope",
}

// with appends " (why)" to each path.
func with(why string, paths ...string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p + " (" + why + ")"
	}
	return out
}

func described(l tenant.FieldList) []string {
	out := []string{}
	for _, f := range l {
		out = append(out, f.Path+" ("+f.Why+")")
	}
	return out
}

func maxAttempts(t *testing.T, st store.Store) int {
	t.Helper()
	s, err := st.GetSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s.AttackProtection.BruteForceOrDefault().MaxAttempts
}

func enforced(t *testing.T, st store.Store) bool {
	t.Helper()
	s, err := st.GetSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s.Flags.EnforceClientAuthOnPasswordlessStart
}

func fileState(t *testing.T, st store.Store) map[string][]byte {
	t.Helper()
	s, err := st.TenantFileState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestApplyMergeRules: the file is applied, the store changed at runtime
// (or not), then a file (the same or edited) is applied again.
func TestApplyMergeRules(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		runtime func(t *testing.T, st store.Store)
		file    func(t *testing.T) string
		opt     tenant.ApplyOptions
		// Fields and Drift of the second apply, as "path (why)".
		fields, drift []string
		changed       int
		check         func(t *testing.T, st store.Store)
	}{{
		name:   "same file twice changes nothing",
		file:   func(*testing.T) string { return driftFile },
		fields: []string{}, drift: []string{},
	}, {
		name:    "runtime changes are kept and reported",
		runtime: everyRuntimeChange,
		file:    func(*testing.T) string { return driftFile },
		fields:  []string{}, drift: with(tenant.WhyKept, everyRuntimePath...),
		check: func(t *testing.T, st store.Store) {
			if !enforced(t, st) || maxAttempts(t, st) != 5 {
				t.Error("settings changed at runtime were reverted")
			}
			if c := mustClient(t, st, "web"); !slices.Equal(c.Callbacks, []string{"https://new.example.com/cb"}) {
				t.Errorf("callbacks reverted: %v", c.Callbacks)
			}
		},
	}, {
		name: "a field the file changed wins",
		file: func(t *testing.T) string {
			return edit(t, `"max_attempts": 10`, `"max_attempts": 7`, `"name": "Web"`, `"name": "Web app"`)
		},
		fields: []string{
			"settings.attack_protection.brute_force_protection.max_attempts (file changed)",
			"clients[web].name (file changed)",
		},
		drift: []string{}, changed: 2,
		check: func(t *testing.T, st store.Store) {
			if maxAttempts(t, st) != 7 || mustClient(t, st, "web").Name != "Web app" {
				t.Error("the file's new values were not applied")
			}
		},
	}, {
		name:    "changed in both: the file wins, other runtime changes stay",
		runtime: everyRuntimeChange,
		file:    func(t *testing.T) string { return edit(t, `"max_attempts": 10`, `"max_attempts": 7`) },
		fields:  []string{"settings.attack_protection.brute_force_protection.max_attempts (file changed)"},
		drift:   with(tenant.WhyKept, everyRuntimePath[1:]...), changed: 1,
		check: func(t *testing.T, st store.Store) {
			if maxAttempts(t, st) != 7 || !enforced(t, st) {
				t.Errorf("max_attempts %d (want the file's 7), enforcement %v (want the runtime's true)", maxAttempts(t, st), enforced(t, st))
			}
		},
	}, {
		name:    "the file changed to the runtime value: nothing to write but the state",
		runtime: everyRuntimeChange,
		file:    func(t *testing.T) string { return edit(t, `"max_attempts": 10`, `"max_attempts": 5`) },
		fields:  []string{}, drift: with(tenant.WhyKept, everyRuntimePath[1:]...),
	}, {
		name:    "a record deleted at runtime is not recreated",
		runtime: func(t *testing.T, st store.Store) { deleteAPI(t, st) },
		file:    func(*testing.T) string { return driftFile },
		fields:  []string{}, drift: with(tenant.WhyDeletedKept, "resource_servers["+apiID+"]"),
		check: func(t *testing.T, st store.Store) {
			if _, err := st.GetResourceServerByIdentifier(t.Context(), apiID); err == nil {
				t.Error("the API deleted at runtime is back")
			}
		},
	}, {
		name:    "a record deleted at runtime comes back when the file changes it",
		runtime: func(t *testing.T, st store.Store) { deleteAPI(t, st) },
		file:    func(t *testing.T) string { return edit(t, `"token_lifetime": 3600`, `"token_lifetime": 1800`) },
		fields:  with(tenant.WhyEdited, "resource_servers["+apiID+"]"), drift: []string{}, changed: 1,
		check: func(t *testing.T, st store.Store) {
			if r, err := st.GetResourceServerByIdentifier(t.Context(), apiID); err != nil || r.TokenLifetime != 1800 {
				t.Errorf("API %+v, %v", r, err)
			}
		},
	}, {
		name: "enforce overwrites runtime changes and recreates deleted records",
		runtime: func(t *testing.T, st store.Store) {
			everyRuntimeChange(t, st)
			modConn(t, st, "sms", func(c *store.Connection) { c.Options.TOTP.TimeStep = 600 })
			deleteAPI(t, st)
		},
		file: func(*testing.T) string { return driftFile },
		opt:  tenant.ApplyOptions{Enforce: true},
		fields: append(with(tenant.WhyOverwritten, everyRuntimePath[:3]...),
			"connections[sms].options.totp.length (runtime change overwritten)",
			"connections[sms].options.totp.time_step (runtime change overwritten)",
			"resource_servers["+apiID+"] (deleted at runtime: recreated)",
			"client_grants[ops "+apiID+"].scope (runtime change overwritten)"),
		drift: append(with(tenant.WhyOverwritten, everyRuntimePath[:3]...),
			"connections[sms].options.totp.length (runtime change overwritten)",
			"connections[sms].options.totp.time_step (runtime change overwritten)",
			"resource_servers["+apiID+"] (deleted at runtime: recreated)",
			"client_grants[ops "+apiID+"].scope (runtime change overwritten)"),
		changed: 5,
		check: func(t *testing.T, st store.Store) {
			if enforced(t, st) || maxAttempts(t, st) != 10 {
				t.Error("settings not restored")
			}
			c, err := st.GetConnectionByName(t.Context(), "sms")
			if err != nil || c.Options.TOTP != (store.TOTP{Length: 6, TimeStep: 300}) {
				t.Errorf("connection %+v %v", c.Options.TOTP, err)
			}
		},
	}, {
		name: "settings fields the file omits are not reset",
		runtime: func(t *testing.T, st store.Store) {
			setSettings(t, st, func(s *store.TenantSettings) { s.FriendlyName, s.Latchkey.MagicLinkConfirmation = "Acme", true })
		},
		file:   func(*testing.T) string { return driftFile },
		fields: []string{}, drift: []string{},
		check: func(t *testing.T, st store.Store) {
			s, _ := st.GetSettings(t.Context())
			if s.FriendlyName != "Acme" || !s.Latchkey.MagicLinkConfirmation {
				t.Errorf("settings the file does not state were reset: %+v", s)
			}
		},
	}, {
		name: "fields the file stops stating are left alone",
		runtime: func(t *testing.T, st store.Store) {
			modClient(t, st, "web", func(c *store.Client) { c.Callbacks = []string{"https://new.example.com/cb"} })
		},
		file: func(t *testing.T) string {
			return edit(t, `, "callbacks": ["https://app.example.com/cb"]`, ``)
		},
		fields: []string{}, drift: []string{},
	}, {
		name: "authParams as a string or an object is the same value",
		file: func(t *testing.T) string {
			return edit(t, `"authParams": "{\"scope\":\"openid\"}"`, `"authParams": {"scope": "openid"}`)
		},
		fields: []string{}, drift: []string{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, keys := open(t)
			first, err := apply(t, st, keys, driftFile, t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Drift) != 0 {
				t.Fatalf("first apply reports drift: %v", first.Drift)
			}
			for _, want := range []string{"clients[web] (new record)", "client_grants[ops " + apiID + "] (new record)",
				"settings.attack_protection.brute_force_protection.max_attempts (not applied before)"} {
				if !slices.Contains(described(first.Fields), want) {
					t.Fatalf("first apply: %q not in %q", want, described(first.Fields))
				}
			}
			if tt.runtime != nil {
				tt.runtime(t, st)
			}
			stateBefore := fileState(t, st)
			doc := tt.file(t)
			// A dry run reports the same and changes nothing.
			before := snap(t, st)
			dry, err := applyWith(t, st, keys, doc, t0.Add(time.Hour), tenant.ApplyOptions{Enforce: tt.opt.Enforce, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmpSnap(before, snap(t, st)); diff != "" {
				t.Fatalf("dry run changed the store:\n%s", diff)
			}
			if !mapsEqual(stateBefore, fileState(t, st)) {
				t.Fatal("dry run changed the state")
			}
			res, err := applyWith(t, st, keys, doc, t0.Add(time.Hour), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := described(res.Fields); !slices.Equal(got, tt.fields) {
				t.Errorf("fields\n got %q\nwant %q", got, tt.fields)
			}
			if got := described(res.Drift); !slices.Equal(got, tt.drift) {
				t.Errorf("drift\n got %q\nwant %q", got, tt.drift)
			}
			if res.Changed != tt.changed {
				t.Errorf("changed %d records, want %d", res.Changed, tt.changed)
			}
			if !slices.Equal(described(dry.Fields), described(res.Fields)) || !slices.Equal(described(dry.Drift), described(res.Drift)) || dry.Changed != res.Changed {
				t.Errorf("dry run reported %v %v %d; the apply %v %v %d", dry.Fields, dry.Drift, dry.Changed, res.Fields, res.Drift, res.Changed)
			}
			if tt.check != nil {
				tt.check(t, st)
			}
			// Applying the same file again changes nothing and reports the
			// same drift (kept), or none once enforced.
			after := snap(t, st)
			again, err := apply(t, st, keys, doc, t0.Add(2*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed != 0 || len(again.Fields) != 0 {
				t.Errorf("applying again changed %d records: %v", again.Changed, again.Fields)
			}
			if diff := cmpSnap(after, snap(t, st)); diff != "" {
				t.Errorf("applying again changed the store:\n%s", diff)
			}
			if !tt.opt.Enforce && !slices.Equal(described(again.Drift), tt.drift) {
				t.Errorf("applying again reports drift %v, want %v", described(again.Drift), tt.drift)
			}
			if tt.opt.Enforce && len(again.Drift) != 0 {
				t.Errorf("drift after enforcing: %v", again.Drift)
			}
		})
	}
}

// TestApplyWithoutState: a store that has records but no state of the last
// application (a first --bootstrap on a store set up otherwise, or a store
// from a version that did not record it): the file wins, as it always did.
func TestApplyWithoutState(t *testing.T) {
	st, keys := open(t)
	if err := st.ApplyTenant(t.Context(), store.TenantConfig{Settings: &store.TenantSettings{
		Flags:            store.TenantFlags{EnforceClientAuthOnPasswordlessStart: true},
		AttackProtection: store.AttackProtection{BruteForce: &store.BruteForceProtection{Enabled: true, Mode: "count_per_identifier", MaxAttempts: 3}},
	}}); err != nil {
		t.Fatal(err)
	}
	res, err := apply(t, st, keys, driftFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"settings.attack_protection.brute_force_protection.max_attempts (not applied before)",
		"settings.attack_protection.brute_force_protection.mode (not applied before)",
		"settings.attack_protection.brute_force_protection.shields (not applied before)",
		"settings.flags.enforce_client_authentication_on_passwordless_start (not applied before)",
		"clients[web] (new record)", "clients[ops] (new record)", "connections[sms] (new record)",
		"resource_servers[" + apiID + "] (new record)", "client_grants[ops " + apiID + "] (new record)",
	}
	if got := described(res.Fields); !slices.Equal(got, want) {
		t.Errorf("fields\n got %q\nwant %q", got, want)
	}
	if len(res.Drift) != 0 || enforced(t, st) || maxAttempts(t, st) != 10 {
		t.Errorf("drift %v; enforced %v, max_attempts %d", res.Drift, enforced(t, st), maxAttempts(t, st))
	}
	if f := res.Fields[0]; string(f.File) != "10" || string(f.Store) != "3" {
		t.Errorf("max_attempts reported as file=%s store=%s", f.File, f.Store)
	}
	state := fileState(t, st)
	for _, p := range append(everyRuntimePath, "clients[web]", "clients[web].client_secret", "connections[sms].options.authParams") {
		if len(state[p]) != 32 {
			t.Errorf("state of %s: %x", p, state[p])
		}
	}
	if _, ok := state["clients[web].client_id"]; ok {
		t.Error("the natural key is recorded as a field")
	}
}

// TestApplySecrets: secrets changed at runtime are drift like any field,
// and never appear in a report, a log line or the recorded state.
func TestApplySecrets(t *testing.T) {
	st, keys := open(t)
	if _, err := apply(t, st, keys, driftFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	const rotated = "rotated-secret-0123456789abcdefghij"
	const otherToken = "another-twilio-token-0123456789abcdefghijklmnop"
	modClient(t, st, "web", func(c *store.Client) { c.SecretHash = tenant.HashClientSecret(keys, "web", rotated) })
	modConn(t, st, "sms", func(c *store.Connection) { c.Options.TwilioToken = otherToken })

	res, err := apply(t, st, keys, driftFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := with(tenant.WhyKept, "clients[web].client_secret", "connections[sms].options.twilio_token")
	if got := described(res.Drift); !slices.Equal(got, want) {
		t.Fatalf("drift %q, want %q", got, want)
	}
	for _, f := range res.Drift {
		if string(f.File) != `"[redacted]"` || string(f.Store) != `"[redacted]"` {
			t.Errorf("%s shown as file=%s store=%s", f.Path, f.File, f.Store)
		}
	}
	if !secret.Equal(mustClient(t, st, "web").SecretHash, tenant.HashClientSecret(keys, "web", rotated)) {
		t.Error("the secret rotated at runtime was reverted")
	}

	// The file's new secret wins.
	const next = "next-secret-0123456789abcdefghijkl"
	res2, err := apply(t, st, keys, edit(t, webSecret, next), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !secret.Equal(mustClient(t, st, "web").SecretHash, tenant.HashClientSecret(keys, "web", next)) {
		t.Error("the file's new secret was not applied")
	}

	var out bytes.Buffer
	for _, r := range []tenant.Applied{res, res2} {
		for _, l := range []tenant.FieldList{r.Fields, r.Drift} {
			text, _ := l.MarshalText()
			js, _ := json.Marshal(l)
			fmt.Fprintf(&out, "%s\n%s\n", text, js)
		}
	}
	state := fileState(t, st)
	for p, h := range state {
		fmt.Fprintf(&out, "%s %s %x\n", p, h, h)
	}
	for _, s := range []string{webSecret, rotated, next, twilioToken, otherToken} {
		if strings.Contains(out.String(), s) {
			t.Errorf("a secret appears in the report or the state:\n%s", out.String())
		}
	}
	if h := state["clients[web].client_secret"]; bytes.Equal(h, tenant.HashClientSecret(keys, "web", next)) {
		t.Error("the state holds the client secret's own hash")
	}
}

// TestApplyRefusesBadFiles: with runtime changes in the store, a bad file is
// still refused whole, naming the field, and changes neither the records
// nor the state.
func TestApplyRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) string
		want string
	}{
		{"out of range", func(t *testing.T) string { return edit(t, `"max_attempts": 10`, `"max_attempts": 500`) },
			"settings.attack_protection.brute_force_protection.max_attempts"},
		{"unknown field", func(t *testing.T) string { return edit(t, `"name": "Web"`, `"name": "Web", "callback": []`) },
			`unknown field "callback"`},
		{"unknown settings field", func(t *testing.T) string { return edit(t, `"flags": {`, `"flags": {"enforce": true, `) },
			`unknown field "enforce"`},
		{"bad record", func(t *testing.T) string { return edit(t, `"token_lifetime": 3600`, `"token_lifetime": 5`) },
			"resource_servers[0].token_lifetime"},
		{"bad grant", func(t *testing.T) string {
			return edit(t, `"client_grants": [{"client_id": "ops"`, `"client_grants": [{"client_id": "nobody"`)
		}, "client_grants[0].client_id"},
		{"valid alone, not with the runtime changes", func(t *testing.T) string {
			return edit(t, `"grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]`,
				`"grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp", "refresh_token"]`)
		}, "clients[0].grant_types[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, keys := open(t)
			if _, err := apply(t, st, keys, driftFile, time.Now()); err != nil {
				t.Fatal(err)
			}
			everyRuntimeChange(t, st)
			// A runtime change that the file's otp grant cannot go with.
			modClient(t, st, "web", func(c *store.Client) {
				c.AppType, c.TokenEndpointAuthMethod, c.GrantTypes = tenant.AppSPA, tenant.AuthNone, []string{tenant.GrantAuthorizationCode}
			})
			before, state := snap(t, st), fileState(t, st)
			_, err := apply(t, st, keys, tt.doc(t), time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to name %q", err, tt.want)
			}
			if diff := cmpSnap(before, snap(t, st)); diff != "" {
				t.Errorf("a refused file changed the store:\n%s", diff)
			}
			if !mapsEqual(state, fileState(t, st)) {
				t.Error("a refused file changed the state")
			}
		})
	}
}

// TestApplyPartialAttackProtection: a file that states one attack-protection
// field sets it on the defaults in force, which a settings document without
// attack protection stands for.
func TestApplyPartialAttackProtection(t *testing.T) {
	st, keys := open(t)
	doc := `{"settings": {"attack_protection": {"brute_force_protection": {"max_attempts": 5}}}}`
	res, err := apply(t, st, keys, doc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := st.GetSettings(t.Context())
	want := store.DefaultBruteForce()
	want.MaxAttempts = 5
	if b := s.AttackProtection.BruteForce; b == nil || b.MaxAttempts != 5 || b.Mode != want.Mode || !b.Enabled || s.AttackProtection.SuspiciousIP != nil {
		t.Errorf("attack protection %+v, want %+v", s.AttackProtection, want)
	}
	if got := described(res.Fields); !slices.Equal(got, with(tenant.WhyUntracked, "settings.attack_protection.brute_force_protection.max_attempts")) {
		t.Errorf("fields %v", got)
	}
	// A default stated on a tenant without attack protection is stored:
	// the store had no value of its own.
	st2, _ := open(t)
	res, err = apply(t, st2, keys, `{"settings": {"attack_protection": {"brute_force_protection": {"max_attempts": 10}}}}`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fields) != 1 || string(res.Fields[0].Store) != "null" || string(res.Fields[0].File) != "10" {
		t.Errorf("stating the default: %+v", res)
	}
	if s, _ := st2.GetSettings(t.Context()); s.AttackProtection.BruteForce == nil || s.AttackProtection.BruteForce.Mode != want.Mode {
		t.Errorf("brute force protection stored as %+v", s.AttackProtection.BruteForce)
	}
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func cmpSnap(a, b snapshot) string { return cmp.Diff(a, b) }

// TestSpecOfRoundTripAllKinds: every stored record rebuilt from its spec is
// the same record (merging starts from the stored record in the file's
// shape).
func TestSpecOfRoundTripAllKinds(t *testing.T) {
	st, keys := open(t)
	if _, err := apply(t, st, keys, driftFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, st, keys, good, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := snap(t, st)
	for _, c := range s.Conns {
		got, err := tenant.BuildConnection(tenant.ConnectionSpecOf(c))
		got.ID, got.CreatedAt, got.UpdatedAt = c.ID, c.CreatedAt, c.UpdatedAt
		if diff := cmp.Diff(c, got); err != nil || diff != "" {
			t.Errorf("connection %s rebuilt differently (%v):\n%s", c.Name, err, diff)
		}
	}
	for _, r := range s.APIs {
		got, err := tenant.BuildResourceServer(tenant.ResourceServerSpecOf(r), issuer)
		got.ID, got.CreatedAt, got.UpdatedAt = r.ID, r.CreatedAt, r.UpdatedAt
		if diff := cmp.Diff(r, got); err != nil || diff != "" {
			t.Errorf("API %s rebuilt differently (%v):\n%s", r.Identifier, err, diff)
		}
	}
	for _, g := range s.Grants {
		got := tenant.BuildClientGrant(tenant.ClientGrantSpecOf(g))
		got.ID, got.CreatedAt = g.ID, g.CreatedAt
		if diff := cmp.Diff(g, got); diff != "" {
			t.Errorf("grant %s rebuilt differently:\n%s", g.ID, diff)
		}
	}
	if len(s.Conns) != 2 || len(s.APIs) != 1 || len(s.Grants) != 2 {
		t.Errorf("%d connections, %d APIs, %d grants; want 2, 1, 2", len(s.Conns), len(s.APIs), len(s.Grants))
	}
}

// TestApplyFileBuiltInCode: a File not read by ParseFile (or changed after)
// states every field of its specs.
func TestApplyFileBuiltInCode(t *testing.T) {
	st, keys := open(t)
	f, err := tenant.ParseFile(strings.NewReader(driftFile))
	if err != nil {
		t.Fatal(err)
	}
	f.Clients = append(f.Clients, tenant.ClientSpec{ClientID: "extra", Name: "Extra", AppType: tenant.AppSPA})
	f.Clients[0].Name = "Changed in code"
	if _, err := tenant.Apply(t.Context(), st, keys, f, issuer, time.Now(), tenant.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if mustClient(t, st, "web").Name != "Changed in code" || mustClient(t, st, "extra").AppType != tenant.AppSPA {
		t.Error("the File's own specs were not applied")
	}
	if _, ok := fileState(t, st)["clients[extra].description"]; !ok {
		t.Error("a File built in code does not state every field")
	}
}

// TestApplyFieldNamesAnyCase: encoding/json reads field names regardless of
// case; a field written so is the same field, and it is applied.
func TestApplyFieldNamesAnyCase(t *testing.T) {
	st, keys := open(t)
	if _, err := apply(t, st, keys, driftFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := apply(t, st, keys, edit(t, `"max_attempts": 10`, `"Max_Attempts": 7`, `"token_lifetime": 3600`, `"Token_Lifetime": 3600`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := described(res.Fields); !slices.Equal(got, []string{maxAttemptsField + " (file changed)"}) || maxAttempts(t, st) != 7 {
		t.Errorf("fields %q, max_attempts %d", got, maxAttempts(t, st))
	}
}

const maxAttemptsField = "settings.attack_protection.brute_force_protection.max_attempts"

// TestApplySecretsInsideObjects: a file that states a whole object
// (gateway_authentication, here null) shows a drift on it without the
// secret inside the stored value.
func TestApplySecretsInsideObjects(t *testing.T) {
	st, keys := open(t)
	file := edit(t, `"provider": "twilio",`, `"provider": "twilio", "gateway_authentication": null,`)
	if _, err := apply(t, st, keys, file, time.Now()); err != nil {
		t.Fatal(err)
	}
	const gatewaySecret = "GATEWAYSECRET-0123456789abcdef"
	modConn(t, st, "sms", func(c *store.Connection) {
		c.Options.GatewayAuthentication = &store.GatewayAuthentication{Method: "bearer", Subject: "s", Audience: "a", Secret: gatewaySecret}
	})
	res, err := apply(t, st, keys, file, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := described(res.Drift), with(tenant.WhyKept, "connections[sms].options.gateway_authentication"); !slices.Equal(got, want) {
		t.Fatalf("drift %q, want %q", got, want)
	}
	text, _ := res.Drift.MarshalText()
	js, _ := json.Marshal(res.Drift)
	if out := string(text) + string(js); strings.Contains(out, gatewaySecret) || !strings.Contains(out, `redacted`) {
		t.Errorf("the stored gateway secret is shown: %s", out)
	}
}

// TestApplyFieldRemovedThenRestored: a field the file stops stating is
// forgotten, so putting it back (even with its old value) is an edit of
// the file, which wins over a runtime change made meanwhile.
func TestApplyFieldRemovedThenRestored(t *testing.T) {
	st, keys := open(t)
	const line = `"max_attempts": 10`
	if !strings.Contains(driftFile, line) {
		t.Fatalf("driftFile has no %s", line)
	}
	if _, err := apply(t, st, keys, driftFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The file stops stating max_attempts (10 stays in the store).
	without := edit(t, `, `+line, ``)
	if _, err := apply(t, st, keys, without, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := fileState(t, st)["settings.attack_protection.brute_force_protection.max_attempts"]; ok {
		t.Fatal("the state still holds a field the file no longer states")
	}
	setSettings(t, st, func(s *store.TenantSettings) { s.AttackProtection.BruteForce.MaxAttempts = 5 })
	res, err := apply(t, st, keys, driftFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := maxAttempts(t, st); got != 10 {
		t.Errorf("max_attempts %d after the file put 10 back; drift %q", got, described(res.Drift))
	}
}
