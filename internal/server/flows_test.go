package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/store"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so each hop of a browser flow can be checked.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, c: &http.Client{Transport: e.http.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
	loc    *url.URL // the Location, resolved
}

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) page {
	b.e.t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = b.e.ts.URL + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.e.t.Context(), method, u, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := page{status: res.StatusCode, header: res.Header, body: string(raw)}
	if l := res.Header.Get("Location"); l != "" {
		p.loc, err = req.URL.Parse(l)
		if err != nil {
			b.e.t.Fatal(err)
		}
	}
	return p
}

func (b *browser) get(path string) page { b.e.t.Helper(); return b.do("GET", path, nil, nil) }

// postJSON posts a JSON body with the browser's cookies (fetch with
// credentials) and decodes the answer.
func (b *browser) postJSON(path string, body any, hdr map[string]string) response {
	b.e.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(b.e.t.Context(), "POST", b.e.ts.URL+path, bytes.NewReader(raw))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: out}
	_ = json.Unmarshal(out, &r.body)
	return r
}

// params are a redirect's response parameters (query or fragment).
func (p page) params(t *testing.T) url.Values {
	t.Helper()
	if p.loc == nil {
		t.Fatalf("no redirect: %d %s", p.status, clipBody(p.body))
	}
	if p.loc.Fragment != "" {
		v, err := url.ParseQuery(p.loc.Fragment)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return p.loc.Query()
}

func clipBody(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

var hiddenRe = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)

// hidden returns the hidden fields of a page's form.
func (p page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func authorizeURL(clientID, redirectURI, responseType string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {responseType}}
	for k, v := range extra {
		q[k] = v
	}
	return "/authorize?" + q.Encode()
}

const (
	webCallback = "https://app.example.com/callback"
	spaCallback = "https://spa.example.com/callback"
	spaOrigin   = "https://spa.example.com"
)

// loginOnPage goes from a /login redirect through our hosted page with an
// email code, and returns the final redirect to the application.
func (b *browser) loginOnPage(t testing.TB, toLogin page, email string) page {
	t.Helper()
	if toLogin.status != http.StatusFound || toLogin.loc.Path != "/login" {
		t.Fatalf("want a redirect to /login, got %d %v %s", toLogin.status, toLogin.loc, clipBody(toLogin.body))
	}
	lp := b.get(toLogin.loc.RequestURI())
	if lp.status != 200 || !strings.Contains(lp.body, `type="email"`) {
		t.Fatalf("login page: %d %s", lp.status, clipBody(lp.body))
	}
	if csp := lp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP %q", csp)
	}
	// The page posts to itself and is then redirected to the application's
	// callback: form-action allows exactly those two.
	if fa := cspDirective(lp.header, "form-action"); !strings.HasPrefix(fa, "'self' https://") || strings.Count(fa, " ") != 1 {
		t.Errorf("login page form-action %q", fa)
	}
	f := lp.hidden()
	f.Set("username", email)
	f.Set("action", "start")
	cp := b.do("POST", "/login", f, nil)
	if cp.status != 200 || !strings.Contains(cp.body, `autocomplete="one-time-code"`) {
		t.Fatalf("code page: %d %s", cp.status, clipBody(cp.body))
	}
	f = cp.hidden()
	f.Set("code", b.e.lastMessage(strings.ToLower(email)).Code)
	f.Set("action", "verify")
	return b.do("POST", "/login", f, nil)
}

// cspDirective returns the value of one directive of the answer's
// Content-Security-Policy ("" when absent).
func cspDirective(h http.Header, name string) string {
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		if k, v, _ := strings.Cut(strings.TrimSpace(d), " "); k == name {
			return v
		}
	}
	return ""
}

func pkcePair() (verifier, challenge string) {
	verifier = strings.Repeat("v", 20) + "-verifier-0123456789abcdefghij"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestAuthorizeRejections: a request whose client or redirect_uri cannot
// be trusted gets an error page and never a redirect; errors after those
// checks go back to the registered callback with the state.
func TestAuthorizeRejections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	for _, tc := range []struct{ name, path string }{
		{"unknown client", authorizeURL("nobody", webCallback, "code", nil)},
		{"no client", "/authorize?redirect_uri=" + url.QueryEscape(webCallback) + "&response_type=code"},
		{"no redirect_uri", "/authorize?client_id=" + webID + "&response_type=code"},
		{"other host", authorizeURL(webID, "https://evil.example.com/callback", "code", nil)},
		{"trailing slash", authorizeURL(webID, webCallback+"/", "code", nil)},
		{"extra query", authorizeURL(webID, webCallback+"?next=https://evil.example.com", "code", nil)},
		{"fragment", authorizeURL(webID, webCallback+"#x", "code", nil)},
		{"upper-case host", authorizeURL(webID, "https://APP.example.com/callback", "code", nil)},
		{"userinfo", authorizeURL(webID, "https://app.example.com@evil.example.com/callback", "code", nil)},
		{"dot segments", authorizeURL(webID, "https://app.example.com/callback/../x", "code", nil)},
		{"http", authorizeURL(webID, "http://app.example.com/callback", "code", nil)},
		{"another app's callback", authorizeURL(webID, spaCallback, "code", nil)},
		{"web_message to an origin not allowed", authorizeURL(webID, webCallback, "code", url.Values{"response_mode": {"web_message"}})},
	} {
		p := b.get(tc.path)
		if p.status != http.StatusBadRequest || p.loc != nil || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d Location=%v; want an error page", tc.name, p.status, p.loc)
		}
	}

	for _, tc := range []struct {
		name, path, code string
	}{
		{"unsupported response_type", authorizeURL(webID, webCallback, "code device", url.Values{"state": {"s1"}}), "unsupported_response_type"},
		{"grant not allowed", authorizeURL(webID, webCallback, "token", url.Values{"state": {"s1"}}), "unauthorized_client"},
		{"id_token without nonce", authorizeURL(spaID, spaCallback, "id_token", url.Values{"state": {"s1"}}), "invalid_request"},
		{"tokens in the query", authorizeURL(spaID, spaCallback, "token", url.Values{"state": {"s1"}, "response_mode": {"query"}}), "invalid_request"},
		{"plain PKCE", authorizeURL(spaID, spaCallback, "code", url.Values{"state": {"s1"}, "code_challenge": {"abc"}, "code_challenge_method": {"plain"}}), "invalid_request"},
		{"no session with prompt=none", authorizeURL(webID, webCallback, "code", url.Values{"state": {"s1"}, "prompt": {"none"}}), "login_required"},
	} {
		p := b.get(tc.path)
		if p.status != http.StatusFound {
			t.Errorf("%s: %d %s", tc.name, p.status, clipBody(p.body))
			continue
		}
		v := p.params(t)
		if got := p.loc.Scheme + "://" + p.loc.Host + p.loc.Path; got != webCallback && got != spaCallback {
			t.Errorf("%s: redirected to %s", tc.name, got)
		}
		if v.Get("error") != tc.code || v.Get("state") != "s1" || v.Get("error_description") == "" {
			t.Errorf("%s: %v", tc.name, v)
		}
	}
	if n := e.countLogs("type:fsa"); n != 1 {
		t.Errorf("fsa events: %d", n)
	}
}

