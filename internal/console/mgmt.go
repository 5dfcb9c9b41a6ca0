package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/latchkey/latchkey/internal/mgmtapi"
)

// apiError is a Management API error answer.
type apiError struct {
	Status  int    `json:"statusCode"`
	Message string `json:"message"`
	Code    string `json:"errorCode"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// call makes a Management API call as the member, in process, through the
// API's own handlers (scopes, validation, audit), and decodes a success
// answer into out (when not nil). A refusal is an *apiError.
func (c *Console) call(r *http.Request, s *session, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("console: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	ctx := mgmtapi.AsMember(r.Context(), mgmtapi.Member{Email: s.Email, Scopes: c.scopes(s.role)})
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("User-Agent", r.Header.Get("User-Agent"))
	rec := newRecorder()
	c.d.Mgmt.ServeHTTP(rec, req)
	if rec.status >= 300 {
		e := &apiError{Status: rec.status}
		if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Message == "" {
			e.Message = http.StatusText(rec.status)
		}
		e.Status = rec.status
		return e
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("console: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}
