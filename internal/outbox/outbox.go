// Package outbox delivers passwordless messages durably. A login commits
// its code and the rendered message (sealed: it holds the code) in one
// transaction; a Worker on every node claims due messages with a lease,
// sends them, and deletes them once sent. Temporary failures are retried
// with exponential back-off and jitter until the code expires, when
// the message is given up: a message older than its code is never sent.
// Failures are written to the tenant log (wn for a retry, fn when given
// up).
//
// Crash recovery. A claim is a short lease (DefaultLease, 10 s) that the
// worker renews every third of it while the message is being sent, so a
// slow provider does not lose it and a dead node's claims are free for
// every other node within one lease. A node also has a stable identity
// (--node-id, or one kept in its data directory): when it starts again
// after a crash it first releases every claim it still holds, and sends
// those messages at once instead of waiting for their leases.
//
// Delivery is exactly-once except in one window: a node that dies after
// the provider accepted a message but before the message was deleted
// leaves it to be sent again (at-least-once). Every attempt at one message
// carries the same identity, derived from the outbox message id: the SMTP
// Message-ID <msg_…@sender-domain>, which lets mail systems and clients
// drop the duplicate, and an Idempotency-Key header to an SMS gateway.
// Twilio's Messages API takes no idempotency key, so an SMS resent in that
// window arrives twice.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
	CompleteOutboxMany(ctx context.Context, node string, ids []string) (int64, error)
	RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error
	RenewOutbox(ctx context.Context, node string, until time.Time) (int64, error)
	ReleaseOutbox(ctx context.Context, node string) (int64, error)
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
	DefaultLease = 10 * time.Second // how long a claim holds a message unless renewed
	BatchSize    = 32               // messages per claim
	Concurrency  = 32               // sends in flight per node (SMTP sessions are kept: a send is a few round trips)
	IdleWait     = 5 * time.Second  // longest sleep when nothing is known to be due
	BaseBackoff  = time.Second
	MaxBackoff   = 60 * time.Second
	SendTimeout  = 30 * time.Second
)

// Payload is what a sealed outbox message holds.
type Payload struct {
	Email *delivery.Email `json:"email,omitempty"`
	SMS   *delivery.SMS   `json:"sms,omitempty"`
	// Withheld: settle the message without sending it (see
	// delivery.Notification.Withheld). Sealed like the rest, so the
	// database does not tell it from a message that is sent.
	Withheld bool `json:"withheld,omitempty"`
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
	// sent carries the ids of messages delivered, deleted in batches by
	// completer (one write for many sends).
	sent chan string

	// mu guards running: while Run claims (after it has taken back this
	// node's earlier claims, before it waits for the sends in flight), a
	// start may commit its message already claimed by this node and hand
	// it over (reserve, hand), which spares the claim's write.
	mu      sync.Mutex
	running bool
	// starved is set while the claim loop found every slot busy: a
	// handed send that ends then wakes it (else nothing waits for it).
	starved atomic.Bool
}

// CompleteBatch bounds the messages one completion deletes, and
// CompleteLinger how long a sent message waits for others to be deleted
// with (one write for many sends).
const (
	CompleteBatch  = 128
	CompleteLinger = 20 * time.Millisecond
)

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
	// take it over (a node that died mid-send); DefaultLease when zero. It
	// is renewed every third of it while the message is being sent.
	Lease time.Duration
	// Node names this node in its claims. It must be stable across
	// restarts (the node takes back its own claims when it starts) and
	// unique among live nodes; a random one when empty.
	Node string
}

// NewWorker returns a worker for this node.
func NewWorker(d Deps) *Worker {
	lease := d.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	node := d.Node
	if node == "" {
		node = "node-" + secret.Hex(6)
	}
	return &Worker{st: d.Store, conns: d.Connections, tr: d.Transport, keys: d.Keys, events: d.Events, metrics: d.Metrics,
		health: newHealth(d.Log, d.Now), log: d.Log, now: d.Now, node: node, hostname: d.Hostname,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, Concurrency), lease: lease, sent: make(chan string, 4*Concurrency)}
}

