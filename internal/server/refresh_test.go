package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// oauthConfig is an x/oauth2 configuration for a client of the test tenant.
func (e *env) oauthConfig(clientID, secret, redirectURI string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "authorize", TokenURL: e.issuer + "oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
}

// refreshWith renews tokens with x/oauth2: a token source over an expired
// token holding only rt refreshes at the token endpoint.
func refreshWith(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

// TestOfflineAccessWithoutAudience: offline_access without an audience
// yields a refresh token (Auth0 issues one whenever the application has the
// refresh_token grant) from the passwordless grant and from a code exchange;
// x/oauth2 renews with it, the renewed ID token verifies with go-oidc and
// the renewed opaque access token reads /userinfo. An application without
// the grant gets none, and offline_access is not in its granted scope.
func TestOfflineAccessWithoutAudience(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := oidc.ClientContext(t.Context(), e.http)
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		renewAndCheck := func(t *testing.T, cfg *oauth2.Config, rt, email string) {
			t.Helper()
			got, err := refreshWith(ctx, cfg, rt)
			if err != nil {
				t.Fatalf("refresh with x/oauth2: %v", err)
			}
			if got.RefreshToken == "" || got.AccessToken == "" {
				t.Fatalf("refreshed token %+v", got)
			}
			raw, _ := got.Extra("id_token").(string)
			idt, err := p.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("refreshed id token: %v", err)
			}
			ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(got))
			if err != nil {
				t.Fatalf("userinfo with the refreshed access token: %v", err)
			}
			if ui.Subject != idt.Subject || ui.Email != email {
				t.Errorf("userinfo %s %s, id token sub %s", ui.Subject, ui.Email, idt.Subject)
			}
			if sc, _ := got.Extra("scope").(string); sc != "openid email offline_access" {
				t.Errorf("refreshed scope %q", sc)
			}
		}

		t.Run("passwordless grant", func(t *testing.T) {
			code := e.startEmail("offline@example.com")
			tok := e.otpGrant(webID, webSecret, "email", "offline@example.com", code, url.Values{"scope": {"openid email offline_access"}})
			if tok.status != 200 || tok.str("refresh_token") == "" || tok.str("scope") != "openid email offline_access" {
				t.Fatalf("token: %d %s", tok.status, tok.raw)
			}
			renewAndCheck(t, e.oauthConfig(webID, webSecret, ""), tok.str("refresh_token"), "offline@example.com")
		})

		t.Run("authorization code", func(t *testing.T) {
			cfg := e.oauthConfig(webID, webSecret, webCallback)
			cfg.Scopes = []string{"openid", "email", "offline_access"}
			b := e.browser()
			authz, _ := url.Parse(cfg.AuthCodeURL("st", oidc.Nonce("n-1")))
			done := b.loginOnPage(t, b.get(authz.RequestURI()), "code.offline@example.com")
			v := done.params(t)
			if v.Get("code") == "" || v.Get("state") != "st" {
				t.Fatalf("authorize: %d %v", done.status, done.loc)
			}
			tok, err := cfg.Exchange(ctx, v.Get("code"))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.RefreshToken == "" {
				t.Fatalf("no refresh token from the code exchange: %+v", tok)
			}
			raw, _ := tok.Extra("id_token").(string)
			if idt, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, raw); err != nil || idt.Nonce != "n-1" {
				t.Fatalf("id token: %v", err)
			}
			renewAndCheck(t, cfg, tok.RefreshToken, "code.offline@example.com")
		})

		t.Run("no refresh_token grant", func(t *testing.T) {
			b := e.browser()
			verifier := oauth2.GenerateVerifier()
			done := b.loginOnPage(t, b.get(authorizeURL(spaID, spaCallback, "code", url.Values{"scope": {"openid offline_access"}, "state": {"s"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}})), "spa.offline@example.com")
			v := done.params(t)
			tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {spaID},
				"code": {v.Get("code")}, "redirect_uri": {spaCallback}, "code_verifier": {verifier}}, nil)
			if tok.status != 200 || tok.body["refresh_token"] != nil || tok.str("scope") != "openid" {
				t.Fatalf("spa without the refresh_token grant: %d %s", tok.status, tok.raw)
			}
		})
	})
}

