package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// The fakes below stand in for the Worker's consumer interfaces (Store,
// Connections, Transport, Events, Metrics); the rules under test are the
// worker's: claim, deliver, retry with back-off, give up, leases, events
// and provider health lines.

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeOutbox holds messages as the storage contract describes them.
type fakeOutbox struct {
	mu       sync.Mutex
	msgs     map[string]*store.OutboxMessage
	limits   []int           // the limit of every claim
	lost     map[string]bool // leases another node took over
	claimErr error           // the next claim fails with it
}

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{msgs: map[string]*store.OutboxMessage{}, lost: map[string]bool{}}
}

func (o *fakeOutbox) add(m store.OutboxMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs[m.ID] = &m
}

func (o *fakeOutbox) get(id string) (store.OutboxMessage, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, ok := o.msgs[id]
	if !ok {
		return store.OutboxMessage{}, false
	}
	return *m, true
}

func (o *fakeOutbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

func (o *fakeOutbox) ClaimOutbox(_ context.Context, node string, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.limits = append(o.limits, limit)
	if err := o.claimErr; err != nil {
		o.claimErr = nil
		return nil, err
	}
	var due []*store.OutboxMessage
	for _, m := range o.msgs {
		if !m.NextAttemptAt.After(now) && (m.ClaimedBy == "" || !m.ClaimedUntil.After(now)) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b *store.OutboxMessage) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var out []store.OutboxMessage
	for _, m := range due[:min(len(due), max(limit, 0))] {
		m.ClaimedBy, m.ClaimedUntil = node, now.Add(lease)
		out = append(out, *m)
	}
	return out, nil
}

// held returns the message id that node holds, or ErrNotFound.
func (o *fakeOutbox) held(id, node string) (*store.OutboxMessage, error) {
	m, ok := o.msgs[id]
	if !ok || m.ClaimedBy != node || o.lost[id] {
		return nil, store.ErrNotFound
	}
	return m, nil
}

func (o *fakeOutbox) CompleteOutbox(_ context.Context, id, node string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.held(id, node); err != nil {
		return err
	}
	delete(o.msgs, id)
	return nil
}

func (o *fakeOutbox) CompleteOutboxMany(ctx context.Context, node string, ids []string) (int64, error) {
	var n int64
	for _, id := range ids {
		if o.CompleteOutbox(ctx, id, node) == nil {
			n++
		}
	}
	return n, nil
}

func (o *fakeOutbox) RetryOutbox(_ context.Context, id, node string, next time.Time, lastError string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.held(id, node)
	if err != nil {
		return err
	}
	m.Attempts++
	m.LastError = store.TrimOutboxError(lastError)
	m.NextAttemptAt, m.ClaimedBy, m.ClaimedUntil = next, "", time.Time{}
	return nil
}

func (o *fakeOutbox) RenewOutbox(_ context.Context, node string, until time.Time) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for id, m := range o.msgs {
		if m.ClaimedBy == node && !o.lost[id] {
			if until.After(m.ClaimedUntil) {
				m.ClaimedUntil = until
			}
			n++
		}
	}
	return n, nil
}

func (o *fakeOutbox) ReleaseOutbox(_ context.Context, node string) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for id, m := range o.msgs {
		if m.ClaimedBy == node && !o.lost[id] {
			m.ClaimedBy, m.ClaimedUntil = "", time.Time{}
			n++
		}
	}
	return n, nil
}

func (o *fakeOutbox) NextOutboxDue(context.Context) (time.Time, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due time.Time
	for _, m := range o.msgs {
		d := m.NextAttemptAt
		if m.ClaimedBy != "" {
			d = m.ClaimedUntil
		}
		if due.IsZero() || d.Before(due) {
			due = d
		}
	}
	return due, !due.IsZero(), nil
}

type fakeConns map[string]store.Connection

func (c fakeConns) Connection(_ context.Context, name string) (store.Connection, error) {
	if name == "broken" {
		return store.Connection{}, errors.New("database is locked")
	}
	conn, ok := c[name]
	if !ok {
		return conn, store.ErrNotFound
	}
	return conn, nil
}

