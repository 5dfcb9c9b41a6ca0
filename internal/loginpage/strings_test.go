package loginpage

import (
	"os"
	"regexp"
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