// TestJWTsHaveUniqueJTI: every ID token and JWT access token carries a
// random jti, so two minted in the same second (the test clock stands
// still) for the same user, client and scope differ.
func TestJWTsHaveUniqueJTI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := oidc.ClientContext(t.Context(), e.http)
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	jtis := map[string]string{}
	iats := map[int64]bool{}
	for i := range 2 {
		code := e.startEmail("jti@example.com")
		tok := e.otpGrant(webID, webSecret, "email", "jti@example.com", code, url.Values{"audience": {apiID}, "scope": {"openid"}})
		if tok.status != 200 {
			t.Fatalf("token %d: %d %s", i, tok.status, tok.raw)
		}
		for _, k := range []struct{ field, aud string }{{"id_token", webID}, {"access_token", apiID}} {
			v, err := p.Verifier(&oidc.Config{ClientID: k.aud}).Verify(ctx, tok.str(k.field))
			if err != nil {
				t.Fatalf("%s: %v", k.field, err)
			}
			var c struct {
				JTI string `json:"jti"`
				Iat int64  `json:"iat"`
			}
			if err := v.Claims(&c); err != nil || len(c.JTI) < 32 {
				t.Fatalf("%s jti %q: %v", k.field, c.JTI, err)
			}
			if other, dup := jtis[c.JTI]; dup {
				t.Errorf("%s %d has the jti of %s", k.field, i, other)
			}
			jtis[c.JTI] = k.field
			iats[c.Iat] = true
		}
	}
	if len(iats) != 1 {
		t.Errorf("the tokens were minted in different seconds: %v", iats)
	}
}

// setRefreshToken sets the web application's refresh_token object through
// the Management API and returns the object it answers with.
func (e *env) setRefreshToken(t *testing.T, rt map[string]any) map[string]any {
	t.Helper()
	r := e.mgmt("PATCH", "clients/"+webID, e.mgmtToken(""), map[string]any{"refresh_token": rt})
	if r.status != 200 {
		t.Fatalf("PATCH refresh_token %v: %d %s", rt, r.status, r.raw)
	}
	got, _ := r.body["refresh_token"].(map[string]any)
	return got
}

