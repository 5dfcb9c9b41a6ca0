package passwordless

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "a@example.com", "a@example.com", true},
		{"lower-cased", "Alice.Smith+tag@Example.COM", "alice.smith+tag@example.com", true},
		{"not an address", "not-an-email", "", false},
		{"no dot in domain", "a@localhost", "", false},
		{"empty label", "a@.com", "", false},
		{"trailing dot", "a@example.", "", false},
		{"display name", "Alice <a@example.com>", "", false},
		{"space", "a b@example.com", "", false},
		{"no local part", "@example.com", "", false},
		{"two @", "a@@example.com", "", false},
		{"empty", "", "", false},
		{"unicode domain", "a@Bücher.de", "a@bücher.de", true},
		{"punycode domain", "a@xn--bcher-kva.de", "a@bücher.de", true},
		{"unicode local part", "jörg@example.com", "jörg@example.com", true},
		{"Kelvin sign in local part", "\u212Aate@example.com", "", false},
		{"Kelvin sign in domain", "a@\u212Aelvin.com", "", false},
		{"fullwidth letter", "a@ｅxample.com", "", false},
		{"ideographic full stop", "a@example\u3002com", "", false},
		{"zero-width space in domain", "a@exa\u200bmple.com", "", false},
		{"zero-width joiner in local part", "a\u200db@example.com", "", false},
		{"soft hyphen", "a@exam\u00adple.com", "", false},
		{"bidi override", "a@\u202eexample.com", "", false},
		{"variation selector", "a\ufe0f@example.com", "", false},
		{"BOM", "\ufeffa@example.com", "", false},
		{"Hangul filler", "a\u3164@example.com", "", false},
		{"control", "a\x01@example.com", "", false},
		{"invalid UTF-8", "a\xff@example.com", "", false},
		{"leading hyphen label", "a@-example.com", "", false},
		{"label too long", "a@" + strings.Repeat("x", 64) + ".com", "", false},
		{"disallowed code point in domain", "a@ex\u2488ample.com", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: NormalizeEmail(%q) = %q, %v; want %q ok=%v", tt.name, tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzNormalizeEmail: whatever the input, a normalised address is valid
// UTF-8, normalises to itself (one address, one form), and holds no
// character that was refused in the input.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", "Alice@Example.COM", "a@bücher.de", "a@xn--bcher-kva.de",
		"\u212Aate@example.com", "a@exa\u200bmple.com", "a\"b@example.com", "\"a b\"@example.com", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(out) || !strings.Contains(out, "@") {
			t.Fatalf("NormalizeEmail(%q) = %q", in, out)
		}
		again, err := NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", in, out, out, again, err)
		}
	})
}
