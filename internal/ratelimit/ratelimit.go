// Package ratelimit is the limiter behind every rate limit and
// attack-protection counter in Latchkey: token buckets kept in memory (one
// node) or in Redis (several nodes sharing counters).
//
// # The model
//
// A bucket holds at most Burst tokens and starts full. It refills
// continuously at Rate tokens per Per, that is one token every Per/Rate, and
// never beyond Burst. Take(n) succeeds when the bucket holds at least n tokens
// and then spends them; a refused Take spends nothing. This is the algorithm
// Auth0 documents (bucket size = burst, refill = the sustained rate).
//
// Arithmetic is exact and integral, identical in both backends: time counts
// in whole milliseconds (Per and the clock are truncated to the millisecond),
// and a bucket's level counts in units of 1/P token, where P is Per in
// milliseconds: a token is P units, the bucket holds Burst×P, and every
// millisecond adds Rate units. So a partly refilled token is remembered
// exactly (one token every 3333⅓ ms is no problem), and Remaining, Reset and
// RetryAfter come out the same to the millisecond from Memory and from Redis.
// Remaining counts whole tokens; Reset and RetryAfter round up to the
// millisecond at which the token is whole.
//
// # Keys and limits
//
// A bucket is identified by its key alone. The Limit is not part of the key:
// taking from one key under two different Limits reinterprets the stored
// level under whichever Limit the call passes (it is clamped to the smaller
// capacity, and Per changes what a unit is worth). That is the caller's
// problem: give every limit its own key space, for example
// "pwless-start:ip:203.0.113.7" and "bfp:ip+id:203.0.113.7|a@example.com".
//
// # Idle buckets
//
// A full bucket is the same as no bucket, so neither backend keeps one: Memory
// drops buckets once they have refilled (and holds a hard cap on keys), Redis
// sets each bucket to expire when it is full again. Forgetting an idle bucket
// never changes an answer.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is a token bucket: capacity Burst tokens, refilled at Rate tokens per
// Per (one token every Per/Rate), starting full.
//
// FailClosed only matters behind Resilient: it says what to answer when the
// backend cannot be reached (refuse rather than allow). Use it for limits
// whose purpose is to stop an attack (brute force, SMS pumping); leave it
// false for limits that only shape traffic.
type Limit struct {
	Burst      int
	Rate       int
	Per        time.Duration
	FailClosed bool
}

// Decision is the outcome of one Take (or the state shown by a Peek).
type Decision struct {
	Allowed bool
	// Limit is the bucket's capacity, Burst (X-RateLimit-Limit).
	Limit int
	// Remaining is the whole tokens left after this take; 0 when refused.
	Remaining int
	// Reset is when the bucket is full again (X-RateLimit-Reset); now when
	// it is full.
	Reset time.Time
	// RetryAfter, when refused, is how long until the same Take would be
	// allowed: until one token is back for n = 1, until n are for larger n
	// (Retry-After). Zero when allowed.
	RetryAfter time.Duration
	// Unavailable: the backend could not answer and this is the limit's
	// fail-closed policy speaking (Resilient), not a count: the request is
	// refused, but not because of anything its sender did.
	Unavailable bool
}

// ErrUnavailable: a limit that fails closed could not be checked because
// the backend did not answer.
var ErrUnavailable = errors.New("limiter unavailable")

// Limiter is a store of token buckets. Every method is safe for concurrent
// use, also across processes sharing a backend.
type Limiter interface {
	// Take spends n tokens (1 ≤ n ≤ Burst) of key's bucket under limit l,
	// atomically (one round trip on Redis).
	Take(ctx context.Context, key string, l Limit, n int) (Decision, error)
	// Peek reports the bucket without spending: Allowed says whether a Take
	// of one token would be allowed now (for "is this IP/identifier
	// blocked?"), Remaining how many whole tokens it holds.
	Peek(ctx context.Context, key string, l Limit) (Decision, error)
	// Reset forgets key (an unblock): its bucket is full again.
	Reset(ctx context.Context, key string) error
	// TakeAll is every limiter decision of one request at once: one call, one
	// round trip on Redis, one instant of one clock. It is all or nothing: the
	// batch is allowed when every Op is, and only then are the Takes charged;
	// when one Op refuses, no bucket is charged, so a request refused by one
	// limit spends nothing of the others. Each Decision is its bucket's: a
	// refusing Op's has Allowed false and its RetryAfter; the others of a
	// refused batch report their bucket as a Peek would (nothing was spent).
	// An Op's Key may appear only once in a batch.
	TakeAll(ctx context.Context, ops []Op) ([]Decision, error)
}

// ErrInvalid reports a Limit or a token count the model cannot serve; it is a
// programming error, never an outage.
var ErrInvalid = errors.New("ratelimit: invalid argument")

// Bounds on a Limit keep every intermediate value of the arithmetic below
// 2^53, so it is exact in Redis's Lua (whose numbers are doubles) as well as
// in Go.
const (
	maxCapacity = 1 << 50 // Burst × Per in milliseconds: e.g. 400,000 tokens per 30 days
	maxRate     = 1 << 40
)

// bucket holds a Limit in the integral units of the model.
type bucket struct {
	burst    int64 // tokens
	rate     int64 // units added per millisecond
	per      int64 // units per token (Per in milliseconds)
	capacity int64 // burst × per
}

