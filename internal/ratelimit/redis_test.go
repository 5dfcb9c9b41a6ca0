package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/ratelimit/ratelimittest"
	"github.com/latchkey/latchkey/internal/testredis"
)

func TestRedis(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Limiter {
		c, prefix := testredis.Client(t, "ratelimit")
		return ratelimit.NewRedis(c, prefix, now)
	})
}

// The bucket is a hash {l, t} that expires when it is full again (plus a
// margin); a Peek or a refused Take writes nothing.
func TestRedisKeyLayoutAndExpiry(t *testing.T) {
	ctx := context.Background()
	c, prefix := testredis.Client(t, "ratelimit")
	clock := ratelimittest.NewClock(ratelimittest.T0)
	r := ratelimit.NewRedis(c, prefix, clock.Now)
	l := ratelimit.Limit{Burst: 3, Rate: 1, Per: time.Minute}

	if _, err := r.Peek(ctx, "k", l); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, prefix+"k").Val(); n != 0 {
		t.Fatalf("Peek of an unused key created it")
	}
	if _, err := r.Take(ctx, "k", l, 2); err != nil {
		t.Fatal(err)
	}
	h := c.HGetAll(ctx, prefix+"k").Val()
	want := map[string]string{"l": "60000", "t": fmt.Sprint(ratelimittest.T0.UnixMilli())}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("stored bucket (-want +got):\n%s", diff)
	}
	// Full again 2 minutes after T0, plus the 1 s margin.
	if ttl := c.PTTL(ctx, prefix+"k").Val(); ttl > 121*time.Second || ttl < 120*time.Second {
		t.Errorf("PTTL %v, want about 2m1s", ttl)
	}
	clock.Advance(30 * time.Second)
	if d, _ := r.Take(ctx, "k", l, 2); d.Allowed {
		t.Fatal("take of 2 from 1.5 allowed")
	}
	if got := c.HGetAll(ctx, prefix+"k").Val(); !cmp.Equal(want, got) {
		t.Errorf("a refused Take wrote %v", got)
	}
}

// With the real clock, an idle bucket really vanishes from Redis when it is
// full (plus the margin), and answers as a new one.
func TestRedisIdleKeyVanishes(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 1.2 s")
	}
	t.Parallel()
	ctx := context.Background()
	c, prefix := testredis.Client(t, "ratelimit")
	r := ratelimit.NewRedis(c, prefix, time.Now)
	l := ratelimit.Limit{Burst: 1, Rate: 1, Per: 100 * time.Millisecond}
	if _, err := r.Take(ctx, "k", l, 1); err != nil {
		t.Fatal(err)
	}
	if c.Exists(ctx, prefix+"k").Val() != 1 {
		t.Fatal("no key after a Take")
	}
	time.Sleep(1200 * time.Millisecond)
	if c.Exists(ctx, prefix+"k").Val() != 0 {
		t.Fatal("an idle full bucket is still in Redis")
	}
	if d, err := r.Take(ctx, "k", l, 1); err != nil || !d.Allowed {
		t.Fatalf("Take after expiry: %+v, %v", d, err)
	}
}

