package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// logID is the fixed-width ID of fixture event n.
func logID(n int) string { return fmt.Sprintf("9002025%030d", n) }

// logDay is the date of fixture event n: noon UTC on June n, 2025.
func logDay(n int) time.Time { return time.Date(2025, 6, n, 12, 0, 0, 0, time.UTC).In(zone) }

// logFixture is a small tenant log exercising every query form.
func logFixture() []store.LogEvent {
	ev := func(n int, e store.LogEvent) store.LogEvent {
		e.ID, e.Date = logID(n), logDay(n)
		return e
	}
	return []store.LogEvent{
		ev(1, store.LogEvent{Type: "s", Description: "Successful login", Connection: "email",
			ConnectionID: "con_1", ClientID: "cli_1", ClientName: "My App", UserID: "email|123",
			UserName: "jane@example.com", IP: "203.0.113.5", ClientIP: "10.0.0.1", Hostname: "login.example.com",
			UserAgent: "Chrome 120.0.0 / Mac OS X 10.15.7", IsMobile: true, Audience: "https://api",
			Scope: "openid email", Strategy: "email", StrategyType: "passwordless",
			Details:     json.RawMessage(`{"size_exceeded": true, "code": 42, "req": {"method": "GET"}}`),
			Auth0Client: json.RawMessage(`{"name":"auth0.js","version":"9.0.0"}`)}),
		ev(2, store.LogEvent{Type: "depnote", Description: "Legacy passwordless flow is deprecated"}),
		ev(3, store.LogEvent{Type: "depnote", Description: "Allow Connections Management without Options Scopes for clients",
			Details: json.RawMessage(`{"size_exceeded": "true"}`)}),
		ev(4, store.LogEvent{Type: "depnote", Description: "Unpaginated list of logs",
			Details: json.RawMessage(`{"size_exceeded": true}`)}),
		ev(5, store.LogEvent{Type: "depnote", Description: "Unpaginated list of users",
			Details: json.RawMessage(`{"size_exceeded": false}`)}),
		ev(6, store.LogEvent{Type: "sapi", Description: "Passwordless CAPITAL", Connection: "sms",
			UserID: "123", UserName: "+15551234567"}),
		ev(7, store.LogEvent{Type: "fepotpft", Description: `100% off_50 *star* what? [x] back\slash it's`,
			Connection: "passwordless-email", UserName: "j*smith"}),
		ev(8, store.LogEvent{Type: "cls", Description: "offX50 100X star x what!", Connection: "email",
			UserName: "JANE@example.com", ClientName: "Other", IP: "198.51.100.7", UserID: "email|1234"}),
		ev(9, store.LogEvent{Type: "f", ClientID: "abc"}),
	}
}

func appendFixture(t *testing.T, s store.Store) {
	t.Helper()
	must(t, s.AppendLogs(t.Context(), logFixture()), "AppendLogs")
}

// ids lists the fixture numbers of events, in their order.
func ids(t *testing.T, events []store.LogEvent) []int {
	t.Helper()
	out := []int{}
	for _, e := range events {
		var n int
		if _, err := fmt.Sscanf(e.ID[7:], "%d", &n); err != nil {
			t.Fatalf("unexpected ID %q", e.ID)
		}
		out = append(out, n)
	}
	return out
}

// sameJSON compares JSON texts by value (nil and null alike).
func sameJSON(t *testing.T, got, want json.RawMessage) bool {
	t.Helper()
	var g, w any
	if len(got) > 0 {
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("stored JSON %q: %v", got, err)
		}
	}
	if len(want) > 0 {
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
	}
	return cmp.Equal(g, w)
}

func checkEvent(t *testing.T, got, want store.LogEvent) {
	t.Helper()
	if !sameJSON(t, got.Details, want.Details) || !sameJSON(t, got.Auth0Client, want.Auth0Client) {
		t.Errorf("event %s JSON: details %s auth0_client %s, want %s %s", want.ID,
			got.Details, got.Auth0Client, want.Details, want.Auth0Client)
	}
	got.Details, got.Auth0Client, want.Details, want.Auth0Client = nil, nil, nil, nil
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("event %s (-want +got):\n%s", want.ID, diff)
	}
}

func testLogsAppendGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	appendFixture(t, s)
	for _, want := range logFixture() {
		got, err := s.GetLog(ctx, want.ID)
		must(t, err, "GetLog "+want.ID)
		checkEvent(t, got, want)
	}
	if _, err := s.GetLog(ctx, logID(99)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetLog(missing) = %v, want ErrNotFound", err)
	}
	// A retried batch, changed or not, adds nothing and changes nothing.
	again := logFixture()
	for i := range again {
		again[i].Description = "changed"
	}
	again = append(again, store.LogEvent{ID: logID(10), Date: logDay(10), Type: "s"})
	must(t, s.AppendLogs(ctx, again), "AppendLogs again")
	must(t, s.AppendLogs(ctx, nil), "AppendLogs(nil)")
	page, err := s.SearchLogs(ctx, store.LogSearch{Limit: 100, WithTotal: true})
	must(t, err, "SearchLogs")
	if page.Total != 10 || len(page.Events) != 10 {
		t.Fatalf("after re-append: total %d, %d events; want 10", page.Total, len(page.Events))
	}
	got, err := s.GetLog(ctx, logID(2))
	must(t, err, "GetLog")
	if got.Description != logFixture()[1].Description {
		t.Errorf("re-append changed event 2: %q", got.Description)
	}
	for _, bad := range []json.RawMessage{json.RawMessage(`[1]`), json.RawMessage(`{`), json.RawMessage(`"x"`)} {
		e := store.LogEvent{ID: logID(11), Date: logDay(11), Details: bad}
		if err := s.AppendLogs(ctx, []store.LogEvent{e}); err == nil {
			t.Errorf("AppendLogs with details %s succeeded", bad)
		}
	}
	if _, err := s.GetLog(ctx, logID(11)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected batch stored an event: %v", err)
	}
}