// TestRefreshTokenSettings: the client's refresh_token object in Auth0's
// shape through the Management API, and its rules at the token endpoint
// with the test clock: non-rotating tokens come back unchanged and expire
// when idle or at their absolute lifetime; rotating tokens may be reused
// within the leeway, and a reuse after it revokes the family; non-expiring
// tokens outlive any lifetime.
func TestRefreshTokenSettings(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		// Defaults when the application states none.
		r := e.mgmt("GET", "clients/"+nativeID, e.mgmtToken(""), nil)
		want := map[string]any{"rotation_type": "rotating", "expiration_type": "expiring", "leeway": float64(0),
			"token_lifetime": float64(2592000), "infinite_token_lifetime": false,
			"idle_token_lifetime": float64(1296000), "infinite_idle_token_lifetime": false}
		if got := r.body["refresh_token"]; fmtJSON(got) != fmtJSON(want) {
			t.Errorf("default refresh_token %s, want %s", fmtJSON(got), fmtJSON(want))
		}

		t.Run("validation", func(t *testing.T) {
			tok := e.mgmtToken("")
			for _, bad := range []map[string]any{
				{"rotation_type": "sometimes", "expiration_type": "expiring"},
				{"rotation_type": "rotating", "expiration_type": "never"},
				{"rotation_type": "rotating", "expiration_type": "expiring", "leeway": -1},
				{"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 157788001},
				{"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 600, "idle_token_lifetime": 601},
				{"rotation_type": "rotating", "expiration_type": "expiring", "unknown": 1},
			} {
				if r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"refresh_token": bad}); r.status != 400 {
					t.Errorf("PATCH %v: %d %s", bad, r.status, r.raw)
				}
			}
		})

		t.Run("non-rotating, idle and absolute lifetimes", func(t *testing.T) {
			got := e.setRefreshToken(t, map[string]any{"rotation_type": "non-rotating", "expiration_type": "expiring",
				"token_lifetime": 3600, "idle_token_lifetime": 600})
			if got["rotation_type"] != "non-rotating" || got["token_lifetime"] != float64(3600) || got["leeway"] != float64(0) {
				t.Errorf("answered refresh_token %v", got)
			}
			rt := e.login("nonrot@example.com").str("refresh_token")
			for i := range 3 {
				e.clock.Advance(599 * time.Second) // each use moves the idle expiry
				r := e.refresh(rt)
				if r.status != 200 || r.str("refresh_token") != rt {
					t.Fatalf("use %d: %d %s", i, r.status, r.raw)
				}
			}
			e.clock.Advance(600 * time.Second)
			wantError(t, e.refresh(rt), 403, "invalid_grant", "Unknown or invalid refresh token.")

			rt = e.login("nonrot@example.com").str("refresh_token")
			for range 6 {
				e.clock.Advance(599 * time.Second)
				if r := e.refresh(rt); r.status != 200 {
					t.Fatalf("use within the lifetimes: %d %s", r.status, r.raw)
				}
			}
			e.clock.Advance(599 * time.Second) // 3594 s + 599 s: past the absolute lifetime
			wantError(t, e.refresh(rt), 403, "invalid_grant", "Unknown or invalid refresh token.")
		})

		t.Run("rotating with leeway", func(t *testing.T) {
			e.setRefreshToken(t, map[string]any{"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 10})
			rt0 := e.login("leeway@example.com").str("refresh_token")
			r1 := e.refresh(rt0)
			if r1.status != 200 || r1.str("refresh_token") == rt0 {
				t.Fatalf("rotate: %d %s", r1.status, r1.raw)
			}
			e.clock.Advance(9 * time.Second)
			r2 := e.refresh(rt0) // a retry within the leeway: no breach
			if r2.status != 200 || r2.str("refresh_token") == r1.str("refresh_token") {
				t.Fatalf("reuse within the leeway: %d %s", r2.status, r2.raw)
			}
			e.clock.Advance(time.Second)
			wantError(t, e.refresh(rt0), 403, "invalid_grant", "Unknown or invalid refresh token.")
			// The breach revoked the family: both successors are dead.
			wantError(t, e.refresh(r1.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
			wantError(t, e.refresh(r2.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
		})

		t.Run("rotating keeps the family's absolute lifetime", func(t *testing.T) {
			e.setRefreshToken(t, map[string]any{"rotation_type": "rotating", "expiration_type": "expiring",
				"token_lifetime": 1000, "idle_token_lifetime": 400})
			rt := e.login("family@example.com").str("refresh_token")
			for range 2 {
				e.clock.Advance(399 * time.Second)
				r := e.refresh(rt)
				if r.status != 200 {
					t.Fatalf("rotate: %d %s", r.status, r.raw)
				}
				rt = r.str("refresh_token")
			}
			e.clock.Advance(399 * time.Second) // 1197 s after the family's first issue
			wantError(t, e.refresh(rt), 403, "invalid_grant", "Unknown or invalid refresh token.")
		})

		t.Run("non-expiring", func(t *testing.T) {
			e.setRefreshToken(t, map[string]any{"rotation_type": "non-rotating", "expiration_type": "non-expiring",
				"token_lifetime": 60, "idle_token_lifetime": 60})
			rt := e.login("forever@example.com").str("refresh_token")
			e.clock.Advance(400 * 24 * time.Hour)
			if r := e.refresh(rt); r.status != 200 || r.str("refresh_token") != rt {
				t.Fatalf("after 400 days: %d %s", r.status, r.raw)
			}
		})
	})
}

// TestRevokeRefreshToken: POST /oauth/revoke answers 200 with an empty
// body, revokes the token and every refresh token of the same user,
// application and audience (and nothing else), is a no-op for unknown
// tokens and for another application's, and authenticates the client as
// the token endpoint does. Blocking a user revokes their refresh tokens
// for good.
func TestRevokeRefreshToken(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		revoke := func(v url.Values) response {
			t.Helper()
			return e.postForm("/oauth/revoke", v, nil)
		}
		api1 := e.login("revoke@example.com").str("refresh_token")
		api2 := e.login("revoke@example.com").str("refresh_token")
		code := e.startEmail("revoke@example.com")
		noAud := e.otpGrant(webID, webSecret, "email", "revoke@example.com", code, url.Values{"scope": {"openid offline_access"}}).str("refresh_token")
		other := e.login("someone.else@example.com").str("refresh_token")

		// Another application's token, and an unknown one: 200, nothing changes.
		if r := revoke(url.Values{"client_id": {nativeID}, "token": {api1}}); r.status != 200 || len(r.raw) != 0 {
			t.Fatalf("another client's token: %d %q", r.status, r.raw)
		}
		if r := revoke(url.Values{"client_id": {webID}, "client_secret": {webSecret}, "token": {"no-such-token"}}); r.status != 200 || len(r.raw) != 0 {
			t.Fatalf("unknown token: %d %q", r.status, r.raw)
		}
		// Client authentication as at the token endpoint.
		wantError(t, revoke(url.Values{"client_id": {webID}, "token": {api1}}), 401, "access_denied", "Unauthorized")
		wantError(t, revoke(url.Values{"client_id": {webID}, "client_secret": {"wrong-secret-0123456789"}, "token": {api1}}), 401, "access_denied", "Unauthorized")
		wantError(t, revoke(url.Values{"client_id": {webID}, "client_secret": {webSecret}}), 400, "invalid_request", "Missing required parameter: token")
		if r := e.refresh(api1); r.status != 200 {
			t.Fatalf("refresh after refused revocations: %d %s", r.status, r.raw)
		} else {
			api1 = r.str("refresh_token")
		}

		// x/oauth2 cannot revoke; HTTP Basic as a confidential client would send it.
		req := url.Values{"token": {api1}}
		r := e.do("POST", "/oauth/revoke", "application/x-www-form-urlencoded", []byte(req.Encode()),
			map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(webID+":"+webSecret))})
		if r.status != 200 || len(r.raw) != 0 {
			t.Fatalf("revoke: %d %q", r.status, r.raw)
		}
		// The whole grant (user, application, audience) is revoked ...
		wantError(t, e.refresh(api1), 403, "invalid_grant", "Unknown or invalid refresh token.")
		wantError(t, e.refresh(api2), 403, "invalid_grant", "Unknown or invalid refresh token.")
		// Logged as Auth0 logs it (srrt), once: the no-op revocations are not.
		e.waitLogs("type:srrt", 1)
		if got := e.searchLogs("type:srrt", nil); len(got) != 1 || got[0]["client_id"] != webID || got[0]["user_id"] == "" || got[0]["audience"] != apiID {
			t.Errorf("srrt events %v", got)
		}
		// ... but not the same user's token without an audience, nor another user's.
		for name, rt := range map[string]string{"no audience": noAud, "another user": other} {
			if r := e.refresh(rt); r.status != 200 {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
		}

		// Blocking a user revokes their refresh tokens; unblocking does not revive them.
		e.grantUserScopes()
		tok := e.mgmtToken("")
		blocked := e.login("blocked@example.com")
		uid, _ := jwtClaims(t, blocked.str("id_token"))["sub"].(string)
		for _, b := range []bool{true, false} {
			if r := e.mgmt("PATCH", "users/"+url.PathEscape(uid), tok, map[string]any{"blocked": b}); r.status != 200 {
				t.Fatalf("block %v: %d %s", b, r.status, r.raw)
			}
		}
		wantError(t, e.refresh(blocked.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
	})
}

// grantScopes adds scopes to the M2M application's Management API grant.
func (e *env) grantScopes(t *testing.T, add ...string) {
	t.Helper()
	tok := e.mgmtToken("")
	r := e.mgmt("GET", "client-grants?client_id="+m2mID+"&audience="+url.QueryEscape(e.issuer+"api/v2/"), tok, nil)
	var grants []struct {
		ID    string   `json:"id"`
		Scope []string `json:"scope"`
	}
	if err := json.Unmarshal(r.raw, &grants); err != nil || len(grants) != 1 {
		t.Fatalf("management grant: %d %s", r.status, r.raw)
	}
	if r := e.mgmt("PATCH", "client-grants/"+grants[0].ID, tok, map[string]any{"scope": append(grants[0].Scope, add...)}); r.status != 200 {
		t.Fatalf("grant %v: %d %s", add, r.status, r.raw)
	}
}

// TestDeviceCredentials: a user's refresh tokens as Auth0's device
// credentials, one per login (family), typed by the application's
// rotation; deleting one revokes that login's tokens only.
func TestDeviceCredentials(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		e.grantScopes(t, "read:device_credentials", "delete:device_credentials")
		tok := e.mgmtToken("")
		// Two logins with the web app (rotating by default), one with the native app made non-rotating.
		if r := e.mgmt("PATCH", "clients/"+nativeID, tok, map[string]any{"refresh_token": map[string]any{"rotation_type": "non-rotating", "expiration_type": "expiring"}}); r.status != 200 {
			t.Fatalf("native non-rotating: %d %s", r.status, r.raw)
		}
		first := e.login("devices@example.com")
		uid, _ := jwtClaims(t, first.str("id_token"))["sub"].(string)
		e.clock.Advance(time.Second) // the list is oldest first
		second := e.login("devices@example.com")
		rotated := e.refresh(second.str("refresh_token")) // the family stays one credential
		nativeCode := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code", "email": "devices@example.com"}, nil)
		if nativeCode.status != 200 {
			t.Fatalf("native start: %d %s", nativeCode.status, nativeCode.raw)
		}
		native := e.otpGrant(nativeID, "", "email", "devices@example.com", e.lastMessage("devices@example.com").Code, url.Values{"scope": {"openid offline_access"}})
		if native.status != 200 || native.str("refresh_token") == "" || rotated.status != 200 {
			t.Fatalf("native login %d %s; rotation %d %s", native.status, native.raw, rotated.status, rotated.raw)
		}
		list := func(query string) []map[string]any {
			t.Helper()
			r := e.mgmt("GET", "device-credentials?user_id="+url.QueryEscape(uid)+query, tok, nil)
			var out []map[string]any
			if err := json.Unmarshal(r.raw, &out); err != nil || r.status != 200 {
				t.Fatalf("list %s: %d %s", query, r.status, r.raw)
			}
			return out
		}
		all := list("&type=refresh_token")
		types := map[string]int{}
		for _, d := range all {
			types[d["type"].(string)]++
			if d["user_id"] != uid || !strings.HasPrefix(d["id"].(string), "dcr_") {
				t.Errorf("credential %v", d)
			}
		}
		if len(all) != 3 || types["rotating_refresh_token"] != 2 || types["refresh_token"] != 1 {
			t.Fatalf("credentials %v", all)
		}
		if got := list("&type=rotating_refresh_token&client_id=" + webID); len(got) != 2 {
			t.Errorf("rotating for the web app: %v", got)
		}
		if got := list("&type=public_key"); len(got) != 0 {
			t.Errorf("public keys: %v", got)
		}
		wantMgmtError(t, e.mgmt("GET", "device-credentials?type=refresh_token", tok, nil), 400, "invalid_query_string", "Query validation error: 'user_id' is required")

		// Delete the first login's credential: its token dies, the others live.
		var firstID string
		for _, d := range list("&client_id=" + webID) {
			if firstID == "" {
				firstID = d["id"].(string) // oldest first
			}
		}
		if r := e.mgmt("DELETE", "device-credentials/"+firstID, tok, nil); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		wantError(t, e.refresh(first.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
		if r := e.refresh(rotated.str("refresh_token")); r.status != 200 {
			t.Errorf("the other login: %d %s", r.status, r.raw)
		}
		if got := list(""); len(got) != 2 {
			t.Errorf("after delete: %v", got)
		}
	})
}
