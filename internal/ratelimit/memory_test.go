package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Limiter {
		return ratelimit.NewMemory(now)
	})
}

// Full buckets are never stored, and refilled ones are swept away.
func TestMemoryDropsIdleBuckets(t *testing.T) {
	ctx := context.Background()
	clock := ratelimittest.NewClock(ratelimittest.T0)
	m := ratelimit.NewMemory(clock.Now)
	l := ratelimit.Limit{Burst: 5, Rate: 1, Per: time.Second}
	for i := range 1000 {
		if _, err := m.Peek(ctx, fmt.Sprint("peek", i), l); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("after Peeks: %d buckets held, want 0", n)
	}
	for i := range 1000 {
		if _, err := m.Take(ctx, fmt.Sprint("k", i), l, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 1000 {
		t.Fatalf("after Takes: %d buckets held, want 1000", n)
	}
	// Every shard sweeps on its first Take after a minute.
	clock.Advance(2 * time.Minute)
	for i := range 1000 {
		if _, err := m.Peek(ctx, fmt.Sprint("k", i), l); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10000 {
		if _, err := m.Take(ctx, fmt.Sprint("new", i), ratelimit.Limit{Burst: 1, Rate: 1, Per: time.Hour}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 10000 {
		t.Fatalf("after a sweep: %d buckets held, want the 10000 new ones", n)
	}
}

func TestMemoryCap(t *testing.T) {
	ctx := context.Background()
	clock := ratelimittest.NewClock(ratelimittest.T0)
	for _, max := range []int{1, 10, 1000, 5000} {
		m := ratelimit.NewMemoryCap(clock.Now, max)
		l := ratelimit.Limit{Burst: 3, Rate: 1, Per: time.Hour}
		for i := range 3 * max {
			key := fmt.Sprint("k", i)
			if _, err := m.Take(ctx, key, l, 1); err != nil {
				t.Fatal(err)
			}
			// The bucket just taken from is held, and so is its state.
			if d, _ := m.Peek(ctx, key, l); d.Remaining != 2 {
				t.Fatalf("cap %d: %s right after its take: Remaining %d, want 2", max, key, d.Remaining)
			}
			if n := m.Len(); n > max {
				t.Fatalf("cap %d: %d buckets held", max, n)
			}
		}
		if n := m.Len(); n < max*9/10 {
			t.Errorf("cap %d: only %d buckets held", max, n)
		}
	}
}

// At the cap, a new bucket evicts a sampled one that is nearest to full:
// one already full goes first.
func TestMemoryCapEvictsFullFirst(t *testing.T) {
	ctx := context.Background()
	clock := ratelimittest.NewClock(ratelimittest.T0)
	m := ratelimit.NewMemoryCap(clock.Now, 8)
	slow := ratelimit.Limit{Burst: 2, Rate: 1, Per: time.Hour}
	fast := ratelimit.Limit{Burst: 2, Rate: 1, Per: time.Second}
	for i := range 7 {
		m.Take(ctx, fmt.Sprint("slow", i), slow, 2)
	}
	m.Take(ctx, "fast", fast, 1)
	clock.Advance(2 * time.Second) // "fast" is full again, the sweep not due yet
	m.Take(ctx, "new", slow, 1)
	for i := range 7 {
		if d, _ := m.Peek(ctx, fmt.Sprint("slow", i), slow); d.Allowed {
			t.Errorf("slow%d was evicted", i)
		}
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	benchmarkTake(b, ratelimit.NewMemory(time.Now))
}
