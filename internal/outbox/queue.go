package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Queue turns notifications into sealed outbox messages, which the
// passwordless service commits together with their code, and hands them
// to the worker once they are committed.
type Queue struct {
	log    *slog.Logger
	keys   *secret.Keys
	from   string
	worker *Worker
	now    func() time.Time
	// opened holds, from Message to Committed or Abandoned, the payloads
	// of the messages this node will send itself: handed over as they are,
	// they need not be unsealed again.
	opened sync.Map // message id → *Payload
}

// NewQueue returns a Queue; defaultFrom is the sender of emails whose
// template names none.
func NewQueue(keys *secret.Keys, defaultFrom string, w *Worker, now func() time.Time) *Queue {
	return &Queue{log: w.log, keys: keys, from: defaultFrom, worker: w, now: now}
}

// Message renders and seals n for the outbox; it is not sent after expires.
func (q *Queue) Message(_ context.Context, n delivery.Notification, conn store.Connection, expires time.Time) (*store.OutboxMessage, error) {
	email, sms, err := delivery.Compose(n, conn, q.from)
	if err != nil {
		// A template that parsed but cannot render (it hit a limit): send
		// the built-in message rather than fail every login.
		q.log.Warn("outbox: the connection's template failed; using the built-in one", "connection", conn.Name, "err", err)
		plain := conn
		plain.Options.Email, plain.Options.Template = nil, ""
		if email, sms, err = delivery.Compose(n, plain, q.from); err != nil {
			return nil, err
		}
	}
	id := "msg_" + secret.Hex(12)
	plain := &Payload{Email: email, SMS: sms, Withheld: n.Withheld}
	payload, err := Seal(q.keys, id, *plain)
	if err != nil {
		return nil, err
	}
	now := q.now()
	m := &store.OutboxMessage{ID: id, Channel: n.Channel, Recipient: n.To, ClientID: n.ClientID, Connection: conn.Name,
		Payload: payload, CreatedAt: now, ExpiresAt: expires, NextAttemptAt: now}
	if q.worker.reserve() {
		// Committed already claimed by this node, and sent by it without
		// a claim transaction (Committed).
		m.ClaimedBy, m.ClaimedUntil = q.worker.node, q.worker.now().Add(q.worker.lease)
		q.opened.Store(id, plain)
	}
	return m, nil
}

// Committed starts the delivery of m, just committed: this node sends it
// at once when it holds its claim, else the claim loop is woken.
func (q *Queue) Committed(m *store.OutboxMessage) {
	if m.ClaimedBy != "" && m.ClaimedBy == q.worker.node {
		p, _ := q.opened.LoadAndDelete(m.ID)
		plain, _ := p.(*Payload)
		q.worker.hand(*m, plain)
		return
	}
	q.worker.Wake()
}

// Abandoned gives back what Message took for m, whose commit failed.
func (q *Queue) Abandoned(m *store.OutboxMessage) {
	if m.ClaimedBy != "" && m.ClaimedBy == q.worker.node {
		q.opened.Delete(m.ID)
		q.worker.release(m.ID)
	}
}
