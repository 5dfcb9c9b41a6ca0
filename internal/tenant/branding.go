package tenant

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// colorPattern is the only colour form branding accepts: #rgb or #rrggbb.
// Nothing else reaches the page's style sheet, so no value can add CSS.
var colorPattern = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// MaxBrandingURL bounds a branding URL.
const MaxBrandingURL = 2048

// CheckColor checks a branding colour: "" (unset), #rgb or #rrggbb.
func CheckColor(s string) error {
	if s != "" && !colorPattern.MatchString(s) {
		return fmt.Errorf("%q is not a colour of the form #rgb or #rrggbb", s)
	}
	return nil
}

// CheckHTTPSURL checks a branding URL: "" (unset) or an absolute https URL
// with a host, no user information and nothing a style sheet or a CSP
// source could mistake for syntax (quotes, backslashes, spaces, controls).
func CheckHTTPSURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxBrandingURL {
		return fmt.Errorf("%d bytes, at most %d", len(s), MaxBrandingURL)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not an https URL", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r > 0x7e || strings.ContainsRune(`"'\()<>;,`+"`", r)
	}) {
		return fmt.Errorf("%q holds characters a URL must percent-encode", s)
	}
	return nil
}

// Origin is the scheme://host[:port] of a checked branding URL ("" for
// none), in lower case: the CSP source that allows it.
func Origin(s string) string {
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// CheckBranding checks the branding settings; the error names the field.
func CheckBranding(b store.Branding) error {
	for _, c := range []struct{ name, v string }{
		{"colors.primary", b.Colors.Primary}, {"colors.page_background", b.Colors.PageBackground},
	} {
		if err := CheckColor(c.v); err != nil {
			return fmt.Errorf("branding.%s: %w", c.name, err)
		}
	}
	for _, u := range []struct{ name, v string }{
		{"logo_url", b.LogoURL}, {"favicon_url", b.FaviconURL}, {"font.url", b.Font.URL},
	} {
		if err := CheckHTTPSURL(u.v); err != nil {
			return fmt.Errorf("branding.%s: %w", u.name, err)
		}
	}
	return nil
}
