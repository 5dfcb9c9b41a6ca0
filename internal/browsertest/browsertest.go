// Package browsertest runs real-browser steps (headless Chromium driven by playwright-core)
// from Go tests. It is test support: import it only from _test files.
//
// A Program is a list of Steps run in one browser context and page by the Node script
// e2e/browser/run.mjs; Run returns one result per step, or fails the test with the failing
// step, its error, the page's URL, console and an excerpt of its HTML.
//
// Run needs node on PATH, Chromium (/usr/bin/chromium, or $LATCHKEY_CHROMIUM) and
// e2e/browser/node_modules (playwright-core, auth0-js, axe-core); ./scripts/test installs
// the last two. When one is missing the test is skipped, except under CI (the CI environment variable set), where it fails.
//
// Serve pages under test from a 127.0.0.1 listener (httptest.NewTLSServer does): Chromium
// blocks a page on another origin from calling 127.0.0.1. The browser ignores certificate
// errors, so httptest's self-signed certificate is fine.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout is the time a Program's steps get when its Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Program is what one Run does: Steps, in order, in one page, all within Timeout
// (from the browser's start; DefaultTimeout when zero).
type Program struct {
	Steps   []Step
	Timeout time.Duration
	// DropCookiesFrom: the browser keeps no cookie that a response from a
	// URL containing one of these strings sets (the Set-Cookie headers are
	// removed before the page sees the response), as a browser does that
	// refuses one site's cookies while keeping another's.
	DropCookiesFrom []string
}

// Step is one action; set exactly one of the action fields (Goto, Fill, Click, Press,
// WaitForURL, WaitForFunction, Evaluate, Text, Fetch, FillFromFetch, Cookies). The helper
// constructors below build each kind. Each step's result, in Result.Results, is JSON:
//
//	Goto             {"status": 200} (null when there was no response, e.g. a fragment change)
//	Fill/Click/Press null
//	WaitForURL       the matching URL; a string "/…/flags" is a regular expression, else a substring
//	WaitForFunction  the JavaScript expression's (truthy) value
//	Evaluate         the expression's value, awaited when it is a promise
//	Text             the element's textContent
//	Fetch            the body, fetched from the test process (not the page, TLS unverified),
//	                 as JSON when it parses, else as a string; an HTTP status ≥ 400 fails
//	FillFromFetch    the value at Path (dotted: "0.code") in the JSON at URL, which is fetched
//	                 again for up to 5 s until the path exists, and filled into the selector
//	Cookies          the browser context's cookies (playwright's Cookie objects)
type Step struct {
	Goto            string `json:"goto,omitempty"`
	Fill            string `json:"fill,omitempty"`
	Value           string `json:"value,omitempty"`
	Click           string `json:"click,omitempty"`
	Press           string `json:"press,omitempty"`
	Key             string `json:"key,omitempty"`
	WaitForURL      string `json:"waitForURL,omitempty"`
	WaitForFunction string `json:"waitForFunction,omitempty"`
	Evaluate        string `json:"evaluate,omitempty"`
	Text            string `json:"text,omitempty"`
	Fetch           string `json:"fetch,omitempty"`
	FillFromFetch   string `json:"fillFromFetch,omitempty"`
	URL             string `json:"url,omitempty"`
	Path            string `json:"path,omitempty"`
	Cookies         bool   `json:"cookies,omitempty"`
	Screenshot      string `json:"screenshot,omitempty"`
}

// Goto navigates the page to url.
func Goto(url string) Step { return Step{Goto: url} }

// Fill types value into the element matching selector (replacing what it holds).
func Fill(selector, value string) Step { return Step{Fill: selector, Value: value} }

// Click clicks the element matching selector.
func Click(selector string) Step { return Step{Click: selector} }

// Press presses key (a playwright key name: "Enter", "Tab", …) in the element matching selector.
func Press(selector, key string) Step { return Step{Press: selector, Key: key} }

// WaitForURL waits until the page's URL contains s, or matches it when s is "/regexp/flags".
func WaitForURL(s string) Step { return Step{WaitForURL: s} }

// WaitForFunction waits until the JavaScript expression js is truthy in the page.
func WaitForFunction(js string) Step { return Step{WaitForFunction: js} }

