package console

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/logs?q=type:s":  "/admin/logs?q=type:s",
		"/admin/":               "/admin/",
		"":                      "/admin/",
		"/admin":                "/admin/",
		"https://evil.example":  "/admin/",
		"//evil.example/admin/": "/admin/",
		"/admin/\\evil":         "/admin/",
		"/admin/\r\nx":          "/admin/",
		"/authorize?x=1":        "/admin/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSafeReturn: whatever the return parameter holds, the console only
// sends the browser to one of its own paths.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/admin/x", "//x", "/admin/../../", "https://x/admin/", "/admin/\\\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturn(s)
		if !strings.HasPrefix(got, "/admin/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeReturn(%q) = %q", s, got)
		}
	})
}

func TestRoleScopes(t *testing.T) {
	c := &Console{d: Deps{Scopes: []string{"read:clients", "update:clients", "delete:users", "read:tenant_settings",
		"update:tenant_settings", "create:signing_keys", "read:logs"}}}
	for _, tt := range []struct {
		role string
		want []string
	}{
		{"viewer", []string{"read:clients", "read:tenant_settings", "read:logs"}},
		{"editor", []string{"read:clients", "update:clients", "delete:users", "read:tenant_settings", "read:logs"}},
		{"owner", c.d.Scopes},
		{"", []string{"read:clients", "read:tenant_settings", "read:logs"}},
	} {
		if got := c.scopes(tt.role); !slices.Equal(got, tt.want) {
			t.Errorf("scopes(%q) = %v, want %v", tt.role, got, tt.want)
		}
	}
}

func TestChart(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bs := []bucket{{Start: start, Logins: 10, Failures: 2}, {Start: start.Add(time.Hour), Logins: 0}, {Start: start.Add(2 * time.Hour), Logins: 5}}
	svg := string(chart(`Logins <"per" hour>`, bs, func(t time.Time) string { return t.Format("15:04") }))
	if n := strings.Count(svg, `class="bar"`); n != 3 {
		t.Errorf("%d bars", n)
	}
	if !strings.Contains(svg, `aria-label="Logins &lt;&#34;per&#34; hour&gt;"`) || strings.Contains(svg, `<"per"`) {
		t.Errorf("the title is not escaped: %s", svg)
	}
	if !strings.Contains(svg, "<title>00:00: 10 logins</title>") || !strings.Contains(svg, "<title>00:00: 2 failures</title>") {
		t.Errorf("bar titles: %s", svg)
	}
}

func TestMarkError(t *testing.T) {
	for _, tt := range []struct{ query, msg, before, at, after string }{
		{"type:s AND AND x", "at position 11: expected a term, found AND", "type:s AND ", "A", "ND x"},
		{"type:(s OR", "at position 10: unexpected end of query", "type:(s OR", " ", ""},
		{"é:x", "at position 0: unknown field", "", "é", ":x"},
		{"x", "no position here", "", "", ""},
		{"x", "at position 99: out of range", "", "", ""},
	} {
		d := logsData{Query: tt.query}
		d.markError(tt.msg)
		if d.Before != tt.before || d.At != tt.at || d.After != tt.after {
			t.Errorf("%q %q: %q|%q|%q", tt.query, tt.msg, d.Before, d.At, d.After)
		}
	}
}

// TestLinksEscapedOnce: a search in a link is escaped once (html/template
// escapes a value in a URL's query itself).
func TestLinksEscapedOnce(t *testing.T) {
	c := New(Deps{})
	var b strings.Builder
	d := logsData{Query: "type:s AND ip:1.2.3.4", Shortcuts: logShortcuts, Page: 1, More: true}
	if err := c.pages.ExecuteTemplate(&b, "logs.html", page{Title: "Logs", Data: d}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if strings.Contains(html, "%25") {
		t.Errorf("a link is escaped twice: %s", html)
	}
	if !strings.Contains(html, `href="/admin/logs?q=type%3adepnote%20AND%20description%3a%2apasswordless%2a"`) &&
		!strings.Contains(html, `href="/admin/logs?q=type%3Adepnote%20AND%20description%3A%2Apasswordless%2A"`) {
		t.Errorf("the depnote shortcut: %s", html)
	}
}
