package outbox_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/testpg"
)

// These tests run workers over the real stores and send through the real
// SMTP sender to a real SMTP server, as several nodes would.

// backends opens a fresh store of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), testpg.SchemaURL(t, "outbox"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open(t))
		})
	}
}

// mailSink is an SMTP server; hold makes the DATA commands wait until
// released (the message is in flight), fail answers the first n with a
// temporary failure. It records every DATA's Message-ID.
type mailSink struct {
	addr    string
	mu      sync.Mutex
	ids     []string // Message-ID of every DATA, in order
	okIDs   []string // of the accepted ones
	fail    int
	hold    chan struct{}
	arrived chan struct{} // one value per DATA
}

func newMailSink(t *testing.T, fail int, hold bool) *mailSink {
	t.Helper()
	s := &mailSink{fail: fail, arrived: make(chan struct{}, 100)}
	if hold {
		s.hold = make(chan struct{})
	}
	srv := smtp.NewServer(s)
	srv.Domain, srv.AllowInsecureAuth = "sink.test", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

func (s *mailSink) release() { close(s.hold) }

func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *mailSink }

func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
	s := x.s
	s.mu.Lock()
	s.ids = append(s.ids, h.Get("Message-Id"))
	failing := len(s.ids) <= s.fail
	s.mu.Unlock()
	s.arrived <- struct{}{}
	if s.hold != nil {
		<-s.hold
	}
	if failing {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.mu.Lock()
	s.okIDs = append(s.okIDs, h.Get("Message-Id"))
	s.mu.Unlock()
	return nil
}

func (s *mailSink) seen() (ids, ok []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...), append([]string(nil), s.okIDs...)
}

var testKeys = func() *secret.Keys {
	k, err := secret.New(bytes.Repeat([]byte{7}, secret.MasterKeySize))
	if err != nil {
		panic(err)
	}
	return k
}()