// sent is one call to the transport.
type sent struct {
	to, provider string
	at           time.Time
	deadline     time.Time
}

// fakeTransport answers each send with fail(to, attempt) (attempt counts
// from 1 per recipient), after block is closed when it is set (or with the
// context's error when the send's context ends first).
type fakeTransport struct {
	mu    sync.Mutex
	sends []sent
	fail  func(to string, attempt int) error
	block chan struct{}
	wait  bool // wait for the send's context instead (a provider that hangs)
}

func (tr *fakeTransport) send(ctx context.Context, to, provider string) error {
	tr.mu.Lock()
	d, _ := ctx.Deadline()
	tr.sends = append(tr.sends, sent{to: to, provider: provider, at: time.Now(), deadline: d})
	attempt := 0
	for _, s := range tr.sends {
		if s.to == to {
			attempt++
		}
	}
	fail, block, wait := tr.fail, tr.block, tr.wait
	tr.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if wait {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		return fail(to, attempt)
	}
	return nil
}

func (tr *fakeTransport) SendEmail(ctx context.Context, m delivery.Email) error {
	return tr.send(ctx, m.To, "smtp")
}

func (tr *fakeTransport) SendSMS(ctx context.Context, conn store.Connection, m delivery.SMS) error {
	return tr.send(ctx, m.To, "sms:"+conn.Name)
}

// Provider names the provider as the real transport does: smtp for email,
// the sms connection's provider (twilio by default).
func (tr *fakeTransport) Provider(channel string, conn store.Connection) string {
	if channel != "sms" {
		return "smtp"
	}
	if conn.Options.Provider == "" {
		return "twilio"
	}
	return conn.Options.Provider
}

func (tr *fakeTransport) calls() []sent {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.sends)
}

type fakeEvents struct {
	mu     sync.Mutex
	events []store.LogEvent
}

func (e *fakeEvents) Record(_ context.Context, ev store.LogEvent) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *fakeEvents) all() []store.LogEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

type delivered struct {
	provider  string
	failed    bool
	temporary bool
}

type fakeMetrics struct {
	mu    sync.Mutex
	calls []delivered
}

func (m *fakeMetrics) Delivery(provider string, _ time.Duration, err error, temporary bool) {
	m.mu.Lock()
	m.calls = append(m.calls, delivered{provider, err != nil, temporary})
	m.mu.Unlock()
}

