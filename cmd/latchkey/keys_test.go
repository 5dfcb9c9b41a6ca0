package main

import (
	"strings"
	"testing"
)

// TestKeysCommands: keys list, get, rotate and revoke in every mode.
func TestKeysCommands(t *testing.T) {
	t.Parallel()
	type key struct {
		KID      string `json:"kid"`
		Cert     string `json:"cert"`
		Current  bool   `json:"current"`
		Next     bool   `json:"next"`
		Previous bool   `json:"previous"`
		Revoked  bool   `json:"revoked"`
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }

			keys := cliJSON[[]key](t, with("keys", "list")...)
			if len(keys) != 2 || !keys[0].Next || !keys[1].Current {
				t.Fatalf("list: %+v", keys)
			}
			first, next := keys[1].KID, keys[0].KID
			out := cliOK(t, with("keys", "list")...)
			if !strings.Contains(out, "KID") || !strings.Contains(out, "STATUS") || !strings.Contains(out, first+"  RS256  current") ||
				!strings.Contains(out, next+"  RS256  next") {
				t.Errorf("list table:\n%s", out)
			}

			if out := cliOK(t, with("keys", "rotate")...); !strings.Contains(out, "rotated: key "+next+" signs from now on") {
				t.Errorf("rotate: %s", out)
			}
			// Rotate again with --json: the answer is Auth0's {cert, kid}.
			second := cliJSON[key](t, with("keys", "rotate")...)
			keys = cliJSON[[]key](t, with("keys", "list")...)
			if len(keys) != 4 || second.KID != keys[1].KID || !keys[1].Current || !strings.HasPrefix(second.Cert, "-----BEGIN CERTIFICATE-----") ||
				keys[2].KID != next || !keys[2].Previous || keys[3].KID != first || !keys[3].Previous {
				t.Fatalf("after two rotations: %+v (rotated to %+v)", keys, second)
			}

			// The current key cannot be revoked; a previous one can (the
			// remote mode's token was signed with the first key: revoke
			// the second).
			_, errOut, code := cli(t, with("keys", "revoke", second.KID)...)
			if code != exitFailure || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "cannot be revoked") {
				t.Errorf("revoke the current key: exit %d, %s", code, errOut)
			}
			if out := cliOK(t, with("keys", "revoke", next)...); !strings.Contains(out, "revoked "+next) {
				t.Errorf("revoke: %s", out)
			}
			if out := cliOK(t, with("keys", "list")...); !strings.Contains(out, next+"  RS256  revoked") {
				t.Errorf("list after the revocation:\n%s", out)
			}

			out = cliOK(t, with("keys", "get", first)...)
			if !strings.Contains(out, "status") || !strings.Contains(out, "previous") || !strings.Contains(out, "fingerprint") ||
				!strings.Contains(out, "\n-----BEGIN CERTIFICATE-----\n") || strings.Contains(out, "\r") {
				t.Errorf("get:\n%s", out)
			}
			_, errOut, code = cli(t, with("keys", "get", "no-such-kid")...)
			if code != exitFailure || !strings.Contains(errOut, "Signing key not found") {
				t.Errorf("get an unknown key: exit %d, %s", code, errOut)
			}
			if _, errOut, code := cli(t, with("keys", "revoke")...); code != exitUsage || !strings.Contains(errOut, "missing") {
				t.Errorf("revoke without KID: exit %d, %s", code, errOut)
			}
		})
	}
}
