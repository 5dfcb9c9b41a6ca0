package liquid

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseRender checks that no template panics, that Parse fails only with
// a *SyntaxError and Render only with a *RenderError, both positioned inside
// the source and the latter only for a reason a template may fail with these
// variables, that output stays within the limit, and that rendering twice
// gives the same output. Its seeds are every
// template of the table tests and the default email; they run in every
// go test.
func FuzzParseRender(f *testing.F) {
	for _, tt := range renderTests {
		f.Add(tt.src)
	}
	for _, tt := range syntaxErrorTests {
		if len(tt.src) <= 4096 {
			f.Add(tt.src)
		}
	}
	for _, tt := range renderErrorTests {
		f.Add(tt.src)
	}
	if src, err := os.ReadFile("testdata/passwordless_email.liquid"); err == nil {
		f.Add(string(src))
	} else {
		f.Fatal(err)
	}
	vars := testVars()
	for k, v := range emailVars("link", "change_email", "fr") {
		vars[k] = v
	}
	vars["big"] = strings.Repeat("ab<&\n", 2000) // 10,000 bytes: limits are a few filters away
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", src, err, err)
			}
			if tpl != nil {
				t.Fatalf("Parse(%q) returned a template and %v", src, err)
			}
			checkPosition(t, src, se.Line, se.Col, err)
			return
		}
		if tpl == nil {
			t.Fatalf("Parse(%q) returned neither a template nor an error", src)
		}
		out, err := tpl.Render(vars)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Render(%q) error %T %v, want *RenderError", src, err, err)
			}
			if out != "" {
				t.Fatalf("Render(%q) returned output and %v", src, err)
			}
			checkPosition(t, src, re.Line, re.Col, err)
			if !expectedRenderError(re.Msg) {
				t.Fatalf("Render(%q): unexpected error %v", src, err)
			}
			return
		}
		if len(out) > maxOutput {
			t.Fatalf("Render(%q) wrote %d bytes, more than %d", src, len(out), maxOutput)
		}
		again, err := tpl.Render(vars)
		if err != nil || again != out {
			t.Fatalf("Render(%q) is not repeatable: %q, then %q, %v", src, out, again, err)
		}
	})
}

// expectedRenderError reports whether a template may fail with msg when
// every variable has a supported type: only arithmetic, bad arguments and
// the limits can fail.
func expectedRenderError(msg string) bool {
	for _, m := range []string{
		"divided by 0",
		"invalid integer",
		"value is larger than",
		"output is larger than",
		"template processes more than",
	} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// checkPosition checks that an error's line and column exist in src (or are
// just past its end).
func checkPosition(t *testing.T, src string, line, col int, err error) {
	t.Helper()
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		t.Fatalf("%q: error %v: line %d outside 1..%d", src, err, line, len(lines))
	}
	if n := len([]rune(lines[line-1])); col < 1 || col > n+1 {
		t.Fatalf("%q: error %v: column %d outside 1..%d", src, err, col, n+1)
	}
}
