package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/logsql"
)

// The statements on the logs table's columns, derived from its one
// definition (store.LogColumns).
var (
	logCols    = logsql.ColumnList()
	qAppendLog = logsql.InsertQuery(logsql.SQLite)
	qGetLog    = `SELECT ` + logCols + ` FROM logs WHERE id = ?`
	qLogsAfter = `SELECT ` + logCols + ` FROM logs WHERE id > ? ORDER BY id LIMIT ?`
)

const (
	qAddDescription = `INSERT INTO log_descriptions (description) VALUES (?) ON CONFLICT DO NOTHING`
	// qPruneDescriptions drops the dictionary entries no event uses any more.
	qPruneDescriptions = `DELETE FROM log_descriptions WHERE NOT EXISTS
	(SELECT 1 FROM logs WHERE logs.description = log_descriptions.description)`
	qPurgeLogs = `DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE date < ? LIMIT ?)`
	// qAddCount adds to an hour's count.
	qAddCount = `INSERT INTO log_counts (hour, type, client_id, n) VALUES (?, ?, ?, ?)
	ON CONFLICT (hour, type, client_id) DO UPDATE SET n = n + excluded.n`
	qPurgeCounts = `DELETE FROM log_counts WHERE hour < ?`
	qLogCounts   = `SELECT hour, type, client_id, n FROM log_counts WHERE hour >= ? AND hour < ?`
)

// logTxQueries are the statements of log-writer transactions, prepared
// when the store opens.
var logTxQueries = []string{qAppendLog, qAddDescription}

// purgeBatch is how many events one PurgeLogs transaction deletes, so the
// writer is never held for long.
const purgeBatch = 2000

// scanBatch is how many events ScanLogs reads per query.
const scanBatch = 500

// AppendLogs stores events in one transaction, skipping IDs already stored.
func (s *Store) AppendLogs(ctx context.Context, events []store.LogEvent) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([][]any, len(events))
	for i, e := range events {
		if e.ID == "" {
			return fmt.Errorf("sqlite: append logs: event %d has no ID", i)
		}
		r, err := logsql.Values(&e)
		if err != nil {
			return fmt.Errorf("sqlite: append logs: %w", err)
		}
		rows[i] = r
	}
	t, err := s.lw.begin(ctx)
	if err != nil {
		return wrap("append logs", err)
	}
	defer t.rollback()
	st, err := t.stmt(ctx, qAppendLog)
	if err != nil {
		return wrap("append logs", err)
	}
	stored := make([]bool, len(rows))
	for i, r := range rows {
		res, err := st.ExecContext(ctx, r...)
		if err != nil {
			return wrap("append logs", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap("append logs", err)
		}
		stored[i] = n == 1 // 0: an event stored before, skipped
	}
	for _, c := range store.HourlyCounts(events, stored) {
		if _, err := t.exec(ctx, qAddCount, c.Hour.UnixMilli()/3_600_000, c.Type, c.ClientID, c.N); err != nil {
			return wrap("append logs", err)
		}
	}
	seen := make(map[string]bool, 8)
	for _, e := range events {
		if e.Description == "" || seen[e.Description] {
			continue
		}
		seen[e.Description] = true
		if _, err := t.exec(ctx, qAddDescription, e.Description); err != nil {
			return wrap("append logs", err)
		}
	}
	return wrap("append logs", t.commit())
}

// GetLog returns the event with this ID.
func (s *Store) GetLog(ctx context.Context, id string) (store.LogEvent, error) {
	var e store.LogEvent
	row := logsql.NewRow()
	err := s.lr.queryRow(ctx, func(sc scanner) (err error) { e, err = row.Scan(sc); return err }, qGetLog, id)
	if err != nil {
		return store.LogEvent{}, wrap("get log", err)
	}
	return e, nil
}

