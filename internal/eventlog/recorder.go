// Package eventlog records tenant log events (Auth0's log type codes) and
// keeps them: a Recorder takes events from request handlers, writes them in
// batches, and purges them when their retention ends. Durable holds a
// request's answer until its events are durable — appended to the node's
// Spool, or else committed — so a crash never loses the event of an
// answered request. Its subpackages parse the search language (query) and
// the client's self-description (clientinfo).
package eventlog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Sink is where batches of events go.
type Sink interface {
	AppendLogs(ctx context.Context, events []store.LogEvent) error
}

// Recorder defaults.
const (
	// DefaultBatch is the largest batch written in one transaction.
	DefaultBatch = 512
	// DefaultQueue is how many events wait for the writer before Record
	// blocks (back-pressure rather than loss).
	DefaultQueue = 16384
	// DefaultLinger is how long the writer waits for more events before it
	// writes a batch that is not full.
	DefaultLinger = 20 * time.Millisecond
)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	Batch  int
	Queue  int
	Linger time.Duration
	Now    func() time.Time
	// Retries is how often a failed batch is retried (with back-off) before
	// it is dropped and the loss logged. Default 5.
	Retries int
	// Spool, when set, makes a request's events durable before its answer
	// by appending them to it; the database then gets them in large
	// batches. Without it the answer waits for the database commit.
	Spool *Spool
}

// Recorder batches events into a Sink. Record never waits for the
// database; Run writes. It is safe for concurrent use.
type Recorder struct {
	log  *slog.Logger
	sink Sink
	ids  *IDs
	now  func() time.Time
	opt  Options

	ch      chan item
	staged  chan item    // spooled, waiting for the database (with a Spool)
	mu      sync.RWMutex // held for reading while sending on ch
	closed  bool
	stopped chan struct{}
	dropped atomic.Int64
}

// item is an event, or a flush marker (done != nil) that the writer closes
// once everything queued before it is stored. An event recorded under a
// request's context (Durable) carries the request's pending set, told once
// the event is stored (or given up).
type item struct {
	ev      store.LogEvent
	done    chan struct{}
	pending *pending
	seq     uint64 // the event's place in the spool (with a Spool)
}

// NewRecorder returns a recorder writing to sink; call Run to start writing.
func NewRecorder(log *slog.Logger, sink Sink, opt Options) *Recorder {
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.Linger <= 0 {
		opt.Linger = DefaultLinger
	}
	if opt.Retries <= 0 {
		opt.Retries = 5
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	r := &Recorder{log: log, sink: sink, ids: NewIDs(), now: opt.Now, opt: opt,
		ch: make(chan item, opt.Queue), stopped: make(chan struct{})}
	if opt.Spool != nil {
		r.staged = make(chan item, opt.Queue)
	}
	return r
}

// Record queues an event, giving it an ID and (when unset) the current
// date. It blocks only when the queue is full. After Close it drops the event.
func (r *Recorder) Record(ctx context.Context, ev store.LogEvent) {
	if ev.Date.IsZero() {
		ev.Date = r.now()
	}
	ev.ID, ev.Date = r.ids.Next(ev.Date)
	it := item{ev: ev}
	if p, ok := ctx.Value(pendingKey{}).(*pending); ok {
		it.pending = p
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.log.WarnContext(ctx, "tenant log event after shutdown dropped", "type", ev.Type)
		return
	}
	if it.pending != nil {
		it.pending.add()
	}
	select {
	case r.ch <- it:
	case <-ctx.Done():
		// The request is gone; still keep the event if there is room soon.
		select {
		case r.ch <- it:
		case <-time.After(time.Second):
			r.log.Error("tenant log queue full; event dropped", "type", ev.Type)
			if it.pending != nil {
				it.pending.done()
			}
		}
	}
}

// Flush waits until every event recorded before it is stored (or ctx ends).
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return nil
	}
	select {
	case r.ch <- item{done: done}:
	case <-ctx.Done():
		r.mu.RUnlock()
		return ctx.Err()
	}
	r.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		return nil
	}
}

// Close stops accepting events; Run then writes what is queued and returns.
func (r *Recorder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
}

// Run writes batches until Close has been called and the queue is drained.
// Writes use their own context so that shutdown does not cut a batch off.
func (r *Recorder) Run() {
	defer close(r.stopped)
	if r.opt.Spool == nil {
		r.store(r.ch, nil)
		return
	}
	var stored atomic.Uint64
	storing := make(chan struct{})
	go func() { defer close(storing); r.store(r.staged, &stored) }()
	r.spool(&stored)
	close(r.staged)
	<-storing
}

// spool takes what is queued, appends its events to the spool in one
// write, lets the requests waiting for them answer, and passes everything
// on to the database writer, in order. An event that cannot be spooled
// keeps its request waiting until the database has it.
func (r *Recorder) spool(stored *atomic.Uint64) {
	var seq uint64
	var group []item
	var evs []store.LogEvent
	for {
		it, ok := <-r.ch
		if !ok {
			return
		}
		group, evs = append(group[:0], it), evs[:0]
	drain:
		for len(group) < r.opt.Batch {
			select {
			case it, ok := <-r.ch:
				if !ok {
					break drain
				}
				group = append(group, it)
			default:
				break drain
			}
		}
		for i := range group {
			if group[i].done == nil {
				seq++
				group[i].seq = seq
				evs = append(evs, group[i].ev)
			}
		}
		spooled := true
		if len(evs) > 0 {
			if err := r.opt.Spool.append(evs, seq, stored.Load()); err != nil {
				spooled = false
				r.log.Error("tenant log spool not written; answers wait for the database", "events", len(evs), "err", err)
			}
		}
		for _, it := range group {
			if spooled && it.pending != nil {
				it.pending.done()
				it.pending = nil
			}
			r.staged <- it
		}
	}
}

