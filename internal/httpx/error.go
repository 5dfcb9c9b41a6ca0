// Package httpx is Latchkey's shared HTTP plumbing: the error-returning
// handler adapter, the Error type with its Authentication API and Management
// API renderings, request decoding and middleware.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is an error that reaches the client as it is.
type Error struct {
	Status      int
	Code        string // Authentication API "error"; Management API "errorCode"
	Description string
	// Extra fields added to the Authentication API body (e.g. error_uri).
	Extra map[string]any
	// Header values set on the response.
	Header http.Header
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

// HandlerFunc is an HTTP handler that returns an error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Renderer writes an *Error in one API's shape.
type Renderer func(w http.ResponseWriter, e *Error)

// Handle adapts h: an *Error is rendered with render; any other error becomes
// an opaque 500 that is logged with the request id.
func Handle(log *slog.Logger, render Renderer, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *Error
		if !errors.As(err, &he) {
			log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
				"method", r.Method, "path", r.URL.Path, "err", err)
			he = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Internal error"}
		}
		render(w, he)
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
