package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/metrics/metricstest"
	"github.com/latchkey/latchkey/internal/ops"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/testredis"
)

// opsGet calls the node's ops handler.
func opsGet(t *testing.T, e *env, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func readiness(t *testing.T, e *env) (int, ops.Readiness) {
	t.Helper()
	code, body := opsGet(t, e, "/health/ready")
	var r ops.Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("readiness body %q: %v", body, err)
	}
	return code, r
}

// TestReadinessFollowsTheStore: ready while the store answers, 503 naming
// the store once it does not; liveness does not depend on it.
func TestReadinessFollowsTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if code, r := readiness(t, e); code != 200 || r.Status != "ok" || r.Checks["store"].Status != "ok" || len(r.Checks) != 1 {
		t.Fatalf("ready: %d %+v", code, r)
	}
	e.srv.Store.Close() // the database goes away
	code, r := readiness(t, e)
	if code != 503 || r.Status != "unavailable" || r.Checks["store"].Status != "unavailable" || r.Checks["store"].Error == "" {
		t.Fatalf("without the store: %d %+v", code, r)
	}
	if code, _ := opsGet(t, e, "/health/live"); code != 200 {
		t.Errorf("live: %d", code)
	}
}

// TestReadinessChecksRedis: with --redis-url, Redis is a readiness check.
func TestReadinessChecksRedis(t *testing.T) {
	t.Parallel()
	u, _ := testredis.ServerURL(t, "readiness")
	up := newEnv(t, func(c *config.Config) { c.RedisURL = u })
	if code, r := readiness(t, up); code != 200 || r.Checks["redis"].Status != "ok" || r.Checks["store"].Status != "ok" {
		t.Fatalf("with Redis up: %d %+v", code, r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "redis://" + ln.Addr().String() + "/0"
	ln.Close() // nothing listens there any more
	down := newEnv(t, func(c *config.Config) { c.RedisURL = gone })
	if code, r := readiness(t, down); code != 503 || r.Checks["redis"].Status != "unavailable" || r.Checks["store"].Status != "ok" {
		t.Fatalf("with Redis down: %d %+v", code, r)
	}
}

// TestMetricsAndPprof: /metrics parses and counts a login exactly; the
// request metrics use route patterns, never paths; pprof only with --pprof.
func TestMetricsAndPprof(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.startEmail("metrics@example.com")
	if r := e.otpGrant(webID, webSecret, "email", "metrics@example.com", code, nil); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	e.otpGrant(webID, webSecret, "email", "metrics@example.com", code, nil) // the code is used: a failure
	e.do("GET", "/no/such/path/"+url.PathEscape("ünïcode"), "", nil, nil)
	status, body := opsGet(t, e, "/metrics")
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	m := metricstest.Parse(t, strings.NewReader(body))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latchkey_logins_total", []string{"connection", "email", "grant", "passwordless_otp"}, 1},
		{"latchkey_login_failures_total", []string{"connection", "email", "grant", "passwordless_otp"}, 1},
		{"latchkey_codes_sent_total", []string{"channel", "email"}, 1},
		{"latchkey_http_requests_total", []string{"route", "/oauth/token", "method", "POST", "code", "2xx"}, 1},
		{"latchkey_http_requests_total", []string{"route", "/oauth/token", "method", "POST", "code", "4xx"}, 1},
		{"latchkey_http_requests_total", []string{"route", "/", "method", "GET", "code", "4xx"}, 1},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	if strings.Contains(body, "no/such/path") || strings.Contains(body, "metrics@example.com") {
		t.Error("a path or an identifier became a label")
	}
	if status, _ := opsGet(t, e, "/debug/pprof/"); status != 404 {
		t.Errorf("pprof without --pprof: %d", status)
	}
	p := newEnv(t, func(c *config.Config) { c.Pprof = true })
	if status, body := opsGet(t, p, "/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof with --pprof: %d", status)
	}
	// The public listener serves none of it.
	for _, path := range []string{"/metrics", "/health/ready", "/debug/pprof/"} {
		if r := p.do("GET", path, "", nil, nil); r.status != http.StatusNotFound {
			t.Errorf("public %s: %d", path, r.status)
		}
	}
}

// TestDrainDelay: with --drain-delay, readiness fails at shutdown while the
// public listener still serves, so that load balancers polling readiness
// stop sending before connections are refused.
func TestDrainDelay(t *testing.T) {
	t.Parallel()
	r := runNode(t, config.Config{Dev: true, DrainDelay: 5 * time.Second}, server.Options{})
	srv := r.srv
	base := "http://" + r.cfg.Addr + "/.well-known/jwks.json"
	get := func() int {
		res, err := http.Get(base)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitFor(t, func() bool { return get() == 200 })
	start := time.Now()
	r.stop()
	rec := httptest.NewRecorder()
	waitFor(t, func() bool {
		rec = httptest.NewRecorder()
		srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health/ready", nil))
		return rec.Code == 503
	})
	if !strings.Contains(rec.Body.String(), `"draining"`) {
		t.Errorf("readiness while draining: %s", rec.Body.String())
	}
	if s := get(); s != 200 || time.Since(start) > 4*time.Second {
		t.Fatalf("the public listener during the drain delay: %d after %v", s, time.Since(start))
	}
	err := <-r.done
	r.done <- err // for the cleanup
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Errorf("Run returned %v after the shutdown began; the drain delay is 5 s", d)
	}
}
