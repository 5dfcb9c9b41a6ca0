package server_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store"
)

var userIDPattern = regexp.MustCompile(`^(email|sms)\|[0-9a-f]{24}$`)

// TestEmailCodeLoginWithGoOIDC runs the whole email-code login and checks
// the result with go-oidc: discovery, ID-token verification against the
// JWKS, and /userinfo with the opaque access token.
func TestEmailCodeLoginWithGoOIDC(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := oidc.ClientContext(t.Context(), e.http)
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(e.issuer, "/") {
			t.Fatalf("issuer %q lacks its trailing slash", e.issuer)
		}

		start := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": "Alice@Example.com",
			"authParams": map[string]any{"scope": "openid", "state": "xyz"}}, nil)
		if start.status != 200 || start.str("email") != "alice@example.com" || start.body["email_verified"] != false ||
			!regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(start.str("_id")) {
			t.Fatalf("start: %d %s", start.status, start.raw)
		}
		if ct := start.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("start content type %q", ct)
		}
		msg := e.lastMessage("alice@example.com")
		if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(msg.Code) || !strings.Contains(msg.Text, msg.Code) || msg.Link != "" {
			t.Fatalf("message %+v", msg)
		}

		tok := e.otpGrant(webID, webSecret, "email", "alice@example.com", msg.Code, url.Values{"scope": {"openid profile email"}})
		if tok.status != 200 {
			t.Fatalf("token: %d %s", tok.status, tok.raw)
		}
		if tok.str("token_type") != "Bearer" || tok.body["expires_in"] != float64(86400) || tok.str("scope") != "openid profile email" || tok.body["refresh_token"] != nil {
			t.Errorf("token response %s", tok.raw)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, tok.str("id_token"))
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
			Nonce         *string
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if !userIDPattern.MatchString(idt.Subject) || !strings.HasPrefix(idt.Subject, "email|") || claims.Email != "alice@example.com" || !claims.EmailVerified {
			t.Errorf("id token sub %q claims %+v", idt.Subject, claims)
		}
		if got := strings.TrimPrefix(idt.Subject, "email|"); got != start.str("_id") {
			t.Errorf("user id %q does not carry the _id %q that start returned", idt.Subject, start.str("_id"))
		}
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.str("access_token")}))
		if err != nil {
			t.Fatal(err)
		}
		if ui.Subject != idt.Subject || ui.Email != "alice@example.com" || !ui.EmailVerified {
			t.Errorf("userinfo %+v, want sub %s", ui, idt.Subject)
		}

		// The second login finds the same user, now verified.
		code := e.startEmail("alice@example.com")
		again := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": "alice@example.com"}, nil)
		if again.body["email_verified"] != true || again.str("_id") != start.str("_id") {
			t.Errorf("second start %s", again.raw)
		}
		if r := e.otpGrant(webID, webSecret, "email", "alice@example.com", code, nil); r.status != 403 {
			t.Errorf("superseded code accepted: %d %s", r.status, r.raw)
		}
		u, err := e.srv.Store.GetUser(t.Context(), idt.Subject)
		if err != nil || u.LoginsCount != 1 || !u.EmailVerified {
			t.Errorf("stored user %+v, %v", u, err)
		}
	})
}

