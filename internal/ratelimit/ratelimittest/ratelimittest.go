// Package ratelimittest is the behaviour every ratelimit.Limiter backend
// must show, run by each backend's tests against an injected clock. The
// expected values are exact, to the millisecond: the backends share one
// integral model (see package ratelimit).
package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/ratelimit"
)

// T0 is the time every test starts at.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock to t (it may go back).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Open returns a fresh, empty Limiter reading time from now; it is called
// once per test (tests run in parallel) and cleans up after itself with
// t.Cleanup.
type Open func(t *testing.T, now func() time.Time) ratelimit.Limiter

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		f    func(*env)
	}{
		{"BurstThenRefusal", testBurstThenRefusal},
		{"RefillPartialTokens", testRefillPartialTokens},
		{"TakeN", testTakeN},
		{"LargeLimits", testLargeLimits},
		{"InvalidArguments", testInvalidArguments},
		{"KeysIndependent", testKeysIndependent},
		{"SameKeyTwoLimits", testSameKeyTwoLimits},
		{"IdleExpiry", testIdleExpiry},
		{"Reset", testReset},
		{"PeekDoesNotSpend", testPeekDoesNotSpend},
		{"ClockBehind", testClockBehind},
		{"Concurrent", testConcurrent},
		{"TakeAllAllOrNothing", testTakeAllAllOrNothing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(T0)
			tc.f(&env{t: t, clock: clock, l: open(t, clock.Now)})
		})
	}
}

type env struct {
	t     *testing.T
	clock *Clock
	l     ratelimit.Limiter
}

func (e *env) take(key string, l ratelimit.Limit, n int) ratelimit.Decision {
	e.t.Helper()
	d, err := e.l.Take(context.Background(), key, l, n)
	if err != nil {
		e.t.Fatalf("Take(%q, %+v, %d): %v", key, l, n, err)
	}
	return d
}

func (e *env) peek(key string, l ratelimit.Limit) ratelimit.Decision {
	e.t.Helper()
	d, err := e.l.Peek(context.Background(), key, l)
	if err != nil {
		e.t.Fatalf("Peek(%q, %+v): %v", key, l, err)
	}
	return d
}

// at sets the clock to T0+d.
func (e *env) at(d time.Duration) { e.clock.Set(T0.Add(d)) }

func (e *env) want(what string, got, want ratelimit.Decision) {
	e.t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("%s at T0+%v (-want +got):\n%s", what, e.clock.Now().Sub(T0), diff)
	}
}

// allowed and refused build expected Decisions; reset is relative to T0.
func allowed(l ratelimit.Limit, remaining int, reset time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, Limit: l.Burst, Remaining: remaining, Reset: T0.Add(reset)}
}

func refused(l ratelimit.Limit, reset, retry time.Duration) ratelimit.Decision {
	return ratelimit.Decision{Limit: l.Burst, Reset: T0.Add(reset), RetryAfter: retry}
}

const ms = time.Millisecond

func testBurstThenRefusal(e *env) {
	l := ratelimit.Limit{Burst: 3, Rate: 1, Per: time.Minute}
	e.want("take 1", e.take("k", l, 1), allowed(l, 2, time.Minute))
	e.want("take 2", e.take("k", l, 1), allowed(l, 1, 2*time.Minute))
	e.want("take 3", e.take("k", l, 1), allowed(l, 0, 3*time.Minute))
	e.want("take 4", e.take("k", l, 1), refused(l, 3*time.Minute, time.Minute))
	e.want("take 5", e.take("k", l, 1), refused(l, 3*time.Minute, time.Minute))
	e.at(59 * time.Second)
	e.want("take just before a token", e.take("k", l, 1), refused(l, 3*time.Minute, time.Second))
	e.at(time.Minute)
	e.want("take when a token is back", e.take("k", l, 1), allowed(l, 0, 4*time.Minute))
}

// One token every 3333⅓ ms: fractions of a token are kept exactly, and every
// wait rounds up to the millisecond when the token is whole.
func testRefillPartialTokens(e *env) {
	l := ratelimit.Limit{Burst: 3, Rate: 3, Per: 10 * time.Second}
	e.want("take all", e.take("k", l, 3), allowed(l, 0, 10*time.Second))
	e.at(1 * ms)
	e.want("1 ms later", e.take("k", l, 1), refused(l, 10*time.Second, 3333*ms))
	e.at(3333 * ms)
	e.want("a hair short of a token", e.take("k", l, 1), refused(l, 10*time.Second, 1*ms))
	e.at(3334 * ms)
	e.want("one token back", e.take("k", l, 1), allowed(l, 0, 13334*ms))
	e.at(8334 * ms)
	e.want("1.5 tokens back", e.peek("k", l), allowed(l, 1, 13334*ms))
	e.at(13333 * ms)
	e.want("a hair short of full", e.peek("k", l), allowed(l, 2, 13334*ms))
	e.at(13334 * ms)
	e.want("full", e.peek("k", l), allowed(l, 3, 13334*ms))
	e.at(time.Hour)
	e.want("long after full", e.take("k", l, 1), allowed(l, 2, time.Hour+3334*ms))
}

