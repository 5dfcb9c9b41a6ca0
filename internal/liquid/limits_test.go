package liquid

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The regular expressions of Shopify Liquid's strip_html, which stripHTML
// replaces with a linear scan.
var (
	refHTMLBlocks = regexp.MustCompile(`(?is)<script.*?</script>|<!--.*?-->|<style.*?</style>`)
	refHTMLTags   = regexp.MustCompile(`(?s)<.*?>`)
)

func TestStripHTMLMatchesLiquid(t *testing.T) {
	pieces := []string{"<", ">", "a", " ", "\n", "<script", "<SCRIPT", "<ScRiPt x>", "</script>", "</SCRIPT>",
		"<style", "</style>", "</Style>", "<!--", "-->", "--", "-", "!", "<!-->", "<!--->", "é", "<b>", "</b>"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want := refHTMLTags.ReplaceAllString(refHTMLBlocks.ReplaceAllString(s, ""), "")
		if got := stripHTML(s); got != want {
			t.Fatalf("stripHTML(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestWorstCases renders templates built to be slow, at the limits. Each
// must render or fail with a *RenderError, within maxOutput: work is
// linear in the template and bounded by maxWork, which the renderer counts
// (a count, not a clock: "work limit" in liquid_test.go checks it).
func TestWorstCases(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	near := maxOutput - 1000
	vars := map[string]any{
		"scripts": strings.Repeat("<script <!--a-->", near/16),
		"lts":     strings.Repeat("<", near),
		"amps":    strings.Repeat("&", near/6),
		"refs":    strings.Repeat("&a", near/2),
		"nls":     strings.Repeat("\n", near/7),
		"as":      strings.Repeat("a", near),
		"pattern": strings.Repeat("a", 1000) + "b",
		"utf8":    strings.Repeat("é", near/2),
	}
	filterCalls := []string{
		"upcase", "downcase", "capitalize", "default: 'x'", "escape", "escape_once", "strip", "lstrip",
		"rstrip", "append: as", "prepend: as", "replace: 'a', 'bb'", "replace: '', 'x'", "replace_first: 'a', 'b'",
		"remove: 'a'", "remove_first: 'a'", "size", "truncate: 100000", "url_encode", "url_decode",
		"newline_to_br", "strip_html", "strip_newlines", "plus: 1", "minus: 1", "times: 2", "divided_by: 3",
	}
	var tpls []string
	for _, f := range filterCalls {
		for name := range vars {
			tpls = append(tpls, strings.Repeat("{% assign x = "+name+" | "+f+" %}", 100))
		}
	}
	tpls = append(tpls,
		strings.Repeat("{% if as contains pattern %}{% endif %}", 1000),
		strings.Repeat("{% if as == as %}{% endif %}{% if as < as %}{% endif %}", 500),
		strings.Repeat("{% case as %}{% when as, as, as %}{% endcase %}", 500),
		strings.Repeat("{{ as.size }}", 1000),
		"{% assign x = 'ab' %}"+strings.Repeat("{% assign x = x | append: x %}", 40),
		"{% assign x = 'ab' %}"+strings.Repeat("{% assign x = x | replace: 'a', 'aa' %}", 40),
		strings.Repeat("{% if t and t and t or f %}x{% endif %}", maxSource/40),
		strings.Repeat("{{ 'x' | append: 'y' | upcase | size | plus: 1 }}", maxSource/50),
		strings.Repeat("{%if t%}", maxDepth)+strings.Repeat("{{ lts | strip_html }}", 100)+strings.Repeat("{%endif%}", maxDepth),
	)
	for _, src := range tpls {
		if len(src) > maxSource {
			t.Fatalf("test template of %d bytes is over the limit", len(src))
		}
		tpl, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", clip(src), err)
		}
		out, err := tpl.Render(vars)
		if err != nil {
			if _, ok := err.(*RenderError); !ok {
				t.Fatalf("Render(%q): %T %v", clip(src), err, err)
			}
		}
		if len(out) > maxOutput {
			t.Fatalf("Render(%q): %d bytes", clip(src), len(out))
		}
	}
}

// worstParses are sources built to be slow to scan, at (or just over) the
// source limit.
func worstParses() []string {
	n := maxSource
	return []string{
		strings.Repeat("{%", n/2),
		strings.Repeat("{{", n/2),
		"{% raw %}" + strings.Repeat("{%", n/2-10),
		"{% raw %}" + strings.Repeat("{% x ", n/5-10) + "%}",
		"{% comment %}" + strings.Repeat("{% comment %}", n/13-2),
		"{% comment %}" + strings.Repeat("{%{% raw %}", n/11-2),
		strings.Repeat("{{ x }}", n/7),
		strings.Repeat("{% assign x = 1 %}", n/18),
		"{{ x" + strings.Repeat(" | append: 'x'", n/14-1) + " }}",
		"{% if x" + strings.Repeat(" or x", n/5-2) + " %}{% endif %}",
		"{% case x %}{% when x" + strings.Repeat(", x", n/3-10) + " %}{% endcase %}",
		"{{ '" + strings.Repeat("a", n-10) + "' }}",
		"{{ " + strings.Repeat("a.", n/2-4) + "a }}",
		strings.Repeat("\n", n-2) + "{{",
	}
}

// TestWorstCaseParse: each worst case parses or fails with a
// *SyntaxError (never a panic or another error). How long they take is
// measured by BenchmarkWorstCaseParse, not asserted here: a clock budget
// in a unit test fails on a loaded machine.
func TestWorstCaseParse(t *testing.T) {
	for _, src := range worstParses() {
		if _, err := Parse(src); err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q): %T %v", clip(src), err, err)
			}
		}
	}
}

// BenchmarkWorstCaseParse: go test ./internal/liquid -run XXX -bench
// WorstCaseParse. On the project's 2-core machine each takes at most
// ~35 ms (64 KiB of "{{ a.a.a…}}"); most take under 10 ms.
func BenchmarkWorstCaseParse(b *testing.B) {
	for i, src := range worstParses() {
		b.Run(fmt.Sprint(i), func(b *testing.B) {
			for b.Loop() {
				Parse(src)
			}
		})
	}
}