// TestTokenBodyAndAuthStyles accepts JSON and form bodies with the secret in
// the body or in HTTP Basic (x/oauth2 escapes Basic credentials).
func TestTokenBodyAndAuthStyles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	grant := "http://auth0.com/oauth/grant-type/passwordless/otp"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(webID)+":"+url.QueryEscape(webSecret)))
	for _, tc := range []struct {
		name  string
		json  bool
		basic bool
	}{{"json body secret", true, false}, {"json basic", true, true}, {"form body secret", false, false}, {"form basic", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			email := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			code := e.startEmail(email)
			params := map[string]string{"grant_type": grant, "client_id": webID, "realm": "email", "username": email, "otp": code, "scope": "openid"}
			hdr := map[string]string{}
			if tc.basic {
				hdr["Authorization"] = basic
			} else {
				params["client_secret"] = webSecret
			}
			var r response
			if tc.json {
				r = e.postJSON("/oauth/token", params, hdr)
			} else {
				v := url.Values{}
				for k, s := range params {
					v.Set(k, s)
				}
				r = e.postForm("/oauth/token", v, hdr)
			}
			if r.status != 200 || r.str("id_token") == "" || r.str("access_token") == "" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
}

// TestSMSLoginPublicClient: a native app needs no secret; SMS codes use the
// connection's length; the user is sms|… with phone_verified.
func TestSMSLoginPublicClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "sms", "phone_number": "+14155551234"},
		map[string]string{"X-Request-Language": "fr"})
	if start.status != 200 || start.str("phone_number") != "+14155551234" || start.body["phone_verified"] != false || start.str("request_language") != "fr" {
		t.Fatalf("start: %d %s", start.status, start.raw)
	}
	msg := e.lastMessage("+14155551234")
	if msg.Channel != "sms" || !regexp.MustCompile(`^[0-9]{8}$`).MatchString(msg.Code) {
		t.Fatalf("message %+v", msg)
	}
	wrong := e.otpGrant(nativeID, "", "sms", "+14155551234", "00000000", nil)
	if msg.Code == "00000000" {
		t.Skip("the random code happened to be the wrong one we try")
	}
	wantError(t, wrong, 403, "invalid_grant", "Wrong phone number or verification code.")
	tok := e.otpGrant(nativeID, "", "sms", "+14155551234", msg.Code, url.Values{"scope": {"openid phone"}})
	if tok.status != 200 {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	ctx := t.Context()
	u, err := e.srv.Store.FindUser(ctx, "sms", "+14155551234")
	if err != nil || !strings.HasPrefix(u.UserID, "sms|") || !u.PhoneVerified || !userIDPattern.MatchString(u.UserID) {
		t.Fatalf("user %+v %v", u, err)
	}
	// Without a language the SMS start answers request_language: null.
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "sms", "phone_number": "+14155551234"}, nil)
	if v, ok := r.body["request_language"]; !ok || v != nil {
		t.Errorf("request_language %v (present %v)", v, ok)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := map[string]any{"client_id": webID, "client_secret": webSecret, "connection": "email", "send": "code", "email": "a@example.com"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		desc   string
	}{
		{"no client_id", with("client_id", nil), 400, "bad.client_id", "Missing required property: client_id"},
		{"no connection", with("connection", nil), 400, "bad.connection", "Missing required property: connection"},
		{"unknown connection", with("connection", "github"), 400, "bad.connection", "Connection does not exist"},
		{"disabled connection", map[string]any{"client_id": spaID, "connection": "sms", "phone_number": "+14155550100"}, 400, "bad.connection", "Connection is disabled"},
		{"authParams string", with("authParams", "x"), 400, "bad.authParams", "error in authParams - invalid type: string (expected object)"},
		{"unknown properties", with("type", "x", "foo", 1), 400, "bad.request", "the following properties are not allowed: foo, type"},
		{"no email", with("email", nil), 400, "bad.email", "Missing required property: email"},
		{"bad email", with("email", "not-an-email"), 400, "bad.email", "error in email - email format validation failed: not-an-email"},
		{"no phone", map[string]any{"client_id": nativeID, "connection": "sms"}, 400, "bad.phone_number", "Missing required property: phone_number"},
		{"bad phone", map[string]any{"client_id": nativeID, "connection": "sms", "phone_number": "555-1234"}, 400, "bad.phone_number", `String does not match pattern: ^\+[0-9]{1,15}$`},
		{"email wrong type", with("email", 5), 400, "bad.email", "error in email - invalid type: number (expected string)"},
		{"bad send", with("send", "pigeon"), 400, "bad.send", ""},
		{"unknown client", with("client_id", "nope"), 401, "invalid_client", "Unknown client: nope"},
		{"wrong secret", with("client_secret", "wrong-secret-wrong-secret"), 401, "access_denied", "Unauthorized"},
		{"assertion unsupported", with("client_secret", nil, "client_assertion", "x.y.z", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), 401, "access_denied", "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.postJSON("/passwordless/start", tt.body, nil), tt.status, tt.code, tt.desc)
		})
	}
	if n := len(e.messages("")); n != 0 {
		t.Errorf("%d messages sent by rejected requests", n)
	}
}