// Memory and Redis answer random sequences identically: the Lua script is
// the twin of the Go model. (The clock only moves forward here: see below.)
func TestRedisMatchesMemory(t *testing.T) {
	ctx := context.Background()
	c, prefix := testredis.Client(t, "ratelimit")
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []ratelimit.Limit{
		{Burst: 1, Rate: 1, Per: time.Second},
		{Burst: 5, Rate: 3, Per: 7 * time.Second},
		{Burst: 50, Rate: 50, Per: time.Hour},
		{Burst: 10, Rate: 7, Per: 1001 * time.Millisecond},
		{Burst: 100_000, Rate: 3, Per: 30 * 24 * time.Hour},
		{Burst: 3, Rate: 1000, Per: time.Millisecond},
	}
	for i, l := range limits {
		clock := ratelimittest.NewClock(ratelimittest.T0)
		mem := ratelimit.NewMemory(clock.Now)
		red := ratelimit.NewRedis(c, fmt.Sprintf("%s%d:", prefix, i), clock.Now)
		step := l.Per / time.Duration(l.Rate)
		for op := range 2000 {
			key := fmt.Sprint("k", rng.IntN(3))
			var dm, dr ratelimit.Decision
			var em, er error
			what := ""
			switch x := rng.IntN(20); {
			case x < 6:
				// Forward only: after a step back, Memory (which forgets a
				// bucket once it is full, at its own sweep times) and Redis
				// (which keeps it until its expiry) may answer differently,
				// both within the limit.
				clock.Advance(time.Duration(rng.Int64N(int64(3*step) + 1)))
				what = "advance"
			case x == 6:
				what = "reset " + key
				em, er = mem.Reset(ctx, key), red.Reset(ctx, key)
			case x < 10:
				what = "peek " + key
				dm, em = mem.Peek(ctx, key, l)
				dr, er = red.Peek(ctx, key, l)
			default:
				n := 1 + rng.IntN(l.Burst)
				if rng.IntN(2) == 0 {
					n = 1
				}
				what = fmt.Sprintf("take %d from %s", n, key)
				dm, em = mem.Take(ctx, key, l, n)
				dr, er = red.Take(ctx, key, l, n)
			}
			if em != nil || er != nil {
				t.Fatalf("limit %+v op %d %s: memory %v, redis %v", l, op, what, em, er)
			}
			if diff := cmp.Diff(dm, dr); diff != "" {
				t.Fatalf("limit %+v op %d %s at T0%+v: memory and redis differ (-memory +redis):\n%s",
					l, op, what, clock.Now().Sub(ratelimittest.T0), diff)
			}
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url, addr, user, password string
		db                        int
		tls                       bool
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", "", "", 0, false},
		{"redis://redis.internal", "redis.internal:6379", "", "", 0, false},
		{"redis://:s3cret@redis.internal:6380/2", "redis.internal:6380", "", "s3cret", 2, false},
		{"redis://app:s3cret@[::1]:6379/1", "[::1]:6379", "app", "s3cret", 1, false},
		{"rediss://:s3cret@cache.example.com:6380/0", "cache.example.com:6380", "", "s3cret", 0, true},
	} {
		c, err := ratelimit.ParseRedisURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		o := c.Options()
		if o.Addr != tc.addr || o.Username != tc.user || o.Password != tc.password || o.DB != tc.db ||
			(o.TLSConfig != nil) != tc.tls || !o.ContextTimeoutEnabled {
			t.Errorf("%s: addr %q user %q password %q db %d tls %v context timeouts %v", tc.url,
				o.Addr, o.Username, o.Password, o.DB, o.TLSConfig != nil, o.ContextTimeoutEnabled)
		}
		if tc.tls && o.TLSConfig.ServerName != "cache.example.com" {
			t.Errorf("%s: TLS server name %q", tc.url, o.TLSConfig.ServerName)
		}
		c.Close()
	}
	for _, bad := range []string{
		"", "127.0.0.1:6379", "http://127.0.0.1:6379", "unix:///tmp/redis.sock",
		"redis://:s3cret@host/notanumber", "redis://:s3cret@host/1/2", "redis://:s3cret@ho st:6379\x7f",
	} {
		c, err := ratelimit.ParseRedisURL(bad)
		if err == nil {
			c.Close()
			t.Errorf("%q: no error", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
}

func BenchmarkRedisTake(b *testing.B) {
	url := testredis.URL(b)
	c, err := ratelimit.ParseRedisURL(url)
	if err != nil {
		b.Fatal(err)
	}
	_, prefix := testredis.Client(b, "bench")
	defer c.Close()
	benchmarkTake(b, ratelimit.NewRedis(c, prefix, time.Now))
}

// TestRedisOnce: the first caller of a key gets true, the others false,
// until the key's time runs out.
func TestRedisOnce(t *testing.T) {
	ctx := context.Background()
	c, prefix := testredis.Client(t, "once")
	r := ratelimit.NewRedis(c, prefix, time.Now)
	const n = 16
	results := make(chan bool, n)
	for range n {
		go func() {
			ok, err := r.Once(ctx, "jti-1", 300*time.Millisecond)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	firsts := 0
	for range n {
		if <-results {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d of %d callers were first", firsts, n)
	}
	if ok, err := r.Once(ctx, "jti-2", time.Second); err != nil || !ok {
		t.Fatalf("another key: %v %v", ok, err)
	}
	time.Sleep(400 * time.Millisecond)
	if ok, err := r.Once(ctx, "jti-1", time.Second); err != nil || !ok {
		t.Fatalf("after its time: %v %v", ok, err)
	}
}

// Without an injected clock the buckets read Redis's clock (TIME), so every
// node shares one: a Take's Reset and a refusal's RetryAfter are counted
// from Redis's time, whatever the caller's clock says.
func TestRedisServerTime(t *testing.T) {
	ctx := context.Background()
	c, prefix := testredis.Client(t, "ratelimit")
	r := ratelimit.NewRedis(c, prefix, nil)
	srv, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	l := ratelimit.Limit{Burst: 1, Rate: 1, Per: time.Hour}
	d, err := r.Take(ctx, "k", l, 1)
	if err != nil || !d.Allowed {
		t.Fatalf("first take: %+v, %v", d, err)
	}
	if got := d.Reset.Sub(srv.Truncate(time.Millisecond)); got < time.Hour || got > time.Hour+5*time.Second {
		t.Errorf("Reset %v is %v after Redis's time, want an hour", d.Reset, got)
	}
	d, err = r.Take(ctx, "k", l, 1)
	if err != nil || d.Allowed || d.RetryAfter < time.Hour-5*time.Second || d.RetryAfter > time.Hour {
		t.Errorf("second take: %+v, %v; want refused for about an hour", d, err)
	}
}
