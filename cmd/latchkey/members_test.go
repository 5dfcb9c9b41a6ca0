package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestMembersCommands: members add/list/remove in every mode, with the
// store's checks (a bad address or role is refused).
func TestMembersCommands(t *testing.T) {
	t.Parallel()
	type member struct{ Email, Role string }
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }
			// A server started with --dev lists the person running it already.
			before := len(cliJSON[[]member](t, with("members", "list")...))
			got := cliJSON[[]member](t, with("members", "add", "Owner@Example.com", "--role", "owner")...)
			if len(got) != before+1 || got[before] != (member{"owner@example.com", "owner"}) {
				t.Fatalf("add: %+v", got)
			}
			cliOK(t, with("members", "add", "viewer@example.com")...)
			got = cliJSON[[]member](t, with("members", "add", "viewer@example.com", "--role", "editor")...)
			if len(got) != before+2 || got[before+1] != (member{"viewer@example.com", "editor"}) {
				t.Fatalf("role change: %+v", got)
			}
			out, _, code := cli(t, with("members", "list")...)
			if code != 0 || !strings.Contains(out, "EMAIL") || !regexp.MustCompile(`viewer@example.com +editor`).MatchString(out) {
				t.Errorf("list: exit %d %q", code, out)
			}
			got = cliJSON[[]member](t, with("members", "remove", "viewer@example.com")...)
			if len(got) != before+1 {
				t.Errorf("remove: %+v", got)
			}
			if _, errOut, code := cli(t, with("members", "remove", "nobody@example.com")...); code != exitFailure || !strings.Contains(errOut, "not a member") {
				t.Errorf("remove a stranger: exit %d %q", code, errOut)
			}
			if _, errOut, code := cli(t, with("members", "add", "not-an-address")...); code != exitFailure || !strings.Contains(errOut, "not an email address") {
				t.Errorf("add a bad address: exit %d %q", code, errOut)
			}
			if _, _, code := cli(t, with("members", "add", "x@example.com", "--role", "admin")...); code != exitUsage {
				t.Errorf("a bad role: exit %d", code)
			}
		})
	}
}