// TestClientAuthenticationRule covers §3.2 for the secret paths.
func TestClientAuthenticationRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := func(client, secret string) map[string]any {
		m := map[string]any{"client_id": client, "connection": "email", "send": "code", "email": "rule@example.com"}
		if secret != "" {
			m["client_secret"] = secret
		}
		return m
	}
	for _, enforce := range []bool{false, true} {
		e.updateSettings(func(s *store.TenantSettings) { s.Flags.EnforceClientAuthOnPasswordlessStart = enforce })
		if r := e.postJSON("/passwordless/start", body(nativeID, ""), nil); r.status != 200 {
			t.Errorf("enforce=%v public: %d %s", enforce, r.status, r.raw)
		}
		if r := e.postJSON("/passwordless/start", body(nativeID, "ignored-for-public-apps"), nil); r.status != 200 {
			t.Errorf("enforce=%v public with secret: %d %s", enforce, r.status, r.raw)
		}
		if r := e.postJSON("/passwordless/start", body(webID, webSecret), nil); r.status != 200 {
			t.Errorf("enforce=%v confidential valid: %d %s", enforce, r.status, r.raw)
		}
		wantError(t, e.postJSON("/passwordless/start", body(webID, "wrong-secret-wrong-secret"), nil), 401, "access_denied", "Unauthorized")
		r := e.postJSON("/passwordless/start", body(webID, ""), nil)
		if enforce {
			wantError(t, r, 403, "unauthorized_client", "Client authentication is required")
		} else if r.status != 200 {
			t.Errorf("enforce=false confidential without secret: %d %s", r.status, r.raw)
		}
	}
}

func TestOTPGrantErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.startEmail("err@example.com")
	tests := []struct {
		name           string
		client, secret string
		realm, user    string
		otp            string
		status         int
		errCode, desc  string
	}{
		{"no username", webID, webSecret, "email", "", code, 400, "invalid_request", "Missing required parameter: username"},
		{"no otp", webID, webSecret, "email", "err@example.com", "", 400, "invalid_request", "Missing required parameter: otp"},
		{"no realm", webID, webSecret, "", "err@example.com", code, 400, "invalid_request", "Missing required parameter: realm"},
		{"wrong secret", webID, "wrong-secret-wrong-secret", "email", "err@example.com", code, 401, "access_denied", "Unauthorized"},
		{"missing secret", webID, "", "email", "err@example.com", code, 401, "access_denied", "Unauthorized"},
		{"unknown client", "nope", "", "email", "err@example.com", code, 401, "access_denied", "Unauthorized"},
		{"grant not allowed", m2mID, m2mSecret, "email", "err@example.com", code, 403, "unauthorized_client",
			"Grant type 'http://auth0.com/oauth/grant-type/passwordless/otp' not allowed for the client."},
		{"spa", spaID, "", "email", "err@example.com", code, 403, "unauthorized_client",
			"Grant type 'http://auth0.com/oauth/grant-type/passwordless/otp' not allowed for the client."},
		{"unknown user", webID, webSecret, "email", "nobody@example.com", code, 403, "invalid_grant", "Wrong email or verification code."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.otpGrant(tt.client, tt.secret, tt.realm, tt.user, tt.otp, nil)
			wantError(t, r, tt.status, tt.errCode, tt.desc)
			if tt.name == "grant not allowed" && r.str("error_uri") != "https://auth0.com/docs/clients/client-grant-types" {
				t.Errorf("error_uri missing: %s", r.raw)
			}
		})
	}
	// None of the failures above consumed or burned the code.
	if r := e.otpGrant(webID, webSecret, "email", "err@example.com", code, nil); r.status != 200 {
		t.Fatalf("code no longer works: %d %s", r.status, r.raw)
	}
	wantError(t, e.otpGrant(webID, webSecret, "email", "err@example.com", code, nil), 403, "invalid_grant", "Wrong email or verification code.")

	unknownAPI := e.otpGrant(webID, webSecret, "email", "err@example.com", e.startEmail("err@example.com"), url.Values{"audience": {"https://nope.example.com/"}})
	wantError(t, unknownAPI, 403, "access_denied", "Service not found: https://nope.example.com/")
	badRedirect := e.otpGrant(webID, webSecret, "email", "err@example.com", e.startEmail("err@example.com"), url.Values{"redirect_uri": {"https://evil.example.com/"}})
	wantError(t, badRedirect, 400, "invalid_request", "")
}

func TestCodeAttemptsAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.startEmail("tries@example.com")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantError(t, e.otpGrant(webID, webSecret, "email", "tries@example.com", wrong, nil), 403, "invalid_grant", "Wrong email or verification code.")
	wantError(t, e.otpGrant(webID, webSecret, "email", "tries@example.com", wrong, nil), 403, "invalid_grant", "Wrong email or verification code.")
	maxed := "You've reached the maximum number of attempts. Please try to login again."
	wantError(t, e.otpGrant(webID, webSecret, "email", "tries@example.com", wrong, nil), 403, "invalid_grant", maxed)
	wantError(t, e.otpGrant(webID, webSecret, "email", "tries@example.com", code, nil), 403, "invalid_grant", maxed)

	// A new code works again; it expires after totp.time_step.
	code = e.startEmail("tries@example.com")
	e.clock.Advance(181 * time.Second)
	wantError(t, e.otpGrant(webID, webSecret, "email", "tries@example.com", code, nil), 403, "invalid_grant",
		"The verification code has expired. Please try to login again.")

	code = e.startEmail("tries@example.com")
	e.clock.Advance(179 * time.Second)
	if r := e.otpGrant(webID, webSecret, "email", "tries@example.com", code, nil); r.status != 200 {
		t.Fatalf("code within its lifetime refused: %d %s", r.status, r.raw)
	}
}

// TestConcurrentRedemption: of many simultaneous exchanges of one code,
// exactly one succeeds.
func TestConcurrentRedemption(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		code := e.startEmail("race@example.com")
		const n = 12
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.otpGrant(webID, webSecret, "email", "race@example.com", code, nil).status
			}()
		}
		wg.Wait()
		wins := 0
		for _, s := range statuses {
			switch s {
			case 200:
				wins++
			case 403:
			default:
				t.Errorf("unexpected status %d", s)
			}
		}
		if wins != 1 {
			t.Fatalf("%d exchanges succeeded, want exactly 1 (%v)", wins, statuses)
		}
	})
}