// Wake tells the worker a message was just committed (no waiting on a
// timer: users wait for their code).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Node is the name this worker claims messages under.
func (w *Worker) Node() string { return w.node }

// Run takes back the claims this node held when it last stopped, then
// claims and sends messages until ctx is done, and waits for the sends in
// flight. While any is in flight their leases are renewed.
func (w *Worker) Run(ctx context.Context) {
	stopRenew := w.startRenewing()
	completed := make(chan struct{})
	go func() { defer close(completed); w.completer() }()
	defer func() {
		w.mu.Lock()
		w.running = false // no more hand-overs,
		w.mu.Unlock()
		w.wg.Wait()   // the sends in flight end,
		close(w.sent) // their completions are written,
		<-completed
		stopRenew() // and only then do the leases stop being renewed
	}()
	if n, err := w.st.ReleaseOutbox(ctx, w.node); err != nil {
		w.log.Warn("outbox: release this node's earlier claims", "node", w.node, "err", err)
	} else if n > 0 {
		w.log.Info("outbox: sending again the messages this node was sending when it stopped", "node", w.node, "messages", n)
	}
	w.mu.Lock()
	w.running = true
	w.mu.Unlock()
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

// completer deletes the messages sent, as many as are waiting in one
// write, until sent is closed.
func (w *Worker) completer() {
	for id := range w.sent {
		w.completeBatch(id)
	}
}

// completeWaiting completes the messages sent and not yet deleted, if any.
func (w *Worker) completeWaiting() {
	select {
	case id := <-w.sent:
		w.completeBatch(id)
	default:
	}
}

// completeBatch deletes first and the sent messages that arrive within
// CompleteLinger after it (up to CompleteBatch) in one write. Until then
// they stay claimed, their leases renewed: a crash meanwhile sends them
// again, as a crash between a send and its deletion always could.
func (w *Worker) completeBatch(first string) {
	ids := []string{first}
	linger := time.NewTimer(CompleteLinger)
	defer linger.Stop()
more:
	for len(ids) < CompleteBatch {
		select {
		case id, ok := <-w.sent:
			if !ok {
				break more
			}
			ids = append(ids, id)
		case <-linger.C:
			break more
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.lease)
	_, err := w.st.CompleteOutboxMany(ctx, w.node, ids)
	cancel()
	if err != nil {
		// Left claimed: when the lease ends (or this node restarts) they
		// are sent again, as after a crash.
		w.log.Warn("outbox: complete", "messages", len(ids), "err", err)
	}
}

// startRenewing renews this node's leases every third of the lease while
// a send is in flight, until the returned function is called (after the
// last send has ended).
func (w *Worker) startRenewing() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if len(w.sem) == 0 {
				continue
			}
			rctx, rcancel := context.WithTimeout(ctx, w.lease/3)
			_, err := w.st.RenewOutbox(rctx, w.node, w.now().Add(w.lease))
			rcancel()
			if err != nil && ctx.Err() == nil {
				w.log.Warn("outbox: renew leases", "node", w.node, "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// claimAndSend claims only as many messages as it can start sending now,
// so that no claimed message waits for a slot while its lease runs out
// (and is claimed again, and sent twice).
func (w *Worker) claimAndSend(ctx context.Context) (int, error) {
	free := cap(w.sem) - len(w.sem)
	w.starved.Store(free == 0)
	if free == 0 {
		return 0, nil
	}
	msgs, err := w.st.ClaimOutbox(ctx, w.node, w.now(), w.lease, min(free, BatchSize))
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		// Only free slots were claimed; a start may have reserved one
		// since, and then this waits for a send to end (the leases are
		// renewed meanwhile: a send is in flight).
		w.sem <- struct{}{}
		w.wg.Add(1)
		go func() {
			defer func() { <-w.sem; w.wg.Done(); w.Wake() }()
			w.deliver(context.WithoutCancel(ctx), m, nil)
		}()
	}
	return len(msgs), nil
}

// reserve takes a send slot for a message that a start is about to commit
// already claimed by this node (ClaimedBy w.node, ClaimedUntil a lease
// from now): false when every slot is busy or the worker is not running,
// and the message is then committed unclaimed, for the claim loop. A
// reserved slot is handed its message (hand) or given back (release).
func (w *Worker) reserve() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		return false
	}
	select {
	case w.sem <- struct{}{}:
		w.wg.Add(1)
		return true
	default:
		return false
	}
}

// hand sends m, committed claimed by this node, in the slot reserve took;
// plain is its payload unsealed, when the caller has it (nil: unseal it).
// Its claim is what a claim transaction would have written: a crash
// before it is sent leaves it to this node's restart or to another node
// when the lease ends, as for any claimed message.
func (w *Worker) hand(m store.OutboxMessage, plain *Payload) {
	go func() {
		defer func() {
			<-w.sem
			w.wg.Done()
			if w.starved.Load() {
				w.Wake()
			}
		}()
		w.deliver(context.Background(), m, plain)
	}()
}

// release gives back a slot reserve took for message id, whose commit
// failed. A failure does not always mean no commit (a connection lost
// during it, a client gone while PostgreSQL commits), so the message's
// claim, if it was stored, is lifted: the claim loop sends it then, as it
// would any message, rather than after the claim's lease runs out (or
// never, while this node renews its leases). It works in the background,
// so that the failed start answers at once, and while the store fails it
// tries again (releaseTries in all, after 1 s, 2 s, 4 s): a store well
// enough to renew this node's leases again must not find the claim there.
func (w *Worker) release(id string) {
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), w.lease/3)
			err := w.st.RetryOutbox(ctx, id, w.node, w.now(), "the start that queued it failed")
			cancel()
			switch {
			case err == nil:
				w.Wake()
				return
			case errors.Is(err, store.ErrNotFound):
				return // never committed
			case try == releaseTries-1:
				w.log.Warn("outbox: lift the claim of a message whose commit failed", "id", id, "err", err)
				return
			}
			time.Sleep(min(time.Second<<try, w.lease/3))
		}
	}()
}

