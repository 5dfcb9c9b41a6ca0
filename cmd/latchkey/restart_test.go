package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testpg"
)

// restartIssuer is fixed so that the tenant file's Management API grant
// names the same audience whatever port a node gets.
const restartIssuer = "http://latchkey.test/"

// restartTenant is the tenant file of TestRestartKeepsRuntimeChanges; %d is
// max_attempts.
const restartTenant = `{
  "settings": {
    "flags": {"enforce_client_authentication_on_passwordless_start": false},
    "attack_protection": {"brute_force_protection": {"enabled": true, "shields": ["block"],
                          "mode": "count_per_identifier_and_ip", "max_attempts": %d}}
  },
  "clients": [{"client_id": "ops", "client_secret": "ops-secret-0123456789abcdefghij", "name": "Ops",
               "app_type": "non_interactive", "grant_types": ["client_credentials"]}],
  "client_grants": [{"client_id": "ops", "audience": "` + restartIssuer + `api/v2/",
                     "scope": ["read:tenant_settings", "update:tenant_settings", "read:attack_protection", "update:attack_protection"]}]
}`

const (
	enforcePath     = "settings.flags.enforce_client_authentication_on_passwordless_start"
	maxAttemptsPath = "settings.attack_protection.brute_force_protection.max_attempts"
)

// TestRestartKeepsRuntimeChanges is issue 11 as an operator meets it:
// `serve --bootstrap tenant.json`, enforcement turned on with `latchkey
// settings set` and max_attempts changed through the Management API, a
// restart with the same file. Both runtime changes survive and the drift
// warning names them; an edit of the file's max_attempts wins at the next
// restart; --bootstrap-mode=enforce restores the file's values.
func TestRestartKeepsRuntimeChanges(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		restartTest(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		restartTest(t, []string{"--database-url", testpg.SchemaURL(t, "restart")})
	})
}

