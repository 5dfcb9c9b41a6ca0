package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed script.lua
var scriptSource string

var script = redis.NewScript(scriptSource)

// expiryMargin is added to a bucket's expiry in Redis. With Redis's own
// clock (the default) expiry and refill read one clock and it is only a
// guard; with an injected clock (tests) it keeps a bucket until it is full
// by a clock up to this far behind the one that wrote it.
const expiryMargin = time.Second

// Redis keeps buckets in Redis, shared by every node using the same server
// and prefix. A bucket is a hash {l: level, t: last update} under prefix+key,
// updated by one Lua script per call (atomic, one round trip, however many
// buckets a TakeAll names) and set to expire when it is full again, so idle
// keys vanish. Time is Redis's own (TIME inside the script), so every node
// reads one clock and a node's clock skew cannot shift a shared bucket;
// tests inject a clock instead.
type Redis struct {
	client *redis.Client
	prefix string
	now    func() time.Time // nil: Redis's TIME
}

// NewRedis returns a Limiter over client whose keys all start with prefix
// (for example "latchkey:rl:"). Buckets refill by Redis's clock when now is
// nil (production), by now otherwise (tests of the model).
func NewRedis(client *redis.Client, prefix string, now func() time.Time) *Redis {
	return &Redis{client: client, prefix: prefix, now: now}
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, l Limit, n int) (Decision, error) {
	if _, err := check(l, n, false); err != nil {
		return Decision{}, err
	}
	ds, err := r.TakeAll(ctx, []Op{{Key: key, Limit: l, N: n}})
	if err != nil {
		return Decision{}, err
	}
	return ds[0], nil
}

// Peek implements Limiter.
func (r *Redis) Peek(ctx context.Context, key string, l Limit) (Decision, error) {
	if _, err := check(l, 0, true); err != nil {
		return Decision{}, err
	}
	ds, err := r.TakeAll(ctx, []Op{{Key: key, Limit: l}})
	if err != nil {
		return Decision{}, err
	}
	return ds[0], nil
}

// TakeAll implements Limiter: one script, one round trip, every bucket
// evaluated atomically at one instant of Redis's clock.
func (r *Redis) TakeAll(ctx context.Context, ops []Op) ([]Decision, error) {
	bs, err := checkOps(ops)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	now := int64(-1)
	if r.now != nil {
		now = r.now().UnixMilli()
	}
	keys := make([]string, len(ops))
	args := make([]any, 0, 2+4*len(ops))
	args = append(args, now, expiryMargin.Milliseconds())
	for i, op := range ops {
		keys[i] = r.prefix + op.Key
		args = append(args, bs[i].burst, bs[i].rate, bs[i].per, op.N)
	}
	res, err := script.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, r.err(err)
	}
	if len(res) != 4*len(ops) {
		return nil, fmt.Errorf("ratelimit: redis: script returned %d values, want %d", len(res), 4*len(ops))
	}
	ds := make([]Decision, len(ops))
	for i := range ops {
		v := res[4*i:]
		ds[i] = outcome{allowed: v[0] == 1, remaining: v[1], reset: v[2], retry: v[3]}.decision(bs[i])
	}
	return ds, nil
}

// Once records key for ttl and reports whether it was new: the first of
// any number of callers on any node gets true, later ones false until the
// ttl runs out (SET NX PX: one round trip). It serves single-use
// identifiers such as a client assertion's jti.
func (r *Redis) Once(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := r.client.SetNX(ctx, r.prefix+"once:"+key, 1, ttl).Result()
	if err != nil {
		return false, r.err(err)
	}
	return ok, nil
}

// Reset implements Limiter.
func (r *Redis) Reset(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return r.err(err)
	}
	return nil
}

// Ping checks that Redis answers (readiness).
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return r.err(err)
	}
	return nil
}

func (r *Redis) err(err error) error {
	return fmt.Errorf("ratelimit: redis at %s: %w", r.client.Options().Addr, err)
}

// The connection pool of ParseRedisURL, unless the URL sets pool_size,
// min_idle_conns or pool_timeout: Redis answers a limiter script in tens of
// microseconds, so 128 connections serve thousands of concurrent requests
// without one waiting long for a connection.
const (
	DefaultPoolSize     = 128
	DefaultMinIdleConns = 8
)

// ParseRedisURL opens a client for redis://[[user]:password@]host[:port][/db]
// (rediss:// for TLS; port 6379 and database 0 by default; go-redis's query
// options such as dial_timeout are accepted). The client respects context
// deadlines on every call, which is what lets Resilient answer within its
// timeout when Redis hangs. It does not connect: the first call does.
func ParseRedisURL(s string) (*redis.Client, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("ratelimit: redis URL does not parse") // the error would echo the password
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("ratelimit: redis URL scheme %q: want redis:// or rediss://", u.Scheme)
	}
	opt, err := redis.ParseURL(s)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: redis URL: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	// Within Resilient's budget, go-redis's own persistence only turns a
	// refused connection into a timeout: by default it dials 5 times 100 ms
	// apart, then retries the command 3 times with back-off. One dial and
	// one retry (for a connection that broke mid-command) fail fast, and
	// after PoolSize failed dials go-redis stops dialling on the request
	// path and probes once a second instead.
	opt.DialerRetries = 1
	q := u.Query()
	if !q.Has("max_retries") {
		opt.MaxRetries = 1
	}
	// The pool is sized for a node's concurrency, not go-redis's default of
	// 10 per CPU: a burst of a few hundred concurrent requests on a
	// 2-core node must find a connection (or wait briefly for one) rather
	// than queue past its deadline while Redis itself is idle. Warm
	// connections spare the first requests of a burst the dials.
	if !q.Has("pool_size") {
		opt.PoolSize = DefaultPoolSize
	}
	if !q.Has("min_idle_conns") {
		opt.MinIdleConns = DefaultMinIdleConns
	}
	if !q.Has("pool_timeout") {
		opt.PoolTimeout = DefaultTimeout
	}
	return redis.NewClient(opt), nil
}