// TestAPIAccessTokenAndRefreshRotation: a JWT access token for a registered
// API, a refresh token with offline_access, rotation, and reuse detection.
func TestAPIAccessTokenAndRefreshRotation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := oidc.ClientContext(t.Context(), e.http)
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		code := e.startEmail("rt@example.com")
		tok := e.otpGrant(webID, webSecret, "email", "rt@example.com", code,
			url.Values{"audience": {apiID}, "scope": {"openid email offline_access read:things write:things"}})
		if tok.status != 200 || tok.str("refresh_token") == "" || tok.body["expires_in"] != float64(7200) {
			t.Fatalf("token: %d %s", tok.status, tok.raw)
		}
		if tok.str("scope") != "openid email offline_access read:things" {
			t.Errorf("granted scope %q", tok.str("scope"))
		}
		// The access token is a JWT for the API (and /userinfo), signed with a published key.
		at, err := p.Verifier(&oidc.Config{ClientID: apiID}).Verify(ctx, tok.str("access_token"))
		if err != nil {
			t.Fatalf("access token: %v", err)
		}
		if !slices.Contains(at.Audience, e.issuer+"userinfo") {
			t.Errorf("access token aud %v", at.Audience)
		}
		if _, err := p.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.str("access_token")})); err != nil {
			t.Errorf("userinfo with the JWT access token: %v", err)
		}

		refresh := func(rt string) response {
			return e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {webID},
				"client_secret": {webSecret}, "refresh_token": {rt}}, nil)
		}
		r1 := refresh(tok.str("refresh_token"))
		if r1.status != 200 || r1.str("refresh_token") == "" || r1.str("refresh_token") == tok.str("refresh_token") || r1.str("id_token") == "" {
			t.Fatalf("refresh: %d %s", r1.status, r1.raw)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, r1.str("id_token")); err != nil {
			t.Errorf("refreshed id token: %v", err)
		}
		r2 := refresh(r1.str("refresh_token"))
		if r2.status != 200 {
			t.Fatalf("second refresh: %d %s", r2.status, r2.raw)
		}
		// Reusing a rotated token revokes the family, including the newest token.
		wantError(t, refresh(tok.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")
		wantError(t, refresh(r2.str("refresh_token")), 403, "invalid_grant", "Unknown or invalid refresh token.")

		// Another client cannot use the token; a token for an API without
		// offline access is never issued.
		code = e.startEmail("rt@example.com")
		tok = e.otpGrant(webID, webSecret, "email", "rt@example.com", code, url.Values{"audience": {apiID}, "scope": {"offline_access"}})
		other := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {nativeID}, "refresh_token": {tok.str("refresh_token")}}, nil)
		wantError(t, other, 403, "invalid_grant", "Unknown or invalid refresh token.")
		if r := refresh(tok.str("refresh_token")); r.status != 200 {
			t.Errorf("owner refresh after a foreign attempt: %d %s", r.status, r.raw)
		}
		code = e.startEmail("rt@example.com")
		noOff := e.otpGrant(webID, webSecret, "email", "rt@example.com", code, url.Values{"audience": {apiNoOffID}, "scope": {"openid offline_access"}})
		if noOff.status != 200 || noOff.body["refresh_token"] != nil || noOff.str("scope") != "openid" {
			t.Errorf("no-offline API: %d %s", noOff.status, noOff.raw)
		}
	})
}

func TestSignupDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	conn, err := e.srv.Store.GetConnectionByName(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	// An existing user may still log in.
	code := e.startEmail("known@example.com")
	if r := e.otpGrant(webID, webSecret, "email", "known@example.com", code, nil); r.status != 200 {
		t.Fatal(r.status, string(r.raw))
	}
	conn.Options.DisableSignup = true
	if err := e.srv.Store.UpdateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
	start := func(email string) response {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": email}, nil)
	}
	wantError(t, start("new@example.com"), 400, "invalid_signup", "Public signup is disabled")
	if r := start("known@example.com"); r.status != 200 {
		t.Errorf("known user: %d %s", r.status, r.raw)
	}
	e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.EnumerationSafeSignup = true })
	if r := start("new@example.com"); r.status != 200 || r.body["email_verified"] != false {
		t.Errorf("enumeration-safe start: %d %s", r.status, r.raw)
	}
	if n := len(e.messages("new@example.com")); n != 0 {
		t.Errorf("%d messages sent to an unknown user with signup disabled", n)
	}
}

func TestBlockedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.startEmail("blocked@example.com")
	r := e.otpGrant(webID, webSecret, "email", "blocked@example.com", code, url.Values{"scope": {"openid"}})
	if r.status != 200 {
		t.Fatal(r.status, string(r.raw))
	}
	u, err := e.srv.Store.FindUser(t.Context(), "email", "blocked@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Store.SetUserBlocked(t.Context(), u.UserID, true); err != nil {
		t.Fatal(err)
	}
	before := len(e.messages("blocked@example.com"))
	s := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "code", "email": "blocked@example.com"}, nil)
	if s.status != 200 || len(e.messages("blocked@example.com")) != before {
		t.Errorf("blocked user: start %d, messages %d→%d", s.status, before, len(e.messages("blocked@example.com")))
	}
	res, err := e.http.Do(mustReq(t, "GET", e.ts.URL+"/userinfo", "Bearer "+r.str("access_token")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("userinfo for a blocked user: %d", res.StatusCode)
	}
}