func testLogsQueries(t *testing.T, s store.Store) {
	appendFixture(t, s)
	all := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
	tests := []struct {
		q    string
		want []int
	}{
		// The queries Auth0 documents (auth0-compat.md §9.3).
		{`type:depnote AND description:*passwordless*`, []int{2}},
		{`type:depnote AND description:Allow\ Connections\ Management\ without\ Options\ Scopes*`, []int{3}},
		{`type:depnote AND description:*Unpaginated* AND details.size_exceeded:true`, []int{4}},
		{`type:s*`, []int{1, 6}},
		{`connection:*pass*`, []int{7}},
		{`user_id:"123"`, []int{6}},
		// Exact values are whole values, case sensitive.
		{`user_id:123`, []int{6}},
		{`type:S`, nil},
		{`type:depnot`, nil},
		{`client_name:"My App"`, []int{1}},
		{`client_name:My`, nil},
		{`user_name:jane@example.com`, []int{1}},
		{`user_name:JANE@example.com`, []int{8}},
		// Prefix, suffix, contains, wildcard.
		{`user_name:j*`, []int{1, 7}},
		{`user_name:J*`, []int{8}},
		{`user_id:*123`, []int{1, 6}},
		{`description:*CAPITAL`, []int{6}},
		{`description:*capital`, nil},
		{`description:*Passwordless*`, []int{6}},
		{`user_name:jane*example.com`, []int{1}},
		{`user_name:*ane*ample*`, []int{1}},
		// Metacharacters of LIKE and GLOB are literal.
		{`description:*off_50*`, []int{7}},
		{`description:*100%*`, []int{7}},
		{`description:100%*`, []int{7}},
		{`description:*\*star\**`, []int{7}},
		{`description:*what\?*`, []int{7}},
		{`description:*\[x\]*`, []int{7}},
		{`description:*back\\slash*`, []int{7}},
		{`description:*it's`, []int{7}},
		{`description:"100% off_50 *star* what? [x] back\\slash it's"`, []int{7}},
		{`user_name:j\*smith`, []int{7}},
		{`user_name:j\**`, []int{7}},
		// Bare terms: client_name, connection, description, ip, log_id, type, user_name.
		{`depnote`, []int{2, 3, 4, 5}},
		{`jane@example.com`, []int{1}},
		{`203.0.113.5`, []int{1}},
		{`"My App"`, []int{1}},
		{logID(4), []int{4}},
		{`*Unpaginated*`, []int{4, 5}},
		{`123`, nil}, // user_id is not a default field
		// Operators.
		{`NOT type:depnote`, []int{1, 6, 7, 8, 9}},
		{`type:(s OR cls) AND NOT connection:sms`, []int{1, 8}},
		{`(type:s OR type:f) OR (type:cls AND user_name:JANE*)`, []int{1, 8, 9}},
		{`type:depnote AND (description:*logs OR description:*users) AND NOT details.size_exceeded:false`, []int{4}},
		{`type:depnote NOT description:*Unpaginated*`, []int{2, 3}},
		// details paths: strings, booleans and numbers.
		{`details.size_exceeded:true`, []int{1, 3, 4}},
		{`details.size_exceeded:false`, []int{5}},
		{`details.size_exceeded:tr*`, []int{3}},
		{`details.code:42`, []int{1}},
		{`details.code:4*`, nil},
		{`details.req.method:GET`, []int{1}},
		{`details.req:GET`, nil},
		{`NOT details.code:42`, []int{2, 3, 4, 5, 6, 7, 8, 9}},
		{`auth0_client.name:auth0.js`, []int{1}},
		{`location_info.city_name:Paris`, nil},
		// Fields a stored event never has.
		{`organization_id:org_1`, nil},
		{`NOT organization_id:org_1`, all},
		// isMobile.
		{`isMobile:true`, []int{1}},
		{`isMobile:false`, []int{2, 3, 4, 5, 6, 7, 8, 9}},
		// Existence.
		{`_exists_:user_id`, []int{1, 6, 8}},
		{`client_id:*`, []int{1, 9}},
		{`NOT _exists_:description`, []int{9}},
		{`_exists_:details`, []int{1, 3, 4, 5}},
		{`_exists_:details.req.method`, []int{1}},
		{`_exists_:auth0_client`, []int{1}},
		{`_exists_:location_info`, nil},
		{`_exists_:organization_id`, nil},
		{`_exists_:log_id AND _exists_:date AND _exists_:isMobile`, all},
		// Dates name periods; bounds are inclusive or exclusive.
		{`date:2025-06-03`, []int{3}},
		{`date:2025-06`, all},
		{`date:2025-05`, nil},
		{`date:2025`, all},
		{`date:[2025-06-03 TO 2025-06-05]`, []int{3, 4, 5}},
		{`date:{2025-06-03 TO 2025-06-05}`, []int{4}},
		{`date:[2025-06-03 TO 2025-06-05}`, []int{3, 4}},
		{`date:[2025-06-08 TO *]`, []int{8, 9}},
		{`date:[* TO 2025-06-02}`, []int{1}},
		{`date:[2025-06-02T12:00:00 TO 2025-06-03T12:00:00}`, []int{2}},
		{`date:[2025-06-02T12:00:00.001 TO 2025-06-03T12:00:00]`, []int{3}},
		{`date:2025-06-02T12:00:00Z`, []int{2}},
		{`date:2025-06-02T14:00:00+02:00`, []int{2}},
		{`date:2025-06-02T12:00:01`, nil},
		{`date:[2026 TO *]`, nil},
		{`date:{2025-06-09T12:00:00 TO *]`, nil},
		{`date:[* TO 2020}`, nil},
		{`date:[* TO 2030]`, all},
		{`date:[2020 TO 2030]`, all},
		{`NOT date:[2025-06-02 TO 2025-06-08]`, []int{1, 9}},
		{`date:[2025-06-05 TO 2025-06-03]`, nil},
		// Other ranges compare as strings.
		{`log_id:[` + logID(3) + ` TO ` + logID(5) + `]`, []int{3, 4, 5}},
		{`log_id:{` + logID(3) + ` TO *}`, []int{4, 5, 6, 7, 8, 9}},
		{`type:[depnote TO f]`, []int{2, 3, 4, 5, 9}},
	}
	for _, tt := range tests {
		n, err := query.Parse(tt.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.q, err)
			continue
		}
		page, err := s.SearchLogs(t.Context(), store.LogSearch{Query: n, Ascending: true, Limit: 100, WithTotal: true})
		if err != nil {
			t.Errorf("SearchLogs(%q): %v", tt.q, err)
			continue
		}
		got := ids(t, page.Events)
		want := tt.want
		if want == nil {
			want = []int{}
		}
		if !slices.Equal(got, want) || page.Total != len(want) {
			t.Errorf("SearchLogs(%q) = %v (total %d), want %v", tt.q, got, page.Total, want)
		}
	}
}

