package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
)

const consoleOwnerEmail = "owner@example.com"

func withConsoleOwner(email string) envOpt {
	return func(c *config.Config) { c.ConsoleOwner = email }
}

// consoleSignIn are the steps that sign email in to the console from a
// console URL: the hosted page, the code from the dev capture, back to
// the page asked for.
func consoleSignIn(e *env, path, email string) []browsertest.Step {
	return []browsertest.Step{
		browsertest.Goto(e.issuer + strings.TrimPrefix(path, "/")),
		browsertest.Fill("#username", email),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL(strings.TrimPrefix(path, "/")),
	}
}

// TestBrowserConsoleSignIn: an owner opens a console page, signs in with
// an email code on Latchkey's own hosted page and lands on that page.
func TestBrowserConsoleSignIn(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/migration", consoleOwnerEmail),
		browsertest.Text("h1"),
		browsertest.Text("header .who span"),
		browsertest.Cookies(),
	)})
	if h := res.String(6); h != "Migration" {
		t.Fatalf("landed on %q", h)
	}
	if who := res.String(7); who != consoleOwnerEmail+" (owner)" {
		t.Errorf("signed in as %q", who)
	}
	cookies := res.String(8)
	if !strings.Contains(cookies, `"name":"latchkey_admin"`) || !strings.Contains(cookies, `"sameSite":"Strict"`) {
		t.Errorf("console cookie: %s", cookies)
	}
}

// TestBrowserConsoleApplications: an owner creates a regular web
// application with the email connection and the passwordless grant, logs
// in with it through the API with the secret shown once, rotates the
// secret (the old one stops working, the new one works), then searches
// the logs for the application and opens an event.
func TestBrowserConsoleApplications(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/applications/new", consoleOwnerEmail),
		browsertest.Fill("#name", "Console Web"),
		browsertest.Click(`input[value="http://auth0.com/oauth/grant-type/passwordless/otp"]`),
		browsertest.Fill("#callbacks", "https://console-web.example.com/callback"),
		browsertest.Click("#save-app"),
		browsertest.Text("#secret"),    // 10
		browsertest.Text("#client-id"), // 11
	)})
	secret, clientID := res.String(10), res.String(11)
	login := func(secret string) response {
		t.Helper()
		const email = "app.user@example.com"
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": clientID, "client_secret": secret,
			"connection": "email", "send": "code", "email": email}, nil)
		if r.status != 200 {
			return r
		}
		return e.otpGrant(clientID, secret, "email", email, e.lastMessage(email).Code, url.Values{"scope": {"openid email"}})
	}
	r := login(secret)
	if r.status != 200 {
		t.Fatalf("login with the new application: %d %s", r.status, r.raw)
	}
	verifyIDToken(t, e, clientID, r.str("id_token"), "app.user@example.com")

	res = browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/applications/"+clientID, consoleOwnerEmail),
		browsertest.Click("#rotate-secret"),
		browsertest.Text("#secret"), // 7
	)})
	rotated := res.String(7)
	if rotated == "" || rotated == secret {
		t.Fatalf("rotated secret %q", rotated)
	}
	if r := login(secret); r.status != 401 {
		t.Errorf("the old secret after a rotation: %d %s", r.status, r.raw)
	}
	if r := login(rotated); r.status != 200 {
		t.Errorf("the rotated secret: %d %s", r.status, r.raw)
	}
	if n := e.countLogs(`type:sapi AND user_name:` + consoleOwnerEmail + ` AND description:"POST /api/v2/clients/{id}/rotate-secret"`); n != 1 {
		t.Errorf("rotation audit events naming the member: %d", n)
	}

	res = browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/logs", consoleOwnerEmail),
		browsertest.Fill("#q", "client_id:"+clientID),
		browsertest.Click("#search"),
		browsertest.WaitForURL("q="),
		browsertest.Click("#results tbody tr a"),
		browsertest.WaitForURL("admin/logs/"),
		browsertest.Text("#raw"), // 11
		browsertest.Goto(e.issuer+"admin/"),
		browsertest.Text("#logins-24h"),                                            // 13
		browsertest.Eval(`document.querySelectorAll("svg.chart rect.bar").length`), // 14
	)})
	if raw := res.String(11); !strings.Contains(raw, clientID) {
		t.Errorf("the event opened from the search: %s", raw)
	}
	if n := res.String(13); n != "5" { // the application's two, and the owner's three sign-ins
		t.Errorf("overview: %s logins in 24 hours, want 5", n)
	}
	if n := res.String(14); n != "54" { // 24 hourly + 30 daily bars
		t.Errorf("overview charts: %s bars", n)
	}

	// An HS256 application with an encoded secret (set through the API)
	// moves to RS256 from its page: secret_encoded, which only HS256 takes,
	// is not sent back with the other algorithm.
	hs := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef0123"))
	tok := e.mgmtToken("")
	if r := e.mgmt("PATCH", "clients/"+clientID, tok, map[string]any{"client_secret": hs,
		"jwt_configuration": map[string]any{"alg": "HS256", "secret_encoded": true}}); r.status != 200 {
		t.Fatalf("HS256 with an encoded secret: %d %s", r.status, r.raw)
	}
	browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/applications/"+clientID, consoleOwnerEmail),
		browsertest.Eval(`document.querySelector("#jwt_alg").value = "RS256"`),
		browsertest.Click("#save-app"),
		browsertest.WaitForURL("done=saved"),
	)})
	if jc, _ := e.mgmt("GET", "clients/"+clientID, tok, nil).body["jwt_configuration"].(map[string]any); jc["alg"] != "RS256" || jc["secret_encoded"] != false {
		t.Errorf("after the console's change from HS256: %v", jc)
	}
}

