package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
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
	origin := serveOtherSite(t,
		map[string]string{"/auth0.min.js": browsertest.Auth0JS(t), "/lock.js": browsertest.Lock(t)},
		map[string]string{"/lock": fmt.Sprintf(lockPage, browserSPA, e.domainOf(), strings.TrimSuffix(e.issuer, "/"))})
	registerSPA(t, e, origin, "/lock", "implicit", "authorization_code")

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