func mustReq(t *testing.T, method, u, auth string) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

// TestRestartKeepsKeysAndUsers: a token minted before a restart on the same
// data directory verifies after it, and the user is still there.
func TestRestartKeepsKeysAndUsers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		code := e.startEmail("restart@example.com")
		tok := e.otpGrant(webID, webSecret, "email", "restart@example.com", code, url.Values{"scope": {"openid"}})
		if tok.status != 200 {
			t.Fatal(tok.status, string(tok.raw))
		}
		var before map[string]any
		r := e.do("GET", "/.well-known/jwks.json", "", nil, nil)
		before = r.body
		e.restart()
		r = e.do("GET", "/.well-known/jwks.json", "", nil, nil)
		if fmtJSON(before) != fmtJSON(r.body) {
			t.Errorf("JWKS changed across restart:\n%s\n%s", fmtJSON(before), r.raw)
		}
		ctx := oidc.ClientContext(t.Context(), e.http)
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, tok.str("id_token")); err != nil {
			t.Errorf("pre-restart id token: %v", err)
		}
		if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": "restart@example.com"}, nil); r.body["email_verified"] != true {
			t.Errorf("user lost across restart: %s", r.raw)
		}
	})
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.do("GET", "/.well-known/openid-configuration", "", nil, nil)
	if d.status != 200 || d.str("issuer") != e.issuer || d.str("jwks_uri") != e.issuer+".well-known/jwks.json" ||
		d.str("token_endpoint") != e.issuer+"oauth/token" || d.str("userinfo_endpoint") != e.issuer+"userinfo" ||
		d.str("revocation_endpoint") != e.issuer+"oauth/revoke" {
		t.Fatalf("discovery %s", d.raw)
	}
	// The grants in Auth0's order: SDKs and operators read this list.
	if got, want := anyStrings(d.body["grant_types_supported"]), []string{"authorization_code", "implicit",
		"http://auth0.com/oauth/grant-type/passwordless/otp", "refresh_token", "client_credentials"}; !slices.Equal(got, want) {
		t.Errorf("grant_types_supported %q, want %q", got, want)
	}
	j := e.do("GET", "/.well-known/jwks.json", "", nil, nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	// The current key and the next one, published before it signs.
	if err := json.Unmarshal(j.raw, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks %s %v", j.raw, err)
	}
	for _, k := range set.Keys {
		if k["kid"] == "" || k["alg"] != "RS256" || k["use"] != "sig" || k["kty"] != "RSA" || k["d"] != nil ||
			k["x5c"] == nil || k["x5t"] == nil {
			t.Errorf("jwk %v", k)
		}
	}
	if j.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("jwks CORS header missing")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `{"client_id":"` + strings.Repeat("a", 100<<10) + `"}`
	tests := []struct {
		name, path, ct, body string
		status               int
	}{
		{"start malformed", "/passwordless/start", "application/json", `{"client_id":`, 400},
		{"start array", "/passwordless/start", "application/json", `[]`, 400},
		{"start text", "/passwordless/start", "text/plain", `hello`, 400},
		{"start oversized", "/passwordless/start", "application/json", big, 413},
		{"start trailing", "/passwordless/start", "application/json", `{} {}`, 400},
		{"start authParams nested", "/passwordless/start", "application/json", `{"client_id":"web-app","connection":"email","authParams":{"a":{"b":1}}}`, 400},
		{"token malformed", "/oauth/token", "application/json", `{"grant_type":`, 400},
		{"token wrong type", "/oauth/token", "application/json", `{"grant_type":"http://auth0.com/oauth/grant-type/passwordless/otp","client_id":5}`, 400},
		{"token text", "/oauth/token", "text/plain", `x`, 400},
		{"token oversized", "/oauth/token", "application/x-www-form-urlencoded", "a=" + strings.Repeat("b", 100<<10), 413},
		{"token no grant", "/oauth/token", "application/json", `{}`, 400},
		{"token bad grant", "/oauth/token", "application/json", `{"grant_type":"password","client_id":"native-app"}`, 400},
		{"token repeated", "/oauth/token", "application/x-www-form-urlencoded", `client_id=a&client_id=b`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, tt.ct, []byte(tt.body), nil)
			if r.status != tt.status || r.str("error") == "" || r.str("error_description") == "" {
				t.Fatalf("got %d %s; want %d with an error body", r.status, r.raw, tt.status)
			}
		})
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r := e.do(m, "/passwordless/start", "", nil, nil)
		if r.status != 405 || r.str("error") == "" {
			t.Errorf("%s /passwordless/start: %d %s", m, r.status, r.raw)
		}
	}
	if r := e.do("GET", "/nope", "", nil, nil); r.status != 404 || r.str("error") == "" {
		t.Errorf("unknown path: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/userinfo", "", nil, map[string]string{"Authorization": "Bearer lk1.garbage"}); r.status != 401 {
		t.Errorf("forged opaque token: %d %s", r.status, r.raw)
	}
}

func TestSendLinkCarriesCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret, "connection": "email",
		"email": "link@example.com", "authParams": map[string]any{"redirect_uri": "https://app.example.com/callback", "response_type": "code", "state": "s1"}}, nil)
	if r.status != 200 {
		t.Fatal(r.status, string(r.raw))
	}
	m := e.lastMessage("link@example.com")
	u, err := url.Parse(m.Link)
	if err != nil || !strings.HasPrefix(m.Link, e.issuer+"passwordless/verify_redirect?") {
		t.Fatalf("link %q", m.Link)
	}
	q := u.Query()
	if q.Get("verification_code") != m.Code || q.Get("state") != "s1" || q.Get("client_id") != webID || q.Get("email") != "link@example.com" {
		t.Errorf("link query %v", q)
	}
	if !strings.Contains(m.Text, m.Code) || !strings.Contains(m.HTML, m.Code) {
		t.Errorf("link email does not show the code")
	}
	// The stored authParams came with the code; the code also works at /oauth/token.
	if r := e.otpGrant(webID, webSecret, "email", "link@example.com", m.Code, nil); r.status != 200 {
		t.Errorf("code from the link email: %d %s", r.status, r.raw)
	}
}

// TestStartFormBody: /passwordless/start also takes a form body, with
// authParams as authParams[key]=… or as a JSON string.
func TestStartFormBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, v := range []url.Values{
		{"client_id": {webID}, "client_secret": {webSecret}, "connection": {"email"}, "email": {"form@example.com"}, "authParams[state]": {"st1"}},
		{"client_id": {webID}, "client_secret": {webSecret}, "connection": {"email"}, "email": {"form@example.com"}, "authParams": {`{"state":"st1"}`}},
	} {
		r := e.postForm("/passwordless/start", v, nil)
		if r.status != 200 {
			t.Fatalf("form start: %d %s", r.status, r.raw)
		}
		link, err := url.Parse(e.lastMessage("form@example.com").Link)
		if err != nil || link.Query().Get("state") != "st1" {
			t.Errorf("authParams not carried into the link: %v %v", link, err)
		}
	}
	bad := e.postForm("/passwordless/start", url.Values{"client_id": {webID}, "connection": {"email"}, "email": {"x@example.com"}, "authParams": {"not json"}}, nil)
	wantError(t, bad, 400, "bad.authParams", "error in authParams - invalid type: string (expected object)")
}

