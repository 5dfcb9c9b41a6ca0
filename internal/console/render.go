package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// page is what every console template gets.
type page struct {
	Title   string
	Nav     string // the section, for the navigation's aria-current
	Email   string
	Role    string
	CSRF    string
	Flash   string // a success message
	Error   string // a refusal, shown with role="alert"
	Data    any
	can     func(string) bool
	Fresh   bool
	Issuer  string
	Request *http.Request
}

// Can reports whether the member holds a Management API scope (templates
// show only the actions the member may take; the API checks again).
func (p page) Can(scope string) bool { return p.can != nil && p.can(scope) }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// q escapes a query value. It is a template.URL so that html/template
	// does not escape it a second time in an href (%3A became %253A: the
	// links to log searches searched for the escapes); QueryEscape's
	// output holds no scheme, so it cannot smuggle one in either.
	"q":    func(s string) template.URL { return template.URL(url.QueryEscape(s)) },
	"add":  func(a, b int) int { return a + b },
	"path": url.PathEscape,
	"join": strings.Join,
	// perDay is how many attempts a refill every ms milliseconds makes in
	// a day.
	"perDay": func(ms int) string {
		if ms <= 0 {
			return "—"
		}
		return strconv.FormatFloat(86400000/float64(ms), 'f', -1, 64)
	},
	"lines": func(s []string) string {
		return strings.Join(s, "\n")
	},
	"contains": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

// render writes a page with status 200 (or status, when given).
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, name string, p page, status ...int) {
	if s != nil {
		p.Email, p.Role, p.CSRF, p.Fresh = s.Email, s.role, s.CSRF, c.fresh(s)
		p.can = func(scope string) bool { return c.can(s, scope) }
	}
	p.Issuer, p.Request = c.d.Issuer, r
	if p.Flash == "" {
		p.Flash = flashFrom(r)
	}
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, p); err != nil {
		c.fail(w, r, fmt.Errorf("console: render %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	code := http.StatusOK
	if len(status) > 0 {
		code = status[0]
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// message shows a short page with a link onward.
func (c *Console) message(w http.ResponseWriter, r *http.Request, status int, title, text, next string) {
	c.render(w, r, nil, "message.html", page{Title: title, Data: map[string]string{"Text": text, "Next": next}}, status)
}

// fail answers an unexpected error: logged, and an opaque page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.d.Log.Error("console", "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console error</title></head><body><main><h1>Something went wrong</h1><p>The error is in the server log.</p><p><a href="/admin/">Back to the console</a></p></main></body></html>`))
}

// refusal is the text of an API refusal, or "" when err is another error.
func refusal(err error) (string, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusForbidden {
			return "Your role does not allow this (" + ae.Message + ").", true
		}
		return ae.Message, true
	}
	return "", false
}

// flashes are the success messages a redirect can name (by key, so that
// a link cannot put words in the console's mouth).
var flashes = map[string]string{
	"saved":        "Saved.",
	"created":      "Created.",
	"deleted":      "Deleted.",
	"enforced":     "Enforcement is on: confidential applications must now authenticate to start a passwordless login.",
	"unenforced":   "Enforcement is off: unauthenticated starts work again and leave deprecation notices.",
	"blocked":      "The user is blocked.",
	"unblocked":    "The user is unblocked.",
	"unlocked":     "The brute-force blocks were removed.",
	"rotated":      "Rotated.",
	"revoked":      "Revoked.",
	"sent":         "The test message is on its way.",
	"ip-unblocked": "The IP address is unblocked.",
	"member":       "The member list is saved.",
}

// redirectFlash goes to path with the success message of key.
func redirectFlash(w http.ResponseWriter, r *http.Request, path, key string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+url.QueryEscape(key), http.StatusSeeOther)
}

func flashFrom(r *http.Request) string { return flashes[r.URL.Query().Get("done")] }

// write makes a change through the Management API as the member: on
// success the browser goes to next with the flash of key; a refusal shows
// the page again (show) with the API's message and status; anything else
// is a failure.
func (c *Console) write(w http.ResponseWriter, r *http.Request, s *session, method, path string, body any,
	show func(msg string, status int), next, key string) {
	err := c.call(r, s, method, path, body, nil)
	if err == nil {
		redirectFlash(w, r, next, key)
		return
	}
	c.refused(w, r, err, show)
}

// refused answers err: a refusal through show with the API's status, any
// other error as a failure.
func (c *Console) refused(w http.ResponseWriter, r *http.Request, err error, show func(msg string, status int)) {
	msg, ok := refusal(err)
	if !ok {
		c.fail(w, r, err)
		return
	}
	status := http.StatusBadRequest
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 {
		status = ae.Status
	}
	show(msg, status)
}