func testLogsHandBuilt(t *testing.T, s store.Store) {
	appendFixture(t, s)
	// ASTs the parser never returns must not break a backend.
	for _, n := range []query.Node{
		query.And{}, query.Or{}, query.Not{}, query.And{Nodes: []query.Node{nil}},
		query.Term{Field: "date", Value: "bad", Kind: query.Exact},
		query.Range{Field: "date", Lo: "2025-13"},
	} {
		if _, err := s.SearchLogs(t.Context(), store.LogSearch{Query: n, Limit: 10}); err == nil {
			t.Errorf("SearchLogs(%#v) succeeded", n)
		}
	}
	for _, tt := range []struct {
		n    query.Node
		want []int
	}{
		{query.Term{Field: "no_such_field", Value: "x"}, nil},
		{query.Term{Field: "details.a'b", Value: "x"}, nil},
		{query.Term{Field: "type", Value: "s", Kind: query.Kind(99)}, nil},
		{query.Range{Field: "isMobile", Lo: "a"}, nil},
		{query.Term{Field: "date", Value: "2025-06-04", Kind: query.Phrase}, []int{4}},
	} {
		page, err := s.SearchLogs(t.Context(), store.LogSearch{Query: tt.n, Ascending: true, Limit: 10})
		if err != nil {
			t.Errorf("SearchLogs(%#v): %v", tt.n, err)
			continue
		}
		if got := ids(t, page.Events); !slices.Equal(got, append([]int{}, tt.want...)) {
			t.Errorf("SearchLogs(%#v) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if _, err := s.SearchLogs(t.Context(), store.LogSearch{Sort: "details", Limit: 10}); err == nil {
		t.Error("SearchLogs sorted by details succeeded")
	}
}

func testLogsSortPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	appendFixture(t, s)
	tests := []struct {
		name string
		s    store.LogSearch
		want []int
	}{
		{"date desc", store.LogSearch{Limit: 3}, []int{9, 8, 7}},
		{"date desc page 2", store.LogSearch{Limit: 3, Offset: 3}, []int{6, 5, 4}},
		{"date asc", store.LogSearch{Limit: 4, Ascending: true, Sort: "date"}, []int{1, 2, 3, 4}},
		{"last page", store.LogSearch{Limit: 5, Offset: 8}, []int{1}},
		{"past the end", store.LogSearch{Limit: 5, Offset: 20}, []int{}},
		{"log_id", store.LogSearch{Limit: 2, Sort: "log_id"}, []int{9, 8}},
		{"type asc, ties by id", store.LogSearch{Limit: 9, Sort: "type", Ascending: true}, []int{8, 2, 3, 4, 5, 9, 7, 1, 6}},
		{"type desc, ties by id", store.LogSearch{Limit: 9, Sort: "type"}, []int{6, 1, 7, 9, 5, 4, 3, 2, 8}},
		{"user_name asc", store.LogSearch{Limit: 3, Sort: "user_name", Ascending: true}, []int{2, 3, 4}},
		{"description desc", store.LogSearch{Limit: 2, Sort: "description"}, []int{8, 5}},
		{"limit 0", store.LogSearch{Limit: 0}, []int{}},
	}
	for _, tt := range tests {
		tt.s.WithTotal = true
		page, err := s.SearchLogs(ctx, tt.s)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := ids(t, page.Events); !slices.Equal(got, tt.want) || page.Total != 9 {
			t.Errorf("%s: %v (total %d), want %v (total 9)", tt.name, got, page.Total, tt.want)
		}
	}
	for _, f := range store.LogSortFields {
		if _, err := s.SearchLogs(ctx, store.LogSearch{Sort: f, Limit: 1}); err != nil {
			t.Errorf("sort by %s: %v", f, err)
		}
	}
	page, err := s.SearchLogs(ctx, store.LogSearch{Limit: 5})
	must(t, err, "SearchLogs without total")
	if page.Total != 0 {
		t.Errorf("Total = %d without WithTotal, want 0", page.Total)
	}
}

func testLogsTotalCap(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = store.MaxLogTotal + 50
	batch := make([]store.LogEvent, 0, 1000)
	for i := range n {
		batch = append(batch, store.LogEvent{ID: logID(100 + i), Date: base().Add(time.Duration(i) * time.Second), Type: "s"})
		if len(batch) == cap(batch) || i == n-1 {
			must(t, s.AppendLogs(ctx, batch), "AppendLogs")
			batch = batch[:0]
		}
	}
	q, err := query.Parse("type:s")
	must(t, err, "Parse")
	page, err := s.SearchLogs(ctx, store.LogSearch{Query: q, Limit: 2, WithTotal: true})
	must(t, err, "SearchLogs")
	if page.Total != store.MaxLogTotal || len(page.Events) != 2 || page.Events[0].ID != logID(100+n-1) {
		t.Errorf("total %d, %d events (first %s); want %d, 2, %s", page.Total, len(page.Events),
			page.Events[0].ID, store.MaxLogTotal, logID(100+n-1))
	}
}

func testLogsAfter(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Appended out of order: checkpoints follow IDs, not insertion.
	fx := logFixture()
	must(t, s.AppendLogs(ctx, fx[5:]), "AppendLogs")
	must(t, s.AppendLogs(ctx, fx[:5]), "AppendLogs")
	for _, tt := range []struct {
		from string
		take int
		want []int
	}{
		{"", 3, []int{1, 2, 3}},
		{logID(3), 100, []int{4, 5, 6, 7, 8, 9}},
		{logID(9), 10, []int{}},
		{"", 0, []int{}},
	} {
		events, err := s.LogsAfter(ctx, tt.from, tt.take)
		if err != nil {
			t.Errorf("LogsAfter(%q, %d): %v", tt.from, tt.take, err)
			continue
		}
		if got := ids(t, events); !slices.Equal(got, tt.want) {
			t.Errorf("LogsAfter(%q, %d) = %v, want %v", tt.from, tt.take, got, tt.want)
		}
	}
}

func testLogsScan(t *testing.T, s store.Store) {
	ctx := t.Context()
	appendFixture(t, s)
	// Enough events to need more than one batch of any backend.
	var more []store.LogEvent
	for i := range 1200 {
		more = append(more, store.LogEvent{ID: logID(1000 + i), Date: logDay(20).Add(time.Duration(i) * time.Millisecond), Type: "x"})
	}
	must(t, s.AppendLogs(ctx, more), "AppendLogs")
	dep, err := query.Parse("type:depnote")
	must(t, err, "Parse")
	for _, tt := range []struct {
		name         string
		q            query.Node
		since, until time.Time
		want         []int
	}{
		{"window", nil, logDay(3), logDay(6), []int{3, 4, 5}},
		{"query", dep, time.Time{}, time.Time{}, []int{2, 3, 4, 5}},
		{"query and since", dep, logDay(4).Add(-time.Millisecond), logDay(19), []int{4, 5}},
		{"after everything", nil, logDay(28), time.Time{}, []int{}},
		{"before everything", nil, time.Time{}, logDay(1), []int{}},
		{"empty window", nil, logDay(5), logDay(5), []int{}},
	} {
		var got []store.LogEvent
		err := s.ScanLogs(ctx, tt.q, tt.since, tt.until, func(e store.LogEvent) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if g := ids(t, got); !slices.Equal(g, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, g, tt.want)
		}
	}
	var n int
	err = s.ScanLogs(ctx, nil, time.Time{}, time.Time{}, func(e store.LogEvent) error {
		if want := n + 1; n < 9 && e.ID != logID(want) {
			return fmt.Errorf("event %d is %s, want %s", n, e.ID, logID(want))
		}
		n++
		return nil
	})
	if err != nil || n != 9+len(more) {
		t.Errorf("full scan: %d events, %v; want %d", n, err, 9+len(more))
	}
	stop := errors.New("stop")
	n = 0
	err = s.ScanLogs(ctx, nil, time.Time{}, time.Time{}, func(store.LogEvent) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("early stop: err %v after %d events, want stop after 2", err, n)
	}
}

func testLogsPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	appendFixture(t, s)
	n, err := s.PurgeLogs(ctx, logDay(4))
	must(t, err, "PurgeLogs")
	if n != 3 {
		t.Errorf("PurgeLogs = %d, want 3", n)
	}
	page, err := s.SearchLogs(ctx, store.LogSearch{Limit: 100, Ascending: true})
	must(t, err, "SearchLogs")
	if got := ids(t, page.Events); !slices.Equal(got, []int{4, 5, 6, 7, 8, 9}) {
		t.Errorf("after purge: %v", got)
	}
	if n, err := s.PurgeLogs(ctx, logDay(4)); err != nil || n != 0 {
		t.Errorf("second PurgeLogs = %d, %v; want 0", n, err)
	}
}