// store gathers items from in into batches and writes them, until in is
// closed and drained; with stored set, it records the spool sequence of
// the last event written.
func (r *Recorder) store(in <-chan item, stored *atomic.Uint64) {
	w := &gathered{batch: make([]store.LogEvent, 0, r.opt.Batch)}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	lost := false // a batch the database refused: the spool keeps it for the next start
	flush := func() {
		if len(w.batch) > 0 {
			if !r.write(w.batch) {
				lost = true
			}
			if stored != nil && !lost {
				stored.Store(w.seq)
			}
			w.batch = w.batch[:0]
		}
		for _, d := range w.waiting {
			close(d)
		}
		for _, p := range w.pending {
			p.done()
		}
		w.waiting, w.pending = w.waiting[:0], w.pending[:0]
	}
	for {
		it, ok := <-in
		if !ok {
			flush()
			return
		}
		w.add(it)
		// Take what is already queued (a group commit: it gathered while
		// the last batch was written); then, unless someone waits for the
		// batch (a flush, an answer held for its events), gather more until
		// the batch is full or the linger time passes.
	drain:
		for len(w.batch) < r.opt.Batch {
			select {
			case it, ok := <-in:
				if !ok {
					break drain
				}
				w.add(it)
			default:
				break drain
			}
		}
		timer.Reset(r.opt.Linger)
	gather:
		for len(w.batch) < r.opt.Batch && len(w.waiting) == 0 && len(w.pending) == 0 {
			select {
			case it, ok := <-in:
				if !ok {
					break gather
				}
				w.add(it)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		flush()
	}
}

// gathered is the batch being gathered, and who waits for it.
type gathered struct {
	batch   []store.LogEvent
	seq     uint64 // the spool sequence of the last event in batch
	waiting []chan struct{}
	pending []*pending
}

func (g *gathered) add(it item) {
	if it.done != nil {
		g.waiting = append(g.waiting, it.done)
		return
	}
	g.batch = append(g.batch, it.ev)
	g.seq = it.seq
	if it.pending != nil {
		g.pending = append(g.pending, it.pending)
	}
}

// write stores a batch, retrying with back-off; AppendLogs skips IDs already
// stored, so a retry after an ambiguous failure does not duplicate.
func (r *Recorder) write(batch []store.LogEvent) bool {
	delay := 50 * time.Millisecond
	var err error
	for attempt := 0; attempt <= r.opt.Retries; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.sink.AppendLogs(ctx, batch)
		cancel()
		if err == nil {
			return true
		}
		if attempt < r.opt.Retries {
			r.log.Warn("tenant log batch not stored; retrying", "events", len(batch), "err", err)
			time.Sleep(delay)
			delay = min(delay*2, 2*time.Second)
		}
	}
	r.dropped.Add(int64(len(batch)))
	r.log.Error("tenant log batch lost", "events", len(batch), "err", err)
	return false
}

// Queued is how many events wait for the writer.
func (r *Recorder) Queued() int { return len(r.ch) + len(r.staged) }

// Dropped says how many events were lost because the store refused them.
func (r *Recorder) Dropped() int64 {
	return r.dropped.Load()
}

// IDs generates log IDs: fixed-width decimal strings that grow with time, so
// that ordering by ID orders by date (checkpoint paging relies on it).
// An ID is the date in microseconds (17 digits), a node number (4 digits,
// random per process, so that nodes sharing a database do not collide) and
// a sequence (5 digits) that keeps IDs strictly increasing within a process.
type IDs struct {
	mu   sync.Mutex
	node int
	last int64 // microseconds of the last ID
	seq  int
}

// NewIDs returns a generator with a random node number.
func NewIDs() *IDs {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥1.24)
	return &IDs{node: int(binary.BigEndian.Uint16(b[:])) % 10000}
}

// MaxClockStepBack is how far the clock may step back and still have IDs
// keep increasing (the events get the date of the last ID instead). A
// larger step is taken as a deliberate change of time, and IDs follow it.
const MaxClockStepBack = time.Minute

// Next returns the ID for an event dated t, and the date the event gets:
// the time the ID encodes, which is t unless the clock stepped back a
// little (see MaxClockStepBack). So ID order is always date order, which
// date searches rely on.
func (g *IDs) Next(t time.Time) (string, time.Time) {
	us := t.UnixMicro()
	g.mu.Lock()
	switch {
	case us > g.last:
		g.seq = 0
	case g.last-us <= MaxClockStepBack.Microseconds():
		us = g.last
		g.seq++
		if g.seq > 99999 {
			us++
			g.seq = 0
		}
	default:
		// A big step back: follow the clock, keep counting so that an ID
		// issued before the step is not issued again.
		g.seq = (g.seq + 1) % 100000
	}
	g.last = us
	seq := g.seq
	g.mu.Unlock()
	return fmt.Sprintf("%017d%04d%05d", max(us, 0), g.node, seq), time.UnixMicro(us).UTC()
}

// FirstID is the smallest ID an event dated t (or later) can have.
func FirstID(t time.Time) string {
	return fmt.Sprintf("%017d%09d", max(t.UnixMicro(), 0), 0)
}

// IDLength is the length of every ID.
const IDLength = 26

// ValidID reports whether s has the shape of a log ID.
func ValidID(s string) bool {
	if len(s) != IDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
