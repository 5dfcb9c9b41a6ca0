package loginpage

import (
	"html"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryKeyHasEnglish: every key the templates and the handlers ask for
// is in the English table (a missing one would show its key).
func TestEveryKeyHasEnglish(t *testing.T) {
	re := regexp.MustCompile(`(?:\{\{t |T\([a-z]+, )"([a-z.]+)"`)
	var sources []string
	for _, dir := range []string{"templates", "../authapi"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, string(b))
		}
	}
	n := 0
	for _, src := range sources {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			n++
			if _, ok := texts["en"][m[1]]; !ok {
				t.Errorf("no English text for %q", m[1])
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d uses of strings: the pattern is stale", n)
	}
}

// TestCataloguesComplete: every language has exactly the English keys,
// no empty text, and the same {placeholders} in each text.
func TestCataloguesComplete(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"en", "de", "fr", "es", "pt", "ja"} {
		if _, ok := texts[want]; !ok {
			t.Errorf("no %s catalogue", want)
		}
	}
	ph := regexp.MustCompile(`\{[a-z]+\}`)
	for lang, cat := range texts {
		for key, en := range texts["en"] {
			s, ok := cat[key]
			if !ok {
				t.Errorf("%s: no text for %q", lang, key)
				continue
			}
			if s == "" {
				t.Errorf("%s: empty text for %q", lang, key)
			}
			if got, want := ph.FindAllString(s, -1), ph.FindAllString(en, -1); !slices.Equal(sorted(got), sorted(want)) {
				t.Errorf("%s %q: placeholders %v, English has %v", lang, key, got, want)
			}
		}
		for key := range cat {
			if _, ok := texts["en"][key]; !ok {
				t.Errorf("%s: extra key %q (not in English)", lang, key)
			}
		}
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestNegotiate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ui, al, want string }{
		{"", "", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"", "nl-NL, fr;q=0.5, en;q=0.4", "fr"},
		{"", "en;q=0.2, ja;q=0.9", "ja"},
		{"", "pt-BR", "pt"},
		{"", "es;q=0, fr;q=0.1", "fr"},
		{"", "*", "en"},
		{"", "de;q=abc, es", "es"},
		{"", "nl, sv", "en"},
		{"fr-CA es", "de", "fr"},
		{"nl es", "de", "es"},
		{"nl", "ja", "ja"},
		{"JA", "", "ja"},
	} {
		if got := Negotiate(tc.ui, tc.al); got != tc.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tc.ui, tc.al, got, tc.want)
		}
	}
}

// TestPagesInEveryLanguage: the hosted page renders in each language,
// with <html lang> set and its texts in that language.
func TestPagesInEveryLanguage(t *testing.T) {
	t.Parallel()
	for lang := range texts {
		var buf strings.Builder
		err := RenderLogin(&buf, Login{Lang: lang, AppName: "Acme", Step: "identifier", Connection: "email"})
		if err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		for _, want := range []string{`<html lang="` + lang + `">`, html.EscapeString(T(lang, "email.label")), html.EscapeString(T(lang, "heading", "app", "Acme"))} {
			if !strings.Contains(page, want) {
				t.Errorf("%s page lacks %s", lang, want)
			}
		}
	}
}
