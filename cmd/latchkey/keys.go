package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "keys", []verb{
		{"list", "", "list the signing keys: the next one (published, signs after the next rotation), the current one, previous and revoked ones", keysList},
		{"get", "KID", "show a signing key and its certificate", keysGet},
		{"rotate", "", "rotate: the next key signs from now on, the current one keeps verifying what it signed; a new next key is published", keysRotate},
		{"revoke", "KID", "revoke a previous key: it leaves the JWKS and the tokens it signed stop verifying", keysRevoke},
	}, args, stdout, stderr)
}

// keyStatus is the one word for a listed key's state ("retired": rotated
// out and past its grace, no longer in the JWKS).
func keyStatus(k map[string]any) string {
	for _, s := range []string{"current", "next", "previous", "revoked"} {
		if k[s] == true {
			return s
		}
	}
	return "retired"
}

func keysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("keys list", stderr)
	if err != nil {
		return err
	}
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		var keys []map[string]any
		raw, err := a.call(ctx, "GET", "keys/signing", nil, nil, &keys)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		rows := make([][]string, 0, len(keys))
		for _, k := range keys {
			rows = append(rows, []string{str(k, "kid"), str(k, "alg"), keyStatus(k), str(k, "current_since"), str(k, "current_until"),
				str(k, "revoked_at"), str(k, "fingerprint")})
		}
		return printTable(stdout, []string{"KID", "ALG", "STATUS", "CURRENT_SINCE", "CURRENT_UNTIL", "REVOKED_AT", "FINGERPRINT"}, rows)
	})
}

func keysGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("keys get", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		var k map[string]any
		raw, err := a.call(ctx, "GET", "keys/signing/"+url.PathEscape(pos[0]), nil, nil, &k)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		rows := [][]string{{"kid", str(k, "kid")}, {"alg", str(k, "alg")}, {"status", keyStatus(k)}}
		for _, f := range []string{"current_since", "current_until", "revoked_at", "fingerprint", "thumbprint"} {
			if v := str(k, f); v != "" {
				rows = append(rows, []string{f, v})
			}
		}
		if err := printTable(stdout, []string{"FIELD", "VALUE"}, rows); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "\n%s\n", pemLines(str(k, "cert")))
		return err
	})
}

// pemLines is a PEM block as Auth0 sends it (CRLF, no final line end)
// with this system's line ends.
func pemLines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("keys rotate", stderr)
	if err != nil {
		return err
	}
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		var k map[string]any
		raw, err := a.call(ctx, "POST", "keys/signing/rotate", nil, map[string]any{}, &k)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		_, err = fmt.Fprintf(stdout, "rotated: key %s signs from now on, and the keys of any other type rotated with it (on other nodes within seconds); the key it replaces keeps verifying the tokens it signed until they expire, unless you revoke it (latchkey keys list shows it as previous)\n",
			str(k, "kid"))
		return err
	})
}

func keysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("keys revoke", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		var k map[string]any
		raw, err := a.call(ctx, "PUT", "keys/signing/"+url.PathEscape(pos[0])+"/revoke", nil, map[string]any{}, &k)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		_, err = fmt.Fprintf(stdout, "revoked %s: it is out of the JWKS and tokens it signed no longer verify (on other nodes within seconds)\n", str(k, "kid"))
		return err
	})
}
