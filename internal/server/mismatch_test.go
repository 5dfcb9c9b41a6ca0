package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCallbackMismatchPage: a redirect_uri that is not one of the
// application's callbacks gets a 400 page (never a redirect) that shows the
// URL received, escaped and clipped, names the application and tells the
// operator how to register it; and one f event as Auth0 writes it
// ("Callback URL mismatch. URL is not in the list of allowed callback URLs",
// details.error.type callback-url-mismatch, details.qs.redirect_uri).
func TestCallbackMismatchPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	long := "https://app.example.com/" + strings.Repeat("a", 3000)
	for _, tc := range []struct {
		name, uri string
		shown     string // how the page shows it (escaped)
		logged    string // details.qs.redirect_uri
		command   bool   // the page shows the command that registers it
	}{
		{"other host", "https://evil.example.com/callback", "https://evil.example.com/callback", "https://evil.example.com/callback", true},
		{"trailing slash", webCallback + "/", webCallback + "/", webCallback + "/", true},
		{"hostile", `https://app.example.com/cb"><script>alert(1)</script>'`,
			"https://app.example.com/cb&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39;",
			`https://app.example.com/cb"><script>alert(1)</script>'`, true},
		{"oversized", long, long[:256] + "…", long[:1024] + "…", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.countLogs("type:f AND client_id:" + webID)
			p := b.get(authorizeURL(webID, tc.uri, "code", map[string][]string{"state": {"s1"}}))
			if p.status != http.StatusBadRequest || p.loc != nil || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d Location=%v %s; want a 400 page", p.status, p.loc, clipBody(p.body))
			}
			for _, s := range []string{"Callback URL mismatch", "The provided redirect_uri is not in the list of allowed callback URLs.",
				`id="redirect-uri">` + tc.shown + "<", "Web (", `id="client-id">` + webID + "<", "Allowed Callback URLs"} {
				if !strings.Contains(p.body, s) {
					t.Errorf("no %q in %s", s, p.body)
				}
			}
			if strings.Contains(p.body, "<script") {
				t.Errorf("unescaped script in %s", p.body)
			}
			if got := strings.Contains(p.body, "latchkey client update &#39;"+webID+"&#39; --callbacks"); got != tc.command {
				t.Errorf("command shown %v, want %v: %s", got, tc.command, p.body)
			}
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q", csp)
			}

			if n := e.countLogs("type:f AND client_id:" + webID); n != before+1 {
				t.Fatalf("%d f events after the request, %d before: want one more", n, before)
			}
			ev := e.searchLogs("type:f AND client_id:"+webID, nil)[0] // newest first
			for k, want := range map[string]string{
				"type": "f", "client_id": webID, "client_name": "Web", "ip": "127.0.0.1",
				"details.qs.redirect_uri":       tc.logged,
				"details.qs.client_id":          webID,
				"details.qs.state":              "s1",
				"details.error.type":            "callback-url-mismatch",
				"details.error.payload.attempt": tc.logged,
				"details.error.payload.name":    "CallbackMismatchError",
				"details.error.payload.code":    "unauthorized_client",
			} {
				if got := str(ev, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			described := tc.uri
			if len(described) > 256 {
				described = described[:256] + "…"
			}
			wantDesc := "Callback URL mismatch. " + described + " is not in the list of allowed callback URLs"
			if got := str(ev, "description"); got != wantDesc {
				t.Errorf("description %q, want %q", got, wantDesc)
			}
		})
	}

	// An unknown client stays a page without an event; a missing
	// redirect_uri is not a mismatch.
	before := e.countLogs("type:f")
	for _, path := range []string{
		authorizeURL("nobody", "https://evil.example.com/callback", "code", nil),
		"/authorize?client_id=" + webID + "&response_type=code",
	} {
		if p := b.get(path); p.status != http.StatusBadRequest || p.loc != nil || strings.Contains(p.body, `id="redirect-uri"`) {
			t.Errorf("%s: %d %v %s", path, p.status, p.loc, clipBody(p.body))
		}
	}
	if n := e.countLogs("type:f"); n != before {
		t.Errorf("%d f events, want %d", n, before)
	}
}