// TestBrowserConsoleMigration: a confidential application starts a login
// without its secret; the migration page names it; turning enforcement on
// from the console lists it as breaking and, once confirmed, its next such
// start answers 403.
func TestBrowserConsoleMigration(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	start := func() response {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code",
			"email": "legacy@example.com"}, map[string]string{"Auth0-Client": "eyJuYW1lIjoibm9kZS1hdXRoMCIsInZlcnNpb24iOiI0LjAuMCJ9"})
	}
	if r := start(); r.status != 200 {
		t.Fatalf("unauthenticated start before enforcement: %d %s", r.status, r.raw)
	}
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/migration", consoleOwnerEmail),
		browsertest.Text("#migration"), // 6
		browsertest.Text("#verdict"),   // 7
		browsertest.Click("#enforce-on"),
		browsertest.Text("#confirm-enforce"), // 9
		browsertest.Click("#enforce-confirm"),
		browsertest.Text(".flash"), // 11
		browsertest.Text("#refused"),
	)})
	if row := res.String(6); !strings.Contains(row, webID) || !strings.Contains(row, "Would break") || !strings.Contains(row, "node-auth0 4.0.0") {
		t.Errorf("migration table: %s", row)
	}
	if c := res.String(9); !strings.Contains(c, webID) {
		t.Errorf("the confirmation does not name the breaking application: %s", c)
	}
	if f := res.String(11); !strings.Contains(f, "Enforcement is on") {
		t.Errorf("after confirming: %s", f)
	}
	r := start()
	wantError(t, r, 403, "unauthorized_client", "Client authentication is required")
	if n := e.countLogs(`type:sapi AND user_name:` + consoleOwnerEmail + ` AND description:"PATCH /api/v2/tenants/settings"`); n != 1 {
		t.Errorf("the enforcement change is not audited as the member: %d", n)
	}
}

// TestBrowserConsoleViewer: a viewer sees the pages without their actions,
// and the server refuses a POST the viewer forges with a valid CSRF token.
func TestBrowserConsoleViewer(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	const viewer = "viewer@example.com"
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.Members = append(s.Latchkey.Members, store.Member{Email: viewer, Role: "viewer"})
	})
	forge := `fetch("/admin/migration/enforcement", {method: "POST", body: new URLSearchParams({
  csrf: document.querySelector("input[name=csrf]").value, enforce: "true", confirmed: "yes"})}).then(r => r.status)`
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/migration", viewer),
		browsertest.Eval(`[document.querySelector("#enforce-on"), document.querySelector("#enforce-confirm")].every(x => x === null)`), // 6
		browsertest.Eval(forge), // 7
		browsertest.Goto(e.issuer+"admin/applications/"+webID),
		browsertest.Eval(`["#save-app", "#rotate-secret", "#delete-app", "#add-credential"].every(s => document.querySelector(s) === null)`), // 9
		browsertest.Eval(`fetch(location.pathname + "/rotate-secret", {method: "POST", body: new URLSearchParams({
  csrf: document.querySelector("input[name=csrf]").value})}).then(r => r.status)`), // 10
		browsertest.Goto(e.issuer+"admin/settings"),
		browsertest.Eval(`document.querySelector("#add-member") === null && document.querySelector("#save-settings") === null`), // 12
	)})
	for _, i := range []int{6, 9, 12} {
		if res.String(i) != "true" {
			t.Errorf("step %d: a viewer sees an action", i)
		}
	}
	if res.String(7) != "403" || res.String(10) != "403" {
		t.Errorf("forged POSTs answered %s and %s, want 403", res.String(7), res.String(10))
	}
	s, err := e.srv.Store.GetSettings(t.Context())
	if err != nil || s.Flags.EnforceClientAuthOnPasswordlessStart {
		t.Errorf("a viewer turned enforcement on (%v)", err)
	}
	if n := e.countLogs(`type:fapi AND user_name:` + viewer); n < 1 {
		t.Errorf("the viewer's refused calls are not in the tenant log as fapi: %d", n)
	}
}

