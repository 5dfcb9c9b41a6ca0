package httpx_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey/internal/buildinfo"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/metrics"
)

// BenchmarkMiddleware measures what the middleware adds to one request:
// bare (no access log, no metrics), with the access log (text, to
// io.Discard), and with the access log and the Prometheus observer, all
// behind a trusted proxy with X-Forwarded-For. A login is three requests.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /passwordless/start", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	proxies := httpx.NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false)
	for _, c := range []struct {
		name     string
		level    slog.Level
		observer httpx.Observer
	}{
		{"bare", slog.LevelWarn, nil},
		{"access log", slog.LevelInfo, nil},
		{"access log and metrics", slog.LevelInfo, metrics.New(buildinfo.Read())},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := httpx.Middleware(httpx.Options{Log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: c.level})),
				MaxBody: 1 << 16, Proxies: proxies, Observer: c.observer}, mux)
			req := httptest.NewRequest("POST", "/passwordless/start", nil)
			req.RemoteAddr = "10.1.2.3:4567"
			req.Header.Set("X-Forwarded-For", "198.51.100.7")
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
