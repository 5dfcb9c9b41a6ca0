package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Applications the browser tests register once the app server's address is
// known.
const (
	browserSPA = "browser-spa"
	browserWeb = "browser-web"
	browserSec = "browser-web-secret-0123456789abcdef"
)

// appServer is the applications' own origin (another 127.0.0.1 port, over
// TLS): it serves auth0.js and the pages the tests drive.
type appServer struct {
	*httptest.Server
	origin string
	// verifyPageHits counts loads of the cross-origin verification page.
	verifyPageHits atomic.Int32
}

const spaPage = `<!doctype html><html><head><meta charset="utf-8"><script src="/auth0.min.js"></script></head><body>
<input id="email"><input id="code"><button id="start">start</button><button id="login">login</button>
<script>
var webAuth = new auth0.WebAuth({domain: %q, clientID: %q, redirectUri: location.origin + "/callback",
  responseType: "token id_token", scope: "openid email"});
` + passwordlessButtons

// passwordlessButtons wires #start and #login to webAuth, on both pages.
const passwordlessButtons = `document.getElementById("start").onclick = function () {
  webAuth.passwordlessStart({connection: "email", send: "code", email: document.getElementById("email").value},
    function (err) { window.started = err ? JSON.stringify(err) : "ok"; });
};
document.getElementById("login").onclick = function () {
  webAuth.passwordlessLogin({connection: "email", email: document.getElementById("email").value,
    verificationCode: document.getElementById("code").value},
    function (err) { window.loginError = JSON.stringify(err); });
};
</script></body></html>`

// verifyPage is the application's cross-origin verification page
// (cross_origin_loc), as Auth0 documents it: auth0.js answering Latchkey's
// page with the verifier it kept.
const verifyPage = `<!doctype html><html><head><meta charset="utf-8"><script src="/auth0.min.js"></script></head><body>
<script>new auth0.WebAuth({domain: %q, clientID: %q}).crossOriginVerification();</script></body></html>`

const callbackPage = `<!doctype html><html><head><meta charset="utf-8"><script src="/auth0.min.js"></script></head><body>
<script>
if (location.hash) {
  var webAuth = new auth0.WebAuth({domain: %q, clientID: %q, redirectUri: location.origin + "/callback",
    responseType: "token id_token", scope: "openid email"});
  webAuth.parseHash(function (err, res) { window.result = JSON.stringify({err: err, res: res}); });
} else {
  window.result = JSON.stringify({query: location.search});
}
</script></body></html>`

// classicTemplate is a customised Classic login page built on auth0.js, as
// tenants write them: it reads @@config@@ and forwards the transaction.
const classicTemplate = `<!doctype html><html><head><meta charset="utf-8"><script src="%s/auth0.min.js"></script></head><body>
<label>Email <input id="email"></label><label>Code <input id="code"></label>
<button id="start">Send</button><button id="login">Log in</button>
<script>
var config = JSON.parse(decodeURIComponent(escape(window.atob('@@config@@'))));
var params = Object.assign({
  overrides: {__tenant: config.auth0Tenant, __token_issuer: config.authorizationServer.issuer},
  domain: config.auth0Domain, clientID: config.clientID, redirectUri: config.callbackURL, responseType: 'code'
}, config.internalOptions);
var webAuth = new auth0.WebAuth(params);
` + passwordlessButtons

func newAppServer(t *testing.T, e *env) *appServer { return newAppServerOn(t, e, "127.0.0.1") }

