package authapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/store"
)

// logout is GET /v2/logout: it ends the browser's session, then redirects
// to returnTo when returnTo is one of the application's allowed logout URLs
// (or the tenant's, without client_id); an unlisted returnTo gets an error
// page and the session is kept, so nobody can use logout as an open
// redirect.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	lang := pageLang(r)
	returnTo := q.Get("returnTo")
	var c store.Client
	if id := q.Get("client_id"); id != "" {
		var err error
		c, err = a.Dir.Client(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), "Unknown client: "+clip(id, 64), "invalid_request", err)
		}
		if err != nil {
			return fmt.Errorf("read client: %w", err)
		}
	}
	if returnTo != "" {
		allowed := c.AllowedLogoutURLs
		if c.ClientID == "" {
			settings, err := a.Dir.Settings(ctx)
			if err != nil {
				return fmt.Errorf("read settings: %w", err)
			}
			allowed = settings.AllowedLogoutURLs
		}
		if !logoutURLAllowed(allowed, returnTo) {
			return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"),
				"The returnTo URL is not in the list of allowed logout URLs.", "invalid_request",
				errors.New("returnTo is not an allowed logout URL"))
		}
	}
	if returnTo == "" && len(c.AllowedLogoutURLs) > 0 {
		returnTo = c.AllowedLogoutURLs[0] // Auth0: the application's first logout URL
	}
	u, _, hadSession := a.sessionUser(r)
	if tok := cookieValue(r, sessionCookie); tok != "" {
		if err := a.SSO.EndSession(ctx, tok); err != nil {
			return err
		}
	}
	a.setCookie(w, sessionCookie, "", -1, true)
	if hadSession {
		a.recordBrowser(r, eventlog.TypeSuccessLogout, c, u, "Successful logout", map[string]any{"returnTo": returnTo})
	}
	w.Header().Set("Cache-Control", "no-store")
	if returnTo == "" {
		httpWriteText(w, "OK")
		return nil
	}
	http.Redirect(w, r, returnTo, http.StatusFound)
	return nil
}

// logoutURLAllowed reports whether returnTo is an allowed logout URL, as
// Auth0 compares them: the query and fragment of returnTo do not count, the
// scheme and host are compared case-insensitively, the path exactly. (No
// wildcards: a listed URL names one place.)
func logoutURLAllowed(allowed []string, returnTo string) bool {
	base := func(raw string) (string, bool) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http" && !strings.Contains(u.Scheme, ".")) {
			return "", false
		}
		return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath(), true
	}
	want, ok := base(returnTo)
	if !ok {
		return false
	}
	return slices.ContainsFunc(allowed, func(a string) bool {
		got, ok := base(a)
		return ok && got == want
	})
}

func httpWriteText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(s))
}
