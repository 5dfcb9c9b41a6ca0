package main

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/testpg"
)

// TestAuditSurvivesCrash: a node is killed (SIGKILL) right after answering
// N starts with 200; once restarted, the tenant log holds the cls event of
// every one of them — on SQLite and on PostgreSQL.
func TestAuditSurvivesCrash(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		auditCrashTest(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		auditCrashTest(t, []string{"--database-url", testpg.SchemaURL(t, "auditcrash")})
	})
	// With --log-spool the answers wait for the node's spool, not for
	// PostgreSQL: the restarted node stores what the killed one spooled,
	// whether it is restarted with the flag or without it.
	for _, again := range [][]string{{"--log-spool"}, {}} {
		t.Run(fmt.Sprintf("postgres with --log-spool, restarted with %q", again), func(t *testing.T) {
			t.Parallel()
			auditCrashTest(t, []string{"--database-url", testpg.SchemaURL(t, "auditcrash_spool_"+strconv.Itoa(len(again)))},
				[]string{"--log-spool"}, again)
		})
	}
}

// auditCrashTest answers starts, kills the node, and finds every answered
// start's event in the store. With serveOnly flags (the node's own), the
// node is started again first, over the same data directory, with the
// flags restart.
func auditCrashTest(t *testing.T, extra []string, serveOnly ...[]string) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tf, []byte(crashTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := filepath.Join(dir, "master.key")
	if err := os.WriteFile(mk, []byte(hex.EncodeToString([]byte("crash-test-master-key-0123456789"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := append([]string{"--data-dir", filepath.Join(dir, "data")}, extra...)
	addr := freeAddr(t)
	base := "http://" + addr + "/"
	// Messages go to a port nobody listens on: they stay in the outbox,
	// which is not what this test is about.
	serve := func(flags []string) []string {
		return append(append([]string{"serve", "--addr", addr, "--bootstrap", tf, "--smtp-url", "smtp://" + freeAddr(t) + "?from=login%40latchkey.test",
			"--log-level", "warn"}, store...), flags...)
	}
	var first, restart []string
	if len(serveOnly) == 2 {
		first, restart = serveOnly[0], serveOnly[1]
	}
	a := startProcess(t, serve(first), base)

	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for i := range n {
		wg.Go(func() {
			r, err := http.Post(base+"passwordless/start", "application/json", strings.NewReader(fmt.Sprintf(
				`{"client_id":"web","client_secret":"web-secret-0123456789abcdefghij","connection":"email","send":"code","email":"user%d@example.com"}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			if r.StatusCode != 200 {
				t.Errorf("start %d: %d", i, r.StatusCode)
				return
			}
			mu.Lock()
			answered++
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := a.Process.Kill(); err != nil { // SIGKILL at once: no shutdown, no flush
		t.Fatal(err)
	}
	a.Wait()
	if answered != n {
		t.Fatalf("%d of %d starts answered 200", answered, n)
	}
	if spooled := eventlog.SpoolLeft(filepath.Join(dir, "data")); spooled != (len(extra) == 0 || first != nil) {
		t.Errorf("events left in the spool: %v", spooled)
	}
	if first != nil {
		startProcess(t, serve(restart), base)
	}

	// The events are read from the store the killed node wrote.
	events := cliJSON[[]map[string]any](t, append([]string{"logs", "search", "type:cls", "--limit", "100", "--master-key-file", mk}, store...)...)
	seen := map[string]bool{}
	for _, ev := range events {
		seen[fmt.Sprint(ev["user_name"])] = true
	}
	for i := range n {
		if to := fmt.Sprintf("user%d@example.com", i); !seen[to] {
			t.Errorf("no cls event for the answered start to %s (%d cls events in all)", to, len(events))
		}
	}
}
