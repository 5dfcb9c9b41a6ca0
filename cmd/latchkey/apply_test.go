package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestApplyDiffAndForce: after a runtime change, apply --diff shows it as a
// field the store keeps and writes nothing; apply keeps it and says so;
// apply --force overwrites it.
func TestApplyDiffAndForce(t *testing.T) {
	t.Parallel()
	f := localFlags(t)
	with := func(args ...string) []string { return append(args, f...) }
	tf := filepath.Join(t.TempDir(), "tenant.json")
	if err := os.WriteFile(tf, []byte(`{"settings": {"friendly_name": "Acme",
  "flags": {"enforce_client_authentication_on_passwordless_start": false}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cliOK(t, with("apply", tf)...)
	cliOK(t, with("settings", "set", "flags.enforce_client_authentication_on_passwordless_start=true")...)
	enforced := func() bool {
		t.Helper()
		s := cliJSON[struct{ Flags map[string]bool }](t, with("settings", "get")...)
		return s.Flags["enforce_client_authentication_on_passwordless_start"]
	}
	row := func(action, file, store, why string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(action) + ` +` + regexp.QuoteMeta(enforcePath) +
			` +` + regexp.QuoteMeta(file) + ` +` + regexp.QuoteMeta(store) + ` +` + regexp.QuoteMeta(why) + `$`)
	}

	out := cliOK(t, with("apply", "--diff", tf)...)
	if !strings.Contains(out, "nothing written): 0 change(s) to apply, 1 runtime change(s) to keep") ||
		!strings.Contains(out, "ACTION") || !row("keep", "false", "true", "runtime change kept").MatchString(out) {
		t.Errorf("apply --diff:\n%s", out)
	}
	if !enforced() {
		t.Fatal("apply --diff changed the store")
	}

	out = cliOK(t, with("apply", tf)...)
	if !strings.Contains(out, "applied "+tf+": 0 change(s)") || !strings.Contains(out, "kept 1 runtime change(s)") {
		t.Errorf("apply:\n%s", out)
	}
	if !enforced() {
		t.Fatal("apply reverted a runtime change")
	}

	out = cliOK(t, with("apply", "--force", tf)...)
	if !strings.Contains(out, "1 change(s)") || !row("overwrite", "false", "true", "runtime change overwritten").MatchString(out) {
		t.Errorf("apply --force:\n%s", out)
	}
	if enforced() {
		t.Fatal("apply --force did not restore the file's value")
	}
}
