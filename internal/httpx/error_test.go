package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

// logLines is a JSON log, one decoded record per line.
type logLines struct{ buf bytes.Buffer }

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(&l.buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// withMsg returns the records whose msg is msg.
func withMsg(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// serve runs one request through Middleware and a mux that routes pattern
// to h (through Handle, rendering the Authentication API shape).
func serve(t *testing.T, logs *logLines, pattern string, h httpx.HandlerFunc, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	log := logs.logger()
	mux := http.NewServeMux()
	mux.Handle(pattern, httpx.Handle(log, httpx.RenderAuth, h))
	srv := httpx.Middleware(httpx.Options{Log: log, MaxBody: 1 << 16}, mux)
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("X-Request-Id", "req-42")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

const marker = "cause-marker-7f3a"

// TestHandleCause: an *Error's cause is logged with the request id, method
// and route (warn for a 4xx, error for a 5xx) and named by the access-log
// line, and never sent; any other error is an opaque 500 whose cause is
// logged the same way.
func TestHandleCause(t *testing.T) {
	for _, c := range []struct {
		name              string
		err               error
		status            int
		code, description string
		level             string
	}{
		{"4xx with a cause", &httpx.Error{Status: 403, Code: "invalid_grant", Description: "Wrong email or verification code.",
			Cause: errors.New("wrong code: " + marker)}, 403, "invalid_grant", "Wrong email or verification code.", "WARN"},
		{"5xx with a cause", &httpx.Error{Status: 503, Code: "temporarily_unavailable", Description: "Try later",
			Header: http.Header{"Retry-After": {"1"}}, Cause: fmt.Errorf("limiter: %s", marker)}, 503, "temporarily_unavailable", "Try later", "ERROR"},
		{"wrapped *Error", fmt.Errorf("start: %w", &httpx.Error{Status: 429, Code: "too_many_requests", Description: "Slow down",
			Cause: errors.New(marker)}), 429, "too_many_requests", "Slow down", "WARN"},
		{"not an *Error", fmt.Errorf("read client: %s", marker), 500, "server_error", "Internal error", "ERROR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs logLines
			rec := serve(t, &logs, "POST /things/{id}", func(w http.ResponseWriter, r *http.Request) error { return c.err },
				"POST", "/things/abc")
			if rec.Code != c.status {
				t.Errorf("status %d, want %d", rec.Code, c.status)
			}
			if strings.Contains(rec.Body.String(), marker) || strings.Contains(fmt.Sprint(rec.Header()), marker) {
				t.Errorf("the cause reached the client: %q", rec.Body.String())
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != c.code || body["error_description"] != c.description || len(body) != 2 {
				t.Errorf("body %s (%v)", rec.Body, err)
			}
			if c.status == 503 && rec.Header().Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
			recs := logs.records(t)
			failed := withMsg(recs, "request failed")
			if len(failed) != 1 {
				t.Fatalf("%d request-failed lines in %s", len(failed), logs.buf.String())
			}
			f := failed[0]
			if f["level"] != c.level || f["request_id"] != "req-42" || f["method"] != "POST" || f["route"] != "/things/{id}" ||
				f["error"] != c.code || !strings.Contains(fmt.Sprint(f["cause"]), marker) || f["status"] != float64(c.status) {
				t.Errorf("request-failed line %v", f)
			}
			access := withMsg(recs, "request")
			if len(access) != 1 {
				t.Fatalf("%d access lines", len(access))
			}
			if a := access[0]; a["level"] != "INFO" || a["error"] != c.code || !strings.Contains(fmt.Sprint(a["cause"]), marker) ||
				a["status"] != float64(c.status) || a["request_id"] != "req-42" {
				t.Errorf("access line %v", a)
			}
		})
	}
}

// TestAccessLogNamesCode: every non-2xx answer names its code in the one
// access-log line, with the cause when there is one; an error without a
// cause is not logged on a line of its own; a success names nothing.
func TestAccessLogNamesCode(t *testing.T) {
	var logs logLines
	rec := serve(t, &logs, "GET /x", func(w http.ResponseWriter, r *http.Request) error {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Missing required parameter: %s", "client_id")
	}, "GET", "/x")
	if rec.Code != 400 {
		t.Fatalf("status %d", rec.Code)
	}
	recs := logs.records(t)
	if n := len(withMsg(recs, "request failed")); n != 0 {
		t.Errorf("%d request-failed lines for an error without a cause", n)
	}
	a := withMsg(recs, "request")
	if len(a) != 1 || a[0]["error"] != "invalid_request" || a[0]["status"] != float64(400) || a[0]["cause"] != nil {
		t.Errorf("access lines %v", a)
	}

	// An answer without a code (some Management API answers) is explained
	// by its text.
	logs = logLines{}
	serve(t, &logs, "GET /x", func(w http.ResponseWriter, r *http.Request) error {
		return httpx.Errorf(http.StatusUnauthorized, "", "Missing authentication")
	}, "GET", "/x")
	a = withMsg(logs.records(t), "request")
	if len(a) != 1 || a[0]["error"] != nil || a[0]["cause"] != "401: Missing authentication" {
		t.Errorf("access lines %v", a)
	}

	logs = logLines{}
	serve(t, &logs, "GET /x", func(w http.ResponseWriter, r *http.Request) error {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{})
		return nil
	}, "GET", "/x")
	a = withMsg(logs.records(t), "request")
	if len(a) != 1 || a[0]["error"] != nil || a[0]["cause"] != nil || a[0]["status"] != float64(200) {
		t.Errorf("access line of a success %v", a)
	}

	// A page the handler writes itself is explained with Explain.
	logs = logLines{}
	rec = serve(t, &logs, "GET /page", func(w http.ResponseWriter, r *http.Request) error {
		httpx.Explain(r.Context(), "access_denied", errors.New(marker))
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("<p>No</p>"))
		return nil
	}, "GET", "/page")
	a = withMsg(logs.records(t), "request")
	if rec.Code != 403 || len(a) != 1 || a[0]["error"] != "access_denied" || a[0]["cause"] != marker {
		t.Errorf("explained page: %d, access lines %v", rec.Code, a)
	}
	if strings.Contains(rec.Body.String(), marker) {
		t.Error("Explain's cause reached the client")
	}
}

// TestHandleAfterStart: a handler that has started its response and then
// returns an error gets one response (what it wrote) and one log line for
// the error, besides the access-log line.
func TestHandleAfterStart(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
		err   error
		sent  int
	}{
		{"body written", func(w http.ResponseWriter) { w.Write([]byte("partial page")) }, errors.New(marker), 200},
		{"headers written", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) },
			&httpx.Error{Status: 400, Code: "invalid_request", Description: "late", Cause: errors.New(marker)}, 400},
		{"*Error without a cause", func(w http.ResponseWriter) { w.WriteHeader(http.StatusFound) },
			httpx.Errorf(403, "access_denied", "%s", marker), 302},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs logLines
			rec := serve(t, &logs, "GET /page", func(w http.ResponseWriter, r *http.Request) error {
				c.write(w)
				return c.err
			}, "GET", "/page")
			if rec.Code != c.sent {
				t.Errorf("status %d, want %d", rec.Code, c.sent)
			}
			if b := rec.Body.String(); strings.Contains(b, "error") || strings.Contains(b, marker) {
				t.Errorf("a second answer was written: %q", b)
			}
			if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "json") {
				t.Errorf("Content-Type %q", ct)
			}
			recs := logs.records(t)
			failed := withMsg(recs, "request failed after its response started")
			if len(failed) != 1 || len(recs) != 2 {
				t.Fatalf("log: %s", logs.buf.String())
			}
			if f := failed[0]; f["level"] != "ERROR" || f["request_id"] != "req-42" || f["status_sent"] != float64(c.sent) ||
				!strings.Contains(fmt.Sprint(f["cause"]), marker) {
				t.Errorf("error line %v", f)
			}
			if a := withMsg(recs, "request"); len(a) != 1 || a[0]["status"] != float64(c.sent) {
				t.Errorf("access line %v", a)
			}
		})
	}
}

