package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// TestTrigramPathsAgree: searching descriptions through the trigram index
// and by scanning give the same events and totals.
func TestTrigramPathsAgree(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	ctx := t.Context()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []store.LogEvent
	for i := range 400 {
		events = append(events, benchEvent(i, start))
	}
	for i, d := range []string{`say "AND" NEAR(x y) OR NOT`, `a*b?c[d]e 100% off_50`, `ÜñïçødéÜñï`, `ab`, `"""`} {
		e := benchEvent(1000+i, start)
		e.Description = d
		events = append(events, e)
	}
	if err := s.AppendLogs(ctx, events); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeLogs(ctx, start.Add(10*time.Second)); err != nil { // the delete trigger too
		t.Fatal(err)
	}
	for _, q := range []string{
		`description:*passwordless*`, `description:*less\ endpoint*`, `description:*login`,
		`description:Legacy*client*`, `description:*\"AND\"*`, `description:*NEAR\(x*`,
		`description:*\*b\?c\[d*`, `description:*100%*`, `description:*ñïçø*`, `description:*\"\"\"*`,
		`*Unpaginated*`, `type:depnote AND NOT description:*Options*`, `description:*Successful*`,
	} {
		n, err := query.Parse(q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", q, err)
		}
		var got [2]string
		for i, limit := range []int{rareLimit, 0} {
			s.rareLimit = limit
			page, err := s.SearchLogs(ctx, store.LogSearch{Query: n, Limit: 100, Offset: 1, WithTotal: true})
			if err != nil {
				t.Fatalf("SearchLogs(%q) rareLimit %d: %v", q, limit, err)
			}
			var ids []string
			for _, e := range page.Events {
				ids = append(ids, e.ID)
			}
			got[i] = fmt.Sprint(page.Total, ids)
		}
		if got[0] != got[1] {
			t.Errorf("%q: trigram index %s, scan %s", q, got[0], got[1])
		}
	}
}