// logBuffer collects JSON log lines, safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the messages of the lines at level.
func (b *logBuffer) lines(t *testing.T, level string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if m["level"] == level {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) messages(t *testing.T, level string) []string {
	t.Helper()
	var out []string
	for _, m := range b.lines(t, level) {
		out = append(out, m["msg"].(string))
	}
	return out
}

// fixture is a worker over the fakes. now is the worker's clock: a
// settable one outside synctest bubbles, time.Now inside.
type fixture struct {
	w       *Worker
	st      *fakeOutbox
	tr      *fakeTransport
	events  *fakeEvents
	metrics *fakeMetrics
	log     *logBuffer
	keys    *secret.Keys
	now     time.Time
}

func newFixture(t *testing.T, realClock bool) *fixture {
	t.Helper()
	keys, err := secret.New(bytes.Repeat([]byte{9}, secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: newFakeOutbox(), tr: &fakeTransport{}, events: &fakeEvents{}, metrics: &fakeMetrics{}, log: &logBuffer{}, keys: keys, now: t0}
	now := func() time.Time { return f.now }
	if realClock {
		now = time.Now
	}
	f.w = NewWorker(Deps{Store: f.st, Transport: f.tr, Keys: keys, Events: f.events, Metrics: f.metrics,
		Connections: fakeConns{
			"sms":     {Name: "sms", Strategy: "sms"},
			"gateway": {Name: "gateway", Strategy: "sms", Options: store.ConnectionOptions{Provider: "sms_gateway"}},
		},
		Log: slog.New(slog.NewJSONHandler(f.log, nil)), Hostname: "login.example.com", Now: now})
	return f
}

// message adds a message for to (an email address, or a phone number on
// the sms connection conn), created now and expiring in ttl.
func (f *fixture) message(t *testing.T, id, to, conn string, created time.Time, ttl time.Duration) store.OutboxMessage {
	t.Helper()
	m := store.OutboxMessage{ID: id, Recipient: to, ClientID: "app1", Connection: conn,
		CreatedAt: created, ExpiresAt: created.Add(ttl), NextAttemptAt: created}
	var p Payload
	if conn == "email" {
		m.Channel, p.Email = "email", &delivery.Email{From: "login@example.com", To: to, Subject: "Your code", Text: "123456"}
	} else {
		m.Channel, p.SMS = "sms", &delivery.SMS{To: to, Body: "123456"}
	}
	var err error
	if m.Payload, err = Seal(f.keys, id, p); err != nil {
		t.Fatal(err)
	}
	f.st.add(m)
	return m
}

// claim claims every due message for the worker, as its loop would.
func (f *fixture) claim(t *testing.T) []store.OutboxMessage {
	t.Helper()
	msgs, err := f.st.ClaimOutbox(context.Background(), f.w.node, f.w.now(), f.w.lease, BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

var (
	errTemporary = &delivery.SendError{Temporary: true, Message: "421 4.3.2 try again later", Status: 421}
	errPermanent = &delivery.SendError{Message: "550 5.1.1 no such mailbox", Status: 550}
)

// TestDeliver: what one claimed message comes to, by the outcome of its
// send: delivered and deleted; retried after a back-off with a wn event;
// given up with an fn event (permanent failure, code expired, no time
// left for a retry, unreadable, no connection).
func TestDeliver(t *testing.T) {
	tests := []struct {
		name     string
		conn     string
		to       string
		attempts int           // before this one
		ttl      time.Duration // from now
		payload  []byte        // replaces the sealed one when set
		withheld bool          // sealed as withheld (enumeration-safe mode)
		err      error         // the transport's answer
		// want
		sent     bool
		outcome  string // "delivered", "retry", "given up"
		reason   string // the event's error
		provider string // metrics ("" for none)
	}{
		{name: "email delivered", conn: "email", to: "ana@example.com", ttl: 5 * time.Minute,
			sent: true, outcome: "delivered", provider: "smtp"},
		{name: "sms delivered through twilio by default", conn: "sms", to: "+14155552671", ttl: 5 * time.Minute,
			sent: true, outcome: "delivered", provider: "twilio"},
		{name: "sms through the connection's provider", conn: "gateway", to: "+14155552671", ttl: 5 * time.Minute,
			sent: true, outcome: "delivered", provider: "sms_gateway"},
		{name: "temporary failure is retried", conn: "email", to: "ana@example.com", ttl: 5 * time.Minute, err: errTemporary,
			sent: true, outcome: "retry", reason: errTemporary.Error(), provider: "smtp"},
		{name: "an unclassified error is temporary", conn: "email", to: "ana@example.com", ttl: 5 * time.Minute, err: errors.New("connection reset"),
			sent: true, outcome: "retry", reason: "connection reset", provider: "smtp"},
		{name: "permanent failure is given up", conn: "email", to: "nobody@example.com", ttl: 5 * time.Minute, err: errPermanent,
			sent: true, outcome: "given up", reason: errPermanent.Error(), provider: "smtp"},
		{name: "no time left for the next attempt", conn: "email", to: "ana@example.com", attempts: 5, ttl: 10 * time.Second, err: errTemporary,
			sent: true, outcome: "given up", reason: errTemporary.Error(), provider: "smtp"},
		{name: "code expired before the send", conn: "email", to: "ana@example.com", ttl: 0,
			outcome: "given up", reason: "the code expired before the message could be delivered"},
		{name: "unreadable message", conn: "email", to: "ana@example.com", ttl: 5 * time.Minute, payload: []byte("garbage"),
			outcome: "given up", reason: "the message could not be read"},
		{name: "connection deleted", conn: "gone", to: "+14155552671", ttl: 5 * time.Minute,
			outcome: "given up", reason: "connection gone: store: not found"},
		{name: "a withheld message is settled unsent", conn: "email", to: "nobody@example.com", ttl: 5 * time.Minute, withheld: true,
			outcome: "delivered"},
		{name: "an expired withheld message is settled without a failure", conn: "email", to: "nobody@example.com", ttl: 0, withheld: true,
			outcome: "delivered"},
		{name: "connection unreadable for now", conn: "broken", to: "+14155552671", ttl: 5 * time.Minute,
			outcome: "retry", reason: "connection broken: database is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			f.tr.fail = func(string, int) error { return tt.err }
			m := f.message(t, "msg_1", tt.to, tt.conn, t0.Add(-time.Minute), time.Minute+tt.ttl)
			if tt.withheld {
				p, err := Open(f.keys, m)
				if err != nil {
					t.Fatal(err)
				}
				p.Withheld = true
				if tt.payload, err = Seal(f.keys, m.ID, p); err != nil {
					t.Fatal(err)
				}
			}
			if tt.attempts > 0 || tt.payload != nil {
				f.st.mu.Lock()
				f.st.msgs[m.ID].Attempts = tt.attempts
				if tt.payload != nil {
					f.st.msgs[m.ID].Payload = tt.payload
				}
				f.st.mu.Unlock()
			}
			claimed := f.claim(t)
			if len(claimed) != 1 {
				t.Fatalf("claimed %d", len(claimed))
			}
			f.w.deliver(context.Background(), claimed[0], nil)
			f.w.completeWaiting()

			if got := len(f.tr.calls()) == 1; got != tt.sent {
				t.Errorf("sent: %v, want %v", got, tt.sent)
			}
			left, kept := f.st.get(m.ID)
			events := f.events.all()
			switch tt.outcome {
			case "delivered", "given up":
				if kept {
					t.Errorf("the message is still in the outbox: %+v", left)
				}
			case "retry":
				if !kept || left.Attempts != tt.attempts+1 || left.ClaimedBy != "" || left.LastError != tt.reason {
					t.Fatalf("after a retry: %+v", left)
				}
				b := BaseBackoff << tt.attempts
				if wait := left.NextAttemptAt.Sub(t0); wait < b/2 || wait > b {
					t.Errorf("next attempt in %v, want within [%v, %v]", wait, b/2, b)
				}
			}
			var wantEvents []string
			switch tt.outcome {
			case "retry":
				wantEvents = []string{eventlog.TypeWarningNotification + " Sending " + m.Channel + " notification failed, will retry: " + tt.reason}
			case "given up":
				wantEvents = []string{eventlog.TypeFailedNotification + " Failed to send " + m.Channel + " notification: " + tt.reason}
			}
			var gotEvents []string
			for _, ev := range events {
				gotEvents = append(gotEvents, ev.Type+" "+ev.Description)
			}
			if !slices.Equal(gotEvents, wantEvents) {
				t.Fatalf("events %q, want %q", gotEvents, wantEvents)
			}
			if len(events) == 1 {
				ev := events[0]
				var d map[string]any
				if err := json.Unmarshal(ev.Details, &d); err != nil {
					t.Fatal(err)
				}
				if ev.ClientID != "app1" || ev.Connection != tt.conn || ev.UserName != tt.to || ev.Hostname != "login.example.com" ||
					d["channel"] != m.Channel || d["attempts"] != float64(tt.attempts+1) || d["message_id"] != m.ID || d["error"] != tt.reason {
					t.Errorf("event %+v details %v", ev, d)
				}
			}
			var wantMetrics []delivered
			if tt.provider != "" {
				// temporary is the failure's class, whatever became of the message
				wantMetrics = []delivered{{tt.provider, tt.err != nil, tt.err != nil && tt.err != error(errPermanent)}}
			}
			if !slices.Equal(f.metrics.calls, wantMetrics) {
				t.Errorf("metrics %v, want %v", f.metrics.calls, wantMetrics)
			}
			if gaveUp := f.log.messages(t, "WARN"); (tt.outcome == "given up") != slices.Contains(gaveUp, "outbox: message given up") {
				t.Errorf("warnings %q", gaveUp)
			}
		})
	}
}

// TestDeliverLeaseLost: a worker whose lease another node took over (it
// ran out mid-send) leaves the message alone: no retry, no event, no
// warning; the other claim settles it.
func TestDeliverLeaseLost(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		ttl  time.Duration
	}{
		{"delivered", nil, 5 * time.Minute},
		{"temporary failure", errTemporary, 5 * time.Minute},
		{"permanent failure", errPermanent, 5 * time.Minute},
		{"expired", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			f.tr.fail = func(string, int) error { return tt.err }
			m := f.message(t, "msg_1", "ana@example.com", "email", t0, tt.ttl)
			claimed := f.claim(t)
			f.st.mu.Lock()
			f.st.lost[m.ID] = true
			f.st.mu.Unlock()
			f.w.deliver(context.Background(), claimed[0], nil)
			f.w.completeWaiting()
			left, kept := f.st.get(m.ID)
			if !kept || left.Attempts != 0 || left.LastError != "" {
				t.Errorf("the other claim's message was changed: %+v %v", left, kept)
			}
			if ev := f.events.all(); len(ev) != 0 {
				t.Errorf("events %+v", ev)
			}
			if w := f.log.messages(t, "WARN"); len(w) != 0 {
				t.Errorf("warnings %q", w)
			}
		})
	}
}

// TestProviderHealth: the worker tells the operator once when a provider
// starts failing and once when it recovers; a refused message (permanent)
// is no outage.
func TestProviderHealth(t *testing.T) {
	f := newFixture(t, false)
	f.tr.fail = func(to string, attempt int) error {
		switch {
		case to == "nobody@example.com":
			return errPermanent
		case attempt <= 2:
			return errTemporary
		}
		return nil
	}
	f.message(t, "msg_1", "nobody@example.com", "email", t0, 5*time.Minute)
	f.message(t, "msg_2", "ana@example.com", "email", t0, 5*time.Minute)
	for range 3 {
		for _, m := range f.claim(t) {
			f.w.deliver(context.Background(), m, nil)
			f.w.completeWaiting()
		}
		f.now = f.now.Add(MaxBackoff)
	}
	if f.st.len() != 0 {
		t.Fatalf("%d messages left", f.st.len())
	}
	errs, infos := f.log.lines(t, "ERROR"), f.log.lines(t, "INFO")
	if len(errs) != 1 || errs[0]["provider"] != "smtp" || errs[0]["err"] != errTemporary.Error() {
		t.Errorf("outage lines %v", errs)
	}
	if len(infos) != 1 || infos[0]["msg"] != "delivery provider recovered" || infos[0]["failed_attempts"] != 2.0 {
		t.Errorf("recovery lines %v", infos)
	}
}

// TestSendTimeout: a send that hangs is cut off after SendTimeout (its
// lease is renewed meanwhile), and is retried as a temporary failure.
func TestSendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.tr.wait = true
		m := f.message(t, "msg_1", "ana@example.com", "email", time.Now(), 5*time.Minute)
		start := time.Now()
		f.w.deliver(context.Background(), f.claim(t)[0], nil)
		f.w.completeWaiting()
		calls := f.tr.calls()
		if len(calls) != 1 || !calls[0].deadline.Equal(start.Add(SendTimeout)) {
			t.Fatalf("send deadline %v, want %v", calls, start.Add(SendTimeout))
		}
		if took := time.Since(start); took != SendTimeout {
			t.Errorf("the hung send took %v, want %v", took, SendTimeout)
		}
		left, kept := f.st.get(m.ID)
		if !kept || left.Attempts != 1 || !strings.Contains(left.LastError, "deadline exceeded") {
			t.Errorf("after the timeout: %+v", left)
		}
	})
}

