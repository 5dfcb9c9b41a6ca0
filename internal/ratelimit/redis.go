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

// expiryMargin is added to a bucket's expiry in Redis. Redis expires keys by
// its own clock while buckets refill by the nodes' clocks: the margin keeps a
// bucket until it is full by the clock of any node up to this far behind the
// node that wrote it.
const expiryMargin = time.Second

// Redis keeps buckets in Redis, shared by every node using the same server
// and prefix. A bucket is a hash {l: level, t: last update} under prefix+key,
// updated by one Lua script per call (atomic, one round trip) and set to
// expire when it is full again, so idle keys vanish. Time comes from the
// injected clock, not Redis's TIME: the nodes' clocks must agree (NTP); a
// node whose clock lags sees a bucket as of its last update.
type Redis struct {
	client *redis.Client
	prefix string
	now    func() time.Time
}

// NewRedis returns a Limiter over client whose keys all start with prefix
// (for example "latchkey:rl:").
func NewRedis(client *redis.Client, prefix string, now func() time.Time) *Redis {
	return &Redis{client: client, prefix: prefix, now: now}
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, l Limit, n int) (Decision, error) {
	b, err := check(l, n, false)
	if err != nil {
		return Decision{}, err
	}
	return r.run(ctx, key, b, int64(n))
}

// Peek implements Limiter.
func (r *Redis) Peek(ctx context.Context, key string, l Limit) (Decision, error) {
	b, err := check(l, 0, true)
	if err != nil {
		return Decision{}, err
	}
	return r.run(ctx, key, b, 0)
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

func (r *Redis) run(ctx context.Context, key string, b bucket, n int64) (Decision, error) {
	now := r.now().UnixMilli()
	res, err := script.Run(ctx, r.client, []string{r.prefix + key},
		now, b.burst, b.rate, b.per, n, expiryMargin.Milliseconds()).Int64Slice()
	if err != nil {
		return Decision{}, r.err(err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis: script returned %d values, want 4", len(res))
	}
	return outcome{allowed: res[0] == 1, remaining: res[1], reset: res[2], retry: res[3]}.decision(b), nil
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
	// Within Resilient's budget of 200 ms, go-redis's own persistence only
	// turns a refused connection into a timeout: by default it dials 5 times
	// 100 ms apart, then retries the command 3 times with back-off. One dial
	// and one retry (for a connection that broke mid-command) fail fast, and
	// after PoolSize failed dials go-redis stops dialling on the request path
	// and probes once a second instead.
	opt.DialerRetries = 1
	if !u.Query().Has("max_retries") {
		opt.MaxRetries = 1
	}
	return redis.NewClient(opt), nil
}