func testTakeN(e *env) {
	l := ratelimit.Limit{Burst: 10, Rate: 1, Per: time.Second}
	e.want("take 4", e.take("k", l, 4), allowed(l, 6, 4*time.Second))
	e.want("take 7 of 6", e.take("k", l, 7), refused(l, 4*time.Second, time.Second))
	e.want("refused take spent nothing", e.peek("k", l), allowed(l, 6, 4*time.Second))
	e.want("take 6", e.take("k", l, 6), allowed(l, 0, 10*time.Second))
	e.at(2500 * ms)
	e.want("take 3 of 2.5", e.take("k", l, 3), refused(l, 10*time.Second, 500*ms))
	e.want("take 2 of 2.5", e.take("k", l, 2), allowed(l, 0, 12*time.Second))
	e.at(time.Minute)
	e.want("take the whole burst", e.take("k", l, 10), allowed(l, 0, time.Minute+10*time.Second))
}

func testLargeLimits(e *env) {
	// Suspicious IP throttling's pre-login stage: 100 a day, one back every 864 s.
	day := ratelimit.Limit{Burst: 100, Rate: 100, Per: 24 * time.Hour}
	e.want("take 100", e.take("day", day, 100), allowed(day, 0, 24*time.Hour))
	e.want("101st", e.take("day", day, 1), refused(day, 24*time.Hour, 864*time.Second))
	e.at(864 * time.Second)
	e.want("after 864 s", e.take("day", day, 1), allowed(day, 0, 24*time.Hour+864*time.Second))

	// A 30-day block.
	month := 30 * 24 * time.Hour
	block := ratelimit.Limit{Burst: 1, Rate: 1, Per: month}
	e.at(0)
	e.want("block", e.take("block", block, 1), allowed(block, 0, month))
	e.want("blocked", e.take("block", block, 1), refused(block, month, month))

	// Near the bound on Burst × Per (2^50 units): the level needs 16 digits.
	big := ratelimit.Limit{Burst: 400_000, Rate: 1, Per: month}
	e.want("big take", e.take("big", big, 1), allowed(big, 399_999, month))
	e.want("big take 2", e.take("big", big, 1), allowed(big, 399_998, 2*month))
	e.at(1 * ms)
	e.want("big peek", e.peek("big", big), allowed(big, 399_998, 2*month))
	e.at(month)
	e.want("big after a month", e.peek("big", big), allowed(big, 399_999, 2*month))
	e.at(2 * month)
	e.want("big full", e.peek("big", big), allowed(big, 400_000, 2*month))
}

func testInvalidArguments(e *env) {
	ctx := context.Background()
	ok := ratelimit.Limit{Burst: 5, Rate: 1, Per: time.Second}
	for _, l := range []ratelimit.Limit{
		{Burst: 0, Rate: 1, Per: time.Second},
		{Burst: -1, Rate: 1, Per: time.Second},
		{Burst: 5, Rate: 0, Per: time.Second},
		{Burst: 5, Rate: 1, Per: 0},
		{Burst: 5, Rate: 1, Per: 999 * time.Microsecond},
		{Burst: 1 << 30, Rate: 1, Per: 24 * time.Hour},
		{Burst: 5, Rate: 1 << 50, Per: time.Second},
	} {
		if _, err := e.l.Take(ctx, "k", l, 1); !errors.Is(err, ratelimit.ErrInvalid) {
			e.t.Errorf("Take under %+v: %v, want ErrInvalid", l, err)
		}
		if _, err := e.l.Peek(ctx, "k", l); !errors.Is(err, ratelimit.ErrInvalid) {
			e.t.Errorf("Peek under %+v: %v, want ErrInvalid", l, err)
		}
	}
	for _, n := range []int{-1, 0, 6} {
		if _, err := e.l.Take(ctx, "k", ok, n); !errors.Is(err, ratelimit.ErrInvalid) {
			e.t.Errorf("Take(%d) of a bucket of 5: %v, want ErrInvalid", n, err)
		}
	}
	e.want("nothing was spent", e.peek("k", ok), allowed(ok, 5, 0))
}

