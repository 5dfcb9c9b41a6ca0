package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/migrations"
	"github.com/latchkey/latchkey/internal/store/storetest"
)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data dir?#%", "latchkey.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateClient(ctx, store.Client{ClientID: "client_a", Name: "A"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	applied := migrationRows(t, s)
	if len(applied) == 0 {
		t.Fatal("no migrations recorded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := openTest(t, path)
	c, err := s2.GetClient(ctx, "client_a")
	if err != nil || c.Name != "A" {
		t.Fatalf("GetClient after reopen = %+v, %v", c, err)
	}
	if again := migrationRows(t, s2); fmt.Sprint(again) != fmt.Sprint(applied) {
		t.Fatalf("migrations after reopen = %v, want %v (not re-run)", again, applied)
	}
	var mode string
	if err := s2.r.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// migrationRows lists "version name applied_at" of schema_migrations.
func migrationRows(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.r.db.QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, at int64
		var name string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %d", v, name, at))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadersAreReadOnly(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	if _, err := s.r.db.ExecContext(t.Context(), `DELETE FROM users`); err == nil {
		t.Fatal("a reader connection could write")
	}
}

// TestWriterSettings: both files' writers are in WAL mode with
// synchronous=NORMAL and checkpoint every walCheckpointPages pages.
func TestWriterSettings(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	for name, p := range map[string]*pool{"main": s.w, "logs": s.lw} {
		var mode string
		var sync, pages int
		db := p.db
		if err := db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(t.Context(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 1 || pages != walCheckpointPages {
			t.Errorf("%s: journal_mode %s, synchronous %d, wal_autocheckpoint %d; want wal, 1 (NORMAL), %d", name, mode, sync, pages, walCheckpointPages)
		}
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := Open(t.Context(), ":memory:"); err == nil {
		t.Fatal("Open(:memory:) succeeded")
	}
}

// BenchmarkLoginWrites measures the store's side of a full login:
// PutCode + ConsumeCode + RecordLogin, over a working set of identifiers
// (the first login of each signs the user up).
func BenchmarkLoginWrites(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "latchkey.db"))
	ctx := context.Background()
	const users = 10000
	var n atomic.Int64
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			ident := fmt.Sprintf("user%d@example.com", i%users)
			h := sha256.Sum256([]byte(fmt.Sprint(i)))
			now := start.Add(time.Duration(i) * time.Millisecond)
			c := store.Code{
				ID: fmt.Sprintf("code_%d", i), Connection: "email", Identifier: ident, Hash: h[:],
				ClientID: "client_a", UserIDHint: fmt.Sprintf("%024x", i%users), Send: "code",
				AuthParams: map[string]string{"scope": "openid profile email"},
				IP:         "203.0.113.5", UserAgent: "bench", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute),
			}
			if err := s.PutCode(ctx, c, nil); err != nil {
				b.Fatal(err)
			}
			if _, err := s.ConsumeCode(ctx, c.Connection, ident, h[:], now); err != nil {
				b.Fatal(err)
			}
			l := store.Login{UserID: "email|" + c.UserIDHint, Connection: "email", Identifier: ident,
				Email: ident, EmailVerified: true, IP: "203.0.113.5", At: now}
			if _, _, err := s.RecordLogin(ctx, l, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// TestOldLogsMoved: a database from a build that kept the tenant log in the
// main file (schema versions 2 and 3) opens, its events move to the log file
// exactly once, and the old tables are gone from the main file.
func TestOldLogsMoved(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s := openTest(t, path)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	kept := benchEvent(1, start)
	if err := s.AppendLogs(ctx, []store.LogEvent{kept}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rebuild what versions 2 and 3 left in the main file.
	oldSchema, err := migrationFiles.ReadFile("logmigrations/0001_logs.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := openTest(t, filepath.Join(t.TempDir(), "scratch.db"))
	db := old.w.db
	if _, err := db.ExecContext(ctx, `ATTACH DATABASE ? AS m`, path); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, strings.NewReplacer("CREATE TABLE ", "CREATE TABLE m.", "CREATE INDEX ", "CREATE INDEX m.").Replace(string(oldSchema))); err != nil {
		t.Fatal(err)
	}
	moved := benchEvent(2, start)
	moved.Description = "Moved from the old file"
	for _, q := range []string{
		`DELETE FROM m.schema_migrations WHERE version >= 4`,
		`DROP TABLE m.ephemerals`,                                  // from version 5
		`DROP TABLE m.outbox`,                                      // from version 6
		`DROP TABLE m.tenant_file_state`,                           // from version 7
		`DROP INDEX m.refresh_tokens_idle_expires_at`,              // from version 8
		`DROP INDEX m.refresh_tokens_revoked`,                      // from version 8
		`ALTER TABLE m.refresh_tokens DROP COLUMN idle_expires_at`, // from version 8
		`DROP INDEX m.signing_keys_one_current_one_next_per_alg`,   // from version 10
		`ALTER TABLE m.signing_keys DROP COLUMN status`,            // from version 9
		`ALTER TABLE m.signing_keys DROP COLUMN current_since`,     // from version 9
		`ALTER TABLE m.signing_keys DROP COLUMN revoked_at`,        // from version 9
		`INSERT INTO m.schema_migrations (version, name, applied_at) VALUES (2, 'logs', 0), (3, 'log_descriptions', 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// One event already in the log file (as after an interrupted move), one not.
	if _, err := db.ExecContext(ctx, `INSERT INTO m.logs (id, date, type, description) VALUES (?, ?, ?, ?), (?, ?, ?, ?)`,
		kept.ID, kept.Date.UnixMilli(), kept.Type, kept.Description,
		moved.ID, moved.Date.UnixMilli(), moved.Type, moved.Description); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DETACH DATABASE m`); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, path)
	for _, id := range []string{kept.ID, moved.ID} {
		if _, err := s2.GetLog(ctx, id); err != nil {
			t.Errorf("GetLog(%s) after the move: %v", id, err)
		}
	}
	var n int
	if err := s2.lr.db.QueryRowContext(ctx, `SELECT count(*) FROM logs`).Scan(&n); err != nil || n != 2 {
		t.Errorf("log file holds %d events (%v), want 2", n, err)
	}
	if err := s2.lr.db.QueryRowContext(ctx, `SELECT count(*) FROM log_descriptions WHERE description = ?`, moved.Description).Scan(&n); err != nil || n != 1 {
		t.Errorf("moved description in the dictionary: %d, %v", n, err)
	}
	if err := s2.r.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('logs', 'log_descriptions')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("old log tables left in the main file: %d, %v", n, err)
	}
}

// TestRefusesNewerSchema: a build opening files migrated by a newer one
// refuses, naming the file and both versions; each of the two files is
// checked.
func TestRefusesNewerSchema(t *testing.T) {
	for _, file := range []string{"latchkey.db", "latchkey-logs.db"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "latchkey.db")
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			db := s.w.db
			if file != "latchkey.db" {
				db = s.lw.db
			}
			if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)`); err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = Open(t.Context(), path)
			var ne *migrations.NewerSchemaError
			if !errors.As(err, &ne) || ne.Database != 9999 || ne.Build < 1 || ne.Build >= 9999 {
				t.Fatalf("Open of a newer schema: %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, file) || !strings.Contains(msg, "9999") || !strings.Contains(msg, fmt.Sprintf("(%d)", ne.Build)) {
				t.Errorf("error does not name the file and both versions: %v", err)
			}
		})
	}
}

// TestErrorsCounted: failed statements are counted (the store-errors
// metric), answers such as no rows and conflicts are not.
func TestErrorsCounted(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	ctx := t.Context()
	if _, err := s.GetClient(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ClientID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ClientID: "a", Name: "A"}); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if n := s.Errors(); n != 0 {
		t.Fatalf("Errors after answers = %d", n)
	}
	if _, err := s.r.exec(ctx, "SELECT * FROM no_such_table"); err == nil {
		t.Fatal("query of a missing table worked")
	}
	if n := s.Errors(); n != 1 {
		t.Fatalf("Errors after a failed statement = %d", n)
	}
}

// TestSigningKeysMigrated: keys stored before rotation existed get their
// statuses from the rule that chose the signer then (the oldest key not
// retired): it is current, the next-oldest (from two nodes that started
// together) is next, any other key not retired was never used and is
// retired as of its creation; retired keys are previous.
func TestSigningKeysMigrated(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version >= 9`,
		`DROP INDEX signing_keys_one_current_one_next_per_alg`,
		`ALTER TABLE signing_keys DROP COLUMN status`,
		`ALTER TABLE signing_keys DROP COLUMN current_since`,
		`ALTER TABLE signing_keys DROP COLUMN revoked_at`,
	} {
		if _, err := s.w.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ms := func(h int) int64 { return time.Date(2025, 1, 1, h, 0, 0, 0, time.UTC).UnixMilli() }
	for _, k := range []struct {
		kid              string
		created, retired any
	}{
		{"retired", ms(1), ms(3)}, {"signer", ms(2), nil}, {"b_second", ms(4), nil}, {"a_second", ms(4), nil}, {"third", ms(5), nil},
	} {
		if _, err := s.w.db.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, created_at, retired_at)
			VALUES (?, 'RS256', x'7b7d', x'00', ?, ?)`, k.kid, k.created, k.retired); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	keys, err := s.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range keys {
		got[k.KID] = fmt.Sprintf("%s since=%d retired=%d", k.Status, k.CurrentSince.UnixMilli()*boolInt(!k.CurrentSince.IsZero()),
			k.RetiredAt.UnixMilli()*boolInt(!k.RetiredAt.IsZero()))
	}
	want := map[string]string{
		"retired":  fmt.Sprintf("previous since=0 retired=%d", ms(3)),
		"signer":   fmt.Sprintf("current since=%d retired=0", ms(2)),
		"a_second": "next since=0 retired=0",
		"b_second": fmt.Sprintf("previous since=0 retired=%d", ms(4)),
		"third":    fmt.Sprintf("previous since=0 retired=%d", ms(5)),
	}
	for kid, w := range want {
		if got[kid] != w {
			t.Errorf("%s: %s, want %s", kid, got[kid], w)
		}
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