// newAppServerOn serves the applications with host in their origin:
// "localhost" puts them on another site than Latchkey (127.0.0.1), so the
// browser treats Latchkey's cookies in their pages as third-party.
func newAppServerOn(t *testing.T, e *env, host string) *appServer {
	t.Helper()
	js, err := os.ReadFile(browsertest.Auth0JS(t))
	if err != nil {
		t.Fatal(err)
	}
	domain := strings.TrimPrefix(e.issuer, "https://")
	domain = strings.TrimSuffix(domain, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("/auth0.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(js)
	})
	page := func(tpl string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, tpl, domain, browserSPA)
		}
	}
	mux.HandleFunc("/spa", page(spaPage))
	mux.HandleFunc("/callback", page(callbackPage))
	a := &appServer{}
	mux.HandleFunc("/co-verify", func(w http.ResponseWriter, r *http.Request) {
		a.verifyPageHits.Add(1)
		page(verifyPage)(w, r)
	})
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's first, refused handshake
	ts.StartTLS()
	t.Cleanup(ts.Close)
	a.Server, a.origin = ts, strings.Replace(ts.URL, "127.0.0.1", host, 1)

	// Register the applications for this origin and enable email for them.
	ctx := context.Background()
	st := e.srv.Store
	for _, c := range []store.Client{
		{ClientID: browserSPA, Name: "Browser SPA", AppType: "spa", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"implicit", "authorization_code"}, Callbacks: []string{a.origin + "/callback"},
			WebOrigins: []string{a.origin}, AllowedOrigins: []string{a.origin}, CrossOriginAuthentication: true},
		{ClientID: browserWeb, Name: "Browser Web", AppType: "regular_web", TokenEndpointAuthMethod: "client_secret_post",
			GrantTypes: []string{"authorization_code", "http://auth0.com/oauth/grant-type/passwordless/otp"},
			Callbacks:  []string{a.origin + "/callback"}},
	} {
		if c.AppType == "regular_web" {
			c.SecretHash = tenant.HashClientSecret(e.srv.Keys, c.ClientID, browserSec)
		}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := st.GetConnectionByName(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	conn.EnabledClients = append(conn.EnabledClients, browserSPA, browserWeb)
	if err := st.UpdateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
	return a
}

// serveOtherSite serves an application's scripts (URL path → file) and pages
// (URL path → HTML) over TLS from https://localhost:P, another site than
// Latchkey's https://127.0.0.1:Q, and returns that origin.
func serveOtherSite(t *testing.T, scripts, pages map[string]string) string {
	t.Helper()
	mux := http.NewServeMux()
	for path, file := range scripts {
		js, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/javascript")
			w.Write(js)
		})
	}
	for path, html := range pages {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, html)
		})
	}
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's first, refused handshake
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
}

// registerSPA registers browserSPA as a single-page application on origin
// (callback origin+path, cross-origin authentication on, the given grants)
// with the email connection enabled for it.
func registerSPA(t *testing.T, e *env, origin, path string, grants ...string) {
	t.Helper()
	ctx := t.Context()
	c := store.Client{ClientID: browserSPA, Name: "Browser SPA", AppType: "spa", TokenEndpointAuthMethod: "none",
		GrantTypes: grants, Callbacks: []string{origin + path},
		WebOrigins: []string{origin}, AllowedOrigins: []string{origin}, CrossOriginAuthentication: true}
	if err := e.srv.Store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	conn, err := e.srv.Store.GetConnectionByName(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	conn.EnabledClients = append(conn.EnabledClients, browserSPA)
	if err := e.srv.Store.UpdateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
}

// domainOf is the issuer as the browser SDKs' domain option (host:port).
func (e *env) domainOf() string {
	return strings.TrimSuffix(strings.TrimPrefix(e.issuer, "https://"), "/")
}

// outbox is the capture URL of the newest message for to.
func (e *env) outbox(to string) string {
	return e.issuer + "dev/outbox/messages?to=" + url.QueryEscape(to)
}

// exchangeAndVerify exchanges a browser-obtained code as the web app's
// backend would, and verifies the ID token with go-oidc.
func exchangeAndVerify(t *testing.T, e *env, callbackURL string, email string) {
	t.Helper()
	u, err := url.Parse(callbackURL)
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if code == "" || u.Query().Get("state") != "app-state" {
		t.Fatalf("callback without a code or the app's state: %s", callbackURL)
	}
	tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {browserWeb},
		"client_secret": {browserSec}, "code": {code}, "redirect_uri": {u.Scheme + "://" + u.Host + u.Path}}, nil)
	if tok.status != 200 {
		t.Fatalf("exchange: %d %s", tok.status, tok.raw)
	}
	verifyIDToken(t, e, browserWeb, tok.str("id_token"), email)
}

func verifyIDToken(t *testing.T, e *env, clientID, raw, email string) {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), e.http)
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id token: %v", err)
	}
	var c struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&c); err != nil || c.Email != email {
		t.Fatalf("id token email %q, want %q (%v)", c.Email, email, err)
	}
}

// TestBrowserSPA: auth0.js in a single-page application on its own origin:
// passwordlessStart, then passwordlessLogin through /co/authenticate and
// /authorize?login_ticket=…, and parseHash verifies the ID token.
func TestBrowserSPA(t *testing.T) {
	e := newEnv(t)
	spaLogin(t, e, newAppServer(t, e), "spa.browser@example.com")
}