// run starts the worker's loop and returns a function that stops it and
// waits for it to return.
func (f *fixture) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.w.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// TestRunRetriesWithBackoff: the loop sends a due message at once, and
// retries it after exponential back-off with jitter until it goes through.
func TestRunRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.tr.fail = func(_ string, attempt int) error {
			if attempt <= 3 {
				return errTemporary
			}
			return nil
		}
		start := time.Now()
		f.message(t, "msg_1", "ana@example.com", "email", start, 5*time.Minute)
		stop := f.run(t)
		time.Sleep(time.Minute)
		stop()
		calls := f.tr.calls()
		if len(calls) != 4 || f.st.len() != 0 {
			t.Fatalf("%d sends, %d messages left; want 4 and 0", len(calls), f.st.len())
		}
		if !calls[0].at.Equal(start) {
			t.Errorf("first send after %v, want at once", calls[0].at.Sub(start))
		}
		for i := 1; i < len(calls); i++ {
			b := BaseBackoff << (i - 1)
			if gap := calls[i].at.Sub(calls[i-1].at); gap < b/2 || gap > b {
				t.Errorf("retry %d after %v, want within [%v, %v]", i, gap, b/2, b)
			}
		}
		if ev := f.events.all(); len(ev) != 3 || ev[2].Type != eventlog.TypeWarningNotification {
			t.Errorf("events %+v, want three wn", ev)
		}
	})
}