func newWorker(t *testing.T, st store.Store, sink *mailSink, name string, lease time.Duration) *outbox.Worker {
	t.Helper()
	sender, err := delivery.NewSMTP("smtp://"+sink.addr+"?from=login%40latchkey.test", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return outbox.NewWorker(outbox.Deps{Store: st, Transport: &delivery.Providers{SMTP: sender}, Keys: testKeys,
		Log: slog.New(slog.DiscardHandler), Hostname: "login.example.com", Now: time.Now, Lease: lease, Node: name})
}

// start runs w until the test ends (or stop is called).
func start(t *testing.T, w *outbox.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// queue commits a code and its email, as a start does; it returns the
// message id.
func queue(t *testing.T, st store.Store, to string) string {
	t.Helper()
	w := outbox.NewWorker(outbox.Deps{Log: slog.New(slog.DiscardHandler), Now: time.Now})
	q := outbox.NewQueue(testKeys, "login@latchkey.test", w, time.Now)
	now := time.Now()
	m, err := q.Message(t.Context(), delivery.Notification{Channel: "email", To: to, Code: "123456", Send: "code",
		AppName: "Web", ExpiresIn: 3 * time.Minute}, store.Connection{Name: "email", Strategy: "email"}, now.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	c := store.Code{ID: "code_" + m.ID, Connection: "email", Identifier: to, Hash: []byte("h"), ClientID: "web",
		UserIDHint: "0123456789abcdef01234567", Send: "code", CreatedAt: now, ExpiresAt: now.Add(3 * time.Minute)}
	if err := st.PutCode(t.Context(), c, m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// waitDelivered waits until the outbox is empty and returns how long it
// took; it fails the test after limit.
func waitDelivered(t *testing.T, st store.Store, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n, _, err := st.OutboxStats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("the message is still in the outbox after %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantArrival(t *testing.T, sink *mailSink, limit time.Duration) {
	t.Helper()
	select {
	case <-sink.arrived:
	case <-time.After(limit):
		t.Fatalf("no message reached the SMTP server within %v", limit)
	}
}

// TestLeaseRenewedWhileSending: a send that outlasts several leases keeps
// its claim (the worker renews it), so another node does not send the
// message a second time meanwhile.
func TestLeaseRenewedWhileSending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		const lease = 300 * time.Millisecond
		sink := newMailSink(t, 0, true)
		id := queue(t, st, "ana@example.com")
		start(t, newWorker(t, st, sink, "node-a", lease))
		wantArrival(t, sink, 5*time.Second)
		start(t, newWorker(t, st, sink, "node-b", lease))
		// Four leases: without renewals node-b would claim the message.
		deadline := time.Now().Add(4 * lease)
		for time.Now().Before(deadline) {
			if ids, _ := sink.seen(); len(ids) != 1 {
				t.Fatalf("sent %d times while the first send was in flight", len(ids))
			}
			time.Sleep(20 * time.Millisecond)
		}
		sink.release()
		waitDelivered(t, st, 5*time.Second)
		ids, ok := sink.seen()
		if len(ids) != 1 || len(ok) != 1 || ok[0] != "<"+id+"@latchkey.test>" {
			t.Fatalf("DATA Message-IDs %q, accepted %q; want one, <%s@latchkey.test>", ids, ok, id)
		}
	})
}

// TestTakeoverOfDeadNode: a message claimed by a node that died (it never
// renews) is sent by another node once the lease ends, not before.
func TestTakeoverOfDeadNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		const lease = 500 * time.Millisecond
		sink := newMailSink(t, 0, false)
		queue(t, st, "ana@example.com")
		claimed := time.Now()
		if got, err := st.ClaimOutbox(t.Context(), "dead-node", claimed, lease, 10); err != nil || len(got) != 1 {
			t.Fatalf("claim by the node about to die: %v %v", got, err)
		}
		start(t, newWorker(t, st, sink, "node-b", lease))
		waitDelivered(t, st, 5*time.Second)
		if took := time.Since(claimed); took < lease || took > lease+2*time.Second {
			t.Errorf("taken over %v after the claim; want just after the %v lease", took, lease)
		}
		if ids, _ := sink.seen(); len(ids) != 1 {
			t.Errorf("sent %d times", len(ids))
		}
	})
}

// TestRestartTakesBackOwnClaims: a node that restarts under its identity
// sends at once what it held when it died, long before that lease ends;
// another node's live claim is left alone.
func TestRestartTakesBackOwnClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		sink := newMailSink(t, 0, false)
		queued := map[string]bool{queue(t, st, "ana@example.com"): true, queue(t, st, "bo@example.com"): true}
		now := time.Now()
		// Both were queued in the same millisecond, maybe: which one each
		// node claims is the store's choice.
		claimed := map[string]string{}
		for _, node := range []string{"node-a", "node-b"} {
			got, err := st.ClaimOutbox(t.Context(), node, now, time.Hour, 1)
			if err != nil || len(got) != 1 || !queued[got[0].ID] {
				t.Fatalf("claim by %s: %v %v", node, got, err)
			}
			delete(queued, got[0].ID)
			claimed[node] = got[0].ID
		}
		mine := claimed["node-a"]
		start(t, newWorker(t, st, sink, "node-a", time.Hour))
		wantArrival(t, sink, 5*time.Second)
		for {
			if n, _, err := st.OutboxStats(t.Context()); err != nil || n == 1 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, ok := sink.seen(); len(ok) != 1 || ok[0] != "<"+mine+"@latchkey.test>" {
			t.Fatalf("delivered %q, want only <%s@latchkey.test>", ok, mine)
		}
		if got, err := st.ClaimOutbox(t.Context(), "node-c", now.Add(time.Minute), time.Hour, 10); err != nil || len(got) != 0 {
			t.Fatalf("node-b's message was released: %v %v", got, err)
		}
	})
}