// Eval evaluates the JavaScript expression js in the page; a promise is awaited.
func Eval(js string) Step { return Step{Evaluate: js} }

// Text returns the textContent of the element matching selector (waiting for it).
func Text(selector string) Step { return Step{Text: selector} }

// Fetch GETs url from the test process, not the page (e.g. the dev mail capture).
func Fetch(url string) Step { return Step{Fetch: url} }

// FetchFill fills the element matching selector with the value at the dotted path (e.g.
// "0.code") of the JSON at url, fetching it again for up to 5 s until the path exists.
func FetchFill(selector, url, path string) Step {
	return Step{FillFromFetch: selector, URL: url, Path: path}
}

// Cookies returns the browser context's cookies.
func Cookies() Step { return Step{Cookies: true} }

// Screenshot saves a full-page PNG of the page at path.
func Screenshot(path string) Step { return Step{Screenshot: path} }

// Result is what a successful Run returns.
type Result struct {
	Results []json.RawMessage // one per step, in order
	URL     string            // the page's URL after the last step
	Console []string          // page console messages ("log: …"), page errors, failed requests
}

// Decode unmarshals step i's result into v.
func (r Result) Decode(i int, v any) error {
	if i < 0 || i >= len(r.Results) {
		return fmt.Errorf("browsertest: no result for step %d (%d steps)", i, len(r.Results))
	}
	return json.Unmarshal(r.Results[i], v)
}

// String returns step i's result as a string: a JSON string unquoted, anything else as JSON.
func (r Result) String(i int) string {
	var s string
	if err := r.Decode(i, &s); err == nil {
		return s
	}
	if i < 0 || i >= len(r.Results) {
		return ""
	}
	return string(r.Results[i])
}

// wire is run.mjs's input.
type wire struct {
	ExecutablePath    string   `json:"executablePath"`
	TimeoutMS         int64    `json:"timeout_ms"`
	IgnoreHTTPSErrors bool     `json:"ignoreHTTPSErrors"`
	DropCookiesFrom   []string `json:"dropCookiesFrom,omitempty"`
	Steps             []Step   `json:"steps"`
}

// output is run.mjs's output.
type output struct {
	OK      bool              `json:"ok"`
	Error   string            `json:"error"`
	Step    int               `json:"step"`
	Results []json.RawMessage `json:"results"`
	URL     string            `json:"url"`
	Console []string          `json:"console"`
	HTML    string            `json:"html"`
}

const installHint = "run ./scripts/test once (it installs Debian chromium and runs npm ci --prefix e2e/browser)"

// env is where Run finds node, Chromium and the driver script.
type env struct {
	node, chromium, dir string
}

// unavailable stops the test: a failure under CI (which must never skip browser tests),
// else a skip.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "browsertest: " + fmt.Sprintf(format, args...) + "; " + installHint
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg)
}

