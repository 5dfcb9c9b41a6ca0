package tenant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/tenant"
)

const issuer = "https://login.example.com/"

const good = `{
  "settings": {"friendly_name": "Acme", "flags": {"enforce_client_authentication_on_passwordless_start": true}},
  "clients": [
    {"client_id": "web", "client_secret": "0123456789abcdef0123", "name": "Web", "app_type": "regular_web",
     "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"], "callbacks": ["https://app.example.com/cb"]},
    {"client_id": "ops", "name": "Ops", "app_type": "non_interactive", "grant_types": ["client_credentials"]},
    {"client_id": "spa", "name": "SPA", "app_type": "spa", "cross_origin_loc": "https://spa.example.com/co-verify"}
  ],
  "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["web", "spa"],
                   "options": {"totp": {"length": 8, "time_step": 300}, "authParams": "{\"scope\":\"openid\"}"}}],
  "resource_servers": [{"identifier": "https://api.example.com", "name": "API", "scopes": [{"value": "read:x"}]}],
  "client_grants": [{"client_id": "ops", "audience": "https://login.example.com/api/v2/", "scope": ["read:logs"]}]
}`

func open(t *testing.T) (*sqlite.Store, *secret.Keys) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := secret.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return st, keys
}

type snapshot struct {
	Settings store.TenantSettings
	Clients  []store.Client
	Conns    []store.Connection
	APIs     []store.ResourceServer
	Grants   []store.ClientGrant
}

