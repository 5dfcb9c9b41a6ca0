package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
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
	t.Parallel()
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
	t.Parallel()
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
	if r := e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"default_audience": apiID}); r.status != 200 || r.str("default_audience") != apiID {
		t.Fatalf("default audience: %d %s", r.status, r.raw)
	}
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
		{"unknown default audience", map[string]any{"default_audience": "https://nope.example.com/"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantMgmtError(t, e.mgmt("PATCH", "tenants/settings", tok, tt.body), 400, "invalid_body", "")
		})
	}
}

func TestManagementClients(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

func TestManagementConnections(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.mgmtToken("")

		// Lists: offset paging and checkpoint paging over the tenant file's two connections.
		var all []map[string]any
		r := e.mgmt("GET", "connections", tok, nil)
		if err := json.Unmarshal(r.raw, &all); err != nil || len(all) != 2 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		var emailID string
		for _, c := range all {
			if c["name"] == "email" {
				emailID, _ = c["id"].(string)
			}
		}
		r = e.mgmt("GET", "connections?take=1", tok, nil)
		first, _ := r.body["connections"].([]any)
		next := r.str("next")
		if r.status != 200 || len(first) != 1 || next == "" {
			t.Fatalf("take=1: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "connections?take=1&from="+url.QueryEscape(next), tok, nil)
		second, _ := r.body["connections"].([]any)
		if r.status != 200 || len(second) != 1 || r.body["next"] != nil || second[0].(map[string]any)["id"] != next {
			t.Fatalf("from=next: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "connections?strategy=sms&include_totals=true", tok, nil)
		if conns, _ := r.body["connections"].([]any); r.status != 200 || len(conns) != 1 || r.body["total"] != 1.0 {
			t.Fatalf("strategy filter: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "connections?take=0", tok, nil), 400, "invalid_query_string", "")

		r = e.mgmt("GET", "connections/"+emailID, tok, nil)
		if opts, _ := r.body["options"].(map[string]any); r.status != 200 || r.str("strategy") != "email" || opts["totp"] == nil ||
			!slices.Contains(anyStrings(r.body["realms"]), "email") {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}

		// A second email connection is a conflict; a bad one a 400.
		wantMgmtError(t, e.mgmt("POST", "connections", tok, map[string]any{"name": "email", "strategy": "email"}), 409, "connection_conflict", "")
		bad := []struct {
			name   string
			method string
			path   string
			body   any
		}{
			{"strategy", "POST", "connections", map[string]any{"name": "pw", "strategy": "auth0"}},
			{"unknown client", "PATCH", "connections/" + emailID, map[string]any{"enabled_clients": []string{"nope"}}},
			{"totp too short", "PATCH", "connections/" + emailID, map[string]any{"options": map[string]any{"totp": map[string]any{"length": 3}}}},
			{"unknown option", "PATCH", "connections/" + emailID, map[string]any{"options": map[string]any{"colour": "blue"}}},
			{"rename", "PATCH", "connections/" + emailID, map[string]any{"name": "mail"}},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantMgmtError(t, e.mgmt(tt.method, tt.path, tok, tt.body), 400, "invalid_body", "")
			})
		}

		// A PATCH is in force at once: codes become 8 digits, and the web app is no longer enabled.
		r = e.mgmt("PATCH", "connections/"+emailID, tok, map[string]any{
			"options":         map[string]any{"totp": map[string]any{"length": 8, "time_step": 300}, "authParams": `{"scope":"openid"}`},
			"enabled_clients": []string{nativeID}})
		if r.status != 200 || len(anyStrings(r.body["enabled_clients"])) != 1 {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		start := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code", "email": "c@example.com"}, nil)
		if start.status != 200 || len(e.lastMessage("c@example.com").Code) != 8 {
			t.Fatalf("start after patch: %d %s", start.status, start.raw)
		}
		if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret, "connection": "email", "send": "code", "email": "c@example.com"}, nil); r.status < 400 {
			t.Fatalf("web app still enabled: %d %s", r.status, r.raw)
		}

		// Delete: 202, then gone; deleting a client drops it from enabled_clients.
		if r := e.mgmt("DELETE", "connections/"+emailID, tok, nil); r.status != 202 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "connections/"+emailID, tok, nil), 404, "inexistent_connection", "The connection does not exist")
		wantMgmtError(t, e.mgmt("DELETE", "connections/"+emailID, tok, nil), 404, "inexistent_connection", "")
		r = e.mgmt("POST", "connections", tok, map[string]any{"strategy": "email", "enabled_clients": []string{webID, nativeID}})
		if r.status != 201 || r.str("name") != "email" || !strings.HasPrefix(r.str("id"), "con_") {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		newID := r.str("id")
		if r := e.mgmt("DELETE", "clients/"+webID, tok, nil); r.status != 204 {
			t.Fatalf("delete client: %d %s", r.status, r.raw)
		}
		if r := e.mgmt("GET", "connections/"+newID, tok, nil); !slices.Equal(anyStrings(r.body["enabled_clients"]), []string{nativeID}) {
			t.Fatalf("deleted client still enabled: %s", r.raw)
		}
	})
}

// TestDeletedClientLosesGrants: a client re-created with the same client_id inherits no client grant.
func TestDeletedClientLosesGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mgmtToken("")
	if r := e.mgmt("DELETE", "clients/"+m2mID, tok, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	r := e.mgmt("POST", "clients", tok, map[string]any{"client_id": m2mID, "client_secret": m2mSecret, "name": "Again",
		"app_type": "non_interactive", "grant_types": []string{"client_credentials"}})
	if r.status != 201 {
		t.Fatalf("re-create: %d %s", r.status, r.raw)
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {m2mID}, "client_secret": {m2mSecret}, "audience": {e.issuer + "api/v2/"}}
	wantError(t, e.postForm("/oauth/token", cc, nil), 403, "access_denied", "")
}

func TestManagementResourceServersAndGrants(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.mgmtToken("")
		const ordersAPI = "https://orders.example.com/"

		r := e.mgmt("POST", "resource-servers", tok, map[string]any{"identifier": ordersAPI, "name": "Orders",
			"scopes": []map[string]any{{"value": "read:orders"}, {"value": "write:orders"}}})
		rsID := r.str("id")
		if r.status != 201 || rsID == "" || r.str("signing_alg") != "RS256" || r.body["token_lifetime"] != 86400.0 {
			t.Fatalf("create api: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("POST", "resource-servers", tok, map[string]any{"identifier": ordersAPI}), 409, "already_exists", "")
		wantMgmtError(t, e.mgmt("POST", "resource-servers", tok, map[string]any{"identifier": e.issuer + "api/v2/"}), 400, "invalid_body", "")
		r = e.mgmt("GET", "resource-servers?include_totals=true", tok, nil)
		if list, _ := r.body["resource_servers"].([]any); r.status != 200 || len(list) != 3 || r.body["total"] != 3.0 {
			t.Fatalf("list apis: %d %s", r.status, r.raw)
		}
		// By id or by URL-encoded identifier.
		for _, key := range []string{rsID, url.PathEscape(ordersAPI)} {
			if r := e.mgmt("GET", "resource-servers/"+key, tok, nil); r.status != 200 || r.str("identifier") != ordersAPI {
				t.Fatalf("get api by %s: %d %s", key, r.status, r.raw)
			}
		}
		r = e.mgmt("PATCH", "resource-servers/"+rsID, tok, map[string]any{"token_lifetime": 600})
		if r.status != 200 || r.body["token_lifetime"] != 600.0 || r.str("name") != "Orders" || len(r.body["scopes"].([]any)) != 2 {
			t.Fatalf("patch api: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("PATCH", "resource-servers/"+rsID, tok, map[string]any{"identifier": "https://other/"}), 400, "invalid_body", "")
		wantMgmtError(t, e.mgmt("PATCH", "resource-servers/"+rsID, tok, map[string]any{"token_lifetime": 5}), 400, "invalid_body", "")

		// No grant yet: 403 at the token endpoint; a grant makes it work, with its scopes.
		cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {m2mID}, "client_secret": {m2mSecret}, "audience": {ordersAPI}}
		wantError(t, e.postForm("/oauth/token", cc, nil), 403, "access_denied", "")
		bad := []struct {
			name string
			body map[string]any
		}{
			{"undefined scope", map[string]any{"client_id": m2mID, "audience": ordersAPI, "scope": []string{"delete:orders"}}},
			{"unknown client", map[string]any{"client_id": "nope", "audience": ordersAPI, "scope": []string{}}},
			{"unknown api", map[string]any{"client_id": m2mID, "audience": "https://nope/", "scope": []string{}}},
			{"missing scope", map[string]any{"client_id": m2mID, "audience": ordersAPI}},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantMgmtError(t, e.mgmt("POST", "client-grants", tok, tt.body), 400, "invalid_body", "")
			})
		}
		r = e.mgmt("POST", "client-grants", tok, map[string]any{"client_id": m2mID, "audience": ordersAPI, "scope": []string{"read:orders"}})
		grantID := r.str("id")
		if r.status != 201 || !strings.HasPrefix(grantID, "cgr_") {
			t.Fatalf("create grant: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("POST", "client-grants", tok, map[string]any{"client_id": m2mID, "audience": ordersAPI, "scope": []string{}}), 409, "conflict", "")
		if r := e.postForm("/oauth/token", cc, nil); r.status != 200 || r.str("scope") != "read:orders" || r.body["expires_in"] != 600.0 {
			t.Fatalf("token after grant: %d %s", r.status, r.raw)
		}
		r = e.mgmt("PATCH", "client-grants/"+grantID, tok, map[string]any{"scope": []string{"read:orders", "write:orders"}})
		if r.status != 200 || len(anyStrings(r.body["scope"])) != 2 {
			t.Fatalf("patch grant: %d %s", r.status, r.raw)
		}
		if r := e.postForm("/oauth/token", cc, nil); r.str("scope") != "read:orders write:orders" {
			t.Fatalf("token after grant patch: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "client-grants?audience="+url.QueryEscape(ordersAPI)+"&include_totals=true", tok, nil)
		if list, _ := r.body["client_grants"].([]any); r.status != 200 || len(list) != 1 || r.body["total"] != 1.0 {
			t.Fatalf("list grants: %d %s", r.status, r.raw)
		}
		var mine []map[string]any
		if err := json.Unmarshal(e.mgmt("GET", "client-grants?client_id="+m2mID, tok, nil).raw, &mine); err != nil || len(mine) != 3 {
			t.Fatalf("grants of m2m-app: %v %v", err, mine)
		}
		wantMgmtError(t, e.mgmt("PATCH", "client-grants/cgr_nope", tok, map[string]any{"scope": []string{}}), 404, "inexistent_client_grant", "")

		// Deleting a grant stops the tokens; deleting an API takes its grants along.
		if r := e.mgmt("DELETE", "client-grants/"+grantID, tok, nil); r.status != 204 {
			t.Fatalf("delete grant: %d %s", r.status, r.raw)
		}
		wantError(t, e.postForm("/oauth/token", cc, nil), 403, "access_denied", "")
		wantMgmtError(t, e.mgmt("DELETE", "client-grants/"+grantID, tok, nil), 404, "inexistent_client_grant", "")
		if r := e.mgmt("DELETE", "resource-servers/"+url.PathEscape(apiID), tok, nil); r.status != 204 {
			t.Fatalf("delete api: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "resource-servers/"+url.PathEscape(apiID), tok, nil), 404, "inexistent_resource_server", "")
		if err := json.Unmarshal(e.mgmt("GET", "client-grants?client_id="+m2mID, tok, nil).raw, &mine); err != nil || len(mine) != 1 {
			t.Fatalf("grants of m2m-app after deleting the API: %v %v", err, mine)
		}
		cc.Set("audience", apiID)
		wantError(t, e.postForm("/oauth/token", cc, nil), 403, "access_denied", "Service not found: "+apiID)
	})
}

// TestManagementBadBodies: malformed, mistyped, oversized or wrongly typed
// bodies get a 4xx in the Management API's shape and change nothing.
func TestManagementBadBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mgmtToken("")
	before := e.mgmt("GET", "clients?include_totals=true", tok, nil)
	auth := map[string]string{"Authorization": "Bearer " + tok}
	tests := []struct {
		name, method, path, ct, body string
		status                       int
	}{
		{"malformed", "POST", "clients", "application/json", `{"name":`, 400},
		{"array", "POST", "clients", "application/json", `[]`, 400},
		{"wrong type", "POST", "clients", "application/json", `{"name":5}`, 400},
		{"unknown field", "POST", "clients", "application/json", `{"name":"x","nope":1}`, 400},
		{"text body", "POST", "clients", "text/plain", `name=x`, 400},
		{"oversized", "POST", "clients", "application/json", `{"name":"` + strings.Repeat("a", 100<<10) + `"}`, 413},
		{"patch malformed", "PATCH", "clients/" + webID, "application/json", `{"name"`, 400},
		{"patch wrong type", "PATCH", "clients/" + webID, "application/json", `{"callbacks":"x"}`, 400},
		{"settings malformed", "PATCH", "tenants/settings", "application/json", `{"flags":`, 400},
		{"settings wrong type", "PATCH", "tenants/settings", "application/json", `{"flags":{"enforce_client_authentication_on_passwordless_start":"yes"}}`, 400},
		{"connection malformed", "POST", "connections", "application/json", `{`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, "/api/v2/"+tt.path, tt.ct, []byte(tt.body), auth)
			sc, _ := r.body["statusCode"].(float64)
			if r.status != tt.status || int(sc) != tt.status || r.str("message") == "" {
				t.Fatalf("got %d %s; want %d in the Management API shape", r.status, r.raw, tt.status)
			}
		})
	}
	after := e.mgmt("GET", "clients?include_totals=true", tok, nil)
	if fmtJSON(before.body) != fmtJSON(after.body) {
		t.Errorf("rejected requests changed the clients:\n%s\n%s", before.raw, after.raw)
	}
	if s := e.mgmt("GET", "tenants/settings", tok, nil); s.status != 200 {
		t.Errorf("settings after bad patches: %d %s", s.status, s.raw)
	} else if flags, _ := s.body["flags"].(map[string]any); flags["enforce_client_authentication_on_passwordless_start"] != false {
		t.Errorf("a rejected patch changed the flag: %s", s.raw)
	}
}

func TestManagementAttackProtection(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.mgmtToken("")
		readOnly := e.mgmtToken("read:attack_protection")
		const bf, sit = "attack-protection/brute-force-protection", "attack-protection/suspicious-ip-throttling"

		r := e.mgmt("GET", bf, readOnly, nil)
		if r.status != 200 || r.body["enabled"] != true || r.body["max_attempts"] != 10.0 || r.str("mode") != "count_per_identifier_and_ip" ||
			fmt.Sprint(r.body["shields"]) != "[block]" || fmt.Sprint(r.body["allowlist"]) != "[]" {
			t.Fatalf("brute force defaults: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", sit, readOnly, nil)
		if r.status != 200 || !strings.Contains(string(r.raw), `"pre-login":{"max_attempts":100,"rate":864000}`) ||
			!strings.Contains(string(r.raw), `"pre-user-registration":{"max_attempts":50,"rate":1728000}`) {
			t.Fatalf("suspicious IP defaults: %d %s", r.status, r.raw)
		}

		wantMgmtError(t, e.mgmt("PATCH", bf, readOnly, map[string]any{"max_attempts": 5}), 403, "insufficient_scope",
			"Insufficient scope, expected any of: update:attack_protection")
		wantMgmtError(t, e.mgmt("GET", sit, e.mgmtToken("read:clients"), nil), 403, "insufficient_scope",
			"Insufficient scope, expected any of: read:attack_protection")

		r = e.mgmt("PATCH", bf, tok, map[string]any{"max_attempts": 3, "allowlist": []string{"192.0.2.0/24", "2001:db8::1"}})
		if r.status != 200 || r.body["max_attempts"] != 3.0 || r.body["enabled"] != true || fmt.Sprint(r.body["allowlist"]) != "[192.0.2.0/24 2001:db8::1]" {
			t.Fatalf("patch brute force: %d %s", r.status, r.raw)
		}
		r = e.mgmt("PATCH", sit, tok, map[string]any{"stage": map[string]any{"pre-login": map[string]any{"max_attempts": 20}}})
		if r.status != 200 || !strings.Contains(string(r.raw), `"pre-login":{"max_attempts":20,"rate":864000}`) {
			t.Fatalf("patch suspicious IP: %d %s", r.status, r.raw)
		}
		// The write reaches the request path's configuration at once.
		s, err := e.srv.Dir.Settings(t.Context())
		if err != nil || s.AttackProtection.BruteForceOrDefault().MaxAttempts != 3 || s.AttackProtection.SuspiciousIPOrDefault().Stage.PreLogin.MaxAttempts != 20 {
			t.Fatalf("directory settings %+v, %v", s.AttackProtection, err)
		}
		// Other tenant settings are untouched, and a settings PATCH keeps attack protection.
		if r := e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"friendly_name": "Acme"}); r.status != 200 {
			t.Fatalf("patch settings: %d %s", r.status, r.raw)
		}
		if r := e.mgmt("GET", bf, readOnly, nil); r.body["max_attempts"] != 3.0 {
			t.Errorf("brute force after a settings patch: %s", r.raw)
		}

		bad := []struct {
			name, path string
			body       any
			message    string
		}{
			{"unknown field", bf, map[string]any{"max_tries": 3}, "Payload validation error: 'Additional properties not allowed: max_tries'"},
			{"max_attempts", bf, map[string]any{"max_attempts": 101}, "Payload validation error: 'Value 101 is greater than maximum 100' on property max_attempts"},
			{"mode", bf, map[string]any{"mode": "per_ip"}, ""},
			{"shields", sit, map[string]any{"shields": []string{"user_notification"}}, ""},
			{"allowlist", sit, map[string]any{"allowlist": []string{"not-an-ip"}}, ""},
			{"stage rate", sit, map[string]any{"stage": map[string]any{"pre-user-registration": map[string]any{"rate": 10}}}, ""},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantMgmtError(t, e.mgmt("PATCH", tt.path, tok, tt.body), 400, "invalid_body", tt.message)
			})
		}
		if r := e.mgmt("GET", bf, readOnly, nil); r.body["max_attempts"] != 3.0 || r.str("mode") != "count_per_identifier_and_ip" {
			t.Errorf("a refused patch changed the settings: %s", r.raw)
		}
	})
}