// consoleSession signs email in to the console through the hosted page
// with a plain HTTP client, and returns it with the page's CSRF token.
func consoleSession(t testing.TB, e *env, email string) (*browser, string) {
	t.Helper()
	b := e.browser()
	p := b.get("/admin/settings")
	if p.status != http.StatusFound || p.loc.Path != "/admin/login" {
		t.Fatalf("an anonymous console page: %d %v", p.status, p.loc)
	}
	p = b.get(p.loc.RequestURI())
	if p.status != http.StatusFound || p.loc.Path != "/authorize" || p.loc.Query().Get("client_id") != "latchkey-console" {
		t.Fatalf("sign-in start: %d %v", p.status, p.loc)
	}
	p = b.loginOnPage(t, b.get(p.loc.RequestURI()), email)
	if p.status != http.StatusFound || p.loc.Path != "/admin/callback" {
		t.Fatalf("hosted page answer: %d %v %s", p.status, p.loc, clipBody(p.body))
	}
	p = b.get(p.loc.RequestURI())
	if p.status != http.StatusFound || p.loc.Path != "/admin/settings" {
		t.Fatalf("callback: %d %v %s", p.status, p.loc, clipBody(p.body))
	}
	p = b.get("/admin/settings")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		t.Fatalf("settings page: %d %s", p.status, clipBody(p.body))
	}
	return b, m[1]
}

// TestConsoleSessions: the console's session and its checks, with the
// test clock: a POST without the CSRF token or from another origin is
// refused and changes nothing; a non-member cannot sign in; the session
// ends after 30 idle minutes and after 12 hours whatever the activity; a
// removed member is out at the next request; dangerous actions ask for a
// fresh code after 10 minutes.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	const other = "second.owner@example.com"
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.Members = append(s.Latchkey.Members, store.Member{Email: other, Role: "owner"})
	})
	b, csrf := consoleSession(t, e, consoleOwnerEmail)
	post := func(form url.Values, hdr map[string]string) page {
		return b.do("POST", "/admin/settings", form, hdr)
	}
	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no CSRF token":    {url.Values{"friendly_name": {"Hijacked"}}, nil},
		"wrong CSRF token": {url.Values{"friendly_name": {"Hijacked"}, "csrf": {"x" + csrf}}, nil},
		"another origin":   {url.Values{"friendly_name": {"Hijacked"}, "csrf": {csrf}}, map[string]string{"Origin": "https://evil.example.com"}},
	} {
		if p := post(tc.form, tc.hdr); p.status != http.StatusForbidden {
			t.Errorf("%s: %d", name, p.status)
		}
	}
	if s, _ := e.srv.Store.GetSettings(t.Context()); s.FriendlyName == "Hijacked" {
		t.Fatal("a refused POST changed the settings")
	}
	if p := post(url.Values{"friendly_name": {"Renamed"}, "csrf": {csrf}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("a good POST: %d %s", p.status, clipBody(p.body))
	}
	if s, _ := e.srv.Store.GetSettings(t.Context()); s.FriendlyName != "Renamed" {
		t.Fatalf("friendly name %q", s.FriendlyName)
	}

	// Dangerous actions want a code from the last 10 minutes.
	e.clock.Advance(11 * time.Minute)
	p := b.do("POST", "/admin/applications/"+webID+"/rotate-secret", url.Values{"csrf": {csrf}}, nil)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, `id="reauth"`) {
		t.Errorf("a stale sign-in rotating a secret: %d %s", p.status, clipBody(p.body))
	}

	// Idle: 29 minutes are fine and slide the timeout; 30 end it.
	e.clock.Advance(18 * time.Minute) // 29 since the last request
	if p := b.get("/admin/settings"); p.status != 200 {
		t.Fatalf("after 29 idle minutes: %d", p.status)
	}
	e.clock.Advance(30 * time.Minute)
	if p := b.get("/admin/settings"); p.status != http.StatusFound || p.loc.Path != "/admin/login" {
		t.Fatalf("after 30 idle minutes: %d %v", p.status, p.loc)
	}

	// Absolute: a session used every 20 minutes still ends at 12 hours.
	b, _ = consoleSession(t, e, consoleOwnerEmail)
	for i := 0; i < 35; i++ { // 11 h 40 min
		e.clock.Advance(20 * time.Minute)
		if p := b.get("/admin/settings"); p.status != 200 {
			t.Fatalf("active session at %d min: %d", (i+1)*20, p.status)
		}
	}
	e.clock.Advance(20 * time.Minute)
	if p := b.get("/admin/settings"); p.status != http.StatusFound {
		t.Fatalf("after 12 hours: %d", p.status)
	}

	// A member removed is out at once.
	b2, _ := consoleSession(t, e, other)
	e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.Members = s.Latchkey.Members[:1] })
	if p := b2.get("/admin/settings"); p.status != http.StatusFound {
		t.Fatalf("a removed member: %d", p.status)
	}

	// Someone who is no member gets no session.
	b3 := e.browser()
	p = b3.get(b3.get("/admin/login").loc.RequestURI())
	p = b3.loginOnPage(t, p, "stranger@example.com")
	p = b3.get(p.loc.RequestURI())
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "not a member") {
		t.Fatalf("a stranger's callback: %d %s", p.status, clipBody(p.body))
	}
	if p := b3.get("/admin/settings"); p.status != http.StatusFound {
		t.Fatalf("a stranger reached the console: %d", p.status)
	}
}