// collect runs a query on the readers and scans every row.
func (s *Store) collect(ctx context.Context, q string, args ...any) ([]store.LogEvent, error) {
	rows, err := s.lr.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.LogEvent
	row := logsql.NewRow()
	for rows.Next() {
		e, err := row.Scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SearchLogs returns a page of the events s.Query matches.
func (s *Store) SearchLogs(ctx context.Context, ls store.LogSearch) (store.LogPage, error) {
	q, err := logsql.PageQuery(logsql.SQLite, logCols, ls)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("sqlite: search logs: %w", err)
	}
	var page store.LogPage
	if ls.Limit > 0 {
		if page.Events, err = s.collect(ctx, q.SQL(), q.Args...); err != nil {
			return store.LogPage{}, wrap("search logs", err)
		}
	}
	if total, known := logsql.KnownTotal(ls, len(page.Events)); known {
		page.Total = total
		return page, nil
	}
	cq, err := logsql.CountQuery(logsql.SQLite, ls)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("sqlite: search logs: %w", err)
	}
	err = s.lr.queryRow(ctx, func(sc scanner) error { return sc.Scan(&page.Total) }, cq.SQL(), cq.Args...)
	if err != nil {
		return store.LogPage{}, wrap("count logs", err)
	}
	return page, nil
}

// LogsAfter returns up to take events with an ID above from, by ID.
func (s *Store) LogsAfter(ctx context.Context, from string, take int) ([]store.LogEvent, error) {
	if take <= 0 {
		return nil, nil
	}
	events, err := s.collect(ctx, qLogsAfter, from, take)
	return events, wrap("logs after", err)
}

// ScanLogs calls fn for each matching event dated in [since, until), by ID,
// reading in batches so that no reader is held while fn runs. A zero since
// or until leaves that end open.
func (s *Store) ScanLogs(ctx context.Context, qn query.Node, since, until time.Time, fn func(store.LogEvent) error) error {
	after := ""
	for {
		q, err := logsql.ScanQuery(logsql.SQLite, logCols, qn, since, until, after, scanBatch)
		if err != nil {
			return fmt.Errorf("sqlite: scan logs: %w", err)
		}
		events, err := s.collect(ctx, q.SQL(), q.Args...)
		if err != nil {
			return wrap("scan logs", err)
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(events) < scanBatch {
			return nil
		}
		after = events[len(events)-1].ID
	}
}

// PurgeLogs deletes events dated before before, purgeBatch per transaction.
func (s *Store) PurgeLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.lw.exec(ctx, qPurgeLogs, logsql.CeilMS(before), purgeBatch)
		if err != nil {
			return total, wrap("purge logs", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, wrap("purge logs", err)
		}
		total += n
		if n < purgeBatch {
			// Whole hours before the cut go; the hour it falls in stays.
			if _, err := s.lw.exec(ctx, qPurgeCounts, before.UnixMilli()/3_600_000); err != nil {
				return total, wrap("purge logs", err)
			}
			if total > 0 {
				if _, err := s.lw.exec(ctx, qPruneDescriptions); err != nil {
					return total, wrap("purge logs", err)
				}
			}
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, wrap("purge logs", err)
		}
	}
}

// LogCounts returns the hourly counts dated in [since, until).
func (s *Store) LogCounts(ctx context.Context, since, until time.Time) ([]store.LogCount, error) {
	rows, err := s.lr.db.QueryContext(ctx, qLogCounts, since.UnixMilli()/3_600_000, (until.UnixMilli()+3_599_999)/3_600_000)
	if err != nil {
		return nil, wrap("log counts", err)
	}
	defer rows.Close()
	var out []store.LogCount
	for rows.Next() {
		var c store.LogCount
		var hour int64
		if err := rows.Scan(&hour, &c.Type, &c.ClientID, &c.N); err != nil {
			return nil, wrap("log counts", err)
		}
		c.Hour = time.UnixMilli(hour * 3_600_000).UTC()
		out = append(out, c)
	}
	return out, wrap("log counts", rows.Err())
}