// TestSigningKeysSealed: the stored private key is sealed under the master
// key; a node with another master key refuses to start rather than sign.
func TestSigningKeysSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys, err := e.srv.Store.ListSigningKeys(t.Context())
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	for _, k := range keys {
		if _, err := x509.ParsePKCS8PrivateKey(k.PrivateSealed); err == nil {
			t.Error("the private key is stored in clear")
		}
	}
	e.ts.Close()
	e.srv.Close()
	if err := os.WriteFile(filepath.Join(e.cfg.DataDir, "master.key"), []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = server.New(t.Context(), e.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err == nil || !strings.Contains(err.Error(), "unseal signing key") {
		t.Fatalf("start with another master key: %v", err)
	}
}

// TestReviewFixes pins behaviours a review asked for: codes are bound to the
// client that started them; a refused refresh does not use the token up; an
// empty secret from a public client counts as none; enumeration-safe mode
// answers alike for known and unknown identifiers.
func TestReviewFixes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("code bound to client", func(t *testing.T) {
		code := e.startEmail("bound@example.com")
		wantError(t, e.otpGrant(nativeID, "", "email", "bound@example.com", code, nil), 403, "invalid_grant", "Wrong email or verification code.")
		if r := e.otpGrant(webID, webSecret, "email", "bound@example.com", code, nil); r.status != 200 {
			t.Fatalf("own client after a foreign attempt: %d %s", r.status, r.raw)
		}
	})
	t.Run("refused refresh keeps the token", func(t *testing.T) {
		code := e.startEmail("keep@example.com")
		tok := e.otpGrant(webID, webSecret, "email", "keep@example.com", code, url.Values{"audience": {apiID}, "scope": {"openid offline_access"}})
		rt := tok.str("refresh_token")
		wider := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {webID}, "client_secret": {webSecret},
			"refresh_token": {rt}, "scope": {"openid read:things"}}, nil)
		wantError(t, wider, 403, "access_denied", "Scope read:things was not granted to the refresh token")
		ok := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {webID}, "client_secret": {webSecret},
			"refresh_token": {rt}, "scope": {"openid"}}, nil)
		if ok.status != 200 || ok.str("scope") != "openid" {
			t.Fatalf("refresh after a refused one: %d %s", ok.status, ok.raw)
		}
	})
	t.Run("empty basic secret from a public client", func(t *testing.T) {
		e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code", "email": "native@example.com"}, nil)
		code := e.lastMessage("native@example.com").Code
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(nativeID+":"))
		r := e.postForm("/oauth/token", url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"},
			"realm": {"email"}, "username": {"native@example.com"}, "otp": {code}}, map[string]string{"Authorization": basic})
		if r.status != 200 {
			t.Fatalf("public client with an empty Basic secret: %d %s", r.status, r.raw)
		}
	})
	t.Run("enumeration safe", func(t *testing.T) {
		e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.EnumerationSafeSignup = true })
		defer e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.EnumerationSafeSignup = false })
		start := func(email string) response {
			return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
				"connection": "email", "send": "code", "email": email}, nil)
		}
		u1, u2 := start("unknown@example.com"), start("unknown@example.com")
		if u1.str("_id") != u2.str("_id") || u1.body["email_verified"] != false {
			t.Errorf("unknown identifier answers differ: %s / %s", u1.raw, u2.raw)
		}
		k := start("keep@example.com") // logged in above, so verified
		if k.status != 200 || k.body["email_verified"] != false {
			t.Errorf("known identifier reveals itself: %s", k.raw)
		}
	})
}

// TestPurgeExpiredCodes: the purge the server runs in the background removes
// codes an hour after they expire, not before.
func TestPurgeExpiredCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.startEmail("purge@example.com")
	e.clock.Advance(181 * time.Second)
	e.srv.Purge(t.Context())
	wantError(t, e.otpGrant(webID, webSecret, "email", "purge@example.com", code, nil), 403, "invalid_grant",
		"The verification code has expired. Please try to login again.")
	e.clock.Advance(server.PurgeGrace)
	e.srv.Purge(t.Context())
	wantError(t, e.otpGrant(webID, webSecret, "email", "purge@example.com", code, nil), 403, "invalid_grant",
		"Wrong email or verification code.")
}
