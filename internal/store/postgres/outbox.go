package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

const outboxCols = `id, channel, recipient, client_id, connection, payload, created_at, expires_at,
	next_attempt_at, attempts, last_error, claimed_by, claimed_until`

func outboxArgs(m store.OutboxMessage) []any {
	return []any{m.ID, m.Channel, m.Recipient, m.ClientID, m.Connection, bytea(m.Payload),
		ms(m.CreatedAt), ms(m.ExpiresAt), ms(m.NextAttemptAt), m.Attempts, m.LastError,
		m.ClaimedBy, msNull(m.ClaimedUntil)}
}

func scanOutbox(row pgx.Row) (store.OutboxMessage, error) {
	var m store.OutboxMessage
	var created, expires, next int64
	var until *int64
	if err := row.Scan(&m.ID, &m.Channel, &m.Recipient, &m.ClientID, &m.Connection, &m.Payload,
		&created, &expires, &next, &m.Attempts, &m.LastError, &m.ClaimedBy, &until); err != nil {
		return store.OutboxMessage{}, err
	}
	m.CreatedAt, m.ExpiresAt, m.NextAttemptAt = fromMS(created), fromMS(expires), fromMS(next)
	m.ClaimedUntil = fromMSNull(until)
	return m, nil
}

// ClaimOutbox claims up to limit due messages for node until now+lease. The
// due rows are locked FOR UPDATE SKIP LOCKED: concurrent claimers pass over
// each other's rows instead of waiting for them, and a row claimed and
// committed meanwhile is re-checked against the lease and left alone.
func (s *Store) ClaimOutbox(ctx context.Context, node string, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error) {
	if node == "" {
		return nil, errors.New("postgres: claim outbox: empty node id")
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM outbox
			WHERE next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
			ORDER BY next_attempt_at, id LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE outbox o SET claimed_by = $3, claimed_until = $4
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.channel, o.recipient, o.client_id, o.connection, o.payload, o.created_at,
			o.expires_at, o.next_attempt_at, o.attempts, o.last_error, o.claimed_by, o.claimed_until`,
		ms(now), limit, node, ms(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.OutboxMessage, error) {
		return scanOutbox(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	// RETURNING gives the rows in no particular order.
	slices.SortFunc(out, func(a, b store.OutboxMessage) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// CompleteOutbox deletes the message id that node holds. claimed_by <> ”
// keeps an empty node id from matching unclaimed messages.
func (s *Store) CompleteOutbox(ctx context.Context, id, node string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = $1 AND claimed_by = $2 AND claimed_by <> ''`,
		id, node)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: complete outbox message %s of %q: %w", id, node, err)
	}
	return nil
}

// CompleteOutboxMany deletes the messages of ids that node holds, in one
// statement.
func (s *Store) CompleteOutboxMany(ctx context.Context, node string, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE claimed_by = $1 AND claimed_by <> '' AND id = ANY($2)`, node, ids)
	if err != nil {
		return 0, fmt.Errorf("postgres: complete outbox messages of %q: %w", node, err)
	}
	return tag.RowsAffected(), nil
}

// RetryOutbox releases the message id that node holds for another attempt
// at next.
func (s *Store) RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $3,
			next_attempt_at = $4, claimed_by = '', claimed_until = NULL
		WHERE id = $1 AND claimed_by = $2 AND claimed_by <> ''`,
		id, node, store.TrimOutboxError(lastError), ms(next))
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: retry outbox message %s of %q: %w", id, node, err)
	}
	return nil
}

// RenewOutbox extends every claim node holds to until.
func (s *Store) RenewOutbox(ctx context.Context, node string, until time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET claimed_until = GREATEST(claimed_until, $2)
		WHERE claimed_by = $1 AND claimed_by <> '' AND claimed_until IS NOT NULL`, node, ms(until))
	if err != nil {
		return 0, fmt.Errorf("postgres: renew outbox claims of %q: %w", node, err)
	}
	return tag.RowsAffected(), nil
}

// ReleaseOutbox makes every message node holds claimable again.
func (s *Store) ReleaseOutbox(ctx context.Context, node string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET claimed_by = '', claimed_until = NULL
		WHERE claimed_by = $1 AND claimed_by <> ''`, node)
	if err != nil {
		return 0, fmt.Errorf("postgres: release outbox claims of %q: %w", node, err)
	}
	return tag.RowsAffected(), nil
}

// NextOutboxDue returns when the next message becomes claimable: the
// earliest unclaimed message (from the next-attempt index) or the earliest
// lease end (from the partial index of messages in flight).
func (s *Store) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var due *int64
	err := s.pool.QueryRow(ctx, `SELECT LEAST(
		(SELECT next_attempt_at FROM outbox WHERE claimed_until IS NULL ORDER BY next_attempt_at LIMIT 1),
		(SELECT min(GREATEST(next_attempt_at, claimed_until)) FROM outbox WHERE claimed_until IS NOT NULL))`).Scan(&due)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next outbox due: %w", err)
	}
	if due == nil {
		return time.Time{}, false, nil
	}
	return fromMS(*due), true, nil
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest *int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, fromMS(*oldest), nil
}