// TestBrowserSPACrossSite: the same from an application on another site
// (https://localhost:P, Latchkey at https://127.0.0.1:Q) in Chromium as the
// tests run it (headless, default settings), which does not keep cookies
// that a cross-site request's answer sets — third-party cookies are
// blocked, as in Safari, Firefox's total cookie protection, Brave and
// Chrome with third-party cookies off. The cookie /co/authenticate sets is
// dropped (checked), and the login completes on the application's state and
// nonce.
func TestBrowserSPACrossSite(t *testing.T) {
	e := newEnv(t)
	app := newAppServerOn(t, e, "localhost")
	cookies := spaLogin(t, e, app, "cross.site@example.com")
	if strings.Contains(cookies, `"latchkey_co"`) {
		t.Fatalf("the browser kept the cross-origin cookie: the test no longer shows a browser blocking third-party cookies: %s", cookies)
	}
}

// TestBrowserCrossOriginVerification: Auth0's fallback for browsers that
// drop the cross-origin cookie, with the application's verification page
// (cross_origin_loc, auth0.js crossOriginVerification()).
//   - Same site (app https://127.0.0.1:P, Latchkey https://127.0.0.1:Q),
//     Latchkey's cookie dropped by the test (DropCookiesFrom, as a browser
//     refusing that one site's cookies does): the page framed in
//     Latchkey's gets its own cookie, returns the verifier, and the login
//     completes on it with a Latchkey session.
//   - Another site, in Chromium as the tests run it (third-party cookies
//     blocked): the framed page is a third-party context too, so auth0.js
//     finds no verifier there; the login completes on the application's
//     state and nonce, without a session (docs/browser-flows.md).
func TestBrowserCrossOriginVerification(t *testing.T) {
	for _, tc := range []struct {
		name, host  string
		drop        []string
		wantSession bool
	}{
		{"same site, Latchkey's cookie refused", "127.0.0.1", []string{"/co/authenticate"}, true},
		{"another site, third-party cookies blocked", "localhost", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			app := newAppServerOn(t, e, tc.host)
			if _, err := e.srv.Store.ModifyClient(t.Context(), browserSPA, func(c *store.Client) error {
				c.CrossOriginLoc = app.origin + "/co-verify"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			e.srv.Dir.Invalidate()
			email := "co-verify-" + strings.ReplaceAll(tc.host, ".", "-") + "@example.com"
			cookies := spaLoginWith(t, e, app, email, tc.drop)
			if n := app.verifyPageHits.Load(); n != 1 {
				t.Errorf("the verification page was loaded %d times, want 1", n)
			}
			if strings.Contains(cookies, `"latchkey_co"`) {
				t.Fatalf("the browser kept the cross-origin cookie: %s", cookies)
			}
			if got := strings.Contains(cookies, `"latchkey_session"`); got != tc.wantSession {
				t.Errorf("Latchkey session after the login: %v, want %v (%s)", got, tc.wantSession, cookies)
			}
		})
	}
}

// spaLogin runs the auth0.js passwordless login in app's SPA page for
// email, checks parseHash's verified ID token and the scoa event, and
// returns the browser's cookies at the end (JSON).
func spaLogin(t *testing.T, e *env, app *appServer, email string) string {
	t.Helper()
	return spaLoginWith(t, e, app, email, nil)
}

// spaLoginWith is spaLogin in a browser that keeps no cookie set by URLs
// containing one of drop.
func spaLoginWith(t *testing.T, e *env, app *appServer, email string, drop []string) string {
	t.Helper()
	res := browsertest.Run(t, browsertest.Program{DropCookiesFrom: drop, Steps: []browsertest.Step{
		browsertest.Goto(app.origin + "/spa"),
		browsertest.Fill("#email", email),
		browsertest.Click("#start"),
		browsertest.WaitForFunction("window.started !== undefined"),
		browsertest.Eval("window.started"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("#login"),
		browsertest.WaitForURL("/callback#"),
		browsertest.WaitForFunction("window.result !== undefined"),
		browsertest.Eval("window.result"),
		browsertest.Cookies(),
	}})
	if s := res.String(4); s != "ok" {
		t.Fatalf("passwordlessStart: %s", s)
	}
	var out struct {
		Err any `json:"err"`
		Res struct {
			IDToken        string `json:"idToken"`
			AccessToken    string `json:"accessToken"`
			IDTokenPayload struct {
				Email string `json:"email"`
			} `json:"idTokenPayload"`
		} `json:"res"`
	}
	if err := json.Unmarshal([]byte(res.String(9)), &out); err != nil || out.Err != nil || out.Res.IDToken == "" {
		t.Fatalf("parseHash: %s (%v)", res.String(9), err)
	}
	if out.Res.IDTokenPayload.Email != email {
		t.Fatalf("parseHash payload: %+v", out.Res.IDTokenPayload)
	}
	verifyIDToken(t, e, browserSPA, out.Res.IDToken, email)
	if n := e.countLogs("type:scoa AND user_name:" + email); n != 1 {
		t.Errorf("scoa events: %d", n)
	}
	return res.String(10)
}

// TestBrowserHostedPage: our own hosted page in Chromium, email then code,
// back to a regular web app that exchanges the code.
func TestBrowserHostedPage(t *testing.T) {
	e := newEnv(t)
	app := newAppServer(t, e)
	const email = "hosted.browser@example.com"
	authz := e.issuer + strings.TrimPrefix(authorizeURL(browserWeb, app.origin+"/callback", "code",
		url.Values{"state": {"app-state"}, "scope": {"openid email"}}), "/")
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(authz),
		browsertest.Fill("#username", email),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL("/callback?"),
		browsertest.Eval("location.href"),
	}})
	exchangeAndVerify(t, e, res.String(6), email)
}

