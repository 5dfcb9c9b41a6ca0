package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/logsql"
)

// The statements on the logs table's columns, derived from its one
// definition (store.LogColumns).
var (
	logCols    = logsql.ColumnList()
	qGetLog    = `SELECT ` + logCols + ` FROM logs WHERE id = $1`
	qLogsAfter = `SELECT ` + logCols + ` FROM logs WHERE id > $1 ORDER BY id LIMIT $2`
)

const qPurgeLogs = `DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE date < $1 LIMIT $2)`

// Hourly counts (store.LogCounts).
const (
	qPurgeCounts = `DELETE FROM log_counts WHERE hour < $1`
	qLogCounts   = `SELECT hour, type, client_id, n FROM log_counts WHERE hour >= $1 AND hour < $2`
)

// purgeBatch is how many events one PurgeLogs statement deletes.
const purgeBatch = 2000

// scanBatch is how many events ScanLogs reads per query.
const scanBatch = 500

// AppendLogs stores events in one statement (one round trip, atomic):
// the events, each column bound as one array and unnested, skipping IDs
// already stored, and the hourly counts of those it stored
// (store.HourlyCounts, grouped in SQL from what the insert returned).
func (s *Store) AppendLogs(ctx context.Context, events []store.LogEvent) error {
	if len(events) == 0 {
		return nil
	}
	cols := make([]logColumn, len(appendKinds))
	for i, k := range appendKinds {
		cols[i] = k.make(len(events))
	}
	for i := range events {
		e := &events[i]
		if e.ID == "" {
			return fmt.Errorf("postgres: append logs: event %d has no ID", i)
		}
		vals, err := logsql.Values(e)
		if err != nil {
			return fmt.Errorf("postgres: append logs: %w", err)
		}
		for j, v := range vals {
			cols[j].add(v)
		}
	}
	args := make([]any, len(cols))
	for i := range cols {
		args[i] = cols[i].array()
	}
	err := s.retrying(ctx, func() error {
		_, err := s.pool.Exec(ctx, qAppendLogs, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: append logs: %w", err)
	}
	return nil
}

// logColumn gathers one column's values for a batch.
type logColumn struct {
	add   func(v any)
	array func() any
}

// logKind is a column's Go type in logsql.Values, its SQL array type, and
// the cast its unnested value takes.
type logKind struct {
	array, cast string
	make        func(n int) logColumn
}

func column[T any](n int) logColumn {
	vals := make([]T, 0, n)
	return logColumn{add: func(v any) { vals = append(vals, v.(T)) }, array: func() any { return vals }}
}

// appendKinds are the logs columns' kinds, in logsql.Values' order, read
// off the values of an empty event.
var appendKinds = func() []logKind {
	vals, err := logsql.Values(&store.LogEvent{})
	if err != nil {
		panic(err)
	}
	out := make([]logKind, len(vals))
	for i, v := range vals {
		switch v.(type) {
		case string:
			out[i] = logKind{"text[]", "", column[string]}
		case bool:
			out[i] = logKind{"boolean[]", "", column[bool]}
		case int64:
			out[i] = logKind{"bigint[]", "", column[int64]}
		case *string: // a JSON object, or NULL
			out[i] = logKind{"text[]", "::jsonb", column[*string]}
		default:
			panic(fmt.Sprintf("logs column %d: unexpected value type %T", i, v))
		}
	}
	return out
}()

// qAppendLogs inserts a batch of events from one array per column and adds
// the hourly counts of the rows it inserted.
var qAppendLogs = func() string {
	params := make([]string, len(appendKinds))
	names := make([]string, len(appendKinds))
	sel := make([]string, len(appendKinds))
	for i, k := range appendKinds {
		params[i] = fmt.Sprintf("$%d::%s", i+1, k.array)
		names[i] = fmt.Sprintf("c%d", i+1)
		sel[i] = names[i] + k.cast
	}
	return `WITH stored AS (
		INSERT INTO logs (` + logCols + `)
		SELECT ` + strings.Join(sel, ", ") + ` FROM unnest(` + strings.Join(params, ", ") + `) AS u(` + strings.Join(names, ", ") + `)
		ON CONFLICT (id) DO NOTHING
		RETURNING date, type, client_id)
	INSERT INTO log_counts (hour, type, client_id, n)
	SELECT date / 3600000, type, client_id, count(*) FROM stored GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
	ON CONFLICT (hour, type, client_id) DO UPDATE SET n = log_counts.n + excluded.n`
}()

// GetLog returns the event with this ID.
func (s *Store) GetLog(ctx context.Context, id string) (store.LogEvent, error) {
	e, err := logsql.NewRow().Scan(s.pool.QueryRow(ctx, qGetLog, id))
	if err != nil {
		return store.LogEvent{}, fmt.Errorf("postgres: get log: %w", mapErr(err))
	}
	return e, nil
}

func (s *Store) collect(ctx context.Context, q string, args ...any) ([]store.LogEvent, error) {
	rows, err := s.pool.Query(ctx, q, args...)
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

// SearchLogs returns a page of the events ls.Query matches.
func (s *Store) SearchLogs(ctx context.Context, ls store.LogSearch) (store.LogPage, error) {
	q, err := logsql.PageQuery(logsql.Postgres, logCols, ls)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("postgres: search logs: %w", err)
	}
	var page store.LogPage
	if ls.Limit > 0 {
		if page.Events, err = s.collect(ctx, q.SQL(), q.Args...); err != nil {
			return store.LogPage{}, fmt.Errorf("postgres: search logs: %w", err)
		}
	}
	if total, known := logsql.KnownTotal(ls, len(page.Events)); known {
		page.Total = total
		return page, nil
	}
	cq, err := logsql.CountQuery(logsql.Postgres, ls)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("postgres: search logs: %w", err)
	}
	var total int
	if err := s.pool.QueryRow(ctx, cq.SQL(), cq.Args...).Scan(&total); err != nil {
		return store.LogPage{}, fmt.Errorf("postgres: count logs: %w", err)
	}
	page.Total = total
	return page, nil
}

// LogsAfter returns up to take events with an ID above from, by ID.
func (s *Store) LogsAfter(ctx context.Context, from string, take int) ([]store.LogEvent, error) {
	if take <= 0 {
		return nil, nil
	}
	events, err := s.collect(ctx, qLogsAfter, from, take)
	if err != nil {
		return nil, fmt.Errorf("postgres: logs after: %w", err)
	}
	return events, nil
}

// ScanLogs calls fn for each matching event dated in [since, until), by ID,
// in batches so that no connection is held while fn runs. A zero since or
// until leaves that end open.
func (s *Store) ScanLogs(ctx context.Context, qn query.Node, since, until time.Time, fn func(store.LogEvent) error) error {
	after := ""
	for {
		q, err := logsql.ScanQuery(logsql.Postgres, logCols, qn, since, until, after, scanBatch)
		if err != nil {
			return fmt.Errorf("postgres: scan logs: %w", err)
		}
		events, err := s.collect(ctx, q.SQL(), q.Args...)
		if err != nil {
			return fmt.Errorf("postgres: scan logs: %w", err)
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

// PurgeLogs deletes events dated before before, purgeBatch per statement.
func (s *Store) PurgeLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, qPurgeLogs, logsql.CeilMS(before), purgeBatch)
		if err != nil {
			return total, fmt.Errorf("postgres: purge logs: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			// Whole hours before the cut go; the hour it falls in stays.
			if _, err := s.pool.Exec(ctx, qPurgeCounts, before.UnixMilli()/3_600_000); err != nil {
				return total, fmt.Errorf("postgres: purge logs: %w", err)
			}
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("postgres: purge logs: %w", err)
		}
	}
}

// LogCounts returns the hourly counts dated in [since, until).
func (s *Store) LogCounts(ctx context.Context, since, until time.Time) ([]store.LogCount, error) {
	rows, err := s.pool.Query(ctx, qLogCounts, since.UnixMilli()/3_600_000, (until.UnixMilli()+3_599_999)/3_600_000)
	if err != nil {
		return nil, fmt.Errorf("postgres: log counts: %w", err)
	}
	defer rows.Close()
	var out []store.LogCount
	for rows.Next() {
		var c store.LogCount
		var hour int64
		if err := rows.Scan(&hour, &c.Type, &c.ClientID, &c.N); err != nil {
			return nil, fmt.Errorf("postgres: log counts: %w", err)
		}
		c.Hour = time.UnixMilli(hour * 3_600_000).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: log counts: %w", err)
	}
	return out, nil
}
