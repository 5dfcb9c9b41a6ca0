package postgres

import (
	"github.com/latchkey/latchkey/internal/store"
)

const outboxCols = `id, channel, recipient, client_id, connection, payload, created_at, expires_at,
	next_attempt_at, attempts, last_error, claimed_by, claimed_until`

func outboxArgs(m store.OutboxMessage) []any {
	return []any{m.ID, m.Channel, m.Recipient, m.ClientID, m.Connection, bytea(m.Payload),
		ms(m.CreatedAt), ms(m.ExpiresAt), ms(m.NextAttemptAt), m.Attempts, m.LastError,
		m.ClaimedBy, msNull(m.ClaimedUntil)}
}
