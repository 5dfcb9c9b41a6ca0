package loginpage

import (
	"math"
	"regexp"
	"strconv"
)

// Brand is a page's branding: colours (#rgb or #rrggbb) and https URLs,
// each "" for Latchkey's own look. The page's style sheet reads colours
// only through the methods below, which fall back to the defaults for
// anything that is not a plain hex colour, so no value can add CSS.
type Brand struct {
	Primary, Background          string
	LogoURL, FaviconURL, FontURL string
}

// Latchkey's own colours.
const (
	defaultPrimary    = "#2753b8"
	defaultBackground = "#f4f5f7"
	cardColor         = "#ffffff" // the background of the page's content
)

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

func colorOr(c, def string) string {
	if hexColor.MatchString(c) {
		return c
	}
	return def
}

// PrimaryColor is the colour of buttons.
func (b Brand) PrimaryColor() string { return colorOr(b.Primary, defaultPrimary) }

// OnPrimary is the text colour on the buttons: black or white, whichever
// contrasts more with the primary colour.
func (b Brand) OnPrimary() string {
	p := b.PrimaryColor()
	if contrast(p, "#000000") > contrast(p, "#ffffff") {
		return "#000000"
	}
	return "#ffffff"
}

// LinkColor is the colour of links and link buttons on the page's white
// content: the primary colour when it is readable there (WCAG AA, 4.5:1),
// Latchkey's own otherwise.
func (b Brand) LinkColor() string {
	if p := b.PrimaryColor(); contrast(p, cardColor) >= 4.5 {
		return p
	}
	return defaultPrimary
}

// BackgroundColor is the page's background, around its content.
func (b Brand) BackgroundColor() string { return colorOr(b.Background, defaultBackground) }

// contrast is the WCAG contrast ratio of two hex colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the WCAG relative luminance of a #rgb or #rrggbb colour.
func luminance(c string) float64 {
	h := c[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		l += w * s
	}
	return l
}
