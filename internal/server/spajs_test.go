package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// spaJSPage is an application built on auth0-spa-js as Auth0's React/
// vanilla quickstarts set it up: refresh tokens on, no audience. Back from
// the login it handles the callback, then renews its tokens with the
// refresh token (cacheMode "off": a real /oauth/token call).
const spaJSPage = `<!doctype html><html><head><meta charset="utf-8"><script src="/auth0-spa-js.production.js"></script></head><body>
<button id="login">log in</button>
<script>
auth0.createAuth0Client({domain: %q, clientId: %q, useRefreshTokens: true,
  authorizationParams: {redirect_uri: location.origin + "/spa-js", scope: "openid email offline_access"}
}).then(function (client) {
  document.getElementById("login").onclick = function () { client.loginWithRedirect(); };
  if (!location.search.includes("code=")) { window.ready = true; return; }
  var out = {};
  client.handleRedirectCallback().then(function () {
    return client.getIdTokenClaims();
  }).then(function (claims) {
    out.email = claims.email;
    out.first = claims.__raw;
    return client.getTokenSilently({cacheMode: "off", detailedResponse: true});
  }).then(function (r) {
    out.renewed = r.id_token;
    out.accessToken = r.access_token;
    window.result = JSON.stringify(out);
  }).catch(function (err) {
    window.result = JSON.stringify({error: err.error || String(err), description: err.error_description || err.message});
  });
});
</script></body></html>`

// TestBrowserSPAJSRefreshTokens: auth0-spa-js with useRefreshTokens and no
// audience, from an application on another site than Latchkey (third-party
// cookies blocked, see TestBrowserSPACrossSite): loginWithRedirect through
// the hosted page, handleRedirectCallback, then getTokenSilently renews the
// ID token with the refresh token (it threw "Missing Refresh Token" when
// offline_access was dropped without an audience). Both ID tokens verify.
func TestBrowserSPAJSRefreshTokens(t *testing.T) {
	e := newEnv(t)
	origin := serveOtherSite(t,
		map[string]string{"/auth0-spa-js.production.js": browsertest.Auth0SPAJS(t)},
		map[string]string{"/spa-js": fmt.Sprintf(spaJSPage, e.domainOf(), browserSPA)})
	registerSPA(t, e, origin, "/spa-js", "authorization_code", "refresh_token")

	const email = "spa.js@example.com"
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(origin + "/spa-js"),
		browsertest.WaitForFunction("window.ready === true"),
		browsertest.Click("#login"),
		browsertest.WaitForURL("/login?"),
		browsertest.Fill("#username", email),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL("/spa-js?"),
		browsertest.WaitForFunction("window.result !== undefined"),
		browsertest.Eval("window.result"),
	}})
	var out struct {
		Email, First, Renewed, AccessToken, Error, Description string
	}
	if err := json.Unmarshal([]byte(res.String(10)), &out); err != nil || out.Error != "" {
		t.Fatalf("auth0-spa-js: %s (%v)", res.String(10), err)
	}
	if out.Email != email || out.Renewed == "" || out.Renewed == out.First {
		t.Fatalf("auth0-spa-js: %+v", out)
	}
	verifyIDToken(t, e, browserSPA, out.First, email)
	verifyIDToken(t, e, browserSPA, out.Renewed, email)
}
