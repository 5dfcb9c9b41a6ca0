package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
)

// LogStore is the tenant-log half of the storage contract: events are
// appended in batches by the recorder and searched by the Management API,
// the CLI and the migration report.
type LogStore interface {
	// AppendLogs stores the events in one transaction. An event whose ID is
	// already stored is skipped (a retried batch does not duplicate).
	AppendLogs(ctx context.Context, events []LogEvent) error
	// GetLog returns one event by its ID; ErrNotFound when there is none.
	GetLog(ctx context.Context, id string) (LogEvent, error)
	// SearchLogs returns the events that s.Query matches (all when nil),
	// in s.Sort order, s.Offset and s.Limit applied; Total counts every
	// match (up to MaxLogTotal) when s.WithTotal is set.
	SearchLogs(ctx context.Context, s LogSearch) (LogPage, error)
	// LogsAfter returns up to take events whose ID is greater than from
	// (all when from is empty), in ascending ID order: checkpoint paging.
	LogsAfter(ctx context.Context, from string, take int) ([]LogEvent, error)
	// ScanLogs calls fn for every event that q matches (all when nil) with a
	// date in [since, until), in ascending ID order, until fn returns an
	// error (returned as is) or the events run out.
	ScanLogs(ctx context.Context, q query.Node, since, until time.Time, fn func(LogEvent) error) error
	// PurgeLogs deletes events dated before before, in short batches, and
	// says how many went (their hourly counts go too).
	PurgeLogs(ctx context.Context, before time.Time) (int64, error)
	// LogCounts returns the hourly counts of the stored events dated in
	// [since, until), by type and client: kept as events are appended, so
	// that an overview of millions of events reads a few hundred rows.
	LogCounts(ctx context.Context, since, until time.Time) ([]LogCount, error)
}

// LogCount is how many events of one type and client are dated in one hour.
type LogCount struct {
	Hour     time.Time // the hour's start, UTC
	Type     string
	ClientID string
	N        int64
}

// HourlyCounts adds up the events that were stored (stored[i] says
// whether events[i] was new) by hour, type and client.
func HourlyCounts(events []LogEvent, stored []bool) []LogCount {
	type key struct {
		hour          int64
		typ, clientID string
	}
	idx := map[key]int{}
	var out []LogCount
	for i, e := range events {
		if !stored[i] {
			continue
		}
		k := key{e.Date.UnixMilli() / 3_600_000, e.Type, e.ClientID}
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, LogCount{Hour: time.UnixMilli(k.hour * 3_600_000).UTC(), Type: e.Type, ClientID: e.ClientID})
		}
		out[j].N++
	}
	return out
}

// MaxLogTotal caps the Total that SearchLogs counts: counting further is
// unbounded work, and Auth0 pages through at most 1,000 results anyway.
const MaxLogTotal = 10000

// LogEvent is one tenant log record (auth0-compat.md §9.2). Empty strings
// are absent fields.
type LogEvent struct {
	// ID is the log_id (and _id): a fixed-width decimal string that grows
	// with time, so ordering by ID orders by date. The recorder keeps this
	// exact (Date is the time the ID encodes) and backends rely on it to
	// answer date ranges from the ID index.
	ID           string
	Date         time.Time
	Type         string
	Description  string
	ClientID     string
	ClientName   string
	Connection   string
	ConnectionID string
	Strategy     string
	StrategyType string
	UserID       string
	UserName     string
	// IP is the effective end-user IP (auth0-forwarded-for when honoured);
	// ClientIP is the TCP peer.
	IP        string
	ClientIP  string
	Hostname  string
	UserAgent string // parsed: "Chrome 120.0.0 / Mac OS X 10.15.7"
	IsMobile  bool
	Audience  string
	Scope     string
	// Details is a JSON object (nil: none); Auth0Client is the decoded
	// Auth0-Client header as a JSON object (nil: none).
	Details     json.RawMessage
	Auth0Client json.RawMessage
}

// LogKind is how a log column is stored and searched.
type LogKind int

const (
	// LogText is text, NOT NULL, the empty string standing for an absent
	// field: every kind of term (exact, prefix, suffix, contains, wildcard)
	// and ranges (comparing UTF-8 bytes) apply, and _exists_ is true for a
	// non-empty value.
	LogText LogKind = iota
	// LogID is the log_id: text that every event has, ordered as Date is.
	LogID
	// LogDate is the date, in Unix milliseconds: exact terms and ranges
	// name periods (query.ParseDate); sorting by it sorts by log_id.
	LogDate
	// LogBool is a boolean that every event has: only the terms true and
	// false match it, and no range does.
	LogBool
	// LogObject is a JSON object, or NULL when absent: terms name paths
	// below it (details.request.method), _exists_ the object itself.
	LogObject
)

