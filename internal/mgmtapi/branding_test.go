package mgmtapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/latchkey/latchkey/internal/store"
)

const brandingPath = "/api/v2/branding"

// TestBranding: PATCH merges the fields given, null clears one, GET shows
// what is stored, and the settings document keeps it.
func TestBranding(t *testing.T) {
	t.Parallel()
	a, st := usersAPI(t)
	cache := &countingCache{}
	a.Cache = cache
	h := a.Handler()

	if r := call(t, h, "GET", brandingPath, "read:branding", ""); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("unset branding: %d %s", r.status, r.raw)
	}
	steps := []struct {
		name, body string
		want       map[string]any
	}{
		{"everything", `{"colors":{"primary":"#0059d6","page_background":"#000"},"logo_url":"https://cdn.example.com/logo.png",
			"favicon_url":"https://cdn.example.com/favicon.ico","font":{"url":"https://fonts.example.com/brand.woff2"}}`,
			map[string]any{"colors": map[string]any{"primary": "#0059d6", "page_background": "#000"}, "logo_url": "https://cdn.example.com/logo.png",
				"favicon_url": "https://cdn.example.com/favicon.ico", "font": map[string]any{"url": "https://fonts.example.com/brand.woff2"}}},
		{"one colour", `{"colors":{"primary":"#ABCDEF"}}`,
			map[string]any{"colors": map[string]any{"primary": "#ABCDEF", "page_background": "#000"}, "logo_url": "https://cdn.example.com/logo.png",
				"favicon_url": "https://cdn.example.com/favicon.ico", "font": map[string]any{"url": "https://fonts.example.com/brand.woff2"}}},
		{"nulls clear", `{"logo_url":null,"font":null,"colors":{"page_background":null}}`,
			map[string]any{"colors": map[string]any{"primary": "#ABCDEF"}, "favicon_url": "https://cdn.example.com/favicon.ico"}},
	}
	for _, s := range steps {
		r := call(t, h, "PATCH", brandingPath, "update:branding", s.body)
		if d := cmp.Diff(s.want, r.body); r.status != 200 || d != "" {
			t.Fatalf("%s: %d (-want +got):\n%s", s.name, r.status, d)
		}
		if got := call(t, h, "GET", brandingPath, "read:branding", ""); cmp.Diff(s.want, got.body) != "" {
			t.Errorf("%s: GET after PATCH: %s", s.name, got.raw)
		}
	}
	got, err := st.GetSettings(t.Context())
	want := store.Branding{Colors: store.BrandingColors{Primary: "#ABCDEF"}, FaviconURL: "https://cdn.example.com/favicon.ico"}
	if err != nil || got.Branding != want {
		t.Errorf("stored %+v, %v; want %+v", got.Branding, err, want)
	}
	if cache.count() != len(steps) {
		t.Errorf("%d invalidations, want %d", cache.count(), len(steps))
	}
}

// TestBrandingRejects: nothing but https URLs and #rgb/#rrggbb colours is
// stored, so nothing can reach the page's style sheet or its CSP.
func TestBrandingRejects(t *testing.T) {
	t.Parallel()
	a, st := usersAPI(t)
	h := a.Handler()
	for _, tc := range []struct{ name, body, want string }{
		{"http logo", `{"logo_url":"http://cdn.example.com/logo.png"}`, "on property logo_url"},
		{"javascript favicon", `{"favicon_url":"javascript:alert(1)"}`, "on property favicon_url"},
		{"data logo", `{"logo_url":"data:image/png;base64,AAAA"}`, "on property logo_url"},
		{"relative", `{"logo_url":"/logo.png"}`, "on property logo_url"},
		{"quote in URL", `{"font":{"url":"https://x.example/a\"),url(evil"}}`, "on property font.url"},
		{"user info", `{"logo_url":"https://u:p@x.example/logo.png"}`, "on property logo_url"},
		{"named colour", `{"colors":{"primary":"red"}}`, "on property colors.primary"},
		{"CSS injection", `{"colors":{"page_background":"#fff;background:url(https://evil.example/)"}}`, "on property colors.page_background"},
		{"four digits", `{"colors":{"primary":"#abcd"}}`, "on property colors.primary"},
		{"number", `{"colors":{"primary":123}}`, "Expected type string but found type integer"},
		{"unknown field", `{"logo":"https://x.example/l.png"}`, "Additional properties not allowed: logo"},
		{"unknown colour", `{"colors":{"secondary":"#fff"}}`, "Additional properties not allowed: secondary' on property colors"},
		{"gradient background", `{"colors":{"page_background":{"type":"linear-gradient"}}}`, "Expected type string but found type object"},
	} {
		r := call(t, h, "PATCH", brandingPath, "update:branding", tc.body)
		if msg, _ := r.body["message"].(string); r.status != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, r.status, r.raw, tc.want)
		}
	}
	if s, _ := st.GetSettings(t.Context()); s.Branding != (store.Branding{}) {
		t.Errorf("refused patches stored %+v", s.Branding)
	}
	if r := call(t, h, "PATCH", brandingPath, "read:branding", `{}`); r.status != 403 {
		t.Errorf("PATCH with read:branding only: %d", r.status)
	}
}
