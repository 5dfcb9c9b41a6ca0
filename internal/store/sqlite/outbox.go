package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

const outboxCols = `id, channel, recipient, client_id, connection, payload, created_at, expires_at,
	next_attempt_at, attempts, last_error, claimed_by, claimed_until`

const (
	qPutOutbox = `INSERT INTO outbox (` + outboxCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// qDropSuperseded drops the unsent, unclaimed messages of the code a new
	// one replaces: a dead code is not worth a message.
	qDropSuperseded = `DELETE FROM outbox WHERE connection = ? AND recipient = ? AND claimed_by = ''`
	// qClaimOutbox claims the due messages that no live lease holds, in one
	// statement on the single writer, so claimers never share a message.
	qClaimOutbox = `UPDATE outbox SET claimed_by = ?, claimed_until = ?
	WHERE rowid IN (SELECT rowid FROM outbox
		WHERE next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
		ORDER BY next_attempt_at, id LIMIT ?)
	RETURNING ` + outboxCols
	// claimed_by <> '' keeps an empty node id from matching unclaimed
	// messages.
	qCompleteOutbox = `DELETE FROM outbox WHERE id = ? AND claimed_by = ? AND claimed_by <> ''`
	qRetryOutbox    = `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
		claimed_by = '', claimed_until = NULL
	WHERE id = ? AND claimed_by = ? AND claimed_by <> ''`
	qRenewOutbox = `UPDATE outbox SET claimed_until = max(claimed_until, ?)
	WHERE claimed_by = ? AND claimed_by <> '' AND claimed_until IS NOT NULL`
	qReleaseOutbox = `UPDATE outbox SET claimed_by = '', claimed_until = NULL
	WHERE claimed_by = ? AND claimed_by <> ''`
	// qNextOutboxDue: the earliest unclaimed message (from the next-attempt
	// index) and the earliest lease end (from the partial index of messages
	// in flight).
	qNextOutboxDue = `SELECT
		(SELECT next_attempt_at FROM outbox WHERE claimed_until IS NULL ORDER BY next_attempt_at LIMIT 1),
		(SELECT max(next_attempt_at, claimed_until) AS due FROM outbox WHERE claimed_until IS NOT NULL
			ORDER BY due LIMIT 1)`
)

func outboxArgs(m store.OutboxMessage) []any {
	return []any{m.ID, m.Channel, m.Recipient, m.ClientID, m.Connection, blob(m.Payload),
		toMS(m.CreatedAt), toMS(m.ExpiresAt), toMS(m.NextAttemptAt), m.Attempts, m.LastError,
		m.ClaimedBy, toNullMS(m.ClaimedUntil)}
}

func scanOutbox(sc scanner, m *store.OutboxMessage) error {
	var created, expires, next int64
	var until sql.NullInt64
	if err := sc.Scan(&m.ID, &m.Channel, &m.Recipient, &m.ClientID, &m.Connection, &m.Payload,
		&created, &expires, &next, &m.Attempts, &m.LastError, &m.ClaimedBy, &until); err != nil {
		return err
	}
	m.CreatedAt, m.ExpiresAt, m.NextAttemptAt = fromMS(created), fromMS(expires), fromMS(next)
	m.ClaimedUntil = fromNullMS(until)
	return nil
}

// ClaimOutbox claims up to limit due messages for node until now+lease.
func (s *Store) ClaimOutbox(ctx context.Context, node string, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error) {
	if node == "" {
		return nil, errors.New("sqlite: claim outbox: empty node id")
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.w.query(ctx, qClaimOutbox, node, toMS(now.Add(lease)), toMS(now), toMS(now), limit)
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	defer rows.Close()
	var out []store.OutboxMessage
	for rows.Next() {
		var m store.OutboxMessage
		if err := scanOutbox(rows, &m); err != nil {
			return nil, wrap("claim outbox", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("claim outbox", err)
	}
	// RETURNING gives the rows in no particular order.
	slices.SortFunc(out, compareOutbox)
	return out, nil
}

// compareOutbox orders messages by next attempt, then id.
func compareOutbox(a, b store.OutboxMessage) int {
	if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// CompleteOutbox deletes the message id that node holds.
func (s *Store) CompleteOutbox(ctx context.Context, id, node string) error {
	if err := affected(s.w.exec(ctx, qCompleteOutbox, id, node)); err != nil {
		return wrap(fmt.Sprintf("complete outbox message %s of %q", id, node), err)
	}
	return nil
}

// CompleteOutboxMany deletes the messages of ids that node holds, in one
// transaction.
func (s *Store) CompleteOutboxMany(ctx context.Context, node string, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	t, err := s.w.begin(ctx)
	if err != nil {
		return 0, wrap("complete outbox messages", err)
	}
	defer t.rollback()
	st, err := t.stmt(ctx, qCompleteOutbox)
	if err != nil {
		return 0, wrap("complete outbox messages", err)
	}
	var n int64
	for _, id := range ids {
		res, err := st.ExecContext(ctx, id, node)
		if err != nil {
			return 0, wrap("complete outbox messages", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, wrap("complete outbox messages", err)
		}
		n += k
	}
	if err := t.commit(); err != nil {
		return 0, wrap("complete outbox messages", err)
	}
	return n, nil
}

// RetryOutbox releases the message id that node holds for another attempt
// at next.
func (s *Store) RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error {
	err := affected(s.w.exec(ctx, qRetryOutbox, store.TrimOutboxError(lastError), toMS(next), id, node))
	if err != nil {
		return wrap(fmt.Sprintf("retry outbox message %s of %q", id, node), err)
	}
	return nil
}

// RenewOutbox extends every claim node holds to until.
func (s *Store) RenewOutbox(ctx context.Context, node string, until time.Time) (int64, error) {
	return s.rowsChanged(ctx, "renew outbox claims of "+strconv.Quote(node), qRenewOutbox, toMS(until), node)
}

// ReleaseOutbox makes every message node holds claimable again.
func (s *Store) ReleaseOutbox(ctx context.Context, node string) (int64, error) {
	return s.rowsChanged(ctx, "release outbox claims of "+strconv.Quote(node), qReleaseOutbox, node)
}

// rowsChanged runs a write and says how many rows it changed.
func (s *Store) rowsChanged(ctx context.Context, what, query string, args ...any) (int64, error) {
	res, err := s.w.exec(ctx, query, args...)
	if err != nil {
		return 0, wrap(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(what, err)
	}
	return n, nil
}

// NextOutboxDue returns when the next message becomes claimable.
func (s *Store) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var unclaimed, leased sql.NullInt64
	err := s.r.queryRow(ctx, func(sc scanner) error { return sc.Scan(&unclaimed, &leased) }, qNextOutboxDue)
	if err != nil {
		return time.Time{}, false, wrap("next outbox due", err)
	}
	switch {
	case !unclaimed.Valid && !leased.Valid:
		return time.Time{}, false, nil
	case !leased.Valid, unclaimed.Valid && unclaimed.Int64 <= leased.Int64:
		return fromMS(unclaimed.Int64), true, nil
	default:
		return fromMS(leased.Int64), true, nil
	}
}

// OutboxStats implements store.Store.
func (s *Store) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	err := s.r.queryRow(ctx, func(sc scanner) error { return sc.Scan(&n, &oldest) }, `SELECT count(*), min(created_at) FROM outbox`)
	if err != nil {
		return 0, time.Time{}, wrap("outbox stats", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMS(oldest.Int64), nil
}