// LogColumn is one field of LogEvent as both backends store it and the
// query language names it. The table of them (LogColumns) is the one list
// of the tenant log's fields: the backends' column lists, the values they
// insert and the destinations they scan into, and the compiler's mapping of
// query fields to columns are all derived from it. (The SQL schema lives in
// the backends' migrations; a test checks it has these columns.)
type LogColumn struct {
	// Column is the column's name in the logs table of both backends.
	Column string
	// Field is the field's name in the query language and in the
	// Management API's log records.
	Field string
	// Kind says how the column is stored and searched.
	Kind LogKind
	// FewValues marks a column with few distinct values (event codes,
	// connections, applications), whose prefixes match a large share of
	// the events: SQLite then walks the log in date order rather than the
	// column's index.
	FewValues bool
	// ref points into an event: *string (LogText, LogID), *time.Time
	// (LogDate), *bool (LogBool), *json.RawMessage (LogObject).
	ref func(e *LogEvent) any
}

// Ref returns a pointer to the column's field of e: a *string for LogText
// and LogID, a *time.Time for LogDate, a *bool for LogBool and a
// *json.RawMessage for LogObject.
func (c LogColumn) Ref(e *LogEvent) any { return c.ref(e) }

// logColumns is the column table, in the logs table's column order. Adding
// a tenant-log field is a field of LogEvent, a row here and a migration per
// backend (plus the Management API's record shape, logJSON in mgmtapi, and
// the field's name in the query language if it is new to it).
var logColumns = []LogColumn{
	{Column: "id", Field: "log_id", Kind: LogID, ref: func(e *LogEvent) any { return &e.ID }},
	{Column: "date", Field: "date", Kind: LogDate, ref: func(e *LogEvent) any { return &e.Date }},
	{Column: "type", Field: "type", FewValues: true, ref: func(e *LogEvent) any { return &e.Type }},
	{Column: "description", Field: "description", ref: func(e *LogEvent) any { return &e.Description }},
	{Column: "client_id", Field: "client_id", FewValues: true, ref: func(e *LogEvent) any { return &e.ClientID }},
	{Column: "client_name", Field: "client_name", FewValues: true, ref: func(e *LogEvent) any { return &e.ClientName }},
	{Column: "connection", Field: "connection", FewValues: true, ref: func(e *LogEvent) any { return &e.Connection }},
	{Column: "connection_id", Field: "connection_id", FewValues: true, ref: func(e *LogEvent) any { return &e.ConnectionID }},
	{Column: "strategy", Field: "strategy", FewValues: true, ref: func(e *LogEvent) any { return &e.Strategy }},
	{Column: "strategy_type", Field: "strategy_type", FewValues: true, ref: func(e *LogEvent) any { return &e.StrategyType }},
	{Column: "user_id", Field: "user_id", ref: func(e *LogEvent) any { return &e.UserID }},
	{Column: "user_name", Field: "user_name", ref: func(e *LogEvent) any { return &e.UserName }},
	{Column: "ip", Field: "ip", ref: func(e *LogEvent) any { return &e.IP }},
	{Column: "client_ip", Field: "client_ip", ref: func(e *LogEvent) any { return &e.ClientIP }},
	{Column: "hostname", Field: "hostname", ref: func(e *LogEvent) any { return &e.Hostname }},
	{Column: "user_agent", Field: "user_agent", ref: func(e *LogEvent) any { return &e.UserAgent }},
	{Column: "is_mobile", Field: "isMobile", Kind: LogBool, ref: func(e *LogEvent) any { return &e.IsMobile }},
	{Column: "audience", Field: "audience", ref: func(e *LogEvent) any { return &e.Audience }},
	{Column: "scope", Field: "scope", ref: func(e *LogEvent) any { return &e.Scope }},
	{Column: "details", Field: "details", Kind: LogObject, ref: func(e *LogEvent) any { return &e.Details }},
	{Column: "auth0_client", Field: "auth0_client", Kind: LogObject, ref: func(e *LogEvent) any { return &e.Auth0Client }},
}

// LogColumns returns the column table, in the logs table's column order.
func LogColumns() []LogColumn { return slices.Clone(logColumns) }

// LogColumnOf returns the column of the query-language field (a scalar
// field, or an object field itself); false when no column holds it.
func LogColumnOf(field string) (LogColumn, bool) {
	for _, c := range logColumns {
		if c.Field == field {
			return c, true
		}
	}
	return LogColumn{}, false
}

// LogSearch is a search of the tenant logs.
type LogSearch struct {
	Query query.Node // nil matches every event
	// Sort is a field of LogSortFields; empty means date. Ties break by ID
	// in the same direction.
	Sort      string
	Ascending bool
	Offset    int
	Limit     int // at most 100 is asked for; 0 returns no events
	WithTotal bool
}

// LogSortFields are the fields SearchLogs can sort by, in the order the
// Management API names them; each is a Field of LogColumns.
var LogSortFields = []string{"date", "log_id", "type", "client_id", "client_name",
	"connection", "user_id", "user_name", "ip", "description"}

// LogPage is a page of search results.
type LogPage struct {
	Events []LogEvent
	Total  int // counted only when asked for; capped at MaxLogTotal
}
