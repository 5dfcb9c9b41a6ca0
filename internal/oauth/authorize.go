package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// AuthzCodeLifetime is how long an authorization code can be exchanged.
const AuthzCodeLifetime = 10 * time.Minute

// KindAuthzCode is the ephemeral-record kind of authorization codes.
const KindAuthzCode = "authz_code"

// Response modes.
const (
	ModeQuery      = "query"
	ModeFragment   = "fragment"
	ModeFormPost   = "form_post"
	ModeWebMessage = "web_message"
)

// AuthorizeRequest is a validated authorization request: its client is
// known and its redirect_uri registered, so any later error goes back to the
// application (a RedirectError) rather than to an error page.
type AuthorizeRequest struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	ResponseType  string `json:"response_type"` // normalised: "code", "id_token token", …
	ResponseMode  string `json:"response_mode"`
	State         string `json:"state,omitempty"`
	Nonce         string `json:"nonce,omitempty"`
	Scope         string `json:"scope,omitempty"`
	Audience      string `json:"audience,omitempty"`
	CodeChallenge string `json:"code_challenge,omitempty"` // S256
	Prompt        string `json:"prompt,omitempty"`
	Connection    string `json:"connection,omitempty"`
	LoginHint     string `json:"login_hint,omitempty"`
	// NoRefresh: the login came through a magic link, which never yields
	// refresh tokens (spec §4.1), not even through the code it returns.
	NoRefresh bool `json:"no_refresh,omitempty"`
}

// Has reports whether the response type includes t (code, token, id_token).
func (r AuthorizeRequest) Has(t string) bool {
	return slices.Contains(strings.Fields(r.ResponseType), t)
}

// PageError is an authorization request that cannot be answered by
// redirecting: the client is unknown or the redirect_uri is not registered,
// so the user gets an error page (never a redirect to an unchecked URL).
type PageError struct {
	Code        string
	Description string
	// Mismatch is set when the redirect_uri is not one of the client's
	// callbacks (Auth0's "Callback URL mismatch"), which the page names.
	Mismatch bool
}

func (e *PageError) Error() string { return e.Code + ": " + e.Description }

// RedirectError is an authorization error reported to the application at its
// (registered) redirect_uri.
type RedirectError struct {
	Code        string
	Description string
}

func (e *RedirectError) Error() string { return e.Code + ": " + e.Description }

// Callback mismatch text, as Auth0 words it.
const callbackMismatch = "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs."

// MatchRedirectURI reports whether uri is one of the registered URLs. The
// match is exact (byte for byte, after nothing): no wildcards, no prefix or
// path tolerance, no case folding, so that no registered URL can be turned
// into an open redirect. uri must also be an absolute http(s) URL without a
// fragment, and http only for loopback hosts or when registered so.
func MatchRedirectURI(registered []string, uri string) bool {
	if uri == "" || len(uri) > 2048 || !slices.Contains(registered, uri) {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Fragment != "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https", "http":
		return true
	}
	// Custom schemes of native apps (com.example.app://callback).
	return strings.Contains(u.Scheme, ".")
}

// Origin is the scheme://host[:port] of an absolute URL, "" if it has none.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// AllowedOrigin reports whether origin may call the client's browser APIs:
// it is listed in web_origins or allowed_origins, or is the origin of a
// registered callback.
func AllowedOrigin(c store.Client, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	origin = strings.ToLower(strings.TrimSuffix(origin, "/"))
	for _, list := range [][]string{c.WebOrigins, c.AllowedOrigins} {
		for _, o := range list {
			if strings.ToLower(strings.TrimSuffix(o, "/")) == origin {
				return true
			}
		}
	}
	for _, cb := range c.Callbacks {
		if Origin(cb) == origin {
			return true
		}
	}
	return false
}

// InWebOrigins reports whether origin is one of the client's Allowed Web
// Origins, which response_mode=web_message requires.
func InWebOrigins(c store.Client, origin string) bool {
	return origin != "" && slices.ContainsFunc(c.WebOrigins, func(o string) bool {
		return strings.EqualFold(strings.TrimSuffix(o, "/"), origin)
	})
}

