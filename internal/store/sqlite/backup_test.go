package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// TestBackupDuringWrites backs a store up while another goroutine writes to
// both of its files, and while a write transaction is open: the backup
// neither waits for that transaction nor contains it, each copy is a
// consistent snapshot (a prefix of the sequential writes), passes
// integrity_check, and opens as a store.
func TestBackupDuringWrites(t *testing.T) {
	ctx := t.Context()
	src := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	var clients, events atomic.Int64 // committed so far
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := src.CreateClient(ctx, store.Client{ClientID: fmt.Sprintf("client_%06d", i), Name: "C"}); err != nil {
				t.Errorf("CreateClient: %v", err)
				return
			}
			clients.Add(1)
			if err := src.AppendLogs(ctx, []store.LogEvent{benchEvent(i, start)}); err != nil {
				t.Errorf("AppendLogs: %v", err)
				return
			}
			events.Add(1)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	waitFor(t, func() bool { return events.Load() >= 50 })

	// A write transaction holds the writer while the backup runs; it
	// commits only afterwards.
	held, err := src.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.exec(ctx, `INSERT INTO clients (client_id, data) VALUES ('uncommitted', '{"client_id":"uncommitted"}')`); err != nil {
		held.rollback()
		t.Fatalf("insert in the held transaction: %v", err)
	}
	before := clients.Load()
	dir := filepath.Join(t.TempDir(), "backup")
	written, err := src.Backup(ctx, dir)
	if cerr := held.commit(); cerr != nil {
		t.Fatalf("commit the held transaction: %v", cerr)
	}
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	want := []string{filepath.Join(dir, "latchkey.db"), filepath.Join(dir, "latchkey-logs.db")}
	if fmt.Sprint(written) != fmt.Sprint(want) {
		t.Fatalf("Backup wrote %v, want %v", written, want)
	}
	if names := dirNames(t, dir); fmt.Sprint(names) != "[latchkey-logs.db latchkey.db]" {
		t.Fatalf("backup directory holds %v", names)
	}

	for _, f := range written {
		checkIntegrity(t, f)
	}
	cp := openTest(t, written[0])
	cs, err := cp.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The writer creates clients one after another (the held transaction
	// only delays them), so the copy holds exactly the first n of them.
	n := len(cs)
	if int64(n) < before {
		t.Errorf("the backup holds %d clients; %d were committed before it started", n, before)
	}
	for i, c := range cs {
		if want := fmt.Sprintf("client_%06d", i); c.ClientID != want {
			t.Fatalf("client %d of the backup is %q, want %q (not a snapshot, or the uncommitted row)", i, c.ClientID, want)
		}
	}
	page, err := cp.SearchLogs(ctx, store.LogSearch{Limit: 1, WithTotal: true})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total < n-1 {
		t.Errorf("the log copy holds %d events; the main copy %d clients (the log is taken after)", page.Total, n)
	}
	t.Logf("backup taken during writes: %d clients, %d log events", n, page.Total)
}

// TestBackupRefuses: a backup goes only into a new or empty directory, of
// a Latchkey store that exists, and leaves nothing behind when it fails.
func TestBackupRefuses(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	good := filepath.Join(root, "good", "latchkey.db")
	if err := os.MkdirAll(filepath.Dir(good), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	foreign := filepath.Join(root, "foreign", "latchkey.db") // SQLite files, not Latchkey's
	for _, f := range []string{foreign, LogsPath(foreign)} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	nonEmpty := filepath.Join(root, "non-empty")
	if err := os.MkdirAll(nonEmpty, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, dir string
		left            []string // what dir holds afterwards (nil: it does not exist)
	}{
		{"non-empty destination", good, nonEmpty, []string{"x"}},
		{"destination is a file", good, file, nil},
		{"no store", filepath.Join(root, "missing", "latchkey.db"), filepath.Join(root, "d1"), nil},
		{"not a Latchkey database", foreign, filepath.Join(root, "d2"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			written, err := Backup(ctx, tt.path, tt.dir)
			if err == nil {
				t.Fatalf("Backup succeeded: %v", written)
			}
			t.Log(err)
			if fi, serr := os.Stat(tt.dir); serr == nil && !fi.IsDir() {
				return
			}
			if got := dirNames(t, tt.dir); fmt.Sprint(got) != fmt.Sprint(tt.left) {
				t.Errorf("destination holds %v afterwards, want %v", got, tt.left)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dirNames lists dir (nil when it does not exist).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// checkIntegrity runs PRAGMA integrity_check on the database file at path.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, map[string][]string{"mode": {"ro"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(context.Background(), `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check of %s: %q, %v", path, res, err)
	}
}
