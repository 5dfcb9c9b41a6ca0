package store

import (
	"context"
	"encoding/json"
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
	// says how many went.
	PurgeLogs(ctx context.Context, before time.Time) (int64, error)
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

// LogSortFields are the fields SearchLogs can sort by.
var LogSortFields = []string{"date", "log_id", "type", "client_id", "client_name",
	"connection", "user_id", "user_name", "ip", "description"}

// LogPage is a page of search results.
type LogPage struct {
	Events []LogEvent
	Total  int // counted only when asked for; capped at MaxLogTotal
}