// ParseAuthorize validates the parameters of /authorize (or of a link or
// hosted-login transaction that carries them) for client c. The client and
// redirect_uri checks come first and fail with a PageError; everything after
// them fails with a RedirectError.
func ParseAuthorize(c store.Client, q url.Values) (AuthorizeRequest, error) {
	r := AuthorizeRequest{ClientID: c.ClientID, RedirectURI: q.Get("redirect_uri")}
	if r.RedirectURI == "" {
		return r, &PageError{Code: "invalid_request", Description: "Missing required parameter: redirect_uri"}
	}
	if !MatchRedirectURI(c.Callbacks, r.RedirectURI) {
		return r, &PageError{Code: "invalid_request", Description: callbackMismatch, Mismatch: true}
	}
	// Errors found from here on are delivered in the requested mode when it
	// can carry them (web_message in particular: an iframe waits for it).
	web := strings.HasPrefix(r.RedirectURI, "https://") || strings.HasPrefix(r.RedirectURI, "http://")
	switch m := q.Get("response_mode"); {
	case m == ModeWebMessage && web && InWebOrigins(c, Origin(r.RedirectURI)), m == ModeFormPost && web:
		r.ResponseMode = m
	}
	for k, dst := range map[string]*string{"state": &r.State, "nonce": &r.Nonce, "scope": &r.Scope, "audience": &r.Audience,
		"prompt": &r.Prompt, "connection": &r.Connection, "login_hint": &r.LoginHint} {
		*dst = q.Get(k)
	}
	if r.Audience == "" {
		r.Audience = q.Get("resource")
	}
	for k, v := range q {
		if len(v) > 1 && k != "scope" {
			return r, &RedirectError{"invalid_request", fmt.Sprintf("Parameter %s must be given once", k)}
		}
		for _, s := range v {
			if len(s) > 2048 {
				return r, &RedirectError{"invalid_request", fmt.Sprintf("Parameter %s is too long", k)}
			}
		}
	}

	rt := q.Get("response_type")
	if rt == "" {
		return r, &RedirectError{"invalid_request", "Missing required parameter: response_type"}
	}
	types := strings.Fields(rt)
	slices.Sort(types)
	types = slices.Compact(types)
	for _, t := range types {
		if t != "code" && t != "token" && t != "id_token" {
			return r, &RedirectError{"unsupported_response_type", fmt.Sprintf("Unsupported response type: %s", rt)}
		}
	}
	// Canonical order: code, id_token, token.
	r.ResponseType = strings.Join(types, " ")
	if r.Has("code") && !tenant.HasGrant(c, tenant.GrantAuthorizationCode) {
		return r, &RedirectError{"unauthorized_client", "Grant type 'authorization_code' not allowed for the client."}
	}
	if (r.Has("token") || r.Has("id_token")) && !tenant.HasGrant(c, tenant.GrantImplicit) {
		return r, &RedirectError{"unauthorized_client", "Grant type 'implicit' not allowed for the client."}
	}

	r.ResponseMode = q.Get("response_mode")
	if (r.ResponseMode == ModeFormPost || r.ResponseMode == ModeWebMessage) && !web {
		r.ResponseMode = ""
		return r, &RedirectError{"invalid_request", "response_mode " + q.Get("response_mode") + " needs an http(s) redirect_uri"}
	}
	switch r.ResponseMode {
	case "":
		r.ResponseMode = ModeFragment
		if r.ResponseType == "code" {
			r.ResponseMode = ModeQuery
		}
	case ModeQuery:
		if r.ResponseType != "code" {
			// Tokens in a query string end up in server logs and Referer headers.
			return r, &RedirectError{"invalid_request", "response_mode=query is not allowed with response_type " + r.ResponseType}
		}
	case ModeFragment, ModeFormPost:
	case ModeWebMessage:
		if !InWebOrigins(c, Origin(r.RedirectURI)) {
			return r, &PageError{Code: "invalid_request", Description: "The origin of redirect_uri is not in the application's Allowed Web Origins, required for response_mode=web_message."}
		}
	default:
		return r, &RedirectError{"invalid_request", fmt.Sprintf("Unsupported response_mode: %s", r.ResponseMode)}
	}
	if r.Has("id_token") && r.Nonce == "" {
		return r, &RedirectError{"invalid_request", "Missing required parameter: nonce (required when response_type includes id_token)"}
	}
	if ch := q.Get("code_challenge"); ch != "" {
		switch q.Get("code_challenge_method") {
		case "S256":
		case "", "plain":
			return r, &RedirectError{"invalid_request", "code_challenge_method must be S256"}
		default:
			return r, &RedirectError{"invalid_request", "Unsupported code_challenge_method: " + q.Get("code_challenge_method")}
		}
		if len(ch) != 43 || strings.Trim(ch, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return r, &RedirectError{"invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)"}
		}
		r.CodeChallenge = ch
	} else if q.Get("code_challenge_method") != "" {
		return r, &RedirectError{"invalid_request", "Missing required parameter: code_challenge"}
	}
	switch r.Prompt {
	case "", "none", "login", "consent", "select_account":
	default:
		return r, &RedirectError{"invalid_request", "Unsupported prompt: " + r.Prompt}
	}
	return r, nil
}

// authzCode is what an authorization code stands for.
type authzCode struct {
	RedirectURI   string `json:"redirect_uri"`
	Scope         string `json:"scope"`
	Audience      string `json:"audience,omitempty"`
	Nonce         string `json:"nonce,omitempty"`
	CodeChallenge string `json:"code_challenge,omitempty"`
	AuthTime      int64  `json:"auth_time"`
}

