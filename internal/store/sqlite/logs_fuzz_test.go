package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// FuzzSearchLogs runs whatever the parser accepts against a real database:
// no query may fail in SQLite (bad JSON paths, patterns, parameters).
func FuzzSearchLogs(f *testing.F) {
	for _, s := range []string{
		`type:depnote AND description:*passwordless*`,
		`details.size_exceeded:true OR details.a.b:[x TO *]`, `user_name:j*`, `*Unpaginated*`,
		`date:[2025 TO 2025-06-02T12:00:00.5}`, `NOT _exists_:details.a-b`, `isMobile:true`,
		`auth0_client.version:9*0`, `details.n:1e3`, `description:*\*\?\[\]*`,
	} {
		f.Add(s)
	}
	s := openTest(f, filepath.Join(f.TempDir(), "latchkey.db"))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]store.LogEvent, 300)
	for i := range events {
		events[i] = benchEvent(i, start)
	}
	if err := s.AppendLogs(context.Background(), events); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := query.Parse(q)
		if err != nil {
			return
		}
		ls := store.LogSearch{Query: n, Limit: 10, WithTotal: true}
		if _, err := s.SearchLogs(context.Background(), ls); err != nil {
			t.Fatalf("SearchLogs(%q): %v", q, err)
		}
	})
}
