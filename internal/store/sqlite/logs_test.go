package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// TestDescriptionDictionary: *word* searches of descriptions go through the
// dictionary of distinct descriptions; they find exactly the events a plain
// comparison of each description finds, metacharacters included, and the
// dictionary forgets descriptions whose events were purged.
func TestDescriptionDictionary(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	ctx := t.Context()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []store.LogEvent
	for i := range 400 {
		events = append(events, benchEvent(i, start))
	}
	for i, d := range []string{`say "AND" NEAR(x y) OR NOT`, `a*b?c[d]e 100% off_50`, `ÜñïçødéÜñï`, `ab`, `"""`, `Purged passwordless thing`} {
		e := benchEvent(1000+i, start)
		e.Description = d
		if i == 5 {
			e.Date = start.Add(-time.Hour) // purged below
		}
		events = append(events, e)
	}
	if err := s.AppendLogs(ctx, events); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeLogs(ctx, start); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	events = slices.DeleteFunc(events, func(e store.LogEvent) bool { return e.Date.Before(start) })
	var dict []string
	rows, err := s.lr.db.QueryContext(ctx, `SELECT description FROM log_descriptions ORDER BY description`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		dict = append(dict, d)
	}
	rows.Close()
	if slices.Contains(dict, "Purged passwordless thing") || !slices.Contains(dict, "a*b?c[d]e 100% off_50") || slices.Contains(dict, "") {
		t.Fatalf("dictionary after the purge: %q", dict)
	}

	for _, tc := range []struct {
		q     string
		match func(string) bool
	}{
		{`description:*passwordless*`, func(d string) bool { return strings.Contains(d, "passwordless") }},
		{`description:*less\ endpoint*`, func(d string) bool { return strings.Contains(d, "less endpoint") }},
		{`description:*login`, func(d string) bool { return strings.HasSuffix(d, "login") }},
		{`description:Legacy*client*`, func(d string) bool {
			i := strings.Index(d, "client")
			return strings.HasPrefix(d, "Legacy") && i >= len("Legacy")
		}},
		{`description:*\"AND\"*`, func(d string) bool { return strings.Contains(d, `"AND"`) }},
		{`description:*NEAR\(x*`, func(d string) bool { return strings.Contains(d, "NEAR(x") }},
		{`description:*\*b\?c\[d*`, func(d string) bool { return strings.Contains(d, "*b?c[d") }},
		{`description:*100%*`, func(d string) bool { return strings.Contains(d, "100%") }},
		{`description:*ñïçø*`, func(d string) bool { return strings.Contains(d, "ñïçø") }},
		{`description:*successful*`, func(d string) bool { return strings.Contains(d, "successful") }}, // case sensitive: none
		{`description:*Successful*`, func(d string) bool { return strings.Contains(d, "Successful") }},
		{`description:*thing*`, func(d string) bool { return strings.Contains(d, "thing") }}, // only in the purged event
	} {
		n, err := query.Parse(tc.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.q, err)
		}
		page, err := s.SearchLogs(ctx, store.LogSearch{Query: n, Limit: 100, Ascending: true, WithTotal: true})
		if err != nil {
			t.Fatalf("SearchLogs(%q): %v", tc.q, err)
		}
		var want, got []string
		for _, e := range events {
			if tc.match(e.Description) {
				want = append(want, e.ID)
			}
		}
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		if page.Total != len(want) || !slices.Equal(got, want[:min(len(want), 100)]) {
			t.Errorf("%s: total %d, events %d; want total %d", tc.q, page.Total, len(got), len(want))
		}
	}
}

// TestLogSchemaMatchesColumns: the logs table that the migrations make has
// exactly the columns of store.LogColumns (and seq, the rowid), in order.
func TestLogSchemaMatchesColumns(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "latchkey.db"))
	rows, err := s.lr.db.QueryContext(t.Context(), `SELECT name FROM pragma_table_info('logs') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	want := []string{"seq"}
	for _, c := range store.LogColumns() {
		want = append(want, c.Column)
	}
	if !slices.Equal(got, want) {
		t.Errorf("logs columns %q, want %q", got, want)
	}
}