// TestBrowserClassicPage: a customised Classic page built on auth0.js
// (@@config@@), with enforcement on: the forwarded state authenticates the
// confidential app's start, and passwordlessLogin on the hosted page goes
// through /passwordless/verify and /passwordless/verify_redirect.
func TestBrowserClassicPage(t *testing.T) {
	e := newEnv(t)
	app := newAppServer(t, e)
	e.updateSettings(func(s *store.TenantSettings) {
		s.Flags.EnforceClientAuthOnPasswordlessStart = true
		s.Latchkey.CustomLoginPage = fmt.Sprintf(classicTemplate, app.origin)
	})
	const email = "classic.browser@example.com"
	authz := e.issuer + strings.TrimPrefix(authorizeURL(browserWeb, app.origin+"/callback", "code",
		url.Values{"state": {"app-state"}, "scope": {"openid email"}}), "/")
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(authz),
		browsertest.Fill("#email", email),
		browsertest.Click("#start"),
		browsertest.WaitForFunction("window.started !== undefined"),
		browsertest.Eval("window.started"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("#login"),
		browsertest.WaitForURL("/callback?"),
		browsertest.Eval("location.href"),
	}})
	if s := res.String(4); s != "ok" {
		t.Fatalf("passwordlessStart on the Classic page: %s", s)
	}
	exchangeAndVerify(t, e, res.String(8), email)
	if n := e.countLogs(depnoteQuery); n != 0 {
		t.Errorf("depnotes: %d", n)
	}
}

// TestBrowserMagicLink: a magic link opened in Chromium lands on the
// application with a code it exchanges.
func TestBrowserMagicLink(t *testing.T) {
	e := newEnv(t)
	app := newAppServer(t, e)
	const email = "link.browser@example.com"
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": browserWeb, "client_secret": browserSec,
		"connection": "email", "send": "link", "email": email, "authParams": map[string]any{
			"redirect_uri": app.origin + "/callback", "response_type": "code", "state": "app-state", "scope": "openid email"}}, nil)
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(e.lastMessage(email).Link),
		browsertest.WaitForURL("/callback?"),
		browsertest.Eval("location.href"),
	}})
	exchangeAndVerify(t, e, res.String(2), email)
}

// TestBrowserDemoWalkthrough: the README's walkthrough in Chromium, as a
// newcomer follows it: the demo application at /authorize with
// redirect_uri=<issuer>callback, the hosted page, the code from the dev
// capture, and the demo's callback page says "Logged in" and shows the code
// (unused: the demo's backend then exchanges it), without a CSP violation.
func TestBrowserDemoWalkthrough(t *testing.T) {
	e := newEnv(t)
	demo := e.srv.Demo
	const email = "readme.browser@example.com"
	cb := e.issuer + "callback"
	authz := e.issuer + "authorize?" + url.Values{"client_id": {demo.ClientID}, "redirect_uri": {cb},
		"response_type": {"code"}, "state": {"x"}}.Encode()
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(authz),
		browsertest.Fill("#username", email),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL("/callback?"),
		browsertest.Text("h1"),
		browsertest.Text("#code"),
		browsertest.Text("#state"),
		browsertest.Text("#curl"),
		browsertest.Eval("location.href"),
	}})
	if h := res.String(6); h != "Logged in" {
		t.Fatalf("callback page heading %q", h)
	}
	u, err := url.Parse(res.String(10))
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if u.Scheme+"://"+u.Host+u.Path != cb || code == "" || res.String(7) != code || res.String(8) != "x" {
		t.Fatalf("landed on %s showing code %q, state %q", u, res.String(7), res.String(8))
	}
	if curl := res.String(9); !strings.Contains(curl, "code='"+code+"'") || !strings.Contains(curl, "redirect_uri='"+cb+"'") {
		t.Errorf("curl: %s", curl)
	}
	for _, line := range res.Console {
		if strings.Contains(line, "Content Security Policy") {
			t.Errorf("console: %s", line)
		}
	}
	tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {demo.ClientID},
		"client_secret": {demo.ClientSecret}, "code": {code}, "redirect_uri": {cb}}, nil)
	if tok.status != 200 || tok.str("access_token") == "" {
		t.Fatalf("exchange: %d %s", tok.status, tok.raw)
	}
}

