package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store"
)

// devNode is a node started with --dev from cfg as `latchkey serve` would
// (the listen address only names the issuer), served over HTTP.
type devNode struct {
	t        *testing.T
	srv      *server.Server
	ts       *httptest.Server
	stopJobs func()
}

func startDev(t *testing.T, cfg config.Config) *devNode {
	t.Helper()
	cfg.Dev, cfg.LogFormat = true, "text"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &devNode{t: t, srv: srv, ts: httptest.NewServer(srv.Handler())}
	ctx, cancel := context.WithCancel(context.Background())
	wait := srv.StartJobs(ctx) // the outbox delivers codes to the capture
	n.stopJobs = func() { cancel(); wait() }
	t.Cleanup(n.close)
	return n
}

// close stops the node (again: a no-op).
func (n *devNode) close() {
	if n.ts != nil {
		n.ts.Close()
		n.stopJobs()
		n.srv.Close()
		n.ts = nil
	}
}

func (n *devNode) demo() store.Client {
	n.t.Helper()
	c, err := n.srv.Store.GetClient(n.t.Context(), n.srv.Demo.ClientID)
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// authorize sends the demo application to /authorize with redirectURI and
// returns the status and Location (not followed).
func (n *devNode) authorize(redirectURI string) (int, string) {
	n.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(n.ts.URL + authorizeURL(n.srv.Demo.ClientID, redirectURI, "code", url.Values{"state": {"x"}}))
	if err != nil {
		n.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// TestDemoCallbacksFollowIssuer: the demo application's callbacks (and
// allowed logout URLs) are <issuer>callback, plus its loopback twin, for
// whatever --addr or --issuer the node runs with; /authorize accepts them
// and no longer the old hard-coded ones.
func TestDemoCallbacksFollowIssuer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr, issuer string
		want               []string
	}{
		{"default address", "127.0.0.1:3000", "", []string{"http://127.0.0.1:3000/callback", "http://localhost:3000/callback"}},
		{"another port", "127.0.0.1:4000", "", []string{"http://127.0.0.1:4000/callback", "http://localhost:4000/callback"}},
		{"localhost", "localhost:4001", "", []string{"http://localhost:4001/callback", "http://127.0.0.1:4001/callback"}},
		{"port only", ":4002", "", []string{"http://localhost:4002/callback", "http://127.0.0.1:4002/callback"}},
		{"public issuer", "127.0.0.1:3000", "https://login.example.com/", []string{"https://login.example.com/callback"}},
		{"issuer with a path, no slash", "127.0.0.1:3000", "https://example.com/auth", []string{"https://example.com/auth/callback"}},
		{"loopback issuer without port", "127.0.0.1:3000", "https://127.0.0.1/", []string{"https://127.0.0.1/callback", "https://localhost/callback"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startDev(t, config.Config{Addr: tc.addr, Issuer: tc.issuer, DataDir: t.TempDir()})
			c := n.demo()
			if diff := cmp.Diff(tc.want, c.Callbacks); diff != "" {
				t.Errorf("callbacks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, c.AllowedLogoutURLs); diff != "" {
				t.Errorf("allowed logout URLs (-want +got):\n%s", diff)
			}
			for _, cb := range tc.want {
				if status, loc := n.authorize(cb); status != http.StatusFound || !strings.HasPrefix(loc, "/login?") {
					t.Errorf("authorize with %s: %d %q, want a redirect to the login page", cb, status, loc)
				}
			}
			if tc.addr != "127.0.0.1:3000" || tc.issuer != "" {
				if status, loc := n.authorize("http://127.0.0.1:3000/callback"); status != http.StatusBadRequest || loc != "" {
					t.Errorf("authorize with the old callback: %d %q, want the mismatch page", status, loc)
				}
			}
		})
	}
}

// TestDemoCallbacksAddedOnRestart: a demo application kept in the data
// directory (seeded by an older version, or for another address) gets the
// current callbacks at start; the URLs it had, an operator's among them,
// stay, and its credentials do not change.
func TestDemoCallbacksAddedOnRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first := startDev(t, config.Config{Addr: "127.0.0.1:3000", DataDir: dir})
	demo := *first.srv.Demo
	// As an older version left it, plus a callback an operator added.
	old := []string{"http://localhost:3000/callback", "http://127.0.0.1:3000/callback", "https://operator.example.com/cb"}
	if _, err := first.srv.Store.ModifyClient(t.Context(), demo.ClientID, func(c *store.Client) error {
		c.Callbacks, c.AllowedLogoutURLs = old, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	first.close()

	second := startDev(t, config.Config{Addr: "127.0.0.1:4000", DataDir: dir})
	if *second.srv.Demo != demo {
		t.Fatalf("the demo application changed: %+v, was %+v", *second.srv.Demo, demo)
	}
	now := []string{"http://127.0.0.1:4000/callback", "http://localhost:4000/callback"}
	c := second.demo()
	if diff := cmp.Diff(append(old, now...), c.Callbacks); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(now, c.AllowedLogoutURLs); diff != "" {
		t.Errorf("allowed logout URLs (-want +got):\n%s", diff)
	}
	for _, cb := range append(old, now...) {
		if status, loc := second.authorize(cb); status != http.StatusFound || !strings.HasPrefix(loc, "/login?") {
			t.Errorf("authorize with %s: %d %q", cb, status, loc)
		}
	}
	updated := c.UpdatedAt
	second.close()

	// A start with nothing to add writes nothing.
	third := startDev(t, config.Config{Addr: "127.0.0.1:4000", DataDir: dir})
	if c := third.demo(); !c.UpdatedAt.Equal(updated) || len(c.Callbacks) != len(old)+len(now) {
		t.Errorf("a start with nothing to add changed the demo application: %v %v (was %v)", c.UpdatedAt, c.Callbacks, updated)
	}
}

// TestDemoCallbackPage: in --dev, GET /callback is the demo application's
// page: the code and state it received (escaped) with a curl that
// exchanges the code, or the error it received, or a note that nothing
// came; a strict CSP without script.
func TestDemoCallbackPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	demoID := e.srv.Demo.ClientID
	for _, tc := range []struct {
		name    string
		query   url.Values
		want    []string // in the body
		notWant []string
	}{
		{"code", url.Values{"code": {"AbC123_-x"}, "state": {"st-1"}},
			[]string{"Logged in", `id="code">AbC123_-x<`, `id="state">st-1<`, "grant_type=authorization_code",
				"-d client_id=&#39;" + demoID + "&#39;", "--data-urlencode code=&#39;AbC123_-x&#39;",
				"--data-urlencode redirect_uri=&#39;" + e.issuer + "callback&#39;", "&#39;" + e.issuer + "oauth/token&#39;"},
			[]string{"Login failed", "<script"}},
		{"hostile code and state", url.Values{"code": {`<script>alert(1)</script>'$(id)`}, "state": {`"><img src=x onerror=alert(2)>`}},
			[]string{"Logged in", "&lt;script&gt;alert(1)&lt;/script&gt;", "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;\\&#39;&#39;$(id)&#39;",
				"&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"},
			[]string{"<script", "<img"}},
		{"error", url.Values{"error": {"access_denied"}, "error_description": {"<b>No</b> connection"}, "state": {"st-2"}},
			[]string{"Login failed", `id="error">access_denied<`, "&lt;b&gt;No&lt;/b&gt; connection", `id="state">st-2<`},
			[]string{"Logged in", "curl", "<b>"}},
		{"error with a code", url.Values{"error": {"server_error"}, "code": {"c0de"}},
			[]string{"Login failed", "server_error"}, []string{"Logged in", "c0de"}},
		{"oversized code", url.Values{"code": {strings.Repeat("c", 5000)}},
			[]string{"Logged in", strings.Repeat("c", 512) + "…"}, []string{strings.Repeat("c", 513), "curl"}},
		{"nothing", nil, []string{"Nothing to show", "response_type=code"}, []string{"Logged in", "Login failed", "curl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/callback?"+tc.query.Encode(), "", nil, nil)
			body := string(r.raw)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), clipBody(body))
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("no %q in %s", s, body)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(body, s) {
					t.Errorf("%q in %s", s, body)
				}
			}
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP %q", csp)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", r.header)
			}
		})
	}
}

