package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	stateKey
)

// RequestID returns the request id set by the middleware, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// PeerIP returns the client's IP (no port) as the middleware resolved it:
// the TCP peer, or the address a trusted proxy forwarded (Proxies). Every
// limit, block and tenant-log address starts from it.
func PeerIP(ctx context.Context) string {
	st := stateOf(ctx)
	if st == nil {
		return ""
	}
	return st.client
}

// IsHTTPS reports whether the client reached the server over https (TLS
// here, or at a trusted proxy that says so).
func IsHTTPS(ctx context.Context) bool {
	st := stateOf(ctx)
	return st != nil && st.https
}

// requestState is what the middleware keeps for one request, in its
// context: where the request came from, the writer that sees whether (and
// what) the response has started, and what went wrong — the error code
// answered and its cause, filled in by Handle (or Explain) for the
// access-log line.
type requestState struct {
	client string
	https  bool
	w      statusWriter
	code   string
	cause  error
}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey).(*requestState)
	return st
}

// Explain records, for the request's access-log line, the error code of an
// answer a handler wrote itself (an error page, an error sent to the
// application's callback) and, when not nil, its cause, which is logged and
// never sent. Handle records the errors that handlers return. Outside the
// middleware it does nothing.
func Explain(ctx context.Context, code string, cause error) {
	if st := stateOf(ctx); st != nil {
		st.code, st.cause = code, cause
	}
}

// Observer is told about every request when it ends (metrics). route is
// the pattern of the handler that served it ("" when none matched).
type Observer interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// Options configure Middleware.
type Options struct {
	Log *slog.Logger
	// MaxBody caps request bodies.
	MaxBody int64
	// Proxies are the trusted reverse proxies (nil: none).
	Proxies *Proxies
	// HSTS is the Strict-Transport-Security value sent on https responses
	// ("" for none).
	HSTS string
	// Observer, if not nil, sees every request.
	Observer Observer
}

// Middleware wraps the whole server: request id, client IP (through
// trusted proxies), HSTS, recovery from panics, a body-size cap, an
// Observer, and one access-log line per request at info level: method,
// route, path (never the query, which can carry codes), status, bytes,
// duration, request id and client IP, and for an error the code answered
// and (for a non-2xx answer) its cause.
func Middleware(opt Options, next http.Handler) http.Handler {
	log := opt.Log
	prefix := secret.Hex(4)
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 || !printable(id) {
			id = prefix + "-" + itoa(seq.Add(1))
		}
		w.Header().Set("X-Request-Id", id)
		peer, _ := netip.ParseAddrPort(r.RemoteAddr)
		o := opt.Proxies.Resolve(peer.Addr(), r.TLS != nil, r.Header)
		st := &requestState{https: o.Proto == "https", w: statusWriter{ResponseWriter: w}}
		if o.Client.IsValid() {
			st.client = o.Client.String()
		} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			st.client = host
		} else {
			st.client = r.RemoteAddr
		}
		if st.https && opt.HSTS != "" {
			w.Header().Set("Strict-Transport-Security", opt.HSTS)
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, stateKey, st)
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, opt.MaxBody)
		}
		sw := &st.w
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic serving request", "request_id", id, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				st.code, st.cause = "server_error", fmt.Errorf("panic: %v", p)
				if !sw.wrote {
					RenderAuth(sw, &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Internal error"})
				}
			}
			status := sw.status
			if !sw.wrote {
				status = http.StatusOK
			}
			d := time.Since(start)
			route := routeOf(r.Pattern)
			if opt.Observer != nil {
				opt.Observer.ObserveRequest(route, r.Method, status, d)
			}
			if log.Enabled(ctx, slog.LevelInfo) {
				attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", route),
					slog.String("path", clip(r.URL.Path, 256)), slog.Int("status", status), slog.Int64("bytes", sw.bytes),
					slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("request_id", id),
					slog.String("ip", st.client)}
				if o.Peer.IsValid() && o.Peer != o.Client {
					attrs = append(attrs, slog.String("peer", o.Peer.String()))
				}
				if st.code != "" {
					attrs = append(attrs, slog.String("error", st.code))
				}
				if st.cause != nil && (status < 200 || status > 299) {
					attrs = append(attrs, slog.String("cause", clip(st.cause.Error(), maxCauseLength)))
				}
				log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// maxCauseLength bounds the cause in an access-log line.
const maxCauseLength = 1024

// routeOf is the path part of a ServeMux pattern ("POST /x/{id}" → "/x/{id}").
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " ")
	}
	return pattern
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	bytes  int64
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
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
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
