package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds each call Resilient makes to its primary. It is a
// bound for a Redis that hangs, not a latency goal: a Redis that is merely
// busy (a burst of requests queueing for the pool) must answer within it,
// or legitimate requests would be refused by the fail-closed limits and
// attackers let through by the fail-open ones. An outage where Redis is
// down (connection refused) answers at once, whatever the bound.
const DefaultTimeout = time.Second

// FailClosedRetryAfter is the RetryAfter of a fail-closed answer.
const FailClosedRetryAfter = time.Second

// Resilient puts a primary Limiter (Redis) behind a deadline and a fallback
// policy, so that an unreachable or hung backend costs a request at most the
// timeout and never an error:
//
//   - a Limit with FailClosed false is answered allowed, with Remaining =
//     Burst (fail open: traffic shaping is not worth an outage);
//   - a Limit with FailClosed true is answered refused, with RetryAfter 1 s
//     (fail closed: an attack defence must not vanish with Redis).
//
// There is no circuit breaker of its own: every call tries the primary again,
// so it recovers by itself as soon as the primary answers (go-redis
// reconnects, and stops dialling for a second after repeated dial failures,
// so an outage answers fast). The first failure of an outage is logged at
// Error level and the recovery at Info level, once each, not every call.
//
// Invalid arguments (ErrInvalid) and the caller's own cancelled context are
// returned as errors, not answered by the policy. Reset has no policy: its
// failure is returned (an unblock must not silently do nothing).
type Resilient struct {
	primary Limiter
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	down      atomic.Bool
	fallbacks atomic.Int64 // policy answers during the current outage
	errs      atomic.Int64 // failed calls since the start
	mu        sync.Mutex   // serialises the down ↔ up transitions and their log lines
	since     time.Time    // wall clock, for the log only
}

// NewResilient wraps primary. timeout ≤ 0 means DefaultTimeout; a nil log
// means slog.Default().
func NewResilient(primary Limiter, timeout time.Duration, now func() time.Time, log *slog.Logger) *Resilient {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	return &Resilient{primary: primary, timeout: timeout, now: now, log: log}
}

// Take implements Limiter.
func (r *Resilient) Take(ctx context.Context, key string, l Limit, n int) (Decision, error) {
	if _, err := check(l, n, false); err != nil {
		return Decision{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	d, err := r.primary.Take(cctx, key, l, n)
	cancel()
	return r.answer(ctx, l, d, err)
}

// Peek implements Limiter.
func (r *Resilient) Peek(ctx context.Context, key string, l Limit) (Decision, error) {
	if _, err := check(l, 0, true); err != nil {
		return Decision{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	d, err := r.primary.Peek(cctx, key, l)
	cancel()
	return r.answer(ctx, l, d, err)
}

// TakeAll implements Limiter. When the primary cannot answer, every Op is
// answered by its policy: a batch with a fail-closed Op is refused (its
// Decisions Unavailable, the fail-open ones' allowed), a batch of fail-open
// Ops is allowed.
func (r *Resilient) TakeAll(ctx context.Context, ops []Op) ([]Decision, error) {
	if _, err := checkOps(ops); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	ds, err := r.primary.TakeAll(cctx, ops)
	cancel()
	if err == nil {
		r.up()
		return ds, nil
	}
	if errors.Is(err, ErrInvalid) || ctx.Err() != nil {
		return nil, err
	}
	r.failed(err)
	ds = make([]Decision, len(ops))
	for i, op := range ops {
		ds[i] = r.policy(op.Limit)
	}
	return ds, nil
}

// Reset implements Limiter.
func (r *Resilient) Reset(ctx context.Context, key string) error {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	err := r.primary.Reset(cctx, key)
	cancel()
	switch {
	case err == nil:
		r.up()
	case ctx.Err() == nil:
		r.failed(err)
	}
	return err
}

// Degraded reports whether the last call to the primary failed (for a
// health or readiness check).
func (r *Resilient) Degraded() bool { return r.down.Load() }

// Errors is how many calls the primary has failed to answer since the
// start (each answered by the policy, or returned by Reset).
func (r *Resilient) Errors() int64 { return r.errs.Load() }

func (r *Resilient) answer(ctx context.Context, l Limit, d Decision, err error) (Decision, error) {
	if err == nil {
		r.up()
		return d, nil
	}
	if errors.Is(err, ErrInvalid) || ctx.Err() != nil {
		return Decision{}, err
	}
	r.failed(err)
	return r.policy(l), nil
}

// policy is a limit's answer when the primary could not give one.
func (r *Resilient) policy(l Limit) Decision {
	r.fallbacks.Add(1)
	now := r.now()
	if l.FailClosed {
		return Decision{Limit: l.Burst, Reset: now.Add(FailClosedRetryAfter), RetryAfter: FailClosedRetryAfter, Unavailable: true}
	}
	return Decision{Allowed: true, Limit: l.Burst, Remaining: l.Burst, Reset: now}
}

func (r *Resilient) failed(err error) {
	r.errs.Add(1)
	if r.down.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down.Load() {
		return
	}
	r.since = time.Now()
	r.fallbacks.Store(0)
	r.down.Store(true)
	r.log.Error("rate limiter unavailable: answering by each limit's fail-open or fail-closed policy until it recovers",
		"err", err, "timeout", r.timeout)
}

func (r *Resilient) up() {
	if !r.down.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down.Load() {
		return
	}
	r.down.Store(false)
	r.log.Info("rate limiter recovered", "down_for", time.Since(r.since).Round(time.Millisecond),
		"fallback_answers", r.fallbacks.Load())
}
