package server_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/config"
)

const consoleOwnerEmail = "owner@example.com"

func withConsoleOwner(email string) envOpt {
	return func(c *config.Config) { c.ConsoleOwner = email }
}

// consoleSignIn are the steps that sign email in to the console from a
// console URL: the hosted page, the code from the dev capture, back to
// the page asked for.
func consoleSignIn(e *env, path, email string) []browsertest.Step {
	return []browsertest.Step{
		browsertest.Goto(e.issuer + strings.TrimPrefix(path, "/")),
		browsertest.Fill("#username", email),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(email), "0.code"),
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL(strings.TrimPrefix(path, "/")),
	}
}

// TestBrowserConsoleSignIn: an owner opens a console page, signs in with
// an email code on Latchkey's own hosted page and lands on that page.
func TestBrowserConsoleSignIn(t *testing.T) {
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/migration", consoleOwnerEmail),
		browsertest.Text("h1"),
		browsertest.Text("header .who span"),
		browsertest.Cookies(),
	)})
	if h := res.String(6); h != "Migration" {
		t.Fatalf("landed on %q", h)
	}
	if who := res.String(7); who != consoleOwnerEmail+" (owner)" {
		t.Errorf("signed in as %q", who)
	}
	cookies := res.String(8)
	if !strings.Contains(cookies, `"name":"latchkey_admin"`) || !strings.Contains(cookies, `"sameSite":"Strict"`) {
		t.Errorf("console cookie: %s", cookies)
	}
}