// TestRunGivesUpAtExpiry: a message whose provider never answers is
// retried until its code expires, then given up with one fn event; it is
// never sent after its code's expiry.
func TestRunGivesUpAtExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.tr.fail = func(string, int) error { return errTemporary }
		start := time.Now()
		m := f.message(t, "msg_1", "ana@example.com", "email", start, 2*time.Minute)
		stop := f.run(t)
		time.Sleep(10 * time.Minute)
		stop()
		calls := f.tr.calls()
		if len(calls) < 5 || f.st.len() != 0 {
			t.Fatalf("%d sends, %d messages left", len(calls), f.st.len())
		}
		for _, c := range calls {
			if !c.at.Before(m.ExpiresAt) {
				t.Errorf("sent at %v, after the code's expiry", c.at.Sub(start))
			}
		}
		ev := f.events.all()
		if last := ev[len(ev)-1]; last.Type != eventlog.TypeFailedNotification || len(ev) != len(calls) {
			t.Errorf("events: %d for %d sends, last %+v", len(ev), len(calls), last)
		}
	})
}

// TestRunWakesOnCommit: a woken worker sends a new message at once; one
// not woken finds it within IdleWait.
func TestRunWakesOnCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		stop := f.run(t)
		defer stop()
		synctest.Wait() // idle: nothing due
		start := time.Now()
		f.message(t, "msg_1", "ana@example.com", "email", start, 5*time.Minute)
		f.w.Wake()
		synctest.Wait()
		if calls := f.tr.calls(); len(calls) != 1 || !calls[0].at.Equal(start) {
			t.Fatalf("woken: sends %v, want one at once", calls)
		}
		time.Sleep(time.Second)
		start = time.Now()
		f.message(t, "msg_2", "bob@example.com", "email", start, 5*time.Minute)
		time.Sleep(IdleWait)
		calls := f.tr.calls()
		if len(calls) != 2 || calls[1].at.Sub(start) > IdleWait {
			t.Fatalf("not woken: sends %v, want the second within %v", calls, IdleWait)
		}
	})
}