// TestMessageIDStableAcrossAttempts: a message refused for a while is sent
// again with the same Message-ID, derived from the outbox message.
func TestMessageIDStableAcrossAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		sink := newMailSink(t, 1, false)
		id := queue(t, st, "ana@example.com")
		start(t, newWorker(t, st, sink, "node-a", time.Second))
		waitDelivered(t, st, 10*time.Second)
		ids, ok := sink.seen()
		want := "<" + id + "@latchkey.test>"
		if len(ids) != 2 || ids[0] != want || ids[1] != want || len(ok) != 1 {
			t.Fatalf("Message-IDs %q (accepted %q); want %s twice", ids, ok, want)
		}
	})
}

// claimCounter counts the claims that took messages.
type claimCounter struct {
	store.Store
	mu     sync.Mutex
	claims int
}

func (c *claimCounter) ClaimOutbox(ctx context.Context, node string, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error) {
	got, err := c.Store.ClaimOutbox(ctx, node, now, lease, limit)
	if len(got) > 0 {
		c.mu.Lock()
		c.claims++
		c.mu.Unlock()
	}
	return got, err
}

// handedMessage composes a message through q until the running worker
// takes it (Run has started claiming), and commits it with its code.
func handedMessage(t *testing.T, st store.Store, q *outbox.Queue, node, to string) *store.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := time.Now()
		m, err := q.Message(t.Context(), delivery.Notification{Channel: "email", To: to, Code: "123456", Send: "code",
			AppName: "Web", ExpiresIn: 3 * time.Minute}, store.Connection{Name: "email", Strategy: "email"}, now.Add(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if m.ClaimedBy == "" {
			if time.Now().After(deadline) {
				t.Fatal("the running worker never took a message")
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if m.ClaimedBy != node || !m.ClaimedUntil.After(now) {
			t.Fatalf("message claimed by %q until %v, want %s", m.ClaimedBy, m.ClaimedUntil, node)
		}
		commitCode(t, st, m, to)
		return m
	}
}

// TestHandOff: a start's message is committed already claimed by the
// node that composed it, whose worker sends it at once with no claim
// transaction. The claim is a lease like any other: if the node dies
// between the commit and the send, another node sends it when the lease
// ends. A commit that reported a failure but happened lifts the claim. A
// worker that is not running takes no message.
func TestHandOff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st store.Store) {
		sink := newMailSink(t, 0, false)
		counted := &claimCounter{Store: st}
		idle := newWorker(t, counted, sink, "node-idle", time.Hour)
		if m := handedOrNot(t, outbox.NewQueue(testKeys, "login@latchkey.test", idle, time.Now)); m.ClaimedBy != "" {
			t.Fatalf("a worker that is not running took a message (claimed by %q)", m.ClaimedBy)
		}

		a := newWorker(t, counted, sink, "node-a", time.Hour)
		start(t, a)
		qa := outbox.NewQueue(testKeys, "login@latchkey.test", a, time.Now)
		m := handedMessage(t, st, qa, "node-a", "ana@example.com")
		// The node sends what it composed, without unsealing its copy: a
		// copy it could not unseal is not what it sends.
		m.Payload = []byte("not what was sealed")
		qa.Committed(m)
		wantDeliveredNth(t, st, sink, 1, m.ID)
		counted.mu.Lock()
		claims := counted.claims
		counted.mu.Unlock()
		if claims != 0 {
			t.Errorf("%d claim transactions took messages; the hand-off needs none", claims)
		}

		// node-b committed its message claimed, then died before sending
		// it: another node sends it once the lease has ended, not before.
		const lease = 300 * time.Millisecond
		lost := handedOrNot(t, outbox.NewQueue(testKeys, "login@latchkey.test", idle, time.Now))
		lost.ClaimedBy, lost.ClaimedUntil = "node-b", time.Now().Add(lease)
		commitCode(t, st, lost, "bo@example.com")
		a.Wake() // node-a looks again (any start on it would wake it)
		wantArrival(t, sink, 5*time.Second)
		if early := time.Until(lost.ClaimedUntil.Truncate(time.Millisecond)); early > 0 {
			t.Errorf("node-a sent node-b's message %v before node-b's lease ended", early)
		}
		wantDeliveredNth(t, st, sink, 2, lost.ID)

		// A start whose commit failed, but the message was stored after
		// all (a connection lost during the commit): its claim is lifted
		// and the message sent now, not when the hour-long lease ends.
		ambiguous := handedMessage(t, st, qa, "node-a", "cy@example.com")
		qa.Abandoned(ambiguous)
		wantDeliveredNth(t, st, sink, 3, ambiguous.ID)

		// The same while the store is failing: the failed start does not
		// wait for the claim to be lifted, and the lift is tried again.
		flaky := &failingLift{Store: st, gate: make(chan struct{})}
		c := newWorker(t, flaky, sink, "node-c", time.Hour)
		start(t, c)
		qc := outbox.NewQueue(testKeys, "login@latchkey.test", c, time.Now)
		stuck := handedMessage(t, st, qc, "node-c", "di@example.com")
		abandoned := make(chan struct{})
		go func() { qc.Abandoned(stuck); close(abandoned) }()
		select {
		case <-abandoned:
		case <-time.After(5 * time.Second):
			t.Fatal("Abandoned waited for the store")
		}
		close(flaky.gate) // the first try fails now; the next one lifts the claim
		wantDeliveredNth(t, st, sink, 4, stuck.ID)
		if n := flaky.tries.Load(); n < 2 {
			t.Errorf("the claim was lifted in %d tries, want a failed one first", n)
		}
	})
}

