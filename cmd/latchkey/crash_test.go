package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/testpg"
)

// TestMain lets this test binary stand in for the latchkey binary: with
// LATCHKEY_TEST_RUN set (a JSON list of arguments) it runs them and exits,
// so the crash test can start real server processes and kill them. As in
// main, SIGTERM and SIGINT stop it gracefully.
func TestMain(m *testing.M) {
	// Servers started by the tests (in process and as children, which
	// inherit the environment) put their ops listeners on free ports.
	if os.Getenv("LATCHKEY_OPS_ADDR") == "" {
		os.Setenv("LATCHKEY_OPS_ADDR", "127.0.0.1:0")
	}
	if args := os.Getenv("LATCHKEY_TEST_RUN"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, a, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// crashSink is an SMTP server whose first DATA hangs until released (the
// sending process is killed meanwhile); later ones are accepted.
type crashSink struct {
	mu       sync.Mutex
	datas    int
	accepted []string
	ids      []string // the Message-ID of every DATA
	started  chan struct{}
	release  chan struct{}
}

func (s *crashSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &crashSession{s}, nil }

type crashSession struct{ s *crashSink }

func (x *crashSession) Reset()                               {}
func (x *crashSession) Logout() error                        { return nil }
func (x *crashSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *crashSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *crashSession) Data(r io.Reader) error {
	s := x.s
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	id := ""
	if m := regexp.MustCompile(`(?mi)^Message-Id: *(\S+)\r?$`).FindSubmatch(b); m != nil {
		id = string(m[1])
	}
	s.mu.Lock()
	s.datas++
	first := s.datas == 1
	s.ids = append(s.ids, id)
	s.mu.Unlock()
	if first {
		close(s.started)
		<-s.release // the sender dies while we wait: the message is never accepted
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "aborted"}
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, string(b))
	s.mu.Unlock()
	return nil
}

func (s *crashSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.accepted) }

const crashTenant = `{"clients": [{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij", "name": "Web",
  "app_type": "regular_web", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]}],
 "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["web"], "options": {"totp": {"length": 6, "time_step": 300}}}]}`

// TestCrashBetweenCommitAndSend: a node is killed (SIGKILL) while its
// message is on its way to the SMTP server (default lease and settings).
// The node restarted over the same data directory sends it at once (it
// takes back its own claims), or, on PostgreSQL, another node already
// running takes it over when the lease ends: within 15 s either way,
// exactly once more, with the Message-ID of the first attempt; and its
// code works.
func TestCrashBetweenCommitAndSend(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		crashTest(t, nil, false)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		crashTest(t, []string{"--database-url", testpg.SchemaURL(t, "crash")}, false)
	})
	t.Run("postgres-takeover", func(t *testing.T) {
		t.Parallel()
		crashTest(t, []string{"--database-url", testpg.SchemaURL(t, "takeover")}, true)
	})
}

