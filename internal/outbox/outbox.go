// Package outbox delivers passwordless messages durably. A login commits
// its code and the rendered message (sealed: it holds the code) in one
// transaction; a Worker on every node claims due messages with a lease,
// sends them, and deletes them once sent. Temporary failures are retried
// with exponential back-off and jitter until the code expires, when
// the message is given up: a message older than its code is never sent.
// Failures are written to the tenant log (wn for a retry, fn when given
// up). A node that dies mid-send leaves its lease to run out; another
// claim then sends the message, so delivery is at-least-once in that one
// window (neither SMTP nor Twilio's Messages API takes an idempotency key)
// and exactly-once otherwise.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is the storage the outbox uses.
type Store interface {
	ClaimOutbox(ctx context.Context, node string, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error)
	CompleteOutbox(ctx context.Context, id, node string) error
	RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error
	NextOutboxDue(ctx context.Context) (time.Time, bool, error)
}

// Connections finds a connection's delivery settings (SMS provider).
type Connections interface {
	Connection(ctx context.Context, name string) (store.Connection, error)
}

// Transport sends rendered messages: SMTP and the SMS providers, or the
// dev capture.
type Transport interface {
	SendEmail(ctx context.Context, m delivery.Email) error
	SendSMS(ctx context.Context, conn store.Connection, m delivery.SMS) error
	// Provider names what a message on channel goes through (metrics and
	// the provider-health log lines).
	Provider(channel string, conn store.Connection) string
}

// Events records tenant log events.
type Events interface {
	Record(ctx context.Context, ev store.LogEvent)
}

// Metrics records delivery attempts: provider is "smtp", "twilio" or
// "sms_gateway"; temporary tells a failure that will be retried.
type Metrics interface {
	Delivery(provider string, d time.Duration, err error, temporary bool)
}

// Tuning.
const (
	DefaultLease = 60 * time.Second // how long a claim holds a message
	BatchSize    = 32               // messages per claim
	Concurrency  = 8                // sends in flight per node
	IdleWait     = 5 * time.Second  // longest sleep when nothing is known to be due
	BaseBackoff  = time.Second
	MaxBackoff   = 60 * time.Second
	SendTimeout  = 30 * time.Second
)

// Payload is what a sealed outbox message holds.
type Payload struct {
	Email *delivery.Email `json:"email,omitempty"`
	SMS   *delivery.SMS   `json:"sms,omitempty"`
}

func associated(id string) []byte { return []byte("latchkey outbox " + id) }

// Seal encodes and seals a payload for the message with this id.
func Seal(keys *secret.Keys, id string, p Payload) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode: %w", err)
	}
	return keys.Seal(b, associated(id)), nil
}

// Open unseals a message's payload.
func Open(keys *secret.Keys, m store.OutboxMessage) (Payload, error) {
	var p Payload
	b, err := keys.Open(m.Payload, associated(m.ID))
	if err != nil {
		return p, fmt.Errorf("outbox: open %s: %w", m.ID, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("outbox: decode %s: %w", m.ID, err)
	}
	return p, nil
}

// Worker sends the outbox's messages.
type Worker struct {
	st       Store
	conns    Connections
	tr       Transport
	keys     *secret.Keys
	events   Events
	metrics  Metrics
	health   *health
	log      *slog.Logger
	now      func() time.Time
	node     string
	hostname string
	wake     chan struct{}
	sem      chan struct{}
	wg       sync.WaitGroup
	lease    time.Duration
}

// Deps are what a Worker works with.
type Deps struct {
	Store       Store
	Connections Connections
	Transport   Transport
	Keys        *secret.Keys
	// Events records wn and fn; Metrics counts attempts. Either may be nil.
	Events   Events
	Metrics  Metrics
	Log      *slog.Logger
	Hostname string // the tenant's host name, for log events
	Now      func() time.Time
	// Lease is how long a claim holds a message before another node may
	// take it over (a node that died mid-send); DefaultLease when zero.
	Lease time.Duration
}

// NewWorker returns a worker for this node.
func NewWorker(d Deps) *Worker {
	lease := d.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Worker{st: d.Store, conns: d.Connections, tr: d.Transport, keys: d.Keys, events: d.Events, metrics: d.Metrics,
		health: newHealth(d.Log, d.Now), log: d.Log, now: d.Now, node: "node-" + secret.Hex(6), hostname: d.Hostname,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, Concurrency), lease: lease}
}

