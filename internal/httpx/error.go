// Package httpx is Latchkey's shared HTTP plumbing: the error-returning
// handler adapter, the Error type with its Authentication API and Management
// API renderings, request decoding and middleware.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is the one error that reaches the client: its status, code,
// description, extra fields and headers are sent as they are. Cause, when
// set, says why, for the server log only: Handle logs it with the request
// id and the access log names it; it is never sent.
type Error struct {
	Status      int
	Code        string // Authentication API "error"; Management API "errorCode"
	Description string
	// Extra fields added to the Authentication API body (e.g. error_uri).
	Extra map[string]any
	// Header values set on the response.
	Header http.Header
	// Cause is the internal reason (a domain error, a failed call): logged,
	// never sent. It must not carry a code, token or secret.
	Cause error
}

// Error is the answer as the client reads it (never the cause).
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d: %s", e.Status, e.Description)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description)
}

// Unwrap returns the cause, so that errors.Is sees the domain error behind
// an answer.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

// HandlerFunc is an HTTP handler that returns an error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Renderer writes an *Error in one API's shape.
type Renderer func(w http.ResponseWriter, e *Error)

// StatusClientClosedRequest is the status logged (and, for the record,
// written) when a request fails because its client went away: nginx's 499.
const StatusClientClosedRequest = 499

// Handle adapts h. An *Error is rendered with render; any other error
// becomes an opaque 500 whose cause is the error. A cause is logged with the
// request id, method and route (at warn for a 4xx, error for a 5xx) and
// recorded, with the code, for the access-log line (see Middleware). When h
// has already started its response, nothing more is written: the error is
// logged instead (at error).
func Handle(log *slog.Logger, render Renderer, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		ctx := r.Context()
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Internal error", Cause: err}
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				// The client hung up and the work it asked for was cut
				// short (and rolled back): its failure, not the server's.
				e = &Error{Status: StatusClientClosedRequest, Code: "client_closed_request", Description: "The client closed the request", Cause: err}
			}
		}
		st := stateOf(ctx)
		started := st != nil && st.w.wrote
		cause := e.Cause
		if started && cause == nil {
			cause = e // unsent: its text is the explanation
		}
		if st != nil {
			st.code, st.cause = e.Code, cause
			if cause == nil && e.Code == "" {
				st.cause = e // an answer without a code is explained by its text
			}
		}
		if cause != nil {
			level := slog.LevelWarn
			switch {
			case e.Status >= 500 || started:
				level = slog.LevelError
			case e.Status == StatusClientClosedRequest:
				level = slog.LevelInfo
			}
			attrs := []slog.Attr{slog.String("request_id", RequestID(ctx)), slog.String("method", r.Method),
				slog.String("route", routeOf(r.Pattern)), slog.String("path", clip(r.URL.Path, 256)),
				slog.Int("status", e.Status), slog.String("error", e.Code), slog.String("cause", clip(cause.Error(), maxCauseLength))}
			msg := "request failed"
			if started {
				// The client has the start of another answer: this one is
				// not written over it.
				msg = "request failed after its response started"
				attrs = append(attrs, slog.Int("status_sent", st.w.status))
			}
			log.LogAttrs(ctx, level, msg, attrs...)
		}
		if started {
			return
		}
		render(w, e)
	})
}

// RenderAuth writes the Authentication API shape {"error","error_description"}.
func RenderAuth(w http.ResponseWriter, e *Error) {
	body := make(map[string]any, 2+len(e.Extra))
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Code
	body["error_description"] = e.Description
	for k, vs := range e.Header {
		w.Header()[k] = vs
	}
	WriteJSON(w, e.Status, body)
}

// RenderManagement writes the Management API shape
// {"statusCode","error","message","errorCode"}.
func RenderManagement(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		w.Header()[k] = vs
	}
	body := map[string]any{
		"statusCode": e.Status,
		"error":      http.StatusText(e.Status),
		"message":    e.Description,
	}
	if e.Code != "" {
		body["errorCode"] = e.Code
	}
	WriteJSON(w, e.Status, body)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error","error_description":"Internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}
