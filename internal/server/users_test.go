package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"
)

// grantUserScopes adds the users scopes to the M2M application's
// Management API grant through the Management API itself.
func (e *env) grantUserScopes() {
	e.t.Helper()
	tok := e.mgmtToken("")
	r := e.mgmt("GET", "client-grants?client_id="+m2mID+"&audience="+url.QueryEscape(e.issuer+"api/v2/"), tok, nil)
	var grants []struct {
		ID    string   `json:"id"`
		Scope []string `json:"scope"`
	}
	if err := json.Unmarshal(r.raw, &grants); err != nil || len(grants) != 1 {
		e.t.Fatalf("management grant: %d %s", r.status, r.raw)
	}
	scope := append(slices.Clone(grants[0].Scope), "read:users", "create:users", "update:users", "delete:users")
	if r := e.mgmt("PATCH", "client-grants/"+grants[0].ID, tok, map[string]any{"scope": scope}); r.status != 200 {
		e.t.Fatalf("grant users scopes: %d %s", r.status, r.raw)
	}
}

// login runs an email-code login for the web app with a refresh token for
// the API and returns the token response.
func (e *env) login(email string) response {
	e.t.Helper()
	code := e.startEmail(email)
	r := e.otpGrant(webID, webSecret, "email", email, code, url.Values{"audience": {apiID}, "scope": {"openid email offline_access"}})
	if r.status != 200 || r.str("refresh_token") == "" {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.raw)
	}
	return r
}

func (e *env) refresh(rt string) response {
	e.t.Helper()
	return e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {webID},
		"client_secret": {webSecret}, "refresh_token": {rt}}, nil)
}

var passwordlessUserID = regexp.MustCompile(`^(email|sms)\|[0-9a-f]{24}$`)