// Wake tells the worker a message was just committed (no waiting on a
// timer: users wait for their code).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and sends messages until ctx is done, then waits for the
// sends in flight.
func (w *Worker) Run(ctx context.Context) {
	defer w.wg.Wait()
	for ctx.Err() == nil {
		n, err := w.claimAndSend(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("outbox: claim", "err", err)
		}
		if n > 0 && len(w.sem) < cap(w.sem) {
			continue // claimed some with slots to spare: more may be due
		}
		// Nothing due, or every slot busy (a finishing send wakes us).
		wait := IdleWait
		if due, ok, err := w.st.NextOutboxDue(ctx); err == nil && ok {
			if d := due.Sub(w.now()); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claimAndSend claims only as many messages as it can start sending now,
// so that no claimed message waits for a slot while its lease runs out
// (and is claimed again, and sent twice).
func (w *Worker) claimAndSend(ctx context.Context) (int, error) {
	free := cap(w.sem) - len(w.sem)
	if free == 0 {
		return 0, nil
	}
	msgs, err := w.st.ClaimOutbox(ctx, w.node, w.now(), w.lease, min(free, BatchSize))
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		w.sem <- struct{}{} // never blocks: only free slots were claimed (and only this loop takes them)
		w.wg.Add(1)
		go func() {
			defer func() { <-w.sem; w.wg.Done(); w.Wake() }()
			w.deliver(context.WithoutCancel(ctx), m)
		}()
	}
	return len(msgs), nil
}

// deliver sends one claimed message and settles it.
func (w *Worker) deliver(ctx context.Context, m store.OutboxMessage) {
	if !w.now().Before(m.ExpiresAt) {
		w.giveUp(ctx, m, "the code expired before the message could be delivered")
		return
	}
	p, err := Open(w.keys, m)
	if err != nil {
		w.giveUp(ctx, m, "the message could not be read")
		return
	}
	// The send must end well within the lease, or another claim could send
	// the message again while this one is still talking to the provider.
	sctx, cancel := context.WithTimeout(ctx, w.sendTimeout())
	start := time.Now()
	provider, err := w.send(sctx, m, p)
	took := time.Since(start)
	cancel()
	var se *delivery.SendError
	temporary := err != nil && (!errors.As(err, &se) || se.Temporary)
	if provider != "" {
		if w.metrics != nil {
			w.metrics.Delivery(provider, took, err, temporary)
		}
		w.health.observe(provider, err, temporary)
	}
	if err == nil {
		if err := w.st.CompleteOutbox(ctx, m.ID, w.node); err != nil && !errors.Is(err, store.ErrNotFound) {
			w.log.Warn("outbox: complete", "id", m.ID, "err", err)
		}
		return
	}
	next := w.now().Add(Backoff(m.Attempts))
	if !temporary || !next.Before(m.ExpiresAt) {
		w.giveUp(ctx, m, err.Error())
		return
	}
	if err := w.st.RetryOutbox(ctx, m.ID, w.node, next, err.Error()); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			w.log.Warn("outbox: retry", "id", m.ID, "err", err)
		}
		return // the lease was lost: the message is another claim's now
	}
	w.Wake() // the loop computed its sleep while this message was claimed: let it see the retry time
	w.record(ctx, m, eventlog.TypeWarningNotification, err.Error(), m.Attempts+1)
}

// send hands the message to its provider and names the provider ("" when
// none was reached: no connection, an empty message).
func (w *Worker) send(ctx context.Context, m store.OutboxMessage, p Payload) (string, error) {
	switch {
	case p.Email != nil:
		return w.tr.Provider("email", store.Connection{}), w.tr.SendEmail(ctx, *p.Email)
	case p.SMS != nil:
		conn, err := w.conns.Connection(ctx, m.Connection)
		if err != nil {
			return "", &delivery.SendError{Temporary: !errors.Is(err, store.ErrNotFound), Message: "connection " + m.Connection + ": " + err.Error()}
		}
		return w.tr.Provider("sms", conn), w.tr.SendSMS(ctx, conn, *p.SMS)
	}
	return "", &delivery.SendError{Message: "empty message"}
}

func (w *Worker) giveUp(ctx context.Context, m store.OutboxMessage, why string) {
	if err := w.st.CompleteOutbox(ctx, m.ID, w.node); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			w.log.Warn("outbox: give up", "id", m.ID, "err", err)
		}
		return // the lease was lost: not ours to give up
	}
	w.log.Warn("outbox: message given up", "id", m.ID, "channel", m.Channel, "attempts", m.Attempts+1, "reason", why)
	w.record(ctx, m, eventlog.TypeFailedNotification, why, m.Attempts+1)
}

func (w *Worker) record(ctx context.Context, m store.OutboxMessage, typ, why string, attempts int) {
	if w.events == nil {
		return
	}
	desc := "Failed to send " + m.Channel + " notification: " + why
	if typ == eventlog.TypeWarningNotification {
		desc = "Sending " + m.Channel + " notification failed, will retry: " + why
	}
	w.events.Record(ctx, store.LogEvent{Type: typ, Description: desc, ClientID: m.ClientID, Connection: m.Connection,
		UserName: m.Recipient, Hostname: w.hostname,
		Details: eventlog.Details(map[string]any{"channel": m.Channel, "attempts": attempts, "message_id": m.ID, "error": why})})
}

// sendTimeout bounds one send: SendTimeout, or a third of the lease when
// the lease is shorter.
func (w *Worker) sendTimeout() time.Duration { return min(SendTimeout, w.lease/3) }

// Backoff is the wait before retry attempt n+1: exponential from
// BaseBackoff, capped at MaxBackoff, half of it random (jitter), so that
// nodes retrying after one provider outage do not come back together.
func Backoff(attempts int) time.Duration {
	d := BaseBackoff << min(attempts, 10)
	if d > MaxBackoff || d <= 0 {
		d = MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}
