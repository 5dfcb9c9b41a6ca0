package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/ratelimit/ratelimittest"
	"github.com/latchkey/latchkey/internal/testredis"
)

var (
	open   = ratelimit.Limit{Burst: 5, Rate: 1, Per: time.Minute}
	closed = ratelimit.Limit{Burst: 5, Rate: 1, Per: time.Minute, FailClosed: true}
)

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	downLine = "level=ERROR msg=\"rate limiter unavailable"
	upLine   = "level=INFO msg=\"rate limiter recovered\""
)

func newResilient(t *testing.T, url, prefix string, now func() time.Time) (*ratelimit.Resilient, *logBuffer) {
	t.Helper()
	c, err := ratelimit.ParseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	logs := &logBuffer{}
	r := ratelimit.NewResilient(ratelimit.NewRedis(c, prefix, now), 0, now, slog.New(slog.NewTextHandler(logs, nil)))
	return r, logs
}

// timed runs f and fails the test when it takes longer than Resilient may.
func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > ratelimit.DefaultTimeout+800*time.Millisecond { // slack for a loaded CI machine; go-redis alone would wait 5 s
		t.Errorf("%s took %v", what, d)
	}
}

// wantFallback checks for the policy's answers: allowed with a full bucket (open)
// or refused for exactly 1 s (closed).
func wantFallback(t *testing.T, what string, d ratelimit.Decision, l ratelimit.Limit, now time.Time) {
	t.Helper()
	want := ratelimit.Decision{Allowed: true, Limit: l.Burst, Remaining: l.Burst, Reset: now}
	if l.FailClosed {
		want = ratelimit.Decision{Limit: l.Burst, Reset: now.Add(time.Second), RetryAfter: time.Second, Unavailable: true}
	}
	if d != want {
		t.Errorf("%s: %+v, want %+v", what, d, want)
	}
}

// A Redis that is not there: every answer comes from the policy, fast, and
// the outage is logged once.
func TestResilientRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	clock := ratelimittest.NewClock(ratelimittest.T0)
	r, logs := newResilient(t, "redis://"+addr+"/0", "p:", clock.Now)
	ctx := context.Background()

	for i := range 30 {
		timed(t, "Take", func() {
			d, err := r.Take(ctx, "k", open, 1)
			if err != nil {
				t.Fatal(err)
			}
			wantFallback(t, "fail-open Take", d, open, clock.Now())
		})
		timed(t, "Take", func() {
			d, err := r.Take(ctx, "k", closed, 2)
			if err != nil {
				t.Fatal(err)
			}
			wantFallback(t, "fail-closed Take", d, closed, clock.Now())
		})
		timed(t, "Peek", func() {
			d, err := r.Peek(ctx, "k", open)
			if err != nil {
				t.Fatal(err)
			}
			wantFallback(t, "fail-open Peek", d, open, clock.Now())
			d, err = r.Peek(ctx, "k", closed)
			if err != nil {
				t.Fatal(err)
			}
			wantFallback(t, "fail-closed Peek", d, closed, clock.Now())
		})
		clock.Advance(time.Duration(i) * time.Second)
	}
	if err := r.Reset(ctx, "k"); err == nil {
		t.Error("Reset with Redis down: no error")
	}
	if !r.Degraded() {
		t.Error("not Degraded")
	}
	// Invalid arguments and the caller's own cancellation are errors, not outages.
	if _, err := r.Take(ctx, "k", ratelimit.Limit{Burst: 1, Rate: 1, Per: time.Second}, 2); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Errorf("Take of 2 from 1: %v, want ErrInvalid", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Take(cancelled, "k", closed, 1); err == nil {
		t.Error("Take with a cancelled context: no error")
	}
	if n := logs.lines(downLine); n != 1 {
		t.Errorf("%d outage lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), addr) {
		t.Errorf("the outage line does not name the address:\n%s", logs)
	}
	if n := logs.lines(upLine); n != 0 {
		t.Errorf("recovered without a Redis:\n%s", logs)
	}
	t.Logf("\n%s", logs)
}

// proxy forwards TCP to a target until stopped; started again on the same
// address, it forwards again. Hung, it accepts and never answers.
type proxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	hang  bool
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, addr: "127.0.0.1:0", target: target, conns: map[net.Conn]bool{}}
	p.start(false)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(hang bool) {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr, p.hang = ln, ln.Addr().String(), hang
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			if hang {
				continue // hold it open, say nothing
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *proxy) forward(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[u] = true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	<-done
}

// stop closes the listener and every connection: Redis is gone.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A real Redis behind a proxy that goes away, hangs, and comes back: the
// policy answers while it is gone, each within the timeout, and Resilient
// recovers by itself with the buckets Redis kept.
func TestResilientRecovers(t *testing.T) {
	target := strings.TrimPrefix(testredis.URL(t), "redis://")
	if i := strings.IndexByte(target, '/'); i >= 0 {
		target = target[:i]
	}
	_, prefix := testredis.Client(t, "resilient")
	p := startProxy(t, target)
	clock := ratelimittest.NewClock(ratelimittest.T0)
	r, logs := newResilient(t, "redis://"+p.addr+"/0", prefix, clock.Now)
	ctx := context.Background()
	take := func(l ratelimit.Limit) ratelimit.Decision {
		t.Helper()
		var d ratelimit.Decision
		timed(t, "Take", func() {
			var err error
			if d, err = r.Take(ctx, "k", l, 1); err != nil {
				t.Fatal(err)
			}
		})
		return d
	}

	if d := take(closed); !d.Allowed || d.Remaining != 4 {
		t.Fatalf("through the proxy: %+v", d)
	}
	for _, hang := range []bool{false, true} {
		p.stop()
		if hang {
			p.start(true)
		}
		for range 10 {
			wantFallback(t, "closed, Redis gone", take(closed), closed, clock.Now())
			wantFallback(t, "open, Redis gone", take(open), open, clock.Now())
		}
		if n := logs.lines(downLine); n != 1 {
			t.Fatalf("hang %v: %d outage lines, want 1:\n%s", hang, n, logs)
		}
		p.stop()
		p.start(false)
		// go-redis may wait up to a second before dialling again.
		deadline := time.Now().Add(10 * time.Second)
		for r.Degraded() {
			if time.Now().After(deadline) {
				t.Fatalf("hang %v: no recovery within 10 s:\n%s", hang, logs)
			}
			take(closed)
			time.Sleep(50 * time.Millisecond)
		}
		// The bucket survived in Redis: one token was spent before the outage
		// (and one at the recovery); fallback answers spent none.
		if d, err := r.Peek(ctx, "k", closed); err != nil || d.Remaining != 3-boolInt(hang) {
			t.Errorf("hang %v: after recovery %+v, %v", hang, d, err)
		}
		if n := logs.lines(upLine); n != 1 {
			t.Fatalf("hang %v: %d recovery lines, want 1:\n%s", hang, n, logs)
		}
		t.Logf("hang %v:\n%s", hang, logs)
		logs.mu.Lock()
		logs.buf.Reset()
		logs.mu.Unlock()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