// releaseTries is how often release tries to lift a claim.
const releaseTries = 4

// deliver sends one claimed message and settles it; plain is its payload
// when the caller has it unsealed (nil: unsealed here).
func (w *Worker) deliver(ctx context.Context, m store.OutboxMessage, plain *Payload) {
	var p Payload
	var err error
	if plain != nil {
		p = *plain // sealed into m.Payload by this process's Queue.Message
	} else {
		p, err = Open(w.keys, m)
	}
	if err == nil && p.Withheld {
		// Never meant to be sent, expired or not: no failure to report.
		if err := w.st.CompleteOutbox(ctx, m.ID, w.node); err != nil && !errors.Is(err, store.ErrNotFound) {
			w.log.Warn("outbox: complete", "id", m.ID, "err", err)
		}
		return
	}
	if !w.now().Before(m.ExpiresAt) {
		w.giveUp(ctx, m, "the code expired before the message could be delivered")
		return
	}
	if err != nil {
		w.giveUp(ctx, m, "the message could not be read")
		return
	}
	// The lease is renewed while the send goes on; it is still bounded.
	sctx, cancel := context.WithTimeout(ctx, SendTimeout)
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
		// Deleted with others sent at about the same time: until then
		// the message stays claimed (and its lease renewed), as during the
		// send, so a crash meanwhile sends it again, as before.
		w.sent <- m.ID
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
	// Every attempt at one message carries its id (Message-ID,
	// Idempotency-Key), so that a resend can be told for what it is.
	switch {
	case p.Email != nil:
		p.Email.ID = m.ID
		return w.tr.Provider("email", store.Connection{}), w.tr.SendEmail(ctx, *p.Email)
	case p.SMS != nil:
		conn, err := w.conns.Connection(ctx, m.Connection)
		if err != nil {
			return "", &delivery.SendError{Temporary: !errors.Is(err, store.ErrNotFound), Message: "connection " + m.Connection + ": " + err.Error()}
		}
		p.SMS.ID = m.ID
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
