package loginpage

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// texts holds every string the pages show, by language: one catalogue per
// language, each in its own file (catalog_xx.go), all with the same keys.
// English is the fallback. Add a language by adding a catalogue here.
var texts = map[string]map[string]string{
	"en": en,
	"de": de,
	"es": es,
	"fr": fr,
	"ja": ja,
	"pt": pt,
}

// T returns the text key in lang (a BCP 47 tag; its primary subtag
// counts), with {name} placeholders replaced from args (name, value pairs).
func T(lang, key string, args ...string) string {
	s, ok := table(lang)[key]
	if !ok {
		if s, ok = texts["en"][key]; !ok {
			s = key // a missing string shows, rather than vanishing
		}
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// Language is the supported language closest to the tag ("en" otherwise).
func Language(tag string) string {
	primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
	if _, ok := texts[primary]; ok {
		return primary
	}
	return "en"
}

// supported is the catalogue of tag's primary subtag, if there is one.
func supported(tag string) (string, bool) {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	_, ok := texts[primary]
	return primary, ok
}

// Negotiate picks a page's language: the first of uiLocales (the
// authorization request's ui_locales, space-separated tags in order of
// preference) that has a catalogue, else the Accept-Language tag of the
// highest weight that has one (first listed among equals), else English.
func Negotiate(uiLocales, acceptLanguage string) string {
	for _, tag := range strings.Fields(uiLocales) {
		if l, ok := supported(tag); ok {
			return l
		}
	}
	type choice struct {
		tag string
		q   float64
	}
	var choices []choice
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(part, ";")
		c := choice{strings.TrimSpace(tag), 1}
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || q < 0 || q > 1 {
				continue
			}
			c.q = q
		}
		if c.tag != "" && c.tag != "*" && c.q > 0 {
			choices = append(choices, c)
		}
	}
	slices.SortStableFunc(choices, func(a, b choice) int { return cmp.Compare(b.q, a.q) })
	for _, c := range choices {
		if l, ok := supported(c.tag); ok {
			return l
		}
	}
	return "en"
}

func table(lang string) map[string]string { return texts[Language(lang)] }