// TestPanicExplained: a panicking handler's 500 is explained in the access
// log.
func TestPanicExplained(t *testing.T) {
	var logs logLines
	rec := serve(t, &logs, "GET /boom", func(w http.ResponseWriter, r *http.Request) error { panic("kaboom") }, "GET", "/boom")
	a := withMsg(logs.records(t), "request")
	if rec.Code != 500 || len(a) != 1 || a[0]["error"] != "server_error" || !strings.Contains(fmt.Sprint(a[0]["cause"]), "kaboom") {
		t.Errorf("%d, access lines %v", rec.Code, a)
	}
}

// TestHandleClientGone: a request that fails because its client hung up
// is the client's failure: 499, logged at info, not a 500 at error.
func TestHandleClientGone(t *testing.T) {
	var logs logLines
	log := logs.logger()
	mux := http.NewServeMux()
	mux.Handle("POST /things", httpx.Handle(log, httpx.RenderAuth, func(w http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		return fmt.Errorf("store code: %w", r.Context().Err())
	}))
	srv := httpx.Middleware(httpx.Options{Log: log, MaxBody: 1 << 16}, mux)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/things", nil).WithContext(ctx))
	if rec.Code != httpx.StatusClientClosedRequest {
		t.Errorf("status %d, want 499", rec.Code)
	}
	failed := withMsg(logs.records(t), "request failed")
	if len(failed) != 1 || failed[0]["level"] != "INFO" || failed[0]["status"] != float64(499) {
		t.Errorf("logged %v", failed)
	}
	// A cancellation the client did not cause is still the server's.
	logs = logLines{}
	mux = http.NewServeMux()
	mux.Handle("POST /things", httpx.Handle(logs.logger(), httpx.RenderAuth, func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("job: %w", context.Canceled)
	}))
	rec = httptest.NewRecorder()
	httpx.Middleware(httpx.Options{Log: logs.logger(), MaxBody: 1 << 16}, mux).ServeHTTP(rec, httptest.NewRequest("POST", "/things", nil))
	if rec.Code != 500 {
		t.Errorf("status %d for a cancellation of the server's own, want 500", rec.Code)
	}
}