func testKeysIndependent(e *env) {
	l := ratelimit.Limit{Burst: 2, Rate: 1, Per: time.Minute}
	e.take("a", l, 2)
	e.want("a empty", e.take("a", l, 1), refused(l, 2*time.Minute, time.Minute))
	e.want("b untouched", e.take("b", l, 1), allowed(l, 1, time.Minute))
	e.want("a prefix of a", e.take("a:", l, 1), allowed(l, 1, time.Minute))
	if err := e.l.Reset(context.Background(), "a"); err != nil {
		e.t.Fatal(err)
	}
	e.want("b after a's reset", e.peek("b", l), allowed(l, 1, time.Minute))
	e.want("a after its reset", e.peek("a", l), allowed(l, 2, 0))
}

// The same key under two Limits reinterprets the stored level (see the
// package doc): callers give each limit its own keys. All that holds is that
// answers stay well-formed.
func testSameKeyTwoLimits(e *env) {
	a := ratelimit.Limit{Burst: 5, Rate: 5, Per: time.Minute}
	b := ratelimit.Limit{Burst: 2, Rate: 1, Per: time.Hour}
	sane := func(what string, d ratelimit.Decision, l ratelimit.Limit) {
		e.t.Helper()
		if d.Limit != l.Burst || d.Remaining < 0 || d.Remaining > l.Burst || d.Reset.Before(T0) ||
			d.RetryAfter < 0 || d.Allowed == (d.RetryAfter > 0) {
			e.t.Errorf("%s: malformed %+v", what, d)
		}
	}
	for i := range 3 {
		sane("take under a", e.take("k", a, 1), a)
		sane("take under b", e.take("k", b, 1), b)
		sane("peek under a", e.peek("k", a), a)
		sane("peek under b", e.peek("k", b), b)
		e.at(time.Duration(i+1) * 10 * time.Second)
	}
}

// A bucket left alone until it is full (Memory drops it, Redis lets it
// expire) answers as a bucket never used; before that, it is remembered.
func testIdleExpiry(e *env) {
	l := ratelimit.Limit{Burst: 3, Rate: 1, Per: time.Second}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}
	for _, k := range keys {
		e.take(k, l, 2)
	}
	e.at(1500 * ms)
	e.take("other", l, 1)
	for _, k := range keys {
		e.want(k+" half refilled", e.peek(k, l), allowed(l, 2, 2*time.Second))
	}
	e.at(2 * time.Minute) // past a sweep of Memory's
	e.take("other", l, 1)
	e.at(4 * time.Minute)
	e.take("other", l, 1)
	fresh := e.take("never-used", l, 2)
	for _, k := range keys {
		e.want(k+" long idle", e.take(k, l, 2), fresh)
	}
}

func testReset(e *env) {
	ctx := context.Background()
	l := ratelimit.Limit{Burst: 2, Rate: 1, Per: time.Hour}
	e.take("k", l, 2)
	e.want("empty", e.take("k", l, 1), refused(l, 2*time.Hour, time.Hour))
	if err := e.l.Reset(ctx, "k"); err != nil {
		e.t.Fatal(err)
	}
	e.want("after reset", e.take("k", l, 1), allowed(l, 1, time.Hour))
	if err := e.l.Reset(ctx, "never-used"); err != nil {
		e.t.Errorf("Reset of an unknown key: %v", err)
	}
	if err := e.l.Reset(ctx, "k"); err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.Reset(ctx, "k"); err != nil {
		e.t.Errorf("second Reset: %v", err)
	}
	e.want("after two resets", e.peek("k", l), allowed(l, 2, 0))
}

func testPeekDoesNotSpend(e *env) {
	l := ratelimit.Limit{Burst: 3, Rate: 1, Per: time.Minute}
	for range 5 {
		e.want("peek unused", e.peek("k", l), allowed(l, 3, 0))
	}
	e.want("take", e.take("k", l, 1), allowed(l, 2, time.Minute))
	for range 5 {
		e.want("peek", e.peek("k", l), allowed(l, 2, time.Minute))
	}
	e.want("take 2", e.take("k", l, 2), allowed(l, 0, 3*time.Minute))
	e.want("peek empty", e.peek("k", l), refused(l, 3*time.Minute, time.Minute))
	e.at(30 * time.Second)
	e.want("peek empty later", e.peek("k", l), refused(l, 3*time.Minute, 30*time.Second))
	e.at(time.Minute)
	e.want("peek one back", e.peek("k", l), allowed(l, 1, 3*time.Minute))
	e.want("take it", e.take("k", l, 1), allowed(l, 0, 4*time.Minute))
}

