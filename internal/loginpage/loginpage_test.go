package loginpage

import (
	"os/exec"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 3, "abc"},
		{"cut", "abcdef", 3, "abc…"},
		{"empty", "", 0, ""},
		{"inside a character", "aé", 2, "a…"}, // é is two bytes
		{"after a character", "éa", 2, "é…"},
	} {
		got := Clip(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("%s: Clip(%q, %d) = %q, want %q", tc.name, tc.in, tc.n, got, tc.want)
		}
	}
}

// TestShellQuote: a quoted value reaches a POSIX shell's command as it was,
// whatever it holds.
func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	for _, tc := range []struct{ in, want string }{
		{"abc", `'abc'`},
		{"", `''`},
		{"it's", `'it'\''s'`},
		{"$(id) `id` \"x\" \\ ; & | \n *", "'$(id) `id` \"x\" \\ ; & | \n *'"},
		{"'''", `''\'''\'''\'''`},
	} {
		got := ShellQuote(tc.in)
		if got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if err != nil {
			continue // no shell to run it through
		}
		out, err := exec.Command(sh, "-c", "printf %s "+got).Output()
		if err != nil || string(out) != tc.in {
			t.Errorf("sh got %q (%v) for %s, want %q", out, err, got, tc.in)
		}
	}
}