func TestManagementUsers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		e.grantUserScopes()
		tok := e.mgmtToken("")
		readOnly := e.mgmtToken("read:users")

		// A user who signed up with a code.
		first := e.login("signup@example.com")
		signupID, _ := jwtClaims(t, first.str("id_token"))["sub"].(string)
		e.clock.Advance(time.Second) // the list is oldest first

		// Create: the user id is the one a code login would give; a code
		// login then finds the same user and verifies the address.
		r := e.mgmt("POST", "users", tok, map[string]any{"connection": "email", "email": "Created@Example.com"})
		createdID := r.str("user_id")
		ids, _ := r.body["identities"].([]any)
		if r.status != 201 || !passwordlessUserID.MatchString(createdID) || r.str("email") != "created@example.com" ||
			r.body["email_verified"] != false || len(ids) != 1 || r.body["logins_count"] != nil {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		if id := ids[0].(map[string]any); id["connection"] != "email" || id["provider"] != "email" || id["isSocial"] != false ||
			"email|"+id["user_id"].(string) != createdID {
			t.Errorf("identity %v", id)
		}
		login := e.login("created@example.com")
		if sub := jwtClaims(t, login.str("id_token"))["sub"]; sub != createdID {
			t.Errorf("login of a created user: sub %v, want %s", sub, createdID)
		}
		r = e.mgmt("GET", "users/"+url.PathEscape(createdID), readOnly, nil)
		if r.status != 200 || r.body["email_verified"] != true || r.body["logins_count"] != 1.0 || r.str("last_login") == "" || r.str("last_ip") == "" {
			t.Fatalf("get after login: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("POST", "users", tok, map[string]any{"connection": "email", "email": "created@example.com"}),
			409, "auth0_idp_error", "The user already exists.")

		e.clock.Advance(time.Second)
		r = e.mgmt("POST", "users", tok, map[string]any{"connection": "sms", "phone_number": "+14155550199", "phone_verified": true})
		smsID := r.str("user_id")
		if r.status != 201 || !passwordlessUserID.MatchString(smsID) || r.body["phone_verified"] != true || r.body["email"] != nil {
			t.Fatalf("create sms: %d %s", r.status, r.raw)
		}

		// Lists, paging, totals, lookups.
		var all []map[string]any
		r = e.mgmt("GET", "users", readOnly, nil)
		if err := json.Unmarshal(r.raw, &all); err != nil || len(all) != 3 || all[0]["user_id"] != signupID {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "users?include_totals=true&per_page=2&page=1", readOnly, nil)
		if users, _ := r.body["users"].([]any); r.status != 200 || len(users) != 1 || r.body["start"] != 2.0 || r.body["limit"] != 2.0 ||
			r.body["length"] != 1.0 || r.body["total"] != 3.0 || users[0].(map[string]any)["user_id"] != smsID {
			t.Fatalf("list with totals: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "users?q="+url.QueryEscape(`phone_number:"+14155550199"`)+"&search_engine=v3", readOnly, nil)
		if err := json.Unmarshal(r.raw, &all); err != nil || len(all) != 1 || all[0]["user_id"] != smsID {
			t.Fatalf("q phone_number: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "users-by-email?email="+url.QueryEscape("SIGNUP@example.com"), readOnly, nil)
		if err := json.Unmarshal(r.raw, &all); err != nil || len(all) != 1 || all[0]["user_id"] != signupID {
			t.Fatalf("users-by-email: %d %s", r.status, r.raw)
		}

		// Block: an outstanding code and the refresh token stop working.
		code := e.startEmail("signup@example.com")
		r = e.mgmt("PATCH", "users/"+url.PathEscape(signupID), tok, map[string]any{"blocked": true})
		if r.status != 200 || r.body["blocked"] != true {
			t.Fatalf("block: %d %s", r.status, r.raw)
		}
		wantError(t, e.otpGrant(webID, webSecret, "email", "signup@example.com", code, nil), 401, "unauthorized", "user is blocked")
		wantError(t, e.refresh(first.str("refresh_token")), 401, "unauthorized", "user is blocked")

		// Unblock: logins work again; the refresh token was revoked with the
		// block and stays revoked.
		if r := e.mgmt("PATCH", "users/"+url.PathEscape(signupID), tok, map[string]any{"blocked": false}); r.status != 200 || r.body["blocked"] != false {
			t.Fatalf("unblock: %d %s", r.status, r.raw)
		}
		wantError(t, e.refresh(first.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
		rotated := e.refresh(e.login("signup@example.com").str("refresh_token"))
		if rotated.status != 200 {
			t.Fatalf("refresh of a token issued after unblock: %d %s", rotated.status, rotated.raw)
		}

		// Delete: 204, the refresh token dies, the user is gone (deleting again is a 204 too).
		if r := e.mgmt("DELETE", "users/"+url.PathEscape(signupID), tok, nil); r.status != 204 || len(r.raw) != 0 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		wantError(t, e.refresh(rotated.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
		wantMgmtError(t, e.mgmt("GET", "users/"+url.PathEscape(signupID), readOnly, nil), 404, "inexistent_user", "The user does not exist.")
		if r := e.mgmt("DELETE", "users/"+url.PathEscape(signupID), tok, nil); r.status != 204 {
			t.Fatalf("delete again: %d %s", r.status, r.raw)
		}
		r = e.mgmt("GET", "users?include_totals=true", readOnly, nil)
		if r.body["total"] != 2.0 {
			t.Fatalf("total after delete: %s", r.raw)
		}

		// Bad requests and scopes, in Auth0's error shape; nothing changes.
		bad := []struct {
			name, method, path, token string
			body                      any
			status                    int
			code                      string
		}{
			{"create without scope", "POST", "users", readOnly, map[string]any{"connection": "email", "email": "x@example.com"}, 403, "insufficient_scope"},
			{"patch without scope", "PATCH", "users/" + url.PathEscape(smsID), readOnly, map[string]any{"blocked": true}, 403, "insufficient_scope"},
			{"delete without scope", "DELETE", "users/" + url.PathEscape(smsID), readOnly, nil, 403, "insufficient_scope"},
			{"create without connection", "POST", "users", tok, map[string]any{"email": "x@example.com"}, 400, "invalid_body"},
			{"create with unknown connection", "POST", "users", tok, map[string]any{"connection": "Username-Password-Authentication", "email": "x@example.com"}, 400, "inexistent_connection"},
			{"create with a bad email", "POST", "users", tok, map[string]any{"connection": "email", "email": "x@"}, 400, "invalid_body"},
			{"create with a bad phone", "POST", "users", tok, map[string]any{"connection": "sms", "phone_number": "555"}, 400, "invalid_body"},
			{"create with a password", "POST", "users", tok, map[string]any{"connection": "email", "email": "x@example.com", "password": "p"}, 400, "invalid_body"},
			{"create with a list", "POST", "users", tok, []string{"x"}, 400, "invalid_body"},
			{"patch unknown field", "PATCH", "users/" + url.PathEscape(smsID), tok, map[string]any{"nickname": "x"}, 400, "invalid_body"},
			{"patch nothing", "PATCH", "users/" + url.PathEscape(smsID), tok, map[string]any{}, 400, "invalid_body"},
			{"patch unknown user", "PATCH", "users/sms%7Cnobody", tok, map[string]any{"blocked": true}, 404, "inexistent_user"},
			{"get malformed id", "GET", "users/nobody", tok, nil, 400, "invalid_uri"},
			{"unsupported q", "GET", "users?q=" + url.QueryEscape("logins_count:[1 TO *]"), tok, nil, 400, "invalid_query_string"},
			{"users-by-email without email", "GET", "users-by-email", tok, nil, 400, "invalid_query_string"},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				wantMgmtError(t, e.mgmt(tt.method, tt.path, tt.token, tt.body), tt.status, tt.code, "")
			})
		}
		r = e.mgmt("GET", "users/"+url.PathEscape(smsID), readOnly, nil)
		if r.status != 200 || r.body["blocked"] != false || r.body["phone_verified"] != true {
			t.Fatalf("sms user after refused requests: %d %s", r.status, r.raw)
		}
		if r := e.mgmt("GET", "users?include_totals=true", readOnly, nil); r.body["total"] != 2.0 {
			t.Fatalf("refused creates created users: %s", r.raw)
		}
	})
}