// crashTest kills a node mid-send; then, when takeover, a second node on
// the same database (its own data directory) must deliver; otherwise the
// killed node restarts.
func crashTest(t *testing.T, extra []string, takeover bool) {
	sink := &crashSink{started: make(chan struct{}), release: make(chan struct{})}
	srv := smtp.NewServer(sink)
	srv.Domain, srv.AllowInsecureAuth = "sink.test", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	released := false
	release := func() {
		if !released {
			released = true
			close(sink.release)
		}
	}
	t.Cleanup(release)

	dir := t.TempDir()
	tf := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tf, []byte(crashTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	node := func(data string) (args []string, base string) {
		addr := freeAddr(t)
		return append([]string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, data), "--bootstrap", tf,
			"--smtp-url", "smtp://" + ln.Addr().String() + "?from=login%40latchkey.test",
			"--log-level", "warn"}, extra...), "http://" + addr + "/"
	}
	args, base := node("data")

	a := startProcess(t, args, base)
	r, err := http.Post(base+"passwordless/start", "application/json", strings.NewReader(
		`{"client_id":"web","client_secret":"web-secret-0123456789abcdefghij","connection":"email","send":"code","email":"crash@example.com"}`))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("start: %v %v", r, err)
	}
	r.Body.Close()
	select {
	case <-sink.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the message never reached the SMTP server")
	}
	// The node that delivers after the crash: the same one restarted, or
	// another one, already running, with its own data directory.
	if takeover {
		args, base = node("data2")
		startProcess(t, append(args, "--ops-addr", freeAddr(t)), base)
	}
	if err := a.Process.Kill(); err != nil { // SIGKILL: no shutdown, no cleanup
		t.Fatal(err)
	}
	a.Wait()
	killed := time.Now()
	release()

	ops := freeAddr(t)
	if takeover {
		ops = ""
	} else {
		args = append(args, "--ops-addr", ops)
	}
	var b *exec.Cmd
	if !takeover {
		b = startProcess(t, args, base)
	}
	// Within 15 s of the restart (a restarted node takes back its own
	// claims at once), or of the kill (another node takes over when the
	// 10 s lease ends).
	deadline := time.Now().Add(15 * time.Second)
	if takeover {
		deadline = killed.Add(15 * time.Second)
	}
	for sink.count() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the message was not delivered within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("delivered %v after the kill", time.Since(killed).Round(time.Millisecond))
	sink.mu.Lock()
	ids := append([]string(nil), sink.ids...)
	sink.mu.Unlock()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] || !strings.HasPrefix(ids[0], "<msg_") || !strings.HasSuffix(ids[0], "@latchkey.test>") {
		t.Errorf("Message-IDs of the attempts %q; want one id from the outbox message, twice", ids)
	}
	if !takeover {
		// No duplicate can come once the outbox is empty (the message was
		// settled, not left to a lease that runs out), and none is on its
		// way once the node has stopped (a graceful stop waits for the
		// sends in flight). The code is tried first, while the node serves.
		for depth := ""; depth != "0"; depth = outboxDepth(t, ops) {
			if time.Now().After(deadline) {
				t.Fatalf("the delivered message is still in the outbox (latchkey_outbox_messages %s)", depth)
			}
			time.Sleep(20 * time.Millisecond)
		}
		defer func() {
			if err := b.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := b.Wait(); err != nil {
				t.Fatalf("graceful stop: %v", err)
			}
			if n := sink.count(); n != 1 {
				t.Fatalf("delivered %d times", n)
			}
		}()
	}
	code := ""
	sink.mu.Lock()
	if m := regexp.MustCompile(`code for Web is: ([0-9]{6})`).FindStringSubmatch(sink.accepted[0]); m != nil {
		code = m[1]
	}
	sink.mu.Unlock()
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {"web"},
		"client_secret": {"web-secret-0123456789abcdefghij"}, "username": {"crash@example.com"}, "otp": {code}, "realm": {"email"}}
	tr, err := http.PostForm(base+"oauth/token", form)
	if err != nil || tr.StatusCode != 200 {
		t.Fatalf("the delivered code %q: %v %v", code, tr, err)
	}
	tr.Body.Close()
	if n := sink.count(); takeover && n != 1 {
		t.Fatalf("delivered %d times", n)
	}
}

// outboxDepth reads latchkey_outbox_messages from the ops listener at
// ops ("" when it cannot be read).
func outboxDepth(t *testing.T, ops string) string {
	t.Helper()
	r, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		return ""
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "latchkey_outbox_messages "); ok {
			return v
		}
	}
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs `latchkey args…` as a child process and waits until it
// answers; it is killed when the test ends.
func startProcess(t *testing.T, args []string, base string) *exec.Cmd {
	t.Helper()
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LATCHKEY_TEST_RUN="+string(enc),
		"LATCHKEY_MASTER_KEY="+hex.EncodeToString([]byte("crash-test-master-key-0123456789")))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := http.Get(base + ".well-known/openid-configuration")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