// TestHostedPageCodeFlow: /authorize → our hosted page → email code → the
// application gets a code and its state, exchanges it (once) for tokens
// that go-oidc verifies; the session then answers a second /authorize
// without a new code, prompt=login asks again, logout ends it.
func TestHostedPageCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	ctx := oidc.ClientContext(t.Context(), e.http)
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := p.Verifier(&oidc.Config{ClientID: webID})

	authz := authorizeURL(webID, webCallback, "code", url.Values{"state": {"app-state"}, "scope": {"openid email offline_access"},
		"nonce": {"n-0S6"}, "audience": {apiID}})
	done := b.loginOnPage(t, b.get(authz), "Page.User@Example.com")
	v := done.params(t)
	if done.status != http.StatusFound || !strings.HasPrefix(done.loc.String(), webCallback+"?") || v.Get("state") != "app-state" || v.Get("code") == "" {
		t.Fatalf("after the code: %d %v", done.status, done.loc)
	}
	exchange := func(code, redirectURI string) response {
		return e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {webID},
			"client_secret": {webSecret}, "code": {code}, "redirect_uri": {redirectURI}}, nil)
	}
	tok := exchange(v.Get("code"), webCallback)
	if tok.status != 200 || tok.str("refresh_token") == "" {
		t.Fatalf("exchange: %d %s", tok.status, tok.raw)
	}
	idt, err := verifier.Verify(ctx, tok.str("id_token"))
	if err != nil {
		t.Fatalf("id token: %v", err)
	}
	var claims struct {
		Email    string `json:"email"`
		Nonce    string `json:"nonce"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "page.user@example.com" || idt.Nonce != "n-0S6" || claims.AuthTime == 0 {
		t.Fatalf("claims %+v nonce %q: %v", claims, idt.Nonce, err)
	}
	if again := exchange(v.Get("code"), webCallback); again.status != 403 || again.str("error") != "invalid_grant" {
		t.Fatalf("second exchange of one code: %d %s", again.status, again.raw)
	}

	// The session answers without a login, a new code each time.
	second := b.get(authz)
	v2 := second.params(t)
	if second.status != http.StatusFound || v2.Get("code") == "" || v2.Get("code") == v.Get("code") {
		t.Fatalf("with a session: %d %v", second.status, second.loc)
	}
	if wrong := exchange(v2.Get("code"), "https://app.example.com/other"); wrong.status != 403 || wrong.str("error") != "invalid_grant" {
		t.Fatalf("exchange with another redirect_uri: %d %s", wrong.status, wrong.raw)
	}
	if silent := b.get(authorizeURL(webID, webCallback, "code", url.Values{"prompt": {"none"}, "state": {"x"}})); silent.params(t).Get("code") == "" {
		t.Fatalf("prompt=none with a session: %v", silent.loc)
	}
	if login := b.get(authorizeURL(webID, webCallback, "code", url.Values{"prompt": {"login"}})); login.loc == nil || login.loc.Path != "/login" {
		t.Fatalf("prompt=login: %d %v", login.status, login.loc)
	}

	// Logout: an unlisted returnTo is refused and the session kept; a listed one ends it.
	if bad := b.get("/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("https://evil.example.com/")); bad.status != 400 || bad.loc != nil {
		t.Fatalf("logout to an unlisted URL: %d %v", bad.status, bad.loc)
	}
	out := b.get("/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("https://app.example.com/bye"))
	if out.status != http.StatusFound || out.loc.String() != "https://app.example.com/bye" {
		t.Fatalf("logout: %d %v", out.status, out.loc)
	}
	if after := b.get(authorizeURL(webID, webCallback, "code", url.Values{"prompt": {"none"}})); after.params(t).Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout: %v", after.loc)
	}
	for q, want := range map[string]int{"type:seacft": 1, "type:feacft": 2, "type:s AND user_name:page.user@example.com": 1, "type:ss": 1, "type:slo": 1} {
		if n := e.countLogs(q); n != want {
			t.Errorf("%s: %d events, want %d", q, n, want)
		}
	}
}

// TestHostedPageErrors: a wrong code shows the §5.3 text on the page and
// counts; a transaction from another browser, a bad _csrf or an expired
// transaction never log anybody in.
func TestHostedPageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	toLogin := b.get(authorizeURL(webID, webCallback, "code", url.Values{"state": {"s"}}))
	lp := b.get(toLogin.loc.RequestURI())
	f := lp.hidden()

	other := e.browser() // another browser, same state
	if p := other.get(toLogin.loc.RequestURI()); p.status != http.StatusForbidden || strings.Contains(p.body, `type="email"`) {
		t.Fatalf("transaction from another browser: %d", p.status)
	}
	bad := url.Values{"state": {f.Get("state")}, "_csrf": {"forged"}, "connection": {"email"}, "username": {"x@example.com"}, "action": {"start"}}
	if p := b.do("POST", "/login", bad, nil); p.status != http.StatusForbidden {
		t.Fatalf("forged _csrf: %d", p.status)
	}
	f.Set("username", "not an email")
	f.Set("action", "start")
	if p := b.do("POST", "/login", f, nil); p.status != 400 || !strings.Contains(p.body, `role="alert"`) ||
		!strings.Contains(p.body, "Enter a valid email address.") {
		t.Fatalf("bad email: %d %s", p.status, clipBody(p.body))
	}
	f.Set("username", "wrong@example.com")
	cp := b.do("POST", "/login", f, nil)
	g := cp.hidden()
	g.Set("action", "verify")
	g.Set("code", "000000x")
	wrong := b.do("POST", "/login", g, nil)
	if wrong.status != 400 || !strings.Contains(wrong.body, "Wrong email or verification code.") {
		t.Fatalf("wrong code: %d %s", wrong.status, clipBody(wrong.body))
	}
	if n := e.countLogs("type:f AND user_name:wrong@example.com"); n != 1 {
		t.Errorf("f events for the wrong code: %d", n)
	}
	e.clock.Advance(2 * time.Hour) // the transaction (1 h) and the code are gone
	g.Set("code", e.lastMessage("wrong@example.com").Code)
	if p := b.do("POST", "/login", g, nil); p.status != 400 || p.loc != nil {
		t.Fatalf("expired transaction: %d %v", p.status, p.loc)
	}
}

// TestForwardedStateAuthenticatesStart: a live hosted-login transaction's
// state forwarded in authParams.state proves a confidential app (§3.1); a
// made-up or another app's state does not, and a wrong secret still fails.
func TestForwardedStateAuthenticatesStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	toLogin := b.get(authorizeURL(webID, webCallback, "code", nil))
	state := toLogin.loc.Query().Get("state")
	spaLogin := b.get(authorizeURL(spaID, spaCallback, "token id_token", url.Values{"nonce": {"n"}}))
	spaState := spaLogin.loc.Query().Get("state")
	start := func(state, secret string) int {
		body := map[string]any{"client_id": webID, "connection": "email", "send": "code", "email": "state@example.com",
			"authParams": map[string]any{"state": state}}
		if secret != "" {
			body["client_secret"] = secret
		}
		return e.postJSON("/passwordless/start", body, nil).status
	}
	for _, enforce := range []bool{false, true} {
		e.updateSettings(func(s *store.TenantSettings) { s.Flags.EnforceClientAuthOnPasswordlessStart = enforce })
		before := e.countLogs(depnoteQuery)
		if s := start(state, ""); s != 200 {
			t.Errorf("enforce=%v live state: %d", enforce, s)
		}
		if n := e.countLogs(depnoteQuery) - before; n != 0 {
			t.Errorf("enforce=%v live state left %d depnotes", enforce, n)
		}
		want := 200
		if enforce {
			want = 403
		}
		for _, st := range []string{"made-up-state", spaState} {
			if s := start(st, ""); s != want {
				t.Errorf("enforce=%v state %q: %d, want %d", enforce, st, s, want)
			}
		}
		if s := start(state, "wrong-secret-wrong-secret"); s != 401 {
			t.Errorf("enforce=%v live state with a wrong secret: %d", enforce, s)
		}
	}
}

// TestPKCE: a public client's code needs the right code_verifier; a public
// client's request without a challenge yields a code nobody can use.
func TestPKCE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	verifier, challenge := pkcePair()
	login := func(b *browser, extra url.Values) string {
		t.Helper()
		extra.Set("scope", "openid email")
		done := b.loginOnPage(t, b.get(authorizeURL(spaID, spaCallback, "code", extra)), "pkce@example.com")
		return done.params(t).Get("code")
	}
	exchange := func(code, v string) response {
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {spaID}, "code": {code}, "redirect_uri": {spaCallback}}
		if v != "" {
			f.Set("code_verifier", v)
		}
		return e.postForm("/oauth/token", f, nil)
	}
	pk := url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	if r := exchange(login(e.browser(), pk), verifier+"x"); r.status != 403 || r.str("error_description") != "Failed to verify code verifier" {
		t.Fatalf("wrong verifier: %d %s", r.status, r.raw)
	}
	if r := exchange(login(e.browser(), url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}), ""); r.status != 400 {
		t.Fatalf("missing verifier: %d %s", r.status, r.raw)
	}
	if r := exchange(login(e.browser(), url.Values{}), ""); r.status != 403 {
		t.Fatalf("public client without PKCE: %d %s", r.status, r.raw)
	}
	if r := exchange(login(e.browser(), url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}), verifier); r.status != 200 || r.str("id_token") == "" {
		t.Fatalf("right verifier: %d %s", r.status, r.raw)
	}
}

// startLink starts a magic-link login for the web app with authParams and
// returns the link.
func (e *env) startLink(email string, authParams map[string]any) string {
	e.t.Helper()
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "link", "email": email, "authParams": authParams}, nil)
	if r.status != 200 {
		e.t.Fatalf("start link: %d %s", r.status, r.raw)
	}
	m := e.lastMessage(email)
	if m.Link == "" || !strings.Contains(m.Text, m.Code) {
		e.t.Fatalf("link message without a link or the code: %+v", m)
	}
	return m.Link
}

// TestMagicLink: a link finishes the authorization request it was started
// with; HEAD and prefetches do not use it up; a used, superseded, expired
// or tampered link never logs in; with the confirmation setting only a
// POST does.
func TestMagicLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	params := map[string]any{"redirect_uri": webCallback, "response_type": "code", "state": "link-state", "scope": "openid email"}
	link := e.startLink("link@example.com", params)
	b := e.browser()
	if p := b.do("HEAD", link, nil, nil); p.status != http.StatusNoContent {
		t.Fatalf("HEAD: %d", p.status)
	}
	for _, h := range []map[string]string{{"Sec-Purpose": "prefetch"}, {"Purpose": "prefetch"}, {"X-Purpose": "preview"}} {
		if p := b.do("GET", link, nil, h); p.status != http.StatusNoContent {
			t.Fatalf("prefetch %v: %d", h, p.status)
		}
	}
	p := b.get(link)
	v := p.params(t)
	if p.status != http.StatusFound || v.Get("code") == "" || v.Get("state") != "link-state" {
		t.Fatalf("link: %d %v", p.status, p.loc)
	}
	tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {webID},
		"client_secret": {webSecret}, "code": {v.Get("code")}, "redirect_uri": {webCallback}}, nil)
	if tok.status != 200 || tok.str("id_token") == "" {
		t.Fatalf("exchange: %d %s", tok.status, tok.raw)
	}
	used := b.get(link).params(t)
	if used.Get("error") != "unauthorized" || used.Get("error_description") != "Wrong email or verification code." || used.Get("state") != "link-state" {
		t.Fatalf("used link: %v", used)
	}

	first := e.startLink("link@example.com", params)
	second := e.startLink("link@example.com", params)
	if v := e.browser().get(first).params(t); v.Get("error") != "unauthorized" {
		t.Fatalf("superseded link: %v", v)
	}
	if v := e.browser().get(second).params(t); v.Get("code") == "" {
		t.Fatalf("newest link: %v", v)
	}

	expiring := e.startLink("link@example.com", params)
	e.clock.Advance(4 * time.Minute)
	if v := e.browser().get(expiring).params(t); v.Get("error_description") != "The verification code has expired. Please try to login again." {
		t.Fatalf("expired link: %v", v)
	}

	// An edited link answers the request stored with the code, not its own
	// query: the application's callback and state, whatever the link says.
	tampered := e.startLink("link@example.com", params)
	u, _ := url.Parse(tampered)
	q := u.Query()
	q.Set("redirect_uri", "https://evil.example.com/callback")
	q.Set("response_type", "token")
	q.Del("state")
	u.RawQuery = q.Encode()
	if p := e.browser().get(u.String()); p.status != http.StatusFound || !strings.HasPrefix(p.loc.String(), webCallback+"?") ||
		p.params(t).Get("code") == "" || p.params(t).Get("state") != "link-state" {
		t.Fatalf("edited link: %d %v", p.status, p.loc)
	}

	// No refresh token through a link, even with offline_access and an API.
	offline := e.startLink("link@example.com", map[string]any{"redirect_uri": webCallback, "response_type": "code",
		"scope": "openid offline_access", "audience": apiID})
	ov := e.browser().get(offline).params(t)
	if tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {webID},
		"client_secret": {webSecret}, "code": {ov.Get("code")}, "redirect_uri": {webCallback}}, nil); tok.status != 200 || tok.str("refresh_token") != "" {
		t.Fatalf("link code exchange: %d %s", tok.status, tok.raw)
	}

	// Confirmation: GET shows a page, only its POST logs in.
	e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.MagicLinkConfirmation = true })
	confirm := e.startLink("link@example.com", params)
	cb := e.browser()
	for range 2 {
		cp := cb.get(confirm)
		if cp.status != 200 || cp.loc != nil || !strings.Contains(cp.body, `method="post"`) {
			t.Fatalf("confirmation page: %d %s", cp.status, clipBody(cp.body))
		}
	}
	cp := cb.get(confirm)
	done := cb.do("POST", "/passwordless/verify_redirect", cp.hidden(), nil)
	if v := done.params(t); v.Get("code") == "" || v.Get("state") != "link-state" {
		t.Fatalf("confirmed: %d %v", done.status, done.loc)
	}
}

// TestImplicitLinkAndVerify: /passwordless/verify checks a code without
// using it up (wrong codes count), then the link with the same code
// returns tokens in the fragment for a public app.
func TestImplicitLinkAndVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": spaID, "connection": "email", "send": "link",
		"email": "spa@example.com", "authParams": map[string]any{"redirect_uri": spaCallback, "response_type": "token id_token",
			"nonce": "nonce-1", "state": "st", "scope": "openid email"}}, nil)
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	m := e.lastMessage("spa@example.com")
	verify := func(code string) response {
		return e.postJSON("/passwordless/verify", map[string]any{"client_id": spaID, "connection": "email",
			"email": "spa@example.com", "verification_code": code}, map[string]string{"Origin": spaOrigin})
	}
	if w := verify("999999x"); w.status != 403 || w.str("error_description") != "Wrong email or verification code." {
		t.Fatalf("verify wrong: %d %s", w.status, w.raw)
	}
	for range 2 { // checking does not consume
		if ok := verify(m.Code); ok.status != 200 || ok.header.Get("Access-Control-Allow-Origin") != spaOrigin {
			t.Fatalf("verify: %d %s %v", ok.status, ok.raw, ok.header)
		}
	}
	p := e.browser().get(m.Link)
	v := p.params(t)
	if p.loc.Fragment == "" || v.Get("access_token") == "" || v.Get("id_token") == "" || v.Get("state") != "st" || v.Get("token_type") != "Bearer" {
		t.Fatalf("implicit link: %v", p.loc)
	}
	ctx := oidc.ClientContext(t.Context(), e.http)
	pr, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := pr.Verifier(&oidc.Config{ClientID: spaID}).Verify(ctx, v.Get("id_token"))
	if err != nil || idt.Nonce != "nonce-1" {
		t.Fatalf("id token: %v nonce %q", err, idt.Nonce)
	}
	if err := idt.VerifyAccessToken(v.Get("access_token")); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	if ui, err := pr.UserInfo(ctx, staticToken(v.Get("access_token"))); err != nil || ui.Subject != idt.Subject {
		t.Fatalf("userinfo: %v %v", ui, err)
	}
}

func staticToken(at string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at})
}

// TestCrossOriginAuthentication: /co/authenticate from an allowed origin
// gives a single-use login ticket bound to the client and origin; other
// origins, apps without cross-origin authentication and wrong codes fail;
// CORS answers only allowed origins.
func TestCrossOriginAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startSPA := func(email string) string {
		t.Helper()
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": spaID, "connection": "email", "send": "code", "email": email},
			map[string]string{"Origin": spaOrigin})
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != spaOrigin || r.header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("start: %d %v", r.status, r.header)
		}
		return e.lastMessage(email).Code
	}
	b := e.browser()
	co := func(origin string, body map[string]any) response {
		return b.postJSON("/co/authenticate", body, map[string]string{"Origin": origin})
	}
	body := func(email, code string) map[string]any {
		return map[string]any{"client_id": spaID, "username": email, "otp": code, "realm": "email",
			"credential_type": "http://auth0.com/oauth/grant-type/passwordless/otp"}
	}

	// Preflights: allowed origins get the CORS headers, others none.
	pre := e.do("OPTIONS", "/co/authenticate", "", nil, map[string]string{"Origin": spaOrigin,
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,auth0-client"})
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != spaOrigin || !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Auth0-Client") {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	if evil := e.do("OPTIONS", "/co/authenticate", "", nil, map[string]string{"Origin": "https://evil.example.com",
		"Access-Control-Request-Method": "POST"}); evil.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %v", evil.header)
	}

	code := startSPA("co@example.com")
	if r := co("https://evil.example.com", body("co@example.com", code)); r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %s", r.status, r.raw)
	}
	if r := co(spaOrigin, map[string]any{"client_id": spaID, "username": "co@example.com", "otp": "", "realm": "email",
		"credential_type": "http://auth0.com/oauth/grant-type/passwordless/otp"}); r.status != 400 ||
		r.str("error_description") != "Invalid request body. All and only of client_id, credential_type, username, otp, realm are required." {
		t.Fatalf("empty otp: %d %s", r.status, r.raw)
	}
	if r := co(spaOrigin, body("co@example.com", "000000x")); r.status != 403 || r.str("error") != "access_denied" ||
		r.str("error_description") != "Wrong email or verification code." {
		t.Fatalf("wrong code: %d %s", r.status, r.raw)
	}
	ok := co(spaOrigin, body("co@example.com", code))
	if ok.status != 200 || ok.str("login_ticket") == "" || ok.str("co_verifier") == "" || ok.str("co_id") == "" ||
		ok.header.Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("co/authenticate: %d %s", ok.status, ok.raw)
	}
	ticket := ok.str("login_ticket")

	// Another browser cannot use the ticket (and it is spent by trying).
	if other := e.browser().get(authorizeURL(spaID, spaCallback, "token id_token", url.Values{"nonce": {"n0"},
		"login_ticket": {ticket}})); other.params(t).Get("error") != "access_denied" {
		t.Fatalf("ticket from another browser: %v", other.loc)
	}
	ok = co(spaOrigin, body("co@example.com", startSPA("co@example.com")))
	ticket = ok.str("login_ticket")
	ext := url.Values{"nonce": {"n1"}, "state": {"s1"}, "realm": {"email"}, "login_ticket": {ticket}, "scope": {"openid email"}}
	first := b.get(authorizeURL(spaID, spaCallback, "token id_token", ext))
	v := first.params(t)
	if v.Get("id_token") == "" || v.Get("access_token") == "" || v.Get("state") != "s1" {
		t.Fatalf("authorize with the ticket: %d %v", first.status, first.loc)
	}
	if again := b.get(authorizeURL(spaID, spaCallback, "token id_token", ext)); again.params(t).Get("error") != "access_denied" {
		t.Fatalf("ticket reused: %v", again.loc)
	}
	// The ticket also started a session: silent authentication by web_message.
	wm := b.get(authorizeURL(spaID, spaCallback, "token id_token", url.Values{"nonce": {"n2"}, "state": {"s2"},
		"prompt": {"none"}, "response_mode": {"web_message"}}))
	if wm.status != 200 || !strings.Contains(wm.body, `"authorization_response"`) || !strings.Contains(wm.body, `"https://spa.example.com"`) ||
		!strings.Contains(wm.body, `"s2"`) || !strings.Contains(wm.header.Get("Content-Security-Policy"), "frame-ancestors *") {
		t.Fatalf("web_message: %d %s %v", wm.status, clipBody(wm.body), wm.header)
	}
	fp := b.get(authorizeURL(spaID, spaCallback, "id_token", url.Values{"nonce": {"n3"}, "state": {"s3"}, "response_mode": {"form_post"}}))
	if fp.status != 200 || !strings.Contains(fp.body, `action="https://spa.example.com/callback"`) || fp.hidden().Get("id_token") == "" || fp.hidden().Get("state") != "s3" {
		t.Fatalf("form_post: %d %s", fp.status, clipBody(fp.body))
	}
	if fa := cspDirective(fp.header, "form-action"); fa != "'self' https://spa.example.com" {
		t.Errorf("form_post page form-action %q", fa)
	}
	// A ticket for one origin does not work for another callback origin.
	code = startSPA("co2@example.com")
	ok2 := co(spaOrigin, body("co2@example.com", code))
	e.updateSettings(func(*store.TenantSettings) {})
	if _, err := e.srv.Store.ModifyClient(t.Context(), spaID, func(c *store.Client) error {
		c.Callbacks = append(c.Callbacks, "https://other.example.com/callback")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
	other := b.get(authorizeURL(spaID, "https://other.example.com/callback", "token id_token",
		url.Values{"nonce": {"n"}, "login_ticket": {ok2.str("login_ticket")}}))
	if other.params(t).Get("error") != "access_denied" {
		t.Fatalf("ticket used for another origin: %v", other.loc)
	}
	if _, err := e.srv.Store.ModifyClient(t.Context(), spaID, func(c *store.Client) error {
		c.CrossOriginAuthentication = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
	if r := co(spaOrigin, body("co2@example.com", startSPA("co2@example.com"))); r.status != 401 || r.str("error") != "unauthorized_client" {
		t.Fatalf("cross-origin authentication off: %d %s", r.status, r.raw)
	}
	for q, want := range map[string]int{"type:scoa": 3, "type:fcoa": 2, "type:fco": 1, "type:ssa": 1} {
		if n := e.countLogs(q); n != want {
			t.Errorf("%s: %d events, want %d", q, n, want)
		}
	}
}

// TestLockEndpoints: the script Lock loads, the country lookup and the
// bot-detection challenge.
func TestLockEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/client/"+webID+".js", "", nil, nil)
	if r.status != 200 || !strings.HasPrefix(string(r.raw), `Auth0.setClient({`) ||
		!strings.Contains(string(r.raw), `{"name":"email","connections":[{"name":"email"}]}`) ||
		!strings.Contains(string(r.raw), `{"name":"sms","connections":[{"name":"sms"}]}`) || !strings.Contains(string(r.raw), `"id":"web-app"`) {
		t.Fatalf("client script: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/client/nobody.js", "", nil, nil); r.status != 404 {
		t.Fatalf("unknown client script: %d", r.status)
	}
	if r := e.do("GET", "/user/geoloc/country", "", nil, map[string]string{"Accept-Language": "en-GB,en;q=0.8"}); r.str("country_code") != "GB" {
		t.Fatalf("geoloc: %s", r.raw)
	}
	if r := e.postJSON("/passwordless/challenge", map[string]any{"state": "x"}, nil); r.status != 200 || r.body["required"] != false {
		t.Fatalf("challenge: %d %s", r.status, r.raw)
	}
}

// TestLogoutRules: returnTo must be an allowed logout URL of the app (or of
// the tenant without client_id); its query does not count; without
// returnTo the app's first logout URL is used.
func TestLogoutRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	for _, tc := range []struct {
		path string
		want string // "" for an error page
	}{
		{"/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("https://app.example.com/bye?from=x"), "https://app.example.com/bye?from=x"},
		{"/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("HTTPS://APP.example.com/bye"), "https://APP.example.com/bye"},
		{"/v2/logout?client_id=" + webID, "https://app.example.com/bye"},
		{"/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("https://app.example.com/bye/more"), ""},
		{"/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("https://app.example.com.evil.com/bye"), ""},
		{"/v2/logout?returnTo=" + url.QueryEscape("https://app.example.com/bye"), ""}, // not a tenant URL
		{"/v2/logout?client_id=nobody&returnTo=" + url.QueryEscape("https://app.example.com/bye"), ""},
	} {
		p := b.get(tc.path)
		switch {
		case tc.want == "" && (p.status != 400 || p.loc != nil):
			t.Errorf("%s: %d %v, want an error page", tc.path, p.status, p.loc)
		case tc.want != "" && (p.status != 302 || p.loc.String() != tc.want):
			t.Errorf("%s: %d %v, want %s", tc.path, p.status, p.loc, tc.want)
		}
	}
	e.updateSettings(func(s *store.TenantSettings) { s.AllowedLogoutURLs = []string{"https://tenant.example.com/"} })
	if p := b.get("/v2/logout?returnTo=" + url.QueryEscape("https://tenant.example.com/")); p.status != 302 {
		t.Errorf("tenant logout URL: %d", p.status)
	}
}

// TestHostedPageSMS: the hosted page offers SMS when the application has
// it enabled, and its session cookie is Secure, HttpOnly and SameSite=None
// (it must reach silent authentication in an application's iframe).
func TestHostedPageSMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	toLogin := b.get(authorizeURL(webID, webCallback, "code", url.Values{"state": {"sms-state"}}))
	lp := b.get(toLogin.loc.RequestURI())
	if !strings.Contains(lp.body, "connection=sms") {
		t.Fatalf("no SMS choice on the page: %s", clipBody(lp.body))
	}
	sp := b.get(toLogin.loc.RequestURI() + "&connection=sms")
	if !strings.Contains(sp.body, `type="tel"`) {
		t.Fatalf("SMS step: %s", clipBody(sp.body))
	}
	f := sp.hidden()
	f.Set("username", "+14155550123")
	f.Set("action", "start")
	cp := b.do("POST", "/login", f, nil)
	g := cp.hidden()
	g.Set("action", "verify")
	g.Set("code", e.lastMessage("+14155550123").Code)
	done := b.do("POST", "/login", g, nil)
	if v := done.params(t); v.Get("code") == "" || v.Get("state") != "sms-state" {
		t.Fatalf("SMS login: %d %v %s", done.status, done.loc, clipBody(done.body))
	}
	var session string
	for _, c := range done.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "latchkey_session=") {
			session = c
		}
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=None", "Path=/"} {
		if !strings.Contains(session, attr) {
			t.Errorf("session cookie %q lacks %s", session, attr)
		}
	}
	// The SMS session does not answer an application without SMS.
	if p := b.get(authorizeURL(spaID, spaCallback, "token", url.Values{"nonce": {"n"}, "prompt": {"none"}})); p.params(t).Get("error") != "login_required" {
		t.Fatalf("SMS session for the spa app: %v", p.loc)
	}
	// The spa app has no SMS: its page offers email only.
	spa := e.browser()
	sl := spa.get(spa.get(authorizeURL(spaID, spaCallback, "token", url.Values{"nonce": {"n"}})).loc.RequestURI())
	if strings.Contains(sl.body, "connection=sms") || !strings.Contains(sl.body, `type="email"`) {
		t.Fatalf("spa page: %s", clipBody(sl.body))
	}
}

// TestLinkFromHostedTransaction: a link started with a hosted-login
// transaction's state resumes that transaction only in the browser that
// opened it, and returns to the application with its own state.
func TestLinkFromHostedTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	toLogin := b.get(authorizeURL(webID, webCallback, "code", url.Values{"state": {"own-state"}}))
	st := toLogin.loc.Query().Get("state")
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "link",
		"email": "tx@example.com", "authParams": map[string]any{"state": st, "redirect_uri": webCallback, "response_type": "code"}}, nil)
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	link := e.lastMessage("tx@example.com").Link
	if p := e.browser().get(link); p.status != http.StatusForbidden || p.loc != nil {
		t.Fatalf("another browser: %d %v", p.status, p.loc)
	}
	p := b.get(link)
	if v := p.params(t); v.Get("code") == "" || v.Get("state") != "own-state" {
		t.Fatalf("same browser: %d %v", p.status, p.loc)
	}
}

// TestBrowserEndpointsBadInput: the browser-flow entry points answer
// malformed, oversized and hostile input with a 4xx (an error page or an
// error body), never a 5xx, and write nothing.
func TestBrowserEndpointsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Redirects are not followed: an error sent to the registered callback
	// is an answer too (and in --dev https://app.example.com/callback would
	// reach the demo application's callback page on the test server).
	e.http = &http.Client{Transport: e.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	big := strings.Repeat("a", 100<<10)
	for _, tc := range []struct {
		name, method, path, ct, body string
	}{
		{"authorize huge query", "GET", "/authorize?client_id=" + webID + "&redirect_uri=" + url.QueryEscape(webCallback) + "&response_type=code&state=" + strings.Repeat("s", 8<<10), "", ""},
		{"authorize bad escape", "GET", "/authorize?client_id=%zz", "", ""},
		{"authorize oversized form", "POST", "/authorize", "application/x-www-form-urlencoded", "client_id=" + big},
		{"login no state", "GET", "/login", "", ""},
		{"login garbage state", "GET", "/login?state=" + strings.Repeat("%00", 300), "", ""},
		{"login post garbage", "POST", "/login", "application/x-www-form-urlencoded", "state=x&_csrf=y&action=verify&code=" + big[:3000]},
		{"login post json", "POST", "/login", "application/json", `{"state":"x"}`},
		{"verify_redirect empty", "GET", "/passwordless/verify_redirect", "", ""},
		{"verify_redirect unknown client", "GET", "/passwordless/verify_redirect?client_id=nobody&verification_code=1", "", ""},
		{"verify_redirect junk", "GET", "/passwordless/verify_redirect?client_id=" + webID + "&connection=email&email=%00&verification_code=" + strings.Repeat("9", 500), "", ""},
		{"verify_redirect cross-site post", "POST", "/passwordless/verify_redirect", "application/x-www-form-urlencoded", "client_id=" + webID},
		{"verify malformed", "POST", "/passwordless/verify", "application/json", `{"client_id":`},
		{"verify arrays", "POST", "/passwordless/verify", "application/json", `{"client_id":["a"],"connection":"email","email":"a@b.c","verification_code":"1"}`},
		{"verify oversized", "POST", "/passwordless/verify", "application/json", `{"client_id":"` + big + `"}`},
		{"co malformed", "POST", "/co/authenticate", "application/json", `[`},
		{"co extra field", "POST", "/co/authenticate", "application/json", `{"client_id":"spa-app","username":"a","otp":"1","realm":"email","credential_type":"x","password":"p"}`},
		{"co unknown client", "POST", "/co/authenticate", "application/json", `{"client_id":"nobody","username":"a","otp":"1","realm":"email","credential_type":"x"}`},
		{"logout unknown client", "GET", "/v2/logout?client_id=nobody", "", ""},
		{"logout hostile returnTo", "GET", "/v2/logout?client_id=" + webID + "&returnTo=" + url.QueryEscape("javascript:alert(1)"), "", ""},
		{"client script long id", "GET", "/client/" + strings.Repeat("x", 4000) + ".js", "", ""},
		{"client script not js", "GET", "/client/" + webID, "", ""},
	} {
		var hdr map[string]string
		if tc.name == "verify_redirect cross-site post" {
			hdr = map[string]string{"Origin": "https://evil.example.com"}
		}
		r := e.do(tc.method, tc.path, tc.ct, []byte(tc.body), hdr)
		if loc := r.header.Get("Location"); r.status == http.StatusFound && strings.HasPrefix(loc, webCallback+"?") && strings.Contains(loc, "error=") {
			continue
		}
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d %s", tc.name, r.status, clipBody(string(r.raw)))
		}
	}
	if n := e.countLogs("type:s OR type:ss"); n != 0 {
		t.Errorf("hostile input logged %d logins", n)
	}
}

// TestCORSVaryOrigin: every answer of the passwordless endpoints that
// browsers call cross-origin says it varies by Origin, allowed origin or
// not, success or error, so no shared cache hands one origin's CORS answer
// to another.
func TestCORSVaryOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := map[string]any{"client_id": spaID, "connection": "email", "send": "code", "email": "vary@example.com"}
	verify := map[string]any{"client_id": spaID, "connection": "email", "email": "vary@example.com", "verification_code": "000000"}
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		origin     string
	}{
		{"start allowed", "/passwordless/start", start, spaOrigin},
		{"start other origin", "/passwordless/start", start, "https://evil.example.com"},
		{"start no origin", "/passwordless/start", start, ""},
		{"verify allowed", "/passwordless/verify", verify, spaOrigin},
		{"verify other origin", "/passwordless/verify", verify, "https://evil.example.com"},
	} {
		h := map[string]string{}
		if tc.origin != "" {
			h["Origin"] = tc.origin
		}
		r := e.postJSON(tc.path, tc.body, h)
		if !slices.Contains(r.header.Values("Vary"), "Origin") {
			t.Errorf("%s: %d, Vary %q", tc.name, r.status, r.header.Values("Vary"))
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); (got != "") != (tc.origin == spaOrigin) {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tc.name, got)
		}
	}
}

// TestCrossOriginWithoutCookie: a browser that blocks third-party cookies
// never keeps the cookie /co/authenticate sets, so its /authorize with the
// ticket comes without it. The ticket is then taken on the application's
// own proof (a state, and a nonce for an ID token or PKCE for a public
// application's code) and refused without it; a browser holding another
// cross-origin cookie is still refused.
func TestCrossOriginWithoutCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ticket := func(email string) string {
		t.Helper()
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": spaID, "connection": "email", "send": "code", "email": email},
			map[string]string{"Origin": spaOrigin})
		if r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
		// A plain client: the cookie the answer sets is dropped, as a
		// browser blocking third-party cookies drops it.
		co := e.postJSON("/co/authenticate", map[string]any{"client_id": spaID, "username": email, "otp": e.lastMessage(email).Code,
			"realm": "email", "credential_type": "http://auth0.com/oauth/grant-type/passwordless/otp"}, map[string]string{"Origin": spaOrigin})
		if co.status != 200 || co.str("login_ticket") == "" {
			t.Fatalf("co/authenticate: %d %s", co.status, co.raw)
		}
		return co.str("login_ticket")
	}
	_, challenge := pkcePair()
	for _, tc := range []struct {
		name, responseType string
		extra              url.Values
		want               string // "" for tokens or a code, else the error_description's end
	}{
		{"state and nonce", "token id_token", url.Values{"state": {"s1"}, "nonce": {"n1"}}, ""},
		{"no state", "token id_token", url.Values{"nonce": {"n1"}}, "or a state"},
		{"code with PKCE", "code", url.Values{"state": {"s2"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, ""},
		{"public code without PKCE", "code", url.Values{"state": {"s3"}}, "or a PKCE code_challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"login_ticket": {ticket(strings.ToLower(strings.ReplaceAll(tc.name, " ", "-")) + "@example.com")}, "realm": {"email"}}
			for k, v := range tc.extra {
				q[k] = v
			}
			p := e.browser().get(authorizeURL(spaID, spaCallback, tc.responseType, q))
			v := p.params(t)
			if tc.want == "" {
				if v.Get("error") != "" || (v.Get("id_token") == "" && v.Get("code") == "") {
					t.Fatalf("want tokens or a code, got %v", p.loc)
				}
				return
			}
			if v.Get("error") != "access_denied" || !strings.HasSuffix(v.Get("error_description"), tc.want) {
				t.Fatalf("want access_denied (%s), got %v", tc.want, p.loc)
			}
		})
	}
	t.Run("another browser's cookie", func(t *testing.T) {
		tk := ticket("other-cookie@example.com")
		b := e.browser()
		u, _ := url.Parse(e.ts.URL)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_co", Value: strings.Repeat("x", 32), Path: "/"}})
		v := b.get(authorizeURL(spaID, spaCallback, "token id_token", url.Values{"login_ticket": {tk}, "state": {"s"}, "nonce": {"n"}})).params(t)
		if v.Get("error") != "access_denied" || v.Get("error_description") != "The login_ticket was issued to another browser" {
			t.Fatalf("a browser with another cookie: %v", v)
		}
	})
}

// TestCrossOriginVerification: Auth0's fallback for a ticket that comes
// without the cross-origin cookie, for an application with a verification
// page (cross_origin_loc). /authorize shows Latchkey's page framing it
// (without spending the ticket); /co/verify takes the verifier the page
// found — a match proves the browser and starts a session, a mismatch is
// refused, none falls back to the application's own proof without a
// session — and only from that page (its SameSite=Strict double-submit
// token).
func TestCrossOriginVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const loc = "https://spa.example.com:443/co-verify?x=1#old"
	if _, err := e.srv.Store.ModifyClient(context.Background(), spaID, func(c *store.Client) error {
		c.CrossOriginLoc = loc
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
	type issued struct{ ticket, verifier, coID string }
	ticket := func(t *testing.T, email string) issued {
		t.Helper()
		if r := e.postJSON("/passwordless/start", map[string]any{"client_id": spaID, "connection": "email", "send": "code", "email": email},
			map[string]string{"Origin": spaOrigin}); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
		co := e.postJSON("/co/authenticate", map[string]any{"client_id": spaID, "username": email, "otp": e.lastMessage(email).Code,
			"realm": "email", "credential_type": "http://auth0.com/oauth/grant-type/passwordless/otp"}, map[string]string{"Origin": spaOrigin})
		if co.status != 200 || co.str("login_ticket") == "" || co.str("co_verifier") == "" || co.str("co_id") == "" {
			t.Fatalf("co/authenticate: %d %s", co.status, co.raw)
		}
		return issued{co.str("login_ticket"), co.str("co_verifier"), co.str("co_id")}
	}
	withState := url.Values{"state": {"s1"}, "nonce": {"n1"}}
	// verifyPage opens /authorize with the ticket in browser b and returns
	// the page's form action and hidden fields.
	verifyPage := func(t *testing.T, b *browser, tk issued, extra url.Values) (string, url.Values) {
		t.Helper()
		q := url.Values{"login_ticket": {tk.ticket}}
		for k, v := range extra {
			q[k] = v
		}
		p := b.get(authorizeURL(spaID, spaCallback, "token id_token", q))
		if p.status != 200 {
			t.Fatalf("authorize: %d %v %s", p.status, p.loc, clipBody(p.body))
		}
		wantFrame := `src="https://spa.example.com/co-verify?x=1#origin=` + url.QueryEscape(strings.TrimSuffix(e.issuer, "/")) + `"`
		if !strings.Contains(htmlUnescape(p.body), wantFrame) || !strings.Contains(p.body, tk.coID) {
			t.Fatalf("verification page lacks the frame %s or the co_id: %s", wantFrame, p.body)
		}
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-src https://spa.example.com") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
		var check *http.Cookie
		for _, c := range (&http.Response{Header: p.header}).Cookies() {
			if c.Name == "latchkey_co_check" {
				check = c
			}
		}
		if check == nil || check.SameSite != http.SameSiteStrictMode || !check.HttpOnly || !check.Secure || check.Path != "/co/verify" {
			t.Fatalf("check cookie %+v", check)
		}
		m := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(p.body)
		if m == nil || !strings.HasPrefix(htmlUnescape(m[1]), "/co/verify?") {
			t.Fatalf("form action: %v", m)
		}
		return htmlUnescape(m[1]), p.hidden()
	}
	sessionSet := func(p page) bool {
		for _, c := range (&http.Response{Header: p.header}).Cookies() {
			if c.Name == "latchkey_session" && c.MaxAge >= 0 && c.Value != "" {
				return true
			}
		}
		return false
	}

	t.Run("the verifier proves the browser", func(t *testing.T) {
		tk := ticket(t, "verified@example.com")
		b := e.browser()
		action, form := verifyPage(t, b, tk, withState)
		form.Set("co_verifier", tk.verifier)
		p := b.do("POST", action, form, nil)
		if v := p.params(t); v.Get("id_token") == "" || v.Get("state") != "s1" {
			t.Fatalf("want tokens, got %v", p.loc)
		}
		if !sessionSet(p) {
			t.Errorf("a verified browser got no session")
		}
		// Spent: the same post again is refused, and so is the ticket.
		if v := b.do("POST", action, form, nil).params(t); v.Get("error") != "access_denied" {
			t.Errorf("replay: %v", v)
		}
		q := url.Values{"login_ticket": {tk.ticket}, "state": {"s1"}, "nonce": {"n1"}}
		if v := e.browser().get(authorizeURL(spaID, spaCallback, "token id_token", q)).params(t); v.Get("error_description") != "Invalid or expired login_ticket" {
			t.Errorf("the spent ticket: %v", v)
		}
	})
	for _, tc := range []struct {
		name, verifier string
		extra          url.Values
		want           string // error_description; "" for tokens without a session
	}{
		{"another verifier", "not-the-verifier", withState, "The co_verifier does not match the login_ticket"},
		{"no verifier, the application's proof", "", withState, ""},
		{"no verifier and no state", "", url.Values{"nonce": {"n1"}}, "The login_ticket needs the browser's cross-origin cookie, or a state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := ticket(t, strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), ",", "")+"@example.com")
			b := e.browser()
			action, form := verifyPage(t, b, tk, tc.extra)
			form.Set("co_verifier", tc.verifier)
			p := b.do("POST", action, form, nil)
			v := p.params(t)
			if tc.want != "" {
				if v.Get("error") != "access_denied" || v.Get("error_description") != tc.want {
					t.Fatalf("want %q, got %v", tc.want, v)
				}
				return
			}
			if v.Get("id_token") == "" {
				t.Fatalf("want tokens, got %v", v)
			}
			if sessionSet(p) {
				t.Errorf("a login on the application's proof alone started a session")
			}
		})
	}
	t.Run("a post from another site", func(t *testing.T) {
		// The attacker holds a ticket and its verifier and makes the
		// victim's browser post them: without the page's SameSite=Strict
		// cookie the post is refused, and the ticket is left unspent.
		tk := ticket(t, "forged@example.com")
		b := e.browser()
		q := url.Values{"login_ticket": {tk.ticket}, "state": {"s1"}, "nonce": {"n1"}}
		action := "/co/verify?" + strings.TrimPrefix(authorizeURL(spaID, spaCallback, "token id_token", q), "/authorize?")
		v := b.do("POST", action, url.Values{"co_verifier": {tk.verifier}, "co_check": {"guess"}},
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}).params(t)
		if v.Get("error") != "access_denied" || !strings.Contains(v.Get("error_description"), "verification page") {
			t.Fatalf("forged post: %v", v)
		}
		action, form := verifyPage(t, b, tk, withState)
		form.Set("co_verifier", tk.verifier)
		if v := b.do("POST", action, form, nil).params(t); v.Get("id_token") == "" {
			t.Fatalf("the ticket after a refused post: %v", v)
		}
	})
	t.Run("the cookie still comes first", func(t *testing.T) {
		email := "with-cookie@example.com"
		b := e.browser()
		if r := b.postJSON("/passwordless/start", map[string]any{"client_id": spaID, "connection": "email", "send": "code", "email": email},
			map[string]string{"Origin": spaOrigin}); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
		co := b.postJSON("/co/authenticate", map[string]any{"client_id": spaID, "username": email, "otp": e.lastMessage(email).Code,
			"realm": "email", "credential_type": "http://auth0.com/oauth/grant-type/passwordless/otp"}, map[string]string{"Origin": spaOrigin})
		q := url.Values{"login_ticket": {co.str("login_ticket")}, "state": {"s"}, "nonce": {"n"}}
		p := b.get(authorizeURL(spaID, spaCallback, "token id_token", q))
		if v := p.params(t); v.Get("id_token") == "" || !sessionSet(p) {
			t.Fatalf("with the cookie: %v", p.loc)
		}
	})
}