func snap(t *testing.T, st store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	var err error
	if s.Settings, err = st.GetSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Clients, err = st.ListClients(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Conns, err = st.ListConnections(ctx); err != nil {
		t.Fatal(err)
	}
	if s.APIs, err = st.ListResourceServers(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Grants, err = st.ListClientGrants(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func apply(t *testing.T, st store.Store, keys *secret.Keys, doc string, now time.Time) (tenant.Applied, error) {
	t.Helper()
	return applyWith(t, st, keys, doc, now, tenant.ApplyOptions{})
}

func applyWith(t *testing.T, st store.Store, keys *secret.Keys, doc string, now time.Time, opt tenant.ApplyOptions) (tenant.Applied, error) {
	t.Helper()
	f, err := tenant.ParseFile(strings.NewReader(doc))
	if err != nil {
		return tenant.Applied{}, err
	}
	return tenant.Apply(t.Context(), st, keys, f, issuer, now, opt)
}

func TestApplyIsIdempotent(t *testing.T) {
	st, keys := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := apply(t, st, keys, good, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 7 || len(res.GeneratedSecrets) != 1 || res.GeneratedSecrets["ops"] == "" {
		t.Fatalf("first apply: %+v", res)
	}
	res0Secret := res.GeneratedSecrets["ops"]
	first := snap(t, st)
	if len(first.Clients) != 3 || len(first.Conns) != 1 || len(first.APIs) != 1 || len(first.Grants) != 1 || !first.Settings.Flags.EnforceClientAuthOnPasswordlessStart {
		t.Fatalf("stored %+v", first)
	}
	c := first.Conns[0]
	if c.Options.TOTP.Length != 8 || c.Options.AuthParams["scope"] != "openid" || !strings.HasPrefix(c.ID, "con_") {
		t.Errorf("connection %+v", c)
	}
	res, err = apply(t, st, keys, good, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 0 || len(res.GeneratedSecrets) != 0 {
		t.Errorf("second apply changed %d records, generated %v", res.Changed, res.GeneratedSecrets)
	}
	if diff := cmp.Diff(first, snap(t, st)); diff != "" {
		t.Errorf("second apply changed the store (-first +second):\n%s", diff)
	}
	// A change to one record updates it in place, keeping its ID and secret.
	changed := strings.Replace(good, `"name": "Ops"`, `"name": "Operations"`, 1)
	if res, err = apply(t, st, keys, changed, now.Add(2*time.Hour)); err != nil || res.Changed != 1 {
		t.Fatalf("apply change: %+v %v", res, err)
	}
	var before store.Client
	for _, c := range first.Clients {
		if c.ClientID == "ops" {
			before = c
		}
	}
	ops := mustClient(t, st, "ops")
	if ops.Name != "Operations" || !bytes.Equal(ops.SecretHash, before.SecretHash) || !ops.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("ops after change: %+v; before %+v", ops, before)
	}
	if !secret.Equal(ops.SecretHash, tenant.HashClientSecret(keys, "ops", res0Secret)) {
		t.Error("generated secret does not match the stored hash")
	}
	if got := tenant.HashClientSecret(keys, "web", "0123456789abcdef0123"); !secret.Equal(got, mustClient(t, st, "web").SecretHash) {
		t.Error("given client secret not stored as its keyed hash")
	}
}

func mustClient(t *testing.T, st store.Store, id string) store.Client {
	t.Helper()
	c, err := st.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplyIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"bad app type", strings.Replace(good, `"app_type": "spa"`, `"app_type": "web"`, 1), `clients[2].app_type: "web" is not one of`},
		{"unknown field", strings.Replace(good, `"name": "Web"`, `"name": "Web", "is_token_endpoint_ip_header_trustd": true`, 1), `unknown field "is_token_endpoint_ip_header_trustd"`},
		{"otp on spa", strings.Replace(good, `"app_type": "spa"`, `"app_type": "spa", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]`, 1), "clients[2].grant_types[0]"},
		{"short totp", strings.Replace(good, `"length": 8`, `"length": 3`, 1), "connections[0].options.totp.length"},
		{"unknown enabled client", strings.Replace(good, `"enabled_clients": ["web", "spa"]`, `"enabled_clients": ["nope"]`, 1), "connections[0].enabled_clients[0]"},
		{"grant for unknown api", strings.Replace(good, `"audience": "https://login.example.com/api/v2/"`, `"audience": "https://nope/"`, 1), "client_grants[0].audience"},
		{"wrong type", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": 5`, 1), "friendly_name"},
		{"bad callback", strings.Replace(good, `"https://app.example.com/cb"`, `"/relative"`, 1), "clients[0].callbacks[0]"},
		{"bad rate limit", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "latchkey": {"rate_limits": {"token": {"burst": 5, "rate": 0, "interval_seconds": 1}}}`, 1), "settings.latchkey.rate_limits.token.rate"},
		{"bad brute force", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "attack_protection": {"brute_force_protection": {"enabled": true, "mode": "count_per_identifier", "max_attempts": 500}}`, 1), "settings.attack_protection.brute_force_protection.max_attempts"},
		{"bad branding colour", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "branding": {"colors": {"primary": "#12345;x"}}`, 1), "settings.branding.colors.primary"},
		{"http logo", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "branding": {"logo_url": "http://cdn.example.com/l.png"}`, 1), "settings.branding.logo_url"},
		{"unknown branding field", strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "branding": {"colours": {}}`, 1), "colours"},
		{"bad email template", strings.Replace(good, `"authParams":`, `"email": {"from": "a@b.c", "subject": "s", "body": "{% if %}"}, "authParams":`, 1), "connections[0].options.email.body"},
		{"connection name", strings.Replace(good, `"name": "email", "strategy": "email"`, `"name": "mail", "strategy": "email"`, 1), "connections[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, keys := open(t)
			before := snap(t, st)
			_, err := apply(t, st, keys, tt.doc, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
			if diff := cmp.Diff(before, snap(t, st)); diff != "" {
				t.Errorf("a failed apply changed the store:\n%s", diff)
			}
		})
	}
}

// TestApplyBranding: the tenant file sets the branding in the settings
// document, and a second apply changes nothing.
func TestApplyBranding(t *testing.T) {
	t.Parallel()
	st, keys := open(t)
	doc := strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "branding": {"colors": {"primary": "#0059d6", "page_background": "#fff"},
		"logo_url": "https://cdn.example.com/logo.png", "favicon_url": "https://cdn.example.com/favicon.ico", "font": {"url": "https://cdn.example.com/f.woff2"}}`, 1)
	if _, err := apply(t, st, keys, doc, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := store.Branding{Colors: store.BrandingColors{Primary: "#0059d6", PageBackground: "#fff"}, LogoURL: "https://cdn.example.com/logo.png",
		FaviconURL: "https://cdn.example.com/favicon.ico", Font: store.BrandingFont{URL: "https://cdn.example.com/f.woff2"}}
	if got := snap(t, st).Settings.Branding; got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}
	if res, err := apply(t, st, keys, doc, time.Now()); err != nil || res.Changed != 0 {
		t.Errorf("second apply: %+v %v", res, err)
	}
}

// TestSpecOfRoundTrip: a stored client rebuilt from its spec is the same
// record (the Management API's PATCH relies on it).
func TestSpecOfRoundTrip(t *testing.T) {
	st, keys := open(t)
	if _, err := apply(t, st, keys, good, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range snap(t, st).Clients {
		got, _, err := tenant.BuildClient(keys, tenant.SpecOf(c), &c)
		if err != nil {
			t.Fatalf("%s: %v", c.ClientID, err)
		}
		got.CreatedAt, got.UpdatedAt = c.CreatedAt, c.UpdatedAt
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("%s rebuilt differently (-stored +rebuilt):\n%s", c.ClientID, diff)
		}
		if tenant.SpecOf(c).ClientSecret != "" {
			t.Errorf("%s: SpecOf carries a secret", c.ClientID)
		}
	}
}

// Connections are created with brute-force protection on unless the spec
// turns it off, as Auth0 creates them (the tenant file and the Management
// API decode the same spec).
func TestConnectionBruteForceDefaultsOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec string
		want       bool
	}{
		{"no options", `{"name":"email","strategy":"email"}`, true},
		{"empty options", `{"name":"email","strategy":"email","options":{}}`, true},
		{"other options", `{"name":"email","strategy":"email","options":{"disable_signup":true}}`, true},
		{"turned off", `{"name":"email","strategy":"email","options":{"brute_force_protection":false}}`, false},
		{"turned on", `{"name":"email","strategy":"email","options":{"brute_force_protection":true}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spec tenant.ConnectionSpec
			if err := json.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatal(err)
			}
			if got := spec.Options.BruteForceProtection; got != tc.want {
				t.Errorf("brute_force_protection = %v, want %v", got, tc.want)
			}
		})
	}
	var spec tenant.ConnectionSpec
	if err := json.Unmarshal([]byte(`{"name":"email","strategy":"email","bogus":1}`), &spec); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// An Auth0 client's cross_origin_loc is kept (and comes back from SpecOf,
// which TestSpecOfRoundTrip checks); a value that is not a URL is refused.
func TestCrossOriginLoc(t *testing.T) {
	t.Parallel()
	st, keys := open(t)
	if _, err := apply(t, st, keys, good, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetClient(context.Background(), "spa")
	if err != nil || c.CrossOriginLoc != "https://spa.example.com/co-verify" {
		t.Fatalf("stored cross_origin_loc %q (%v)", c.CrossOriginLoc, err)
	}
	spec := tenant.SpecOf(c)
	spec.CrossOriginLoc = "javascript:alert(1)"
	if _, _, err := tenant.BuildClient(keys, spec, nil); err == nil || !strings.Contains(err.Error(), "cross_origin_loc") {
		t.Fatalf("a bad cross_origin_loc: %v", err)
	}
}

// TestApplyMembers: the console's members come from the tenant file
// (settings.latchkey.members), checked like any setting.
func TestApplyMembers(t *testing.T) {
	t.Parallel()
	st, keys := open(t)
	doc := strings.Replace(good, `"friendly_name": "Acme"`, `"friendly_name": "Acme", "latchkey": {"members": [
		{"email": "ops@example.com", "role": "owner"}, {"email": "support@example.com", "role": "viewer"}]}`, 1)
	if _, err := apply(t, st, keys, doc, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := []store.Member{{Email: "ops@example.com", Role: "owner"}, {Email: "support@example.com", Role: "viewer"}}
	if got := snap(t, st).Settings.Latchkey.Members; !slices.Equal(got, want) {
		t.Errorf("stored %+v, want %+v", got, want)
	}
	bad := strings.Replace(doc, `"role": "viewer"`, `"role": "admin"`, 1)
	if _, err := apply(t, st, keys, bad, time.Now()); err == nil || !strings.Contains(err.Error(), "latchkey.members[1].role") {
		t.Errorf("a bad role: %v", err)
	}
}

// TestApplyHS256: a tenant file moves an application to HS256 by stating
// its (unchanged) secret with the algorithm; applying it again changes
// nothing; a secret rotated through the API since is not put back by a
// later change of the file; without the secret the file is refused.
func TestApplyHS256(t *testing.T) {
	st, keys := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const sec = "a-client-secret-long-enough-for-hs256-0123456789"
	file := func(name, jwt string) string {
		return `{"clients": [{"client_id": "web", "name": "` + name + `", "app_type": "regular_web", "client_secret": "` + sec + `"` + jwt + `}]}`
	}
	if _, err := apply(t, st, keys, file("Web", ""), now); err != nil {
		t.Fatal(err)
	}
	hs := `, "jwt_configuration": {"alg": "HS256"}`
	if _, err := apply(t, st, keys, file("Web", hs), now); err != nil {
		t.Fatalf("switch to HS256 with the secret stated: %v", err)
	}
	c := snap(t, st).Clients[0]
	key, err := tenant.HMACKey(keys, c)
	if err != nil || string(key) != sec || tenant.JWTConfig(c).Alg != "HS256" {
		t.Fatalf("HS256 key %q, %v; config %+v", key, err, c.JWTConfiguration)
	}
	res, err := apply(t, st, keys, file("Web", hs), now)
	if err != nil || res.Changed != 0 {
		t.Fatalf("applying the same file again: %d changed, %v (%v)", res.Changed, err, res.Fields)
	}

	// The secret is rotated at runtime; the file then renames the app.
	rotated := "another-secret-long-enough-for-hs256-9876543210"
	if _, err := st.ModifyClient(t.Context(), "web", func(c *store.Client) error {
		return tenant.SetClientSecret(keys, c, rotated)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, st, keys, file("Web app", hs), now); err != nil {
		t.Fatal(err)
	}
	c = snap(t, st).Clients[0]
	if key, err := tenant.HMACKey(keys, c); err != nil || string(key) != rotated || c.Name != "Web app" {
		t.Fatalf("after renaming: key %q (%v), name %q; want the rotated secret kept", key, err, c.Name)
	}

	// Without a secret, a file cannot switch an application to HS256.
	st2, _ := open(t)
	if _, err := apply(t, st2, keys, `{"clients": [{"client_id": "web", "name": "Web", "app_type": "regular_web"}]}`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, st2, keys, `{"clients": [{"client_id": "web", "name": "Web", "app_type": "regular_web"`+hs+`}]}`, now); err == nil ||
		!strings.Contains(err.Error(), "give client_secret in the same change") {
		t.Fatalf("HS256 without the secret: %v", err)
	}
}
