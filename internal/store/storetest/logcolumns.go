package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// testLogsEveryColumn stores one event with every column of
// store.LogColumns set and one with none set, and checks that each column
// round-trips (GetLog, LogsAfter, ScanLogs, SearchLogs) and is searchable
// as its kind says: text by exact value, prefix, suffix, contains, range
// and existence; log_id and date exactly; isMobile by true and false;
// objects by a path below them and by existence. Every sort field sorts.
// A column missing from a backend's schema, insert or scan fails here.
func testLogsEveryColumn(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := store.LogEvent{}
	for _, c := range store.LogColumns() {
		switch p := c.Ref(&full).(type) {
		case *string:
			*p = "val" + c.Field + "x"
		case *bool:
			*p = true
		case *json.RawMessage:
			*p = json.RawMessage(`{"k": "val` + c.Field + `x", "n": 7}`)
		}
	}
	full.ID, full.Date = logID(21), logDay(21)
	empty := store.LogEvent{ID: logID(22), Date: logDay(22)}
	must(t, s.AppendLogs(ctx, []store.LogEvent{full, empty}), "AppendLogs")

	for _, want := range []store.LogEvent{full, empty} {
		got, err := s.GetLog(ctx, want.ID)
		must(t, err, "GetLog "+want.ID)
		checkEvent(t, got, want)
	}
	after, err := s.LogsAfter(ctx, "", 10)
	must(t, err, "LogsAfter")
	var scanned []store.LogEvent
	must(t, s.ScanLogs(ctx, nil, time.Time{}, time.Time{}, func(e store.LogEvent) error {
		scanned = append(scanned, e)
		return nil
	}), "ScanLogs")
	for _, got := range [][]store.LogEvent{after, scanned} {
		if len(got) != 2 {
			t.Fatalf("%d events, want 2", len(got))
		}
		checkEvent(t, got[0], full)
		checkEvent(t, got[1], empty)
	}

	search := func(q string, want ...int) {
		t.Helper()
		n, err := query.Parse(q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			return
		}
		page, err := s.SearchLogs(ctx, store.LogSearch{Query: n, Ascending: true, Limit: 10})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			return
		}
		if got := ids(t, page.Events); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
			return
		}
		if len(want) == 1 && want[0] == 21 {
			checkEvent(t, page.Events[0], full)
		}
	}
	for _, c := range store.LogColumns() {
		f := c.Field
		switch c.Kind {
		case store.LogText:
			v := "val" + f + "x"
			search(f+`:"`+v+`"`, 21)
			search(f+":"+v[:5]+"*", 21)
			search(f+":*"+v[3:], 21)
			search(f+":*"+v[2:len(v)-1]+"*", 21)
			search(f+":val*"+f+"x", 21)
			search(f+":["+v+" TO "+v+"]", 21)
			search("_exists_:"+f, 21)
			search("NOT _exists_:"+f, 22)
			search(f+":"+v+"y", []int{}...)
		case store.LogID:
			search(f+`:"`+full.ID+`"`, 21)
			search("_exists_:"+f, 21, 22)
		case store.LogDate:
			search(f+":"+full.Date.UTC().Format("2006-01-02"), 21)
			search(f+":["+full.Date.UTC().Format("2006-01-02")+" TO *]", 21, 22)
			search("_exists_:"+f, 21, 22)
		case store.LogBool:
			search(f+":true", 21)
			search(f+":false", 22)
			search("_exists_:"+f, 21, 22)
		case store.LogObject:
			search(f+`.k:"val`+f+`x"`, 21)
			search(f+".k:val"+f[:2]+"*", 21)
			search(f+".n:7", 21)
			search("_exists_:"+f, 21)
			search("_exists_:"+f+".k", 21)
			search("NOT _exists_:"+f, 22)
		default:
			t.Errorf("%s: kind %d has no checks", c.Column, c.Kind)
		}
	}
	for _, f := range store.LogSortFields {
		for _, asc := range []bool{true, false} {
			page, err := s.SearchLogs(ctx, store.LogSearch{Sort: f, Ascending: asc, Limit: 10, WithTotal: true})
			if err != nil || page.Total != 2 || len(page.Events) != 2 {
				t.Errorf("sort by %s (ascending %v): %d events, total %d, %v", f, asc, len(page.Events), page.Total, err)
			}
		}
	}
}
