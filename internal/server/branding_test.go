package server_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/store"
)

// imageServer serves a small PNG at every path, over TLS on 127.0.0.1: a
// CDN for branding assets.
func imageServer(t *testing.T) *httptest.Server {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		img.Set(x, 0, color.RGBA{200, 0, 0, 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(buf.Bytes())
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's first, refused handshake
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// TestBrowserBranding: branding set through the Management API shows on
// the hosted page in Chromium: the logo loads from its origin, buttons and
// the page take the colours, and the page's CSP still refuses images from
// any other origin.
func TestBrowserBranding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newAppServer(t, e)
	cdn, elsewhere := imageServer(t), imageServer(t)
	r := e.mgmt("PATCH", "branding", e.mgmtToken("update:branding"), map[string]any{
		"colors":   map[string]any{"primary": "#0059d6", "page_background": "#102030"},
		"logo_url": cdn.URL + "/logo.png", "favicon_url": cdn.URL + "/favicon.png",
	})
	if r.status != 200 {
		t.Fatalf("PATCH branding: %d %s", r.status, r.raw)
	}
	authz := e.issuer + strings.TrimPrefix(authorizeURL(browserWeb, app.origin+"/callback", "code",
		url.Values{"state": {"app-state"}, "scope": {"openid email"}}), "/")
	loadImage := func(src string) string {
		return `new Promise(done => { const i = new Image(); i.onload = () => done("loaded"); i.onerror = () => done("refused"); i.src = ` +
			"`" + src + "`" + `; })`
	}
	res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
		browsertest.Goto(authz),
		// Evaluated, not polled: the page's CSP forbids the string evaluation waitForFunction does.
		browsertest.Eval(`new Promise(done => { const i = document.querySelector("img.logo");
  if (i.complete) { done(i.naturalWidth); } else { i.onload = () => done(i.naturalWidth); i.onerror = () => done(0); } })`),
		browsertest.Eval(`getComputedStyle(document.querySelector("button[value=start]")).backgroundColor`),
		browsertest.Eval(`getComputedStyle(document.querySelector("button[value=start]")).color`),
		browsertest.Eval(`getComputedStyle(document.body).backgroundColor`),
		browsertest.Eval(`document.querySelector("link[rel=icon]").href`),
		browsertest.Eval(loadImage(cdn.URL + "/other.png")),
		browsertest.Eval(loadImage(elsewhere.URL + "/logo.png")),
	}})
	if w := res.String(1); w != "4" {
		t.Errorf("logo width %s, want 4: the logo did not load", w)
	}
	for i, want := range map[int]string{2: "rgb(0, 89, 214)", 3: "rgb(255, 255, 255)", 4: "rgb(16, 32, 48)",
		5: cdn.URL + "/favicon.png", 6: "loaded", 7: "refused"} {
		if got := res.String(i); got != want {
			t.Errorf("step %d: %q, want %q", i, got, want)
		}
	}
}

// TestBrandedErrorPage: the pages a login can end on (here an expired
// login) carry the branding too, and their CSP allows its logo.
func TestBrandedErrorPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.updateSettings(func(s *store.TenantSettings) {
		s.Branding = store.Branding{LogoURL: "https://cdn.example.com/logo.png", Colors: store.BrandingColors{Primary: "#0059d6"}}
	})
	p := e.browser().get("/login?state=gone")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `<img class="logo" src="https://cdn.example.com/logo.png" alt="">`) ||
		!strings.Contains(p.body, "--primary:#0059d6;") {
		t.Fatalf("expired login page: %d %s", p.status, clipBody(p.body))
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com;") {
		t.Errorf("CSP %s", csp)
	}
}
