package sqlite

import (
	"github.com/latchkey/latchkey/internal/store"
)

const outboxCols = `id, channel, recipient, client_id, connection, payload, created_at, expires_at,
	next_attempt_at, attempts, last_error, claimed_by, claimed_until`

const (
	qPutOutbox = `INSERT INTO outbox (` + outboxCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func outboxArgs(m store.OutboxMessage) []any {
	return []any{m.ID, m.Channel, m.Recipient, m.ClientID, m.Connection, blob(m.Payload),
		toMS(m.CreatedAt), toMS(m.ExpiresAt), toMS(m.NextAttemptAt), m.Attempts, m.LastError,
		m.ClaimedBy, toNullMS(m.ClaimedUntil)}
}
