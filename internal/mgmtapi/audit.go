package mgmtapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/tenant"
)

// audited wraps a route's handler so that every write (any method but GET)
// leaves a tenant log event: sapi when it succeeded, fapi when it failed.
// The event names the route, the caller (the token's subject) and the
// outcome; request bodies are not logged, since they may carry secrets.
func (a *API) audited(pattern string, f httpx.HandlerFunc) httpx.HandlerFunc {
	method, route, _ := strings.Cut(pattern, " ")
	if method == http.MethodGet || a.Events == nil {
		return f
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		// The event is recorded before the answer starts (when the handler
		// writes its success, or when it returns an error for the adapter
		// to render), so that the answer waits until the event is stored
		// (eventlog.Durable).
		aw := &auditWriter{ResponseWriter: w}
		record := func(status int, err error) {
			if aw.recorded {
				return
			}
			aw.recorded = true
			ctx := r.Context()
			peer := httpx.PeerIP(ctx)
			ev := eventlog.FromRequest(r, eventlog.TypeSuccessManagementCall, peer, peer, tenant.Hostname(a.Issuer))
			sub := subject(ctx)
			if email, ok := strings.CutPrefix(sub, MemberSubjectPrefix); ok {
				ev.ClientID, ev.ClientName, ev.UserName = tenant.ConsoleClientID, "Latchkey console", email
			} else {
				ev.ClientID = strings.TrimSuffix(sub, "@clients")
			}
			ev.Description = method + " " + route
			if err != nil {
				ev.Type = eventlog.TypeFailedManagementCall
				status = http.StatusInternalServerError
				var he *httpx.Error
				if errors.As(err, &he) {
					status = he.Status
					ev.Description += ": " + he.Description
				}
			}
			ev.Details = eventlog.Details(map[string]any{
				"request":  map[string]any{"method": r.Method, "path": r.URL.Path, "auth": map[string]string{"subject": sub}},
				"response": map[string]any{"statusCode": status},
			})
			a.Events.Record(ctx, ev)
		}
		aw.record = func() { record(http.StatusOK, nil) }
		err := f(aw, r)
		record(http.StatusOK, err)
		return err
	}
}

// auditWriter records the audit event when the handler starts its answer.
type auditWriter struct {
	http.ResponseWriter
	record   func()
	recorded bool
}

func (w *auditWriter) WriteHeader(code int) {
	w.record()
	w.ResponseWriter.WriteHeader(code)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	w.record()
	return w.ResponseWriter.Write(b)
}

func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
