// Package testredis gives tests a client of the test Redis server
// (LATCHKEY_TEST_REDIS_URL) and a key prefix of their own. Without the
// variable a test is skipped, except under CI, where that is a failure: a
// skipped Redis test there would hide the backend.
package testredis

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/internal/secret"
)

// URL returns LATCHKEY_TEST_REDIS_URL, skipping the test (failing it under
// CI) when it is not set.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LATCHKEY_TEST_REDIS_URL is not set; Redis tests must run in CI")
		}
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set")
	}
	return u
}

// Client returns a client of the test server, checked with a PING, and a
// fresh prefix "latchkey-test:<name>:<random>:". When the test ends, every
// key under the prefix is deleted and the client closed.
func Client(t testing.TB, name string) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("Redis at LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	prefix := "latchkey-test:" + name + ":" + secret.Hex(6) + ":"
	t.Cleanup(func() {
		defer c.Close()
		Clean(t, c, prefix)
	})
	return c, prefix
}

// ServerURL returns LATCHKEY_TEST_REDIS_URL with ?prefix= naming a fresh
// key space "latchkey-test:<name>:<random>:" (the form latchkey serve
// --redis-url reads) and the prefix itself. Every key under the prefix is
// deleted when the test ends, after the cleanups registered later (such as
// the server's own shutdown) have run.
func ServerURL(t testing.TB, name string) (string, string) {
	t.Helper()
	_, prefix := Client(t, name)
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	q := u.Query()
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	return u.String(), prefix
}

// Clean deletes every key under prefix.
func Clean(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			t.Errorf("scan %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("delete %s*: %v", prefix, err)
				return
			}
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}
