package httpx

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	peerIPKey
)

// RequestID returns the request id set by the middleware, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// PeerIP returns the TCP peer's IP (no port), as set by the middleware.
func PeerIP(ctx context.Context) string {
	s, _ := ctx.Value(peerIPKey).(string)
	return s
}

// Middleware wraps the whole server: request id, peer IP, recovery from
// panics, a body-size cap and an access log (at debug level, so it costs
// nothing unless enabled).
func Middleware(log *slog.Logger, maxBody int64, next http.Handler) http.Handler {
	prefix := secret.Hex(4)
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = prefix + "-" + itoa(seq.Add(1))
		}
		w.Header().Set("X-Request-Id", id)
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, peerIPKey, ip)
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic serving request", "request_id", id, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				if !sw.wrote {
					RenderAuth(sw, &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Internal error"})
				}
			}
			if log.Enabled(ctx, slog.LevelDebug) {
				log.DebugContext(ctx, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "ip", ip, "duration_ms", float64(time.Since(start).Microseconds())/1000)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// MediaType returns the lower-cased media type of the request, without
// parameters.
func MediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}