func restartTest(t *testing.T, extra []string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tf := filepath.Join(dir, "tenant.json")
	writeTenant := func(maxAttempts int) {
		t.Helper()
		if err := os.WriteFile(tf, []byte(fmt.Sprintf(restartTenant, maxAttempts)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--ops-addr", "off", "--issuer", restartIssuer,
		"--data-dir", data, "--bootstrap", tf, "--log-level", "info", "--log-format", "json"}, extra...)
	sqlite := len(extra) == 0

	// First start: the file is applied as a whole.
	writeTenant(10)
	n := startServe(t, args...)
	if l := n.logLine(t, "tenant file applied"); !slices.Contains(stringsOf(l["paths"]), "clients[ops]") {
		t.Errorf("first start's applied line: %v", l)
	}
	if l := n.findLog("tenant file drift: the store keeps runtime changes"); l != nil {
		t.Errorf("drift on the first start: %v", l)
	}

	// Runtime changes: the README's enforcement procedure (local mode on
	// SQLite, the server's API otherwise) and max_attempts through the API.
	tok := n.token(t)
	remote := []string{"--server", n.base, "--token", tok}
	if sqlite {
		cliOK(t, "settings", "set", enforcePath[len("settings."):]+"=true", "--data-dir", data, "--issuer", restartIssuer)
	} else {
		cliOK(t, append([]string{"settings", "set", enforcePath[len("settings."):] + "=true"}, remote...)...)
	}
	cliOK(t, append([]string{"attack-protection", "set", "brute-force-protection.max_attempts=5"}, remote...)...)
	n.stop(t)

	// Restart with the same file: both runtime changes survive, named in
	// one drift warning.
	n = startServe(t, args...)
	n.wantSettings(t, true, 5)
	l := n.logLine(t, "tenant file drift: the store keeps runtime changes")
	if l["level"] != "WARN" || l["fields"] != 2.0 {
		t.Errorf("drift line: %v", l)
	}
	wantDrift(t, l["drift"], map[string][2]string{enforcePath: {"false", "true"}, maxAttemptsPath: {"10", "5"}})
	if l := n.logLine(t, "tenant file applied"); l["changed"] != 0.0 || len(stringsOf(l["paths"])) != 0 {
		t.Errorf("restart with the same file applied something: %v", l)
	}
	n.stop(t)

	// The operator edits max_attempts in the file: the file wins there.
	writeTenant(7)
	if sqlite {
		// --diff shows it first and writes nothing.
		var diff struct {
			Changed int
			Fields  []struct{ Path, Why string }
			Drift   []struct{ Path, Why string }
		}
		if err := json.Unmarshal([]byte(cliOK(t, "apply", "--diff", tf, "--data-dir", data, "--issuer", restartIssuer, "--json")), &diff); err != nil {
			t.Fatal(err)
		}
		if diff.Changed != 1 || len(diff.Fields) != 1 || diff.Fields[0].Path != maxAttemptsPath || len(diff.Drift) != 1 || diff.Drift[0].Path != enforcePath {
			t.Errorf("apply --diff: %+v", diff)
		}
	}
	n = startServe(t, args...)
	n.wantSettings(t, true, 7)
	if l := n.logLine(t, "tenant file applied"); !slices.Equal(stringsOf(l["paths"]), []string{maxAttemptsPath}) {
		t.Errorf("applied line after the edit: %v", l)
	}
	wantDrift(t, n.logLine(t, "tenant file drift: the store keeps runtime changes")["drift"],
		map[string][2]string{enforcePath: {"false", "true"}})
	n.stop(t)

	// --bootstrap-mode=enforce: the file wins everywhere it speaks (and a
	// text log says what it overwrote).
	textArgs := slices.Clone(args)
	textArgs[slices.Index(textArgs, "json")] = "text"
	n = startServe(t, append(textArgs, "--bootstrap-mode", "enforce")...)
	n.wantSettings(t, false, 7)
	out := n.output()
	for _, want := range []string{
		`level=WARN msg="tenant file enforced: runtime changes overwritten"`,
		enforcePath + ": file=false store=true (runtime change overwritten)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	n.stop(t)

	// Enforced, the file and the store agree: no drift at the next start.
	n = startServe(t, args...)
	if l := n.findLog("tenant file drift: the store keeps runtime changes"); l != nil {
		t.Errorf("drift after enforcing: %v", l)
	}
	n.wantSettings(t, false, 7)
}

// serveNode is a `latchkey serve` child process.
type serveNode struct {
	cmd    *exec.Cmd
	base   string
	out    *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited
	// From a JSON start-up line (startEnvNode): the public listener's
	// address and scheme, and the ops listener's address.
	addr, scheme, ops string
}

// lockedBuffer collects a child's output (stdout and stderr, in order).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// spawn runs `latchkey args…` (this test binary standing in, see
// TestMain) with the environment env; it is killed when the test ends if
// it has not exited by then.
func spawn(t *testing.T, args, env []string) *serveNode {
	t.Helper()
	enc, _ := json.Marshal(args)
	n := &serveNode{out: &lockedBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(os.Args[0], "-test.run=^$")
	n.cmd.Env = append(env, "LATCHKEY_TEST_RUN="+string(enc))
	// One writer for both: the child gets one pipe, so its log lines and
	// its banner arrive in the order it wrote them.
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
	})
	return n
}

// listening finds the bound address: the text banner's first line, or the
// JSON "latchkey started" line's addr.
var listening = regexp.MustCompile(`Latchkey \S+ listening on (http://\S+)|"msg":"latchkey started","addr":"([^"]+)"`)

// startServe runs `latchkey args…` (this test binary standing in, see
// TestMain) and waits until it listens; it reads the bound address from
// the start-up banner.
func startServe(t *testing.T, args ...string) *serveNode {
	t.Helper()
	n := spawn(t, args, os.Environ())
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(n.out.String()); m != nil {
			if m[1] == "" {
				m[1] = "http://" + m[2]
			}
			n.base = strings.TrimSuffix(m[1], "/") + "/"
			break
		}
		select {
		case <-n.exited:
			t.Fatalf("latchkey serve exited: %v\n%s", n.err, n.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("latchkey serve did not start:\n%s", n.out.String())
		}
	}
	for {
		r, err := http.Get(n.base + ".well-known/openid-configuration")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("latchkey serve does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (n *serveNode) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
		if n.err != nil {
			t.Fatalf("latchkey serve after SIGTERM: %v\n%s", n.err, n.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("latchkey serve did not stop after SIGTERM")
	}
}

func (n *serveNode) output() string { return n.out.String() }

// findLog returns the first JSON log line whose msg is msg, nil if none.
func (n *serveNode) findLog(msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(n.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == msg {
			return l
		}
	}
	return nil
}

// logLine is findLog that fails the test when there is no such line (the
// lines logged at start are all out by the time the banner is).
func (n *serveNode) logLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	l := n.findLog(msg)
	if l == nil {
		t.Fatalf("no log line %q in:\n%s", msg, n.out.String())
	}
	return l
}

// token is a Management API token of the tenant file's ops client.
func (n *serveNode) token(t *testing.T) string {
	t.Helper()
	res, err := http.PostForm(n.base+"oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ops"},
		"client_secret": {"ops-secret-0123456789abcdefghij"}, "audience": {restartIssuer + "api/v2/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("management token: %d %v", res.StatusCode, err)
	}
	return out.AccessToken
}

// wantSettings checks the settings in force through the Management API.
func (n *serveNode) wantSettings(t *testing.T, enforce bool, maxAttempts int) {
	t.Helper()
	remote := []string{"--server", n.base, "--token", n.token(t)}
	var s struct {
		Flags map[string]bool `json:"flags"`
	}
	if err := json.Unmarshal([]byte(cliOK(t, append([]string{"settings", "get", "--json"}, remote...)...)), &s); err != nil {
		t.Fatal(err)
	}
	var ap map[string]struct {
		MaxAttempts int `json:"max_attempts"`
	}
	if err := json.Unmarshal([]byte(cliOK(t, append([]string{"attack-protection", "get", "--json"}, remote...)...)), &ap); err != nil {
		t.Fatal(err)
	}
	got := ap["brute-force-protection"].MaxAttempts
	if s.Flags["enforce_client_authentication_on_passwordless_start"] != enforce || got != maxAttempts {
		t.Errorf("enforcement %v, max_attempts %d; want %v, %d", s.Flags["enforce_client_authentication_on_passwordless_start"], got, enforce, maxAttempts)
	}
}

// wantDrift checks a logged drift list: exactly the paths of want, each
// with its file and store values.
func wantDrift(t *testing.T, logged any, want map[string][2]string) {
	t.Helper()
	b, _ := json.Marshal(logged)
	var list []struct {
		Path        string
		File, Store json.RawMessage
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("drift %s: %v", b, err)
	}
	got := map[string][2]string{}
	for _, f := range list {
		got[f.Path] = [2]string{string(f.File), string(f.Store)}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("drift %v, want %v", got, want)
	}
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
