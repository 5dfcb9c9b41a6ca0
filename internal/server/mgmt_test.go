package server_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// mgmtToken is an access token for the Management API with the given scopes (all the grant's when empty).
func (e *env) mgmtToken(scope string) string {
	e.t.Helper()
	tok, err := e.ccToken(m2mID, m2mSecret, e.issuer+"api/v2/", scope, oauth2.AuthStyleInParams)
	if err != nil {
		e.t.Fatalf("management token: %v", err)
	}
	return tok.AccessToken
}

// mgmt calls the Management API.
func (e *env) mgmt(method, path, token string, body any) response {
	e.t.Helper()
	var raw []byte
	ct := ""
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
		ct = "application/json"
	}
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	return e.do(method, "/api/v2/"+path, ct, raw, hdr)
}

func wantMgmtError(t *testing.T, r response, status int, errorCode, message string) {
	t.Helper()
	sc, _ := r.body["statusCode"].(float64)
	if r.status != status || int(sc) != status || r.str("error") == "" || r.str("errorCode") != errorCode ||
		(message != "" && r.str("message") != message) {
		t.Fatalf("got %d %s; want %d %s %q", r.status, r.raw, status, errorCode, message)
	}
}

func TestManagementAuth(t *testing.T) {
	e := newEnv(t)
	readOnly := e.mgmtToken("read:clients")
	apiTok, err := e.ccToken(m2mID, m2mSecret, apiID, "", oauth2.AuthStyleInParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, token string
		status                    int
		code, message             string
	}{
		{"no token", "GET", "clients", "", 401, "", "Missing authentication"},
		{"garbage token", "GET", "clients", "not-a-jwt", 401, "invalid_token", "Invalid token"},
		{"tampered token", "GET", "clients", readOnly[:len(readOnly)-4] + "AAAA", 401, "invalid_token", "Invalid token"},
		{"other audience", "GET", "clients", apiTok.AccessToken, 401, "invalid_token", "Bad audience"},
		{"insufficient scope", "PATCH", "tenants/settings", readOnly, 403, "insufficient_scope", "Insufficient scope, expected any of: update:tenant_settings"},
		{"insufficient scope to create", "POST", "clients", readOnly, 403, "insufficient_scope", "Insufficient scope, expected any of: create:clients"},
		{"unknown client", "GET", "clients/nope", readOnly, 404, "inexistent_client", "The client does not exist"},
		{"unknown route", "GET", "nothing-here", readOnly, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method != "GET" {
				body = map[string]any{}
			}
			wantMgmtError(t, e.mgmt(tt.method, tt.path, tt.token, body), tt.status, tt.code, tt.message)
		})
	}
	if r := e.mgmt("GET", "clients", readOnly, nil); r.status != 200 {
		t.Fatalf("read with read:clients: %d %s", r.status, r.raw)
	}
	e.clock.Advance(24*time.Hour + time.Second)
	wantMgmtError(t, e.mgmt("GET", "clients", readOnly, nil), 401, "token_expired", "")
}

func TestManagementSettings(t *testing.T) {
	e := newEnv(t)
	tok := e.mgmtToken("")
	r := e.mgmt("GET", "tenants/settings", tok, nil)
	flags, _ := r.body["flags"].(map[string]any)
	if r.status != 200 || r.str("friendly_name") != "Test" || flags["enforce_client_authentication_on_passwordless_start"] != false ||
		flags["cannot_change_enforce_client_authentication_on_passwordless_start"] != false {
		t.Fatalf("get settings: %d %s", r.status, r.raw)
	}
	start := func() response {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code", "email": "s@example.com"}, nil)
	}
	if r := start(); r.status != 200 {
		t.Fatalf("start before enforcement: %d %s", r.status, r.raw)
	}
	on := map[string]any{"flags": map[string]any{"enforce_client_authentication_on_passwordless_start": true}}
	r = e.mgmt("PATCH", "tenants/settings", tok, on)
	flags, _ = r.body["flags"].(map[string]any)
	if r.status != 200 || flags["enforce_client_authentication_on_passwordless_start"] != true || r.str("friendly_name") != "Test" {
		t.Fatalf("patch settings: %d %s", r.status, r.raw)
	}
	wantError(t, start(), 403, "unauthorized_client", "Client authentication is required")

	r = e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"friendly_name": "Acme"})
	flags, _ = r.body["flags"].(map[string]any)
	if r.status != 200 || r.str("friendly_name") != "Acme" || flags["enforce_client_authentication_on_passwordless_start"] != true {
		t.Fatalf("partial patch lost a field: %d %s", r.status, r.raw)
	}
	e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"flags": map[string]any{"enforce_client_authentication_on_passwordless_start": false}})
	if r := start(); r.status != 200 {
		t.Fatalf("start after turning enforcement off: %d %s", r.status, r.raw)
	}

	bad := []struct {
		name string
		body any
	}{
		{"unknown field", map[string]any{"flagz": map[string]any{}}},
		{"wrong type", map[string]any{"flags": map[string]any{"enforce_client_authentication_on_passwordless_start": "yes"}}},
		{"read-only flag", map[string]any{"flags": map[string]any{"cannot_change_enforce_client_authentication_on_passwordless_start": true}}},
		{"not an object", []string{"x"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantMgmtError(t, e.mgmt("PATCH", "tenants/settings", tok, tt.body), 400, "invalid_body", "")
		})
	}
}

func TestManagementClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.mgmtToken("")

		// Create: the generated secret is shown once.
		r := e.mgmt("POST", "clients", tok, map[string]any{"name": "Created", "app_type": "regular_web",
			"grant_types": []string{"http://auth0.com/oauth/grant-type/passwordless/otp", "client_credentials"},
			"callbacks":   []string{"https://created.example.com/cb"}})
		id, sec := r.str("client_id"), r.str("client_secret")
		if r.status != 201 || len(id) != 32 || len(sec) < 32 || r.str("token_endpoint_auth_method") != "client_secret_post" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "clients/"+id, tok, nil)
		if r.status != 200 || r.str("name") != "Created" || r.body["client_secret"] != nil || r.body["is_first_party"] != true {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		// The new client authenticates with its secret (it has no client grant yet: 403, not 401).
		cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}, "audience": {e.issuer + "api/v2/"}}
		wantError(t, e.postForm("/oauth/token", cc, nil), 403, "access_denied", "")
		r = e.mgmt("POST", "clients", tok, map[string]any{"client_id": id, "name": "Again"})
		wantMgmtError(t, r, 409, "already_exists", "")

		// Lists: the four applications of the tenant file, the dev demo and the new one.
		var all []map[string]any
		r = e.mgmt("GET", "clients", tok, nil)
		if err := json.Unmarshal(r.raw, &all); err != nil || len(all) != 6 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "clients?include_totals=true&per_page=2&page=1", tok, nil)
		clients, _ := r.body["clients"].([]any)
		if r.status != 200 || len(clients) != 2 || r.body["start"] != 2.0 || r.body["limit"] != 2.0 || r.body["total"] != 6.0 {
			t.Fatalf("list with totals: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "clients?include_totals=true&per_page=2&page=9", tok, nil)
		if clients, _ := r.body["clients"].([]any); r.status != 200 || len(clients) != 0 || r.body["total"] != 6.0 {
			t.Fatalf("list past the end: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "clients?per_page=101", tok, nil), 400, "invalid_query_string", "")

		// Patch merges.
		r = e.mgmt("PATCH", "clients/"+id, tok, map[string]any{"name": "Renamed", "web_origins": []string{"https://created.example.com"}})
		if r.status != 200 || r.str("name") != "Renamed" || r.body["client_secret"] != nil || len(r.body["callbacks"].([]any)) != 1 ||
			len(r.body["grant_types"].([]any)) != 2 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		bad := []struct {
			name, id string
			body     any
		}{
			{"otp grant on an spa", spaID, map[string]any{"grant_types": []string{"implicit", "http://auth0.com/oauth/grant-type/passwordless/otp"}}},
			{"spa with the otp grant", id, map[string]any{"app_type": "spa"}},
			{"unknown grant", id, map[string]any{"grant_types": []string{"password"}}},
			{"bad callback", id, map[string]any{"callbacks": []string{"not a url"}}},
			{"unknown field", id, map[string]any{"colour": "blue"}},
			{"client_id change", id, map[string]any{"client_id": "other"}},
			{"short secret", id, map[string]any{"client_secret": "short"}},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantMgmtError(t, e.mgmt("PATCH", "clients/"+tt.id, tok, tt.body), 400, "invalid_body", "")
			})
		}
		wantMgmtError(t, e.mgmt("PATCH", "clients/nope", tok, map[string]any{"name": "x"}), 404, "inexistent_client", "")

		// Patches are in force at once: the web app loses the OTP grant.
		r = e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"grant_types": []string{"refresh_token"}})
		if r.status != 200 {
			t.Fatalf("patch web app: %d %s", r.status, r.raw)
		}
		wantError(t, e.otpGrant(webID, webSecret, "email", "a@example.com", "000000", nil), 403, "unauthorized_client", "")

		// Delete.
		if r := e.mgmt("DELETE", "clients/"+id, tok, nil); r.status != 204 || len(r.raw) != 0 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "clients/"+id, tok, nil), 404, "inexistent_client", "The client does not exist")
		wantMgmtError(t, e.mgmt("DELETE", "clients/"+id, tok, nil), 404, "inexistent_client", "")
		wantError(t, e.postForm("/oauth/token", cc, nil), 401, "access_denied", "Unauthorized")
	})
}

func TestManagementRotateSecret(t *testing.T) {
	e := newEnv(t)
	tok := e.mgmtToken("")
	r := e.mgmt("POST", "clients/"+m2mID+"/rotate-secret", tok, nil)
	sec := r.str("client_secret")
	if r.status != 200 || len(sec) < 32 || sec == m2mSecret || !slices.Contains(anyStrings(r.body["grant_types"]), "client_credentials") {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	aud := e.issuer + "api/v2/"
	if _, err := e.ccToken(m2mID, m2mSecret, aud, "", oauth2.AuthStyleInParams); err == nil {
		t.Fatal("the old secret still works")
	}
	if _, err := e.ccToken(m2mID, sec, aud, "", oauth2.AuthStyleInHeader); err != nil {
		t.Fatalf("the new secret does not work: %v", err)
	}
	wantMgmtError(t, e.mgmt("POST", "clients/nope/rotate-secret", tok, nil), 404, "inexistent_client", "")
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