// A clock that reads earlier than the bucket's last update (another node's
// clock ahead) sees the bucket as of that update: no refill, waits from now.
func testClockBehind(e *env) {
	l := ratelimit.Limit{Burst: 2, Rate: 1, Per: 10 * time.Second}
	e.want("take", e.take("k", l, 1), allowed(l, 1, 10*time.Second))
	e.at(-5 * time.Second)
	e.want("take behind", e.take("k", l, 1), allowed(l, 0, 20*time.Second))
	e.want("refused behind", e.take("k", l, 1), refused(l, 20*time.Second, 15*time.Second))
	e.at(10 * time.Second)
	e.want("caught up", e.peek("k", l), allowed(l, 1, 20*time.Second))
}

// Concurrent takes never grant more than the burst: exactly Burst of them
// win, and each sees a different Remaining.
func testConcurrent(e *env) {
	for _, c := range []struct {
		burst, each int
	}{{10, 1}, {100, 8}} {
		l := ratelimit.Limit{Burst: c.burst, Rate: 1, Per: time.Hour}
		key := fmt.Sprintf("k%d", c.burst)
		const workers = 32
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			remaining []int
			errs      []error
		)
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				for range c.each {
					d, err := e.l.Take(context.Background(), key, l, 1)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else if d.Allowed {
						remaining = append(remaining, d.Remaining)
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			e.t.Fatalf("burst %d: %d errors, first %v", c.burst, len(errs), errs[0])
		}
		if len(remaining) != c.burst {
			e.t.Errorf("burst %d, %d×%d takes: %d allowed, want %d", c.burst, workers, c.each, len(remaining), c.burst)
		}
		sort.Ints(remaining)
		for i, r := range remaining {
			if r != i {
				e.t.Errorf("burst %d: allowed takes saw Remaining %v, want each of 0..%d once", c.burst, remaining, c.burst-1)
				break
			}
		}
	}
}

// testTakeAllAllOrNothing: a batch charges every Take when all allow, none
// when one refuses (the others then report as a Peek), and a Check (N = 0)
// refuses without spending.
func testTakeAllAllOrNothing(e *env) {
	ctx := context.Background()
	a := ratelimit.Limit{Burst: 2, Rate: 2, Per: 2 * time.Second}
	b := ratelimit.Limit{Burst: 3, Rate: 3, Per: 3 * time.Second}
	all := func(ops ...ratelimit.Op) []ratelimit.Decision {
		e.t.Helper()
		ds, err := e.l.TakeAll(ctx, ops)
		if err != nil {
			e.t.Fatalf("TakeAll: %v", err)
		}
		return ds
	}
	ds := all(ratelimit.Op{Key: "a", Limit: a, N: 1}, ratelimit.Op{Key: "b", Limit: b, N: 1})
	e.want("first batch a", ds[0], allowed(a, 1, time.Second))
	e.want("first batch b", ds[1], allowed(b, 2, time.Second))
	all(ratelimit.Op{Key: "a", Limit: a, N: 1})
	// a is empty: the batch is refused and b keeps its two tokens.
	ds = all(ratelimit.Op{Key: "b", Limit: b, N: 1}, ratelimit.Op{Key: "a", Limit: a, N: 1})
	e.want("refused batch b", ds[0], allowed(b, 2, time.Second))
	e.want("refused batch a", ds[1], refused(a, 2*time.Second, time.Second))
	if ratelimit.Allowed(ds) {
		e.t.Error("a refused batch reported allowed")
	}
	e.want("b after the refused batch", e.peek("b", b), allowed(b, 2, time.Second))
	// A check of an empty bucket refuses the batch, spending nothing.
	ds = all(ratelimit.Op{Key: "a", Limit: a}, ratelimit.Op{Key: "b", Limit: b, N: 2})
	e.want("check of a", ds[0], refused(a, 2*time.Second, time.Second))
	e.want("b after the refused check", e.peek("b", b), allowed(b, 2, time.Second))
	e.at(time.Second)
	ds = all(ratelimit.Op{Key: "a", Limit: a}, ratelimit.Op{Key: "b", Limit: b, N: 2})
	if !ratelimit.Allowed(ds) {
		e.t.Fatalf("batch after the refill refused: %+v", ds)
	}
	e.want("b taken by the batch", e.peek("b", b), allowed(b, 1, 3*time.Second))
	e.want("a checked, not spent", e.peek("a", a), allowed(a, 1, 2*time.Second))
	if _, err := e.l.TakeAll(ctx, []ratelimit.Op{{Key: "a", Limit: a, N: 1}, {Key: "a", Limit: a, N: 1}}); !errors.Is(err, ratelimit.ErrInvalid) {
		e.t.Errorf("a key twice in one batch: %v, want ErrInvalid", err)
	}
}
