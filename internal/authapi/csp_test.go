package authapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func TestCSPSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ callback, want string }{
		{"https://App.Example.com/callback?x=1", " https://app.example.com"},
		{"http://127.0.0.1:3000/cb", " http://127.0.0.1:3000"},
		{"https://[::1]:8443/cb", " https://[::1]:8443"},
		{"com.example.app://login/callback", " com.example.app:"},
		{"", ""},
		{"/relative", ""},
		{"https:///nohost", ""},
		{"mailto:a@b", ""},
		{"https://a.example.com;script-src/x", ""},
		{"https://a.example.com%20*/x", ""},
	} {
		if got := cspSource(tc.callback); got != tc.want {
			t.Errorf("cspSource(%q) = %q, want %q", tc.callback, got, tc.want)
		}
	}
}

// TestBrandedCSP: a branded page's CSP adds the https origins of its logo
// and favicon to img-src and of its font to font-src, and nothing for a
// value that is not a checked https URL.
func TestBrandedCSP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		b        store.Branding
		img, fnt string // "" for no font-src
	}{
		{"unbranded", store.Branding{}, "img-src 'self' data:;", ""},
		{"logo and favicon", store.Branding{LogoURL: "https://CDN.example.com/a/logo.png?v=2", FaviconURL: "https://icons.example.com:8443/f.ico"},
			"img-src 'self' data: https://cdn.example.com https://icons.example.com:8443;", ""},
		{"one origin once", store.Branding{LogoURL: "https://cdn.example.com/logo.png", FaviconURL: "https://cdn.example.com/favicon.ico"},
			"img-src 'self' data: https://cdn.example.com;", ""},
		{"font", store.Branding{Font: store.BrandingFont{URL: "https://fonts.example.com/brand.woff2"}},
			"img-src 'self' data:;", "font-src https://fonts.example.com;"},
		{"unchecked values add nothing", store.Branding{LogoURL: "http://cdn.example.com/logo.png", FaviconURL: "https://x.example.com; script-src *",
			Font: store.BrandingFont{URL: "data:font/woff2;base64,AAAA"}}, "img-src 'self' data:;", ""},
	} {
		w := httptest.NewRecorder()
		pageHeaders(w, "n0nce", false, "https://app.example.com/cb", tc.b)
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, tc.img) {
			t.Errorf("%s: %s lacks %s", tc.name, csp, tc.img)
		}
		if got := strings.Contains(csp, "font-src"); got != (tc.fnt != "") || (tc.fnt != "" && !strings.Contains(csp, tc.fnt)) {
			t.Errorf("%s: %s, want font-src %q", tc.name, csp, tc.fnt)
		}
		if !strings.Contains(csp, "form-action 'self' https://app.example.com;") || !strings.HasPrefix(csp, "default-src 'none';") {
			t.Errorf("%s: %s", tc.name, csp)
		}
	}
}