// failingLift is a store whose first RetryOutbox waits for gate and fails.
type failingLift struct {
	store.Store
	gate  chan struct{}
	tries atomic.Int32
}

func (f *failingLift) RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error {
	if f.tries.Add(1) == 1 {
		select {
		case <-f.gate:
		case <-ctx.Done():
		}
		return errors.New("connection lost")
	}
	return f.Store.RetryOutbox(ctx, id, node, next, lastError)
}

// wantDeliveredNth waits until the outbox is empty (its messages sent and
// deleted) and checks that the sink has accepted n messages, the last one
// id.
func wantDeliveredNth(t *testing.T, st store.Store, sink *mailSink, n int, id string) {
	t.Helper()
	waitDelivered(t, st, 5*time.Second)
	for len(sink.arrived) > 0 {
		<-sink.arrived // counted: the next wantArrival waits for the next message
	}
	if _, ok := sink.seen(); len(ok) != n || ok[n-1] != "<"+id+"@latchkey.test>" {
		t.Fatalf("delivered %q, want %d with <%s@latchkey.test> last", ok, n, id)
	}
}

// commitCode commits m with a code for to, as a start does.
func commitCode(t *testing.T, st store.Store, m *store.OutboxMessage, to string) {
	t.Helper()
	now := time.Now()
	c := store.Code{ID: "code_" + m.ID, Connection: "email", Identifier: to, Hash: []byte("h"), ClientID: "web",
		UserIDHint: "0123456789abcdef01234567", Send: "code", CreatedAt: now, ExpiresAt: now.Add(3 * time.Minute)}
	if err := st.PutCode(t.Context(), c, m); err != nil {
		t.Fatal(err)
	}
}

// handedOrNot composes one message through q.
func handedOrNot(t *testing.T, q *outbox.Queue) *store.OutboxMessage {
	t.Helper()
	m, err := q.Message(t.Context(), delivery.Notification{Channel: "email", To: "x@example.com", Code: "123456", Send: "code",
		AppName: "Web", ExpiresIn: 3 * time.Minute}, store.Connection{Name: "email", Strategy: "email"}, time.Now().Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