// TestBrowserDevOutboxPreview: in Chromium, the dev outbox lists a message
// rendered with the connection's own template, its page shows it, and its
// HTML part renders as the recipient would see it while a script in the
// template does not run (sandbox).
func TestBrowserDevOutboxPreview(t *testing.T) {
	e := newEnv(t)
	e.setConnection("email", func(c *store.Connection) {
		c.Options.Email = &store.EmailTemplate{Syntax: "liquid", From: "codes@acme.test", Subject: "Your {{ application.name }} passcode",
			Body: `<p>Code <b id="c">{{ code }}</b></p><script>document.title = "pwned"</script>`}
	})
	e.startEmail("preview.browser@example.com")
	m := e.lastMessage("preview.browser@example.com")
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(e.issuer + "dev/outbox"),
		browsertest.Click(`a[href="/dev/outbox/` + m.ID + `"]`),
		browsertest.WaitForURL("/dev/outbox/" + m.ID),
		browsertest.Text("h1"),
		browsertest.Goto(e.issuer + "dev/outbox/" + m.ID + "/html"),
		browsertest.Text("#c"),
		browsertest.Eval("document.title"),
	}})
	if h := res.String(3); h != "Your Web passcode" {
		t.Errorf("message page heading %q", h)
	}
	if c := res.String(5); c != m.Code {
		t.Errorf("HTML part shows %q, want the code %q", c, m.Code)
	}
	if title := res.String(6); title == "pwned" {
		t.Error("a script in the template ran in the preview")
	}
}

// checkSessionJS is auth0.js checkSession (prompt=none, response_mode=
// web_message in a hidden iframe) from the SPA page, as JSON.
const checkSessionJS = `new Promise(function (resolve) {
  webAuth.checkSession({}, function (err, res) { resolve(JSON.stringify({err: err, res: res})); });
})`

// TestBrowserSilentAuth: after a login, auth0.js checkSession renews the
// tokens silently where the browser sends Latchkey's session cookie to the
// hidden iframe (the application on the same site as Latchkey), and
// answers login_required cleanly where it does not (another site, third-
// party cookies blocked): the documented error, which tells the
// application to log in again or use refresh tokens.
func TestBrowserSilentAuth(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		wantError  string
	}{
		{"same site", "127.0.0.1", ""},
		{"another site, third-party cookies blocked", "localhost", "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			app := newAppServerOn(t, e, tc.host)
			email := "silent-" + strings.ReplaceAll(tc.host, ".", "-") + "@example.com"
			res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
				browsertest.Goto(app.origin + "/spa"),
				browsertest.Fill("#email", email),
				browsertest.Click("#start"),
				browsertest.WaitForFunction("window.started !== undefined"),
				browsertest.FetchFill("#code", e.outbox(email), "0.code"),
				browsertest.Click("#login"),
				browsertest.WaitForURL("/callback#"),
				browsertest.WaitForFunction("window.result !== undefined"),
				browsertest.Goto(app.origin + "/spa"),
				browsertest.Eval(checkSessionJS),
			}})
			var out struct {
				Err *struct {
					Error string `json:"error"`
				} `json:"err"`
				Res struct {
					IDToken string `json:"idToken"`
				} `json:"res"`
			}
			if err := json.Unmarshal([]byte(res.String(9)), &out); err != nil {
				t.Fatalf("checkSession: %s (%v)", res.String(9), err)
			}
			if tc.wantError != "" {
				if out.Err == nil || out.Err.Error != tc.wantError {
					t.Fatalf("checkSession: %s, want the error %s", res.String(9), tc.wantError)
				}
				return
			}
			if out.Err != nil || out.Res.IDToken == "" {
				t.Fatalf("checkSession: %s", res.String(9))
			}
			verifyIDToken(t, e, browserSPA, out.Res.IDToken, email)
		})
	}
}