// locate finds node, Chromium and e2e/browser, or stops the test.
func locate(t testing.TB) env {
	t.Helper()
	var e env
	var err error
	if e.node, err = exec.LookPath("node"); err != nil {
		unavailable(t, "node is not on PATH")
	}
	e.chromium = "/usr/bin/chromium"
	if p := os.Getenv("LATCHKEY_CHROMIUM"); p != "" {
		e.chromium = p
	}
	if fi, err := os.Stat(e.chromium); err != nil || fi.IsDir() {
		unavailable(t, "no Chromium at %s (set LATCHKEY_CHROMIUM to use another)", e.chromium)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	e.dir = filepath.Join(root, "e2e", "browser")
	for _, m := range []string{"playwright-core", "auth0-js", "axe-core"} {
		if _, err := os.Stat(filepath.Join(e.dir, "node_modules", m, "package.json")); err != nil {
			unavailable(t, "%s is not installed in %s/node_modules", m, e.dir)
		}
	}
	return e
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Lock bundles Auth0's Lock widget (auth0-lock from e2e/browser/node_modules, with esbuild:
// npm ships it as sources) into one script in a temporary directory and returns its path; the
// script defines Auth0Lock and Auth0LockPasswordless.
func Lock(t testing.TB) string {
	t.Helper()
	e := locate(t)
	out := filepath.Join(t.TempDir(), "lock.js")
	cmd := exec.Command("node", filepath.Join(e.dir, "bundle-lock.mjs"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("browsertest: bundling Lock: %v\n%s", err, b)
	}
	return out
}

// Auth0SPAJS returns the path of auth0-spa-js's browser bundle (UMD, the global auth0 with
// createAuth0Client) in e2e/browser/node_modules, as Auth0JS does for auth0.js.
func Auth0SPAJS(t testing.TB) string {
	t.Helper()
	return filepath.Join(locate(t).dir, "node_modules", "@auth0", "auth0-spa-js", "dist", "auth0-spa-js.production.js")
}

// Auth0JS returns the path of auth0.js's browser bundle (dist/auth0.min.js) in
// e2e/browser/node_modules, for a test server to serve to the page. It stops the test as Run
// does when the browser dependencies are missing.
func Auth0JS(t testing.TB) string {
	t.Helper()
	return filepath.Join(locate(t).dir, "node_modules", "auth0-js", "dist", "auth0.min.js")
}

// InjectAxe is the step that loads axe-core (e2e/browser/node_modules/axe-core) into the
// page. It is evaluated as DevTools evaluates, so the page's Content-Security-Policy does
// not stop it; inject it again after each navigation.
func InjectAxe(t testing.TB) Step {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(locate(t).dir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return Eval(string(src) + "\n;true")
}

// Violation is one accessibility rule axe-core found broken, with the elements that break it.
type Violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"` // CSS selectors
}

// AxeViolations is the step that checks the page with axe-core (after InjectAxe) against
// the WCAG 2.x A and AA rules and best practices; its result is the []Violation of the
// given impacts ("minor", "moderate", "serious", "critical"; all when none are given).
func AxeViolations(impacts ...string) Step {
	want, _ := json.Marshal(impacts)
	return Eval(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
  .then(r => r.violations
    .filter(v => ` + string(want) + `.length === 0 || ` + string(want) + `.includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`)
}

// Run runs prog in a fresh headless Chromium and returns its results. A failing step fails
// the test (t.Fatalf) with the step's index and error, the page's URL, its console and the
// start of its HTML. Missing browser dependencies skip the test, or fail it under CI.
func Run(t testing.TB, prog Program) Result {
	t.Helper()
	e := locate(t)
	timeout := prog.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	in, err := json.Marshal(wire{
		ExecutablePath:    e.chromium,
		TimeoutMS:         timeout.Milliseconds(),
		IgnoreHTTPSErrors: true,
		DropCookiesFrom:   prog.DropCookiesFrom,
		Steps:             prog.Steps,
	})
	if err != nil {
		t.Fatalf("browsertest: encoding the program: %v", err)
	}

	// run.mjs enforces timeout itself (plus the browser's start); this is the backstop.
	ctx, cancel := context.WithTimeout(t.Context(), 2*timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.node, filepath.Join(e.dir, "run.mjs"))
	cmd.Dir = e.dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// An interrupt lets playwright close Chromium; the kill after WaitDelay is the last resort.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()

	var out output
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("browsertest: run.mjs: %v (ctx: %v); no result (%v)\nstdout: %s\nstderr: %s",
			runErr, ctx.Err(), err, excerpt(stdout.String(), 2000), excerpt(stderr.String(), 4000))
	}
	if !out.OK {
		t.Fatalf("browsertest: step %d %s: %s\nurl: %s\nconsole:\n%s\nhtml: %s%s",
			out.Step, stepDesc(prog.Steps, out.Step), out.Error, out.URL, indent(out.Console),
			out.HTML, stderrNote(stderr.String()))
	}
	if len(out.Console) > 0 {
		t.Logf("browsertest: page console:\n%s", indent(out.Console))
	}
	return Result{Results: out.Results, URL: out.URL, Console: out.Console}
}

func stepDesc(steps []Step, i int) string {
	if i < 0 || i >= len(steps) {
		return "(starting)"
	}
	b, _ := json.Marshal(steps[i])
	return string(b)
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "  (none)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

func stderrNote(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return "\nstderr: " + excerpt(s, 4000)
}

func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