// TestRunClaimsOnlyFreeSlots: the worker claims no more messages than it
// has free send slots, so that none waits for a slot while its lease runs
// out; the rest stay unclaimed for other nodes until a slot frees.
func TestRunClaimsOnlyFreeSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.tr.block = make(chan struct{})
		for i := range Concurrency + 5 {
			f.message(t, fmt.Sprintf("msg_%02d", i), fmt.Sprintf("u%d@example.com", i), "email", time.Now(), 5*time.Minute)
		}
		stop := f.run(t)
		synctest.Wait()
		if n := len(f.tr.calls()); n != Concurrency {
			t.Fatalf("%d sends in flight, want %d", n, Concurrency)
		}
		f.st.mu.Lock()
		claimed := 0
		for _, m := range f.st.msgs {
			if m.ClaimedBy != "" {
				claimed++
			}
		}
		for _, l := range f.st.limits {
			if l > Concurrency || l < 1 {
				t.Errorf("claimed with limit %d", l)
			}
		}
		f.st.mu.Unlock()
		if claimed != Concurrency {
			t.Errorf("%d messages claimed, want %d", claimed, Concurrency)
		}
		close(f.tr.block)
		synctest.Wait()
		time.Sleep(CompleteLinger) // the sent messages are deleted together
		synctest.Wait()
		if f.st.len() != 0 || len(f.tr.calls()) != Concurrency+5 {
			t.Errorf("after the slots freed: %d left, %d sends", f.st.len(), len(f.tr.calls()))
		}
		stop()
	})
}

