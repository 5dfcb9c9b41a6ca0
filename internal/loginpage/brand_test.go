package loginpage

import (
	"bytes"
	"strings"
	"testing"
)

// TestBrandColors: the colours the style sheet gets, defaults for anything
// that is not a hex colour, and readable text on buttons and links.
func TestBrandColors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                           string
		b                              Brand
		primary, onPrimary, link, page string
	}{
		{"defaults", Brand{}, "#2753b8", "#ffffff", "#2753b8", "#f4f5f7"},
		{"dark primary", Brand{Primary: "#003366", Background: "#000"}, "#003366", "#ffffff", "#003366", "#000"},
		{"light primary", Brand{Primary: "#ffeb3b"}, "#ffeb3b", "#000000", "#2753b8", "#f4f5f7"},
		{"short form", Brand{Primary: "#FC0"}, "#FC0", "#000000", "#2753b8", "#f4f5f7"},
		{"not a colour", Brand{Primary: "red;}body{display:none", Background: "url(x)"}, "#2753b8", "#ffffff", "#2753b8", "#f4f5f7"},
	} {
		if got := [4]string{tc.b.PrimaryColor(), tc.b.OnPrimary(), tc.b.LinkColor(), tc.b.BackgroundColor()}; got != [4]string{tc.primary, tc.onPrimary, tc.link, tc.page} {
			t.Errorf("%s: %v, want %v", tc.name, got, [4]string{tc.primary, tc.onPrimary, tc.link, tc.page})
		}
	}
	if c := contrast("#000000", "#ffffff"); c < 20.9 || c > 21.1 {
		t.Errorf("black on white: %v, want 21", c)
	}
}

// TestRenderBrand: the hosted page shows the logo, favicon, font and
// colours it is given, and nothing of a brand when it has none.
func TestRenderBrand(t *testing.T) {
	t.Parallel()
	page := func(b Brand) string {
		var buf bytes.Buffer
		if err := RenderLogin(&buf, Login{Lang: "en", Nonce: "n", AppName: "Acme", Step: "identifier", Connection: "email", Brand: b}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	branded := page(Brand{Primary: "#0059d6", Background: "#101820", LogoURL: "https://cdn.example.com/logo.png?v=1&x=2",
		FaviconURL: "https://cdn.example.com/favicon.ico", FontURL: "https://fonts.example.com/brand.woff2"})
	for _, want := range []string{
		`<img class="logo" src="https://cdn.example.com/logo.png?v=1&amp;x=2" alt="">`,
		`<link rel="icon" href="https://cdn.example.com/favicon.ico">`,
		`@font-face{font-family:brand;src:url("https://fonts.example.com/brand.woff2")}`,
		`--primary:#0059d6;`, `--page:#101820`, `font:16px/1.5 brand,system-ui`,
	} {
		if !strings.Contains(branded, want) {
			t.Errorf("branded page lacks %s:\n%s", want, branded)
		}
	}
	plain := page(Brand{})
	for _, unwanted := range []string{"<img", `rel="icon"`, "@font-face", "brand,"} {
		if strings.Contains(plain, unwanted) {
			t.Errorf("unbranded page has %s", unwanted)
		}
	}
	if !strings.Contains(plain, "--primary:#2753b8;") {
		t.Errorf("unbranded page lacks the default primary colour")
	}
	// A font URL that got past the checks cannot leave its CSS string.
	if evil := page(Brand{FontURL: `https://x.example/a"),url(https://evil.example/`}); strings.Contains(evil, `url(https://evil`) {
		t.Errorf("font URL broke out of its string:\n%s", evil)
	}
}