// Authorized answers an authorization request for a logged-in user: the
// code and/or tokens the response type asks for, with the state echoed.
// The caller delivers them in the request's response mode, and sends a
// refusal (ErrUnknownAudience) to the application's callback too.
func (s *Service) Authorized(ctx context.Context, c store.Client, r AuthorizeRequest, u store.User, authTime time.Time) (url.Values, error) {
	now := s.now()
	api, err := s.resolveAudience(ctx, r.Audience)
	if err != nil {
		return nil, err
	}
	scopes := grantedScopes(c, strings.Fields(r.Scope), api)
	if r.NoRefresh || !r.Has("code") {
		// Refresh tokens come only from a code exchange, and never for links.
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == "offline_access" })
	}
	out := url.Values{}
	var code, access string
	if r.Has("code") {
		code = secret.Token(32)
		data, _ := json.Marshal(authzCode{RedirectURI: r.RedirectURI, Scope: strings.Join(scopes, " "), Audience: r.Audience,
			Nonce: r.Nonce, CodeChallenge: r.CodeChallenge, AuthTime: authTime.Unix()})
		if err := s.st.PutEphemeral(ctx, store.Ephemeral{Kind: KindAuthzCode, Hash: s.authzCodeHash(code), ClientID: c.ClientID,
			Subject: u.UserID, Data: data, CreatedAt: now, ExpiresAt: now.Add(AuthzCodeLifetime)}); err != nil {
			return nil, fmt.Errorf("store authorization code: %w", err)
		}
		out.Set("code", code)
	}
	if r.Has("token") {
		// The authorization endpoint's own tokens never carry offline_access.
		scopes := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "offline_access" })
		resp, err := s.accessToken(ctx, c, u, api, scopes, now)
		if err != nil {
			return nil, err
		}
		access = resp.AccessToken
		out.Set("access_token", access)
		out.Set("token_type", "Bearer")
		out.Set("expires_in", fmt.Sprint(resp.ExpiresIn))
		out.Set("scope", strings.Join(scopes, " "))
	}
	if r.Has("id_token") {
		idt, err := s.mint.IDToken(ctx, u, c, scopes, IDExtras{Nonce: r.Nonce, AuthTime: authTime,
			AccessToken: access, Code: code}, now)
		if err != nil {
			return nil, err
		}
		out.Set("id_token", idt)
	}
	if r.State != "" {
		out.Set("state", r.State)
	}
	return out, nil
}

func (s *Service) authzCodeHash(code string) []byte { return s.seal.Hash(KindAuthzCode, code) }

// authorizationCodeGrant exchanges an authorization code (RFC 6749 §4.1.3,
// with PKCE, RFC 7636).
func (s *Service) authorizationCodeGrant(ctx context.Context, call grantCall) (*TokenResponse, error) {
	client, authenticated, p, au := call.client, call.authenticated, call.params, call.audit
	if !tenant.HasGrant(client, tenant.GrantAuthorizationCode) {
		return nil, refusal(ErrGrantNotAllowed, tenant.GrantAuthorizationCode)
	}
	code := str(p, "code")
	if code == "" {
		return nil, missing("code")
	}
	verifier := str(p, "code_verifier")
	now := s.now()
	e, err := s.st.TakeEphemeral(ctx, KindAuthzCode, s.authzCodeHash(code), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown, used or expired", ErrBadAuthzCode)
	}
	if err != nil {
		return nil, fmt.Errorf("take authorization code: %w", err)
	}
	var ac authzCode
	if err := json.Unmarshal(e.Data, &ac); err != nil {
		return nil, fmt.Errorf("decode authorization code: %w", err)
	}
	au.Audience, au.Scope = ac.Audience, ac.Scope
	if e.ClientID != client.ClientID {
		return nil, fmt.Errorf("%w: issued to another client", ErrBadAuthzCode)
	}
	if ru := str(p, "redirect_uri"); ru != ac.RedirectURI {
		return nil, ErrRedirectMismatch
	}
	switch {
	case ac.CodeChallenge != "":
		if verifier == "" {
			return nil, missing("code_verifier")
		}
		sum := sha256.Sum256([]byte(verifier))
		if !secret.Equal([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.CodeChallenge)) {
			return nil, ErrPKCEFailed
		}
	case !authenticated:
		// A public client without PKCE: anyone holding the code could use it.
		return nil, ErrPKCERequired
	}
	u, err := s.st.GetUser(ctx, e.Subject)
	au.User = u
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: its user is gone", ErrBadAuthzCode)
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if u.Blocked {
		return nil, ErrUserBlocked
	}
	api, err := s.resolveAudience(ctx, ac.Audience)
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, client, u, api, strings.Fields(ac.Scope), issueOptions{nonce: ac.Nonce, authTime: time.Unix(ac.AuthTime, 0)})
}
