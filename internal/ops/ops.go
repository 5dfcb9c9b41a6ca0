// Package ops is the ops listener's handler: liveness, readiness, metrics
// and, when asked for, pprof. It is served on its own address (loopback by
// default), never on the public listener.
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: the node can serve only when it passes
// within the timeout.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options configure the handler.
type Options struct {
	// Registry is served at /metrics (nil: no /metrics).
	Registry *prometheus.Registry
	// Checks decide readiness.
	Checks []Check
	// Timeout bounds every check (default DefaultTimeout).
	Timeout time.Duration
	// Draining reports whether the node is shutting down: readiness then
	// fails at once, before connections drain, so that load balancers stop
	// sending new requests.
	Draining func() bool
	// Pprof serves /debug/pprof/.
	Pprof bool
}

// DefaultTimeout bounds a readiness check.
const DefaultTimeout = time.Second

// Handler returns the ops listener's handler.
func Handler(opt Options) http.Handler {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		status, body := ready(r.Context(), opt)
		writeJSON(w, status, body)
	})
	if opt.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opt.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	if opt.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// CheckResult is one check's outcome in the readiness body.
type CheckResult struct {
	Status     string  `json:"status"` // "ok" or "unavailable"
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Readiness is the body of /health/ready.
type Readiness struct {
	Status string                 `json:"status"` // "ok", "unavailable" or "draining"
	Checks map[string]CheckResult `json:"checks"`
}

// ready runs every check at once, each bounded by the timeout.
func ready(ctx context.Context, opt Options) (int, Readiness) {
	body := Readiness{Status: "ok", Checks: map[string]CheckResult{}}
	if opt.Draining != nil && opt.Draining() {
		body.Status = "draining"
		return http.StatusServiceUnavailable, body
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range opt.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			start := time.Now()
			err := c.Check(cctx)
			if err == nil && cctx.Err() != nil {
				err = cctx.Err()
			}
			res := CheckResult{Status: "ok", DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				res.Status, res.Error = "unavailable", err.Error()
			}
			mu.Lock()
			body.Checks[c.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, r := range body.Checks {
		if r.Status != "ok" {
			body.Status = "unavailable"
			return http.StatusServiceUnavailable, body
		}
	}
	return http.StatusOK, body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