func (l Limit) bucket() (bucket, error) {
	per := l.Per.Milliseconds()
	switch {
	case l.Burst < 1:
		return bucket{}, fmt.Errorf("%w: Burst %d < 1", ErrInvalid, l.Burst)
	case l.Rate < 1:
		return bucket{}, fmt.Errorf("%w: Rate %d < 1", ErrInvalid, l.Rate)
	case int64(l.Rate) > maxRate:
		return bucket{}, fmt.Errorf("%w: Rate %d too large", ErrInvalid, l.Rate)
	case per < 1:
		return bucket{}, fmt.Errorf("%w: Per %v < 1ms", ErrInvalid, l.Per)
	case int64(l.Burst) > maxCapacity/per:
		return bucket{}, fmt.Errorf("%w: Burst %d × Per %v too large", ErrInvalid, l.Burst, l.Per)
	}
	return bucket{burst: int64(l.Burst), rate: int64(l.Rate), per: per, capacity: int64(l.Burst) * per}, nil
}

// check validates l and the token count n of a Take (1 ≤ n ≤ Burst), or
// only l for a Peek (n = 0, peek set).
func check(l Limit, n int, peek bool) (bucket, error) {
	b, err := l.bucket()
	if err != nil {
		return b, err
	}
	if !peek && (n < 1 || int64(n) > b.burst) {
		return b, fmt.Errorf("%w: taking %d tokens from a bucket of %d", ErrInvalid, n, b.burst)
	}
	return b, nil
}

// state is a stored bucket: its level (in units) at time at (Unix ms).
type state struct {
	level, at int64
}

// outcome is one step of the model.
type outcome struct {
	allowed   bool
	remaining int64
	reset     int64 // Unix ms when full
	retry     int64 // ms
	next      state // the state to store when write is set
	write     bool
}

// step applies a Take of n tokens (n ≥ 1) or a Peek (n = 0) at now (Unix ms)
// to s; found is false for a missing (that is, full) bucket. It is the one
// definition of the model; script.lua is its line-by-line twin.
func (b bucket) step(s state, found bool, now, n int64) outcome {
	if !found {
		s = state{level: b.capacity, at: now}
	}
	level := min(max(s.level, 0), b.capacity) // clamp: the key may have served another Limit
	// When the clock reads earlier than the bucket's last update (another
	// node's clock is ahead), the bucket is taken as of its last update:
	// no refill, and waits are counted from now.
	eff := max(s.at, now)
	if elapsed := now - s.at; elapsed > 0 && level < b.capacity {
		if elapsed >= ceilDiv(b.capacity-level, b.rate) {
			level = b.capacity
		} else {
			level += elapsed * b.rate
		}
	}
	want := max(n, 1) * b.per
	var o outcome
	if level >= want {
		o.allowed = true
		if n > 0 {
			level -= want
			o.write = true
			o.next = state{level: level, at: eff}
		}
		o.remaining = level / b.per
	} else {
		o.retry = eff + ceilDiv(want-level, b.rate) - now
	}
	o.reset = eff + ceilDiv(b.capacity-level, b.rate)
	return o
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func (o outcome) decision(b bucket) Decision {
	return Decision{
		Allowed:    o.allowed,
		Limit:      int(b.burst),
		Remaining:  int(o.remaining),
		Reset:      time.UnixMilli(o.reset),
		RetryAfter: time.Duration(o.retry) * time.Millisecond,
	}
}

// Op is one bucket of a TakeAll: take N tokens (1 ≤ N ≤ Burst) of Key's
// bucket under Limit, or, with N = 0, require one token to be there
// without spending it (a Peek that must pass, such as "this IP is not
// blocked").
type Op struct {
	Key   string
	Limit Limit
	N     int
}

// Allowed reports whether a TakeAll was allowed (every Op was).
func Allowed(ds []Decision) bool {
	for _, d := range ds {
		if !d.Allowed {
			return false
		}
	}
	return true
}

// checkOps validates a batch and returns its buckets.
func checkOps(ops []Op) ([]bucket, error) {
	bs := make([]bucket, len(ops))
	seen := make(map[string]bool, len(ops))
	for i, op := range ops {
		b, err := check(op.Limit, op.N, op.N == 0)
		if err != nil {
			return nil, err
		}
		if op.N < 0 {
			return nil, fmt.Errorf("%w: taking %d tokens", ErrInvalid, op.N)
		}
		if seen[op.Key] {
			return nil, fmt.Errorf("%w: key %q twice in one batch", ErrInvalid, op.Key)
		}
		seen[op.Key] = true
		bs[i] = b
	}
	return bs, nil
}

// stepAll applies a batch at now to the stored states (found[i] false for
// a missing bucket): every Op is evaluated; when all allow, the outcomes
// are the Takes' (their writes to be stored); otherwise the allowing Ops'
// outcomes are their Peeks' and nothing is to be written. It is the one
// definition of the batch; script.lua is its twin.
func stepAll(bs []bucket, ops []Op, states []state, found []bool, now int64) []outcome {
	outs := make([]outcome, len(ops))
	all := true
	for i, b := range bs {
		outs[i] = b.step(states[i], found[i], now, int64(ops[i].N))
		all = all && outs[i].allowed
	}
	if !all {
		for i, b := range bs {
			if outs[i].allowed && ops[i].N > 0 {
				outs[i] = b.step(states[i], found[i], now, 0)
			}
		}
	}
	return outs
}