// TestRunStopWaitsForSends: stopping the worker waits for the sends in
// flight, which are not cut short by the stop.
func TestRunStopWaitsForSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.tr.block = make(chan struct{})
		f.message(t, "msg_1", "ana@example.com", "email", time.Now(), 5*time.Minute)
		stop := f.run(t)
		synctest.Wait()
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("Run returned with a send in flight")
		default:
		}
		close(f.tr.block)
		<-stopped
		if f.st.len() != 0 {
			t.Errorf("the send in flight at the stop was not settled")
		}
	})
}

// TestRunSurvivesClaimErrors: a failed claim is logged and the loop goes
// on.
func TestRunSurvivesClaimErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, true)
		f.st.claimErr = errors.New("connection refused")
		f.message(t, "msg_1", "ana@example.com", "email", time.Now(), 5*time.Minute)
		stop := f.run(t)
		time.Sleep(IdleWait)
		stop()
		if f.st.len() != 0 {
			t.Errorf("the message was not sent after the failed claim")
		}
		if w := f.log.messages(t, "WARN"); !slices.Equal(w, []string{"outbox: claim"}) {
			t.Errorf("warnings %q", w)
		}
	})
}

// TestQueueMessage: Queue seals the rendered message under its id, due at
// once and not sent after the code's expiry; the worker can open it.
func TestQueueMessage(t *testing.T) {
	f := newFixture(t, false)
	q := NewQueue(f.keys, "login@example.com", f.w, func() time.Time { return t0 })
	n := delivery.Notification{Channel: "email", To: "ana@example.com", Code: "424242", Send: "code", Operation: "login", ClientID: "app1", AppName: "App"}
	m, err := q.Message(context.Background(), n, store.Connection{Name: "email", Strategy: "email"}, t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || m.Channel != "email" || m.Recipient != "ana@example.com" || m.ClientID != "app1" || m.Connection != "email" ||
		!m.CreatedAt.Equal(t0) || !m.NextAttemptAt.Equal(t0) || !m.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("message %+v", m)
	}
	if bytes.Contains(m.Payload, []byte("424242")) {
		t.Errorf("the code is readable in the payload")
	}
	p, err := Open(f.keys, *m)
	if err != nil || p.Email == nil || p.SMS != nil || p.Email.To != "ana@example.com" || p.Email.From != "login@example.com" || !strings.Contains(p.Email.Text, "424242") {
		t.Fatalf("opened %+v %v", p, err)
	}
	// Sealed to its id: a payload moved to another message does not open.
	other := *m
	other.ID = "msg_other"
	if _, err := Open(f.keys, other); err == nil {
		t.Errorf("a payload opened under another message id")
	}
}
