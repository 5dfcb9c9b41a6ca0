package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Record kinds and cookies.
const (
	kindSession = "console_session"
	kindSignIn  = "console_signin"

	sessionCookie = "latchkey_admin"
	signInCookie  = "latchkey_admin_signin"
	cookiePath    = "/admin"
)

// session is a signed-in member's console session.
type session struct {
	Email    string    `json:"email"`
	CSRF     string    `json:"csrf"`
	AuthTime time.Time `json:"auth_time"` // when the member last entered a code
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`

	token string // the cookie value (not stored)
	role  string // read from the member list on each request
}

// signIn is a sign-in on its way through the hosted page.
type signIn struct {
	Verifier string `json:"verifier"` // PKCE
	Nonce    string `json:"nonce"`
	Return   string `json:"return"`
}

func (c *Console) hash(kind, tok string) []byte { return c.d.Keys.Hash("console", kind, tok) }

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true, Secure: strings.HasPrefix(c.d.Issuer, "https://"),
		SameSite: http.SameSiteStrictMode}
	switch {
	case maxAge > 0:
		ck.MaxAge = int(maxAge / time.Second)
	case maxAge < 0:
		ck.MaxAge = -1
	}
	if name == signInCookie {
		// It must come back on the redirect from the hosted page, a
		// navigation started on Latchkey's own origin: Lax is enough, and
		// Strict would be dropped by browsers that count the redirect
		// chain's first hop.
		ck.SameSite = http.SameSiteLaxMode
	}
	http.SetCookie(w, ck)
}

// current returns the request's live session and the member's role; ok is
// false when there is none, it timed out, or its member was removed.
func (c *Console) current(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(ck.Value) < 20 || len(ck.Value) > 100 {
		return nil, false
	}
	now := c.d.Now()
	e, err := c.d.Store.GetEphemeral(r.Context(), kindSession, c.hash(kindSession, ck.Value), now)
	if err != nil {
		return nil, false
	}
	var s session
	if json.Unmarshal(e.Data, &s) != nil || now.Sub(s.LastSeen) >= IdleTimeout || now.Sub(s.Created) >= AbsoluteTimeout {
		return nil, false
	}
	st, err := c.d.Settings.Settings(r.Context())
	if err != nil {
		return nil, false
	}
	s.role = tenant.MemberRole(st.Latchkey.Members, s.Email)
	if s.role == "" {
		return nil, false
	}
	s.token = ck.Value
	if now.Sub(s.LastSeen) > time.Minute {
		// Slide the idle timeout (at most once a minute: a rewrite).
		s.LastSeen = now
		_ = c.d.Store.DeleteEphemeral(r.Context(), kindSession, c.hash(kindSession, s.token))
		_ = c.putSession(r.Context(), &s) // a concurrent request may have rewritten it first
	}
	return &s, true
}

func (c *Console) putSession(ctx context.Context, s *session) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("console: encode session: %w", err)
	}
	exp := s.LastSeen.Add(IdleTimeout)
	if abs := s.Created.Add(AbsoluteTimeout); abs.Before(exp) {
		exp = abs
	}
	return c.d.Store.PutEphemeral(ctx, store.Ephemeral{Kind: kindSession, Hash: c.hash(kindSession, s.token), ClientID: tenant.ConsoleClientID,
		Subject: s.Email, Data: data, CreatedAt: s.Created, ExpiresAt: exp})
}

// startSession signs email in (replacing any session the browser had).
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, email string, authTime time.Time) error {
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = c.d.Store.DeleteEphemeral(r.Context(), kindSession, c.hash(kindSession, old.Value))
	}
	now := c.d.Now()
	s := &session{Email: email, CSRF: secret.Token(24), AuthTime: authTime, Created: now, LastSeen: now, token: secret.Token(32)}
	if err := c.putSession(r.Context(), s); err != nil {
		return err
	}
	c.setCookie(w, sessionCookie, s.token, 0) // a browser-session cookie; the server enforces the timeouts
	return nil
}

// fresh reports whether the member entered a code within FreshFor.
func (c *Console) fresh(s *session) bool { return c.d.Now().Sub(s.AuthTime) < FreshFor }

// checkCSRF checks a POST's token and origin.
func (c *Console) checkCSRF(r *http.Request, s *session) bool {
	if o := r.Header.Get("Origin"); o != "" && o != originOf(c.d.Issuer) {
		return false
	}
	return secret.Equal([]byte(r.PostFormValue("csrf")), []byte(s.CSRF))
}

// originOf is the scheme://host of an absolute URL.
func originOf(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(scheme) + "://" + strings.ToLower(host)
}

// Role scopes: a viewer reads; an editor changes applications,
// connections, users, APIs, grants, branding and attack protection; an
// owner may do everything, tenant settings (enforcement, members) and
// signing keys included.
func (c *Console) scopes(role string) []string {
	var out []string
	for _, s := range c.d.Scopes {
		switch {
		case role == tenant.RoleOwner,
			strings.HasPrefix(s, "read:"),
			role == tenant.RoleEditor && !strings.Contains(s, "tenant_settings") && !strings.Contains(s, "signing_keys"):
			out = append(out, s)
		}
	}
	return out
}

// can reports whether the role holds scope.
func (c *Console) can(s *session, scope string) bool { return slices.Contains(c.scopes(s.role), scope) }
