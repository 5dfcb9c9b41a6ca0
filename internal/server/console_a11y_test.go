package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// consolePages are the console's pages, for the accessibility check and
// the screenshots in docs/console.md.
var consolePages = []struct{ name, path string }{
	{"overview", "/admin/"},
	{"migration", "/admin/migration"},
	{"applications", "/admin/applications"},
	{"application-new", "/admin/applications/new"},
	{"application", "/admin/applications/" + webID},
	{"logs", "/admin/logs?q=type:s"},
	{"settings", "/admin/settings"},
	{"keys", "/admin/keys"},
	{"users", "/admin/users"},
	{"connections", "/admin/connections"},
	{"connection", "/admin/connections/email"},
	{"attack-protection", "/admin/attack-protection"},
}

// TestBrowserConsoleAccessible: axe-core in Chromium finds no serious or
// critical violation on any console page (with data in it). With
// LATCHKEY_CONSOLE_SCREENSHOTS=DIR it also saves each page's screenshot
// there (docs/console.md shows them: ./scripts/console-screenshots).
func TestBrowserConsoleAccessible(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	e.startEmail("someone@example.com") // some events to show
	shots := os.Getenv("LATCHKEY_CONSOLE_SCREENSHOTS")
	steps := consoleSignIn(e, "/admin/", consoleOwnerEmail)
	checks := map[int]string{}
	axe := browsertest.InjectAxe(t)
	for _, p := range consolePages {
		steps = append(steps, browsertest.Goto(e.issuer+strings.TrimPrefix(p.path, "/")), axe, browsertest.AxeViolations("serious", "critical"))
		checks[len(steps)-1] = p.name
		if shots != "" {
			steps = append(steps, browsertest.Screenshot(filepath.Join(shots, p.name+".png")))
		}
	}
	res := browsertest.Run(t, browsertest.Program{Steps: steps})
	for i, name := range checks {
		var vs []browsertest.Violation
		if err := res.Decode(i, &vs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, v := range vs {
			t.Errorf("%s: %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}
