package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// benchEvent is event i of a synthetic tenant log with a realistic mix:
// mostly logins and code sends, failed exchanges, and 3% deprecation
// notices, half of which mention passwordless.
func benchEvent(i int, start time.Time) store.LogEvent {
	e := store.LogEvent{
		ID:         fmt.Sprintf("900%020d%012d", start.UnixMilli()+int64(i)*1000, i),
		Date:       start.Add(time.Duration(i) * time.Second),
		ClientID:   fmt.Sprintf("client_%d", i%7),
		ClientName: fmt.Sprintf("App %d", i%7),
		Connection: "email",
		UserID:     fmt.Sprintf("email|%024x", i%50000),
		UserName:   fmt.Sprintf("user%d@example.com", i%50000),
		IP:         fmt.Sprintf("203.0.%d.%d", i%256, i/256%256),
		Hostname:   "login.example.com",
		UserAgent:  "Chrome 120.0.0 / Mac OS X 10.15.7",
	}
	switch r := i % 100; {
	case r < 50:
		e.Type, e.Description = "s", "Successful login"
	case r < 75:
		e.Type = "cls"
		e.Details = []byte(`{"body":{"connection":"email","send":"code"}}`)
	case r < 85:
		e.Type, e.Connection, e.UserName = "cs", "sms", fmt.Sprintf("+1555%07d", i%50000)
	case r < 97:
		e.Type, e.Description = "fepotpft", "Wrong email or verification code."
	case r < 98:
		e.Type = "depnote"
		e.Description = "Legacy passwordless endpoint called without client authentication"
		e.Details = []byte(`{"size_exceeded":false}`)
	case r < 99:
		e.Type, e.Description = "depnote", "Unpaginated list of users"
		e.Details = []byte(`{"size_exceeded":true}`)
	default:
		e.Type, e.Description = "depnote", "Allow Connections Management without Options Scopes"
	}
	return e
}

// benchLogStore opens a store holding n synthetic events, built once and
// kept under os.TempDir keyed by n and the schema version.
func benchLogStore(b *testing.B, n int) *Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("latchkey-bench-logs-v7-%d.db", n))
	if _, err := os.Stat(path); err == nil {
		return openTest(b, path)
	}
	tmp := strings.TrimSuffix(path, ".db") + "-building.db"
	for _, f := range []string{tmp, LogsPath(tmp)} {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(f + suffix)
		}
	}
	s, err := Open(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	began := time.Now()
	const batch = 5000
	events := make([]store.LogEvent, 0, batch)
	for i := range n {
		events = append(events, benchEvent(i, start))
		if len(events) == batch || i == n-1 {
			if err := s.AppendLogs(ctx, events); err != nil {
				b.Fatal(err)
			}
			events = events[:0]
		}
	}
	if _, err := s.lw.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d events in %v", n, time.Since(began))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	// The log file first: the main file's presence marks a finished build.
	if err := os.Rename(LogsPath(tmp), LogsPath(path)); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return openTest(b, path)
}

// BenchmarkSearchLogs1M searches a million events: the first page of 50,
// newest first, with and without the total.
func BenchmarkSearchLogs1M(b *testing.B) {
	s := benchLogStore(b, 1_000_000)
	ctx := context.Background()
	for _, q := range []string{
		`type:depnote AND description:*passwordless*`,
		`type:depnote AND description:*nomatch*`,
		`type:depnote AND description:*Unpaginated* AND details.size_exceeded:true`,
		`description:*passwordless*`,
		`description:*nomatch*`,
		`description:*login*`,
		`type:s*`,
		`user_name:user4242@example.com`,
		`user_name:user4242*`,
		`date:[2025-01-05 TO 2025-01-06}`,
		`date:[2025-01-01 TO 2025-01-02}`,
		`NOT type:s`,
	} {
		n, err := query.Parse(q)
		if err != nil {
			b.Fatal(err)
		}
		for _, total := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/total=%v", q, total), func(b *testing.B) {
				for b.Loop() {
					page, err := s.SearchLogs(ctx, store.LogSearch{Query: n, Limit: 50, WithTotal: total})
					if err != nil {
						b.Fatal(err)
					}
					if len(page.Events) == 0 && !strings.Contains(q, "nomatch") {
						b.Fatalf("%s: no events", q)
					}
				}
			})
		}
	}
}

// BenchmarkAppendLogs appends batches of 256 events, as the recorder does.
func BenchmarkAppendLogs(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "latchkey.db"))
	ctx := context.Background()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 256
	i := 0
	events := make([]store.LogEvent, batch)
	for b.Loop() {
		for j := range events {
			events[j] = benchEvent(i, start)
			i++
		}
		if err := s.AppendLogs(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
}
