package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/store"
)

// lockPage shows Lock's passwordless email-code widget, as Auth0's Lock
// quickstart sets it up; on the callback the same page reads the result.
const lockPage = `<!doctype html><html><head><meta charset="utf-8"><script src="/auth0.min.js"></script><script src="/lock.js"></script></head><body>
<script>
var lock = new Auth0LockPasswordless(%q, %q, {
  configurationBaseUrl: %q, passwordlessMethod: "code", allowedConnections: ["email"], rememberLastLogin: false,
  auth: {redirectUrl: location.origin + "/lock", responseType: "token id_token", params: {scope: "openid email"}}
});
lock.on("authenticated", function (r) { window.result = JSON.stringify({idToken: r.idToken, email: r.idTokenPayload.email}); });
lock.on("authorization_error", function (e) { window.result = JSON.stringify({error: e.error || String(e), description: e.errorDescription || e.error_description}); });
if (!location.hash) { lock.show(); }
</script></body></html>`

// TestBrowserLockCrossSite: Lock's passwordless email code from an
// application on another site than Latchkey, in Chromium blocking
// third-party cookies (see TestBrowserSPACrossSite): the email screen, the
// code screen, then /co/authenticate and /authorize with the ticket taken
// on the application's state and nonce; Lock's authenticated event carries
// an ID token that go-oidc verifies.
func TestBrowserLockCrossSite(t *testing.T) {
	e := newEnv(t)
	js, err := os.ReadFile(browsertest.Lock(t))
	if err != nil {
		t.Fatal(err)
	}
	domain := strings.TrimSuffix(strings.TrimPrefix(e.issuer, "https://"), "/")
	mux := http.NewServeMux()
	a0, err := os.ReadFile(browsertest.Auth0JS(t))
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("/auth0.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		w.Write(a0)
	})
	mux.HandleFunc("/lock.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		w.Write(js)
	})
	mux.HandleFunc("/lock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, lockPage, browserSPA, domain, strings.TrimSuffix(e.issuer, "/"))
	})
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	origin := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	registerSPA(t, e, origin, "/lock")

	const email = "lock.user@example.com"
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(origin + "/lock"),
		browsertest.Fill("input[name=email]", email),
		browsertest.Click("button.auth0-lock-submit"),
		browsertest.FetchFill("input[name=vcode]", e.outbox(email), "0.code"),
		browsertest.Click("button.auth0-lock-submit"),
		browsertest.WaitForURL("/lock#"),
		browsertest.WaitForFunction("window.result !== undefined"),
		browsertest.Eval("window.result"),
		browsertest.Cookies(),
	}})
	var out struct{ IDToken, Email, Error, Description string }
	if err := json.Unmarshal([]byte(res.String(7)), &out); err != nil || out.Error != "" || out.IDToken == "" {
		t.Fatalf("Lock: %s (%v)", res.String(7), err)
	}
	if out.Email != email {
		t.Fatalf("Lock: %+v", out)
	}
	verifyIDToken(t, e, browserSPA, out.IDToken, email)
	if strings.Contains(res.String(8), `"latchkey_co"`) {
		t.Fatalf("the browser kept the cross-origin cookie: %s", res.String(8))
	}
}

// registerSPA registers browserSPA as a single-page application on origin
// (callback origin+path, cross-origin authentication on) with the email
// connection enabled for it.
func registerSPA(t *testing.T, e *env, origin, path string) {
	t.Helper()
	ctx := t.Context()
	c := store.Client{ClientID: browserSPA, Name: "Browser SPA", AppType: "spa", TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"implicit", "authorization_code"}, Callbacks: []string{origin + path},
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
