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

// TestApplyES256: an application a tenant file gives ES256 gets the
// tenant's P-256 keys (current and next) when the file is applied, so that
// they are published before the first token they sign.
func TestApplyES256(t *testing.T) {
	t.Parallel()
	f := localFlags(t)
	with := func(args ...string) []string { return append(args, f...) }
	tf := filepath.Join(t.TempDir(), "tenant.json")
	if err := os.WriteFile(tf, []byte(`{"clients": [{"client_id": "web-es", "client_secret": "web-es-secret-0123456789abcdef",
  "name": "Web", "app_type": "regular_web", "jwt_configuration": {"alg": "ES256"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cliOK(t, with("apply", tf)...)
	type key struct {
		Alg     string `json:"alg"`
		Current bool   `json:"current"`
		Next    bool   `json:"next"`
	}
	var ec []key
	for _, k := range cliJSON[[]key](t, with("keys", "list")...) {
		if k.Alg == "ES256" {
			ec = append(ec, k)
		}
	}
	if len(ec) != 2 || ec[0].Current == ec[1].Current || ec[0].Next == ec[1].Next {
		t.Fatalf("P-256 keys after applying an ES256 application: %+v", ec)
	}
}
