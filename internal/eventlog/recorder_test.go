package eventlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// batchSink keeps the batches it is given; it fails the first failures calls.
type batchSink struct {
	mu       sync.Mutex
	batches  [][]store.LogEvent
	failures int
	calls    int
}

func (s *batchSink) AppendLogs(_ context.Context, evs []store.LogEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failures > 0 {
		s.failures--
		return errors.New("disk on fire")
	}
	s.batches = append(s.batches, slices.Clone(evs))
	return nil
}

func (s *batchSink) events() []store.LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []store.LogEvent
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestIDsIncreaseAndKeepTheirWidth(t *testing.T) {
	g := NewIDs()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 1000 {
		// The clock stands still, then jumps back: IDs still increase.
		ts := at
		if i > 500 {
			ts = at.Add(-time.Second)
		}
		id, date := g.Next(ts)
		if want := ts.Truncate(time.Microsecond); i <= 500 && i > 0 && date.Before(want) {
			t.Fatalf("id %d dated %v, before its time %v", i, date, want)
		}
		ids = append(ids, id)
	}
	last, _ := g.Next(at.Add(time.Hour))
	ids = append(ids, last)
	for i, id := range ids {
		if !ValidID(id) {
			t.Fatalf("id %d = %q: not a %d-digit decimal", i, id, IDLength)
		}
		if i > 0 && id <= ids[i-1] {
			t.Fatalf("id %d = %s is not greater than %s", i, id, ids[i-1])
		}
	}
	if later, _ := NewIDs().Next(at.Add(time.Millisecond)); later <= ids[500] {
		t.Errorf("an event a millisecond later on another node sorts before: %s <= %s", later, ids[500])
	}
}

// TestIDsFollowBigClockSteps: a step back of more than MaxClockStepBack is
// followed (the events are dated when the clock says), and the date an ID
// comes with is always the time it encodes.
func TestIDsFollowBigClockSteps(t *testing.T) {
	g := NewIDs()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, da := g.Next(now)
	b, db := g.Next(now.Add(-10 * 24 * time.Hour))
	if b >= a || !db.Equal(now.Add(-10*24*time.Hour)) || !da.Equal(now) {
		t.Fatalf("after a 10-day step back: %s (%v) then %s (%v)", a, da, b, db)
	}
	c, dc := g.Next(now.Add(-10*24*time.Hour - time.Second)) // a small step back: clamped
	if c <= b || !dc.Equal(db) {
		t.Fatalf("small step back: %s (%v) after %s (%v)", c, dc, b, db)
	}
	for _, x := range []struct {
		id   string
		date time.Time
	}{{a, da}, {b, db}, {c, dc}} {
		us, _ := strconv.ParseInt(x.id[:17], 10, 64)
		if !time.UnixMicro(us).Equal(x.date) {
			t.Errorf("id %s encodes %v but is dated %v", x.id, time.UnixMicro(us), x.date)
		}
	}
}

func TestIDsConcurrent(t *testing.T) {
	g := NewIDs()
	now := time.Now()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				id, _ := g.Next(now)
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestRecorderBatchesAndFlushes(t *testing.T) {
	sink := &batchSink{}
	r := NewRecorder(quiet(), sink, Options{Batch: 10, Linger: time.Hour})
	go r.Run()
	ctx := context.Background()
	for i := range 25 {
		r.Record(ctx, store.LogEvent{Type: "s", Description: string(rune('a' + i))})
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := sink.events()
	if len(got) != 25 {
		t.Fatalf("stored %d events after Flush, want 25", len(got))
	}
	for i, ev := range got {
		if ev.Description != string(rune('a'+i)) {
			t.Fatalf("event %d out of order: %q", i, ev.Description)
		}
		if ev.Date.IsZero() || !ValidID(ev.ID) {
			t.Fatalf("event %d has no date or id: %+v", i, ev)
		}
	}
	sink.mu.Lock()
	for _, b := range sink.batches {
		if len(b) > 10 {
			t.Errorf("batch of %d events exceeds Batch=10", len(b))
		}
	}
	sink.mu.Unlock()
	r.Close()
	r.Close() // twice is harmless
	r.Record(ctx, store.LogEvent{Type: "s"})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecorderRetriesThenDrops(t *testing.T) {
	sink := &batchSink{failures: 2}
	r := NewRecorder(quiet(), sink, Options{Retries: 3})
	go r.Run()
	ctx := context.Background()
	r.Record(ctx, store.LogEvent{Type: "s"})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.events()); n != 1 || r.Dropped() != 0 {
		t.Fatalf("after two failures: stored %d, dropped %d; want 1, 0", n, r.Dropped())
	}

	sink.mu.Lock()
	sink.failures = 100
	sink.mu.Unlock()
	r.Record(ctx, store.LogEvent{Type: "f"})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1 after the retries ran out", r.Dropped())
	}
	r.Close()
}

func TestRecorderCloseDrains(t *testing.T) {
	sink := &batchSink{}
	r := NewRecorder(quiet(), sink, Options{Linger: time.Hour, Batch: 1000})
	ctx := context.Background()
	for range 100 {
		r.Record(ctx, store.LogEvent{Type: "cls"})
	}
	done := make(chan struct{})
	go func() { r.Run(); close(done) }()
	r.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if n := len(sink.events()); n != 100 {
		t.Fatalf("stored %d of 100 events queued before Close", n)
	}
}