// TestBrowserConsoleKeys: an owner rotates the signing key from the
// console (the next key becomes current) and revokes the previous one.
func TestBrowserConsoleKeys(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/keys", consoleOwnerEmail),
		browsertest.Eval(`document.querySelectorAll("#keys tbody tr").length`), // 6
		browsertest.Click("#rotate-key"),
		browsertest.Text(".flash"), // 8
		browsertest.Eval(`Array.from(document.querySelectorAll("#keys tbody tr td:nth-child(3)")).map(td => td.textContent.trim()).sort().join(",")`), // 9
		browsertest.Click(`#keys button.danger`),
		browsertest.Text(".flash"), // 11
		browsertest.Eval(`Array.from(document.querySelectorAll("#keys tbody tr td:nth-child(3)")).map(td => td.textContent.trim()).sort().join(",")`), // 12
	)})
	if n := res.String(6); n != "2" {
		t.Errorf("keys before the rotation: %s (want current and next)", n)
	}
	if got := res.String(9); got != "current,next,previous" {
		t.Errorf("after the rotation: %s", got)
	}
	if got := res.String(12); got != "current,next,revoked" {
		t.Errorf("after the revocation: %s", got)
	}
	if n := e.countLogs(`type:sapi AND user_name:` + consoleOwnerEmail + ` AND description:*signing*`); n != 2 {
		t.Errorf("audit events of the rotation and the revocation: %d", n)
	}
}

// TestConsoleClientStartsOnlyFromItsPage: the console's built-in
// application is public, yet /passwordless/start refuses it unless the
// start forwards a live hosted-login transaction of its own: nobody can
// use it to send codes (or sign people up) from a script.
func TestConsoleClientStartsOnlyFromItsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	for _, params := range []map[string]any{nil, {"state": "not-a-transaction"}} {
		body := map[string]any{"client_id": "latchkey-console", "connection": "email", "send": "code", "email": "victim@example.com"}
		if params != nil {
			body["authParams"] = params
		}
		r := e.postJSON("/passwordless/start", body, nil)
		wantError(t, r, http.StatusUnauthorized, "unauthorized_client", "The console's application starts logins only from the hosted login page")
	}
	if msgs := e.messages("victim@example.com"); len(msgs) != 0 {
		t.Fatalf("%d messages sent through the console's application", len(msgs))
	}
	// Its own page still works.
	consoleSession(t, e, consoleOwnerEmail)
}