// TestDemoCallbackOnlyInDev: outside --dev there is no demo application
// and no /callback.
func TestDemoCallbackOnlyInDev(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withDelivery("127.0.0.1:1", "http://127.0.0.1:1"))
	if e.srv.Demo != nil {
		t.Fatal("a demo application outside --dev")
	}
	r := e.do("GET", "/callback?code=abc&state=x", "", nil, nil)
	if r.status != http.StatusNotFound || strings.Contains(string(r.raw), "Logged in") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// TestDemoWalkthrough: the README's walkthrough over HTTP: /authorize for
// the demo application with <issuer>callback, the hosted page, the code
// from the dev capture, and the callback page shows a code that is still
// unused (the page does not exchange it) and exchanges as its curl says.
func TestDemoWalkthrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	demo := e.srv.Demo
	cb := e.issuer + "callback"
	back := b.loginOnPage(t, b.get(authorizeURL(demo.ClientID, cb, "code", url.Values{"state": {"x"}})), "walk@example.com")
	if back.status != http.StatusFound || back.loc == nil || !strings.HasPrefix(back.loc.String(), cb+"?") {
		t.Fatalf("after the login: %d %v %s", back.status, back.loc, clipBody(back.body))
	}
	code := back.loc.Query().Get("code")
	page := b.get(back.loc.String())
	if page.status != 200 || !strings.Contains(page.body, "Logged in") || !strings.Contains(page.body, `id="code">`+code+`<`) {
		t.Fatalf("callback page: %d %s", page.status, clipBody(page.body))
	}
	tok := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {demo.ClientID},
		"client_secret": {demo.ClientSecret}, "code": {code}, "redirect_uri": {cb}}, nil)
	if tok.status != 200 || tok.str("access_token") == "" {
		t.Fatalf("exchange: %d %s", tok.status, tok.raw)
	}
}
