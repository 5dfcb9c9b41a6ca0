package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// signInLifetime bounds a sign-in's trip through the hosted page.
const signInLifetime = 15 * time.Minute

// safeReturn is where to go after signing in: a console path, else the
// overview.
func safeReturn(p string) string {
	if !strings.HasPrefix(p, "/admin/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/admin/"
	}
	return p
}

// login starts a sign-in: the hosted page, email code, prompt=login (a
// fresh code every time, which is also the step-up for dangerous actions).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state, verifier, nonce := secret.Token(24), secret.Token(32), secret.Token(16)
	data, _ := json.Marshal(signIn{Verifier: verifier, Nonce: nonce, Return: safeReturn(q.Get("return"))})
	now := c.d.Now()
	if err := c.d.Store.PutEphemeral(r.Context(), store.Ephemeral{Kind: kindSignIn, Hash: c.hash(kindSignIn, state),
		ClientID: tenant.ConsoleClientID, Data: data, CreatedAt: now, ExpiresAt: now.Add(signInLifetime)}); err != nil {
		c.fail(w, r, fmt.Errorf("console: store sign-in: %w", err))
		return
	}
	c.setCookie(w, signInCookie, state, signInLifetime)
	sum := sha256.Sum256([]byte(verifier))
	v := url.Values{"client_id": {tenant.ConsoleClientID}, "response_type": {"code"},
		"redirect_uri": {c.d.Issuer + tenant.ConsoleCallbackPath}, "scope": {"openid email"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"connection": {"email"}, "prompt": {"login"}}
	if h := q.Get("login_hint"); h != "" && len(h) <= 254 {
		v.Set("login_hint", h)
	}
	http.Redirect(w, r, c.d.Issuer+"authorize?"+v.Encode(), http.StatusFound)
}

// callback finishes a sign-in: the code is exchanged in process, the ID
// token checked, and the email must be a member's.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(signInCookie)
	if err != nil || state == "" || !secret.Equal([]byte(ck.Value), []byte(state)) {
		c.message(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was not started in this browser, or took too long. Start again.", "/admin/login")
		return
	}
	c.setCookie(w, signInCookie, "", -1)
	e, err := c.d.Store.TakeEphemeral(r.Context(), kindSignIn, c.hash(kindSignIn, state), c.d.Now())
	if err != nil {
		c.message(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was already used or took too long. Start again.", "/admin/login")
		return
	}
	var si signIn
	if err := json.Unmarshal(e.Data, &si); err != nil {
		c.fail(w, r, fmt.Errorf("console: decode sign-in: %w", err))
		return
	}
	if msg := q.Get("error_description"); q.Get("error") != "" {
		c.message(w, r, http.StatusForbidden, "Sign-in failed", msg, "/admin/login")
		return
	}
	email, authTime, err := c.exchange(r, q.Get("code"), si)
	if err != nil {
		c.d.Log.Warn("console: sign-in refused", "err", err)
		c.message(w, r, http.StatusForbidden, "Sign-in failed", "The sign-in could not be completed. Start again.", "/admin/login")
		return
	}
	st, err := c.d.Settings.Settings(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if tenant.MemberRole(st.Latchkey.Members, email) == "" {
		c.message(w, r, http.StatusForbidden, "Not a console member",
			email+" is not a member of this tenant's console. An owner can add you (latchkey members add "+email+" --role viewer).", "/admin/login")
		return
	}
	if err := c.startSession(w, r, email, authTime); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, si.Return, http.StatusFound)
}

// exchange redeems the authorization code at the token endpoint, in
// process, and returns the verified ID token's email and auth_time.
func (c *Console) exchange(r *http.Request, code string, si signIn) (string, time.Time, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {tenant.ConsoleClientID}, "code": {code},
		"redirect_uri": {c.d.Issuer + tenant.ConsoleCallbackPath}, "code_verifier": {si.Verifier}}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = r.RemoteAddr
	rec := newRecorder()
	c.d.Auth.ServeHTTP(rec, req)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if rec.status != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &tok) != nil || tok.IDToken == "" {
		return "", time.Time{}, fmt.Errorf("console: code exchange: %d %s", rec.status, clip(rec.body.String(), 200))
	}
	payload, err := c.d.Verify(tok.IDToken)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("console: ID token: %w", err)
	}
	var cl struct {
		Iss           string          `json:"iss"`
		Aud           json.RawMessage `json:"aud"`
		Exp           int64           `json:"exp"`
		Nonce         string          `json:"nonce"`
		Email         string          `json:"email"`
		EmailVerified bool            `json:"email_verified"`
		AuthTime      int64           `json:"auth_time"`
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return "", time.Time{}, fmt.Errorf("console: ID token claims: %w", err)
	}
	var auds []string
	if json.Unmarshal(cl.Aud, &auds) != nil {
		var one string
		_ = json.Unmarshal(cl.Aud, &one)
		auds = []string{one}
	}
	now := c.d.Now()
	switch {
	case cl.Iss != c.d.Issuer, !slices.Contains(auds, tenant.ConsoleClientID), now.Unix() >= cl.Exp:
		return "", time.Time{}, errors.New("console: ID token issuer, audience or expiry")
	case !secret.Equal([]byte(cl.Nonce), []byte(si.Nonce)):
		return "", time.Time{}, errors.New("console: ID token nonce")
	case cl.Email == "" || !cl.EmailVerified:
		return "", time.Time{}, errors.New("console: no verified email")
	}
	at := now
	if cl.AuthTime > 0 {
		at = time.Unix(cl.AuthTime, 0)
	}
	return strings.ToLower(cl.Email), at, nil
}

// logout ends the session (a POST with the CSRF token).
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	_ = c.d.Store.DeleteEphemeral(r.Context(), kindSession, c.hash(kindSession, s.token))
	c.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/admin/signed-out", http.StatusSeeOther)
}

// recorder is an in-process ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) { r.status = code }

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