// testLogsCounts: the hourly counts follow what is stored — an event
// appended twice counts once — and go with the events a purge removes.
func testLogsCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := func(n int, hour, minute int, typ, client string) store.LogEvent {
		return store.LogEvent{ID: logID(n), Date: time.Date(2025, 6, 10, hour, minute, 0, 0, time.UTC), Type: typ, ClientID: client}
	}
	batch := []store.LogEvent{at(1, 9, 5, "s", "a"), at(2, 9, 10, "s", "a"), at(3, 9, 20, "f", "a"), at(4, 9, 30, "s", "b"),
		at(5, 10, 0, "s", "a"), at(6, 11, 59, "cls", "")}
	must(t, s.AppendLogs(ctx, batch), "AppendLogs")
	must(t, s.AppendLogs(ctx, batch[:2]), "AppendLogs again") // a retried batch
	type row struct {
		hour    int
		typ, cl string
		n       int64
	}
	get := func(since, until time.Time) []row {
		t.Helper()
		cs, err := s.LogCounts(ctx, since, until)
		must(t, err, "LogCounts")
		var out []row
		for _, c := range cs {
			out = append(out, row{c.Hour.UTC().Hour(), c.Type, c.ClientID, c.N})
		}
		slices.SortFunc(out, func(a, b row) int {
			switch {
			case a.hour != b.hour:
				return a.hour - b.hour
			case a.typ != b.typ:
				return strings.Compare(a.typ, b.typ)
			}
			return strings.Compare(a.cl, b.cl)
		})
		return out
	}
	day := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	want := []row{{9, "f", "a", 1}, {9, "s", "a", 2}, {9, "s", "b", 1}, {10, "s", "a", 1}, {11, "cls", "", 1}}
	if got := get(day, day.Add(24*time.Hour)); !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if got := get(day.Add(10*time.Hour), day.Add(11*time.Hour)); !slices.Equal(got, want[3:4]) {
		t.Errorf("counts of hour 10 %v", got)
	}
	_, err := s.PurgeLogs(ctx, day.Add(10*time.Hour+30*time.Minute))
	must(t, err, "PurgeLogs")
	if got := get(day, day.Add(24*time.Hour)); !slices.Equal(got, want[3:]) {
		t.Errorf("counts after the purge %v, want %v", got, want[3:])
	}
}
