package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/logsql"
)

const logCols = `id, date, type, description, client_id, client_name, connection, connection_id,
	strategy, strategy_type, user_id, user_name, ip, client_ip, hostname, user_agent, is_mobile,
	audience, scope, details, auth0_client`

const (
	qAppendLog = `INSERT INTO logs (` + logCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
	ON CONFLICT (id) DO NOTHING`
	qGetLog    = `SELECT ` + logCols + ` FROM logs WHERE id = $1`
	qLogsAfter = `SELECT ` + logCols + ` FROM logs WHERE id > $1 ORDER BY id LIMIT $2`
	qPurgeLogs = `DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE date < $1 LIMIT $2)`
)

// purgeBatch is how many events one PurgeLogs statement deletes.
const purgeBatch = 2000

// scanBatch is how many events ScanLogs reads per query.
const scanBatch = 500

// AppendLogs stores events in one transaction (one round trip), skipping
// IDs already stored.
func (s *Store) AppendLogs(ctx context.Context, events []store.LogEvent) error {
	if len(events) == 0 {
		return nil
	}
	var b pgx.Batch
	for i, e := range events {
		if e.ID == "" {
			return fmt.Errorf("postgres: append logs: event %d has no ID", i)
		}
		details, err := logsql.Object(e.Details)
		if err != nil {
			return fmt.Errorf("postgres: append logs: event %s: details: %w", e.ID, err)
		}
		client, err := logsql.Object(e.Auth0Client)
		if err != nil {
			return fmt.Errorf("postgres: append logs: event %s: auth0_client: %w", e.ID, err)
		}
		b.Queue(qAppendLog, e.ID, ms(e.Date), e.Type, e.Description, e.ClientID, e.ClientName, e.Connection,
			e.ConnectionID, e.Strategy, e.StrategyType, e.UserID, e.UserName, e.IP, e.ClientIP, e.Hostname,
			e.UserAgent, e.IsMobile, e.Audience, e.Scope, details, client)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: append logs: %w", err)
	}
	return nil
}

func scanLog(row pgx.Row, e *store.LogEvent) error {
	var date int64
	var details, client *string
	if err := row.Scan(&e.ID, &date, &e.Type, &e.Description, &e.ClientID, &e.ClientName, &e.Connection,
		&e.ConnectionID, &e.Strategy, &e.StrategyType, &e.UserID, &e.UserName, &e.IP, &e.ClientIP,
		&e.Hostname, &e.UserAgent, &e.IsMobile, &e.Audience, &e.Scope, &details, &client); err != nil {
		return err
	}
	e.Date = fromMS(date)
	e.Details, e.Auth0Client = nil, nil
	if details != nil {
		e.Details = []byte(*details)
	}
	if client != nil {
		e.Auth0Client = []byte(*client)
	}
	return nil
}

// GetLog returns the event with this ID.
func (s *Store) GetLog(ctx context.Context, id string) (store.LogEvent, error) {
	var e store.LogEvent
	if err := scanLog(s.pool.QueryRow(ctx, qGetLog, id), &e); err != nil {
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
	for rows.Next() {
		var e store.LogEvent
		if err := scanLog(rows, &e); err != nil {
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
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("postgres: purge logs: %w", err)
		}
	}
}
