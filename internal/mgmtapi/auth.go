package mgmtapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/tenant"
)

// claims are the access-token claims the Management API checks.
type claims struct {
	Iss   string          `json:"iss"`
	Sub   string          `json:"sub"`
	Aud   json.RawMessage `json:"aud"`
	Exp   int64           `json:"exp"`
	Nbf   int64           `json:"nbf"`
	Scope string          `json:"scope"`
}

func (c claims) audiences() []string {
	var auds []string
	if json.Unmarshal(c.Aud, &auds) == nil {
		return auds
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	return nil
}

func unauthorized(msg, code string) *httpx.Error {
	e := httpx.Errorf(http.StatusUnauthorized, code, "%s", msg)
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="` + "Management API" + `"`}}
	return e
}

// authorize wraps f: the request must carry a valid Management API access
// token with any of the scopes (none: any valid token).
func (a *API) authorize(pattern string, scopes []string, f httpx.HandlerFunc) httpx.HandlerFunc {
	return a.authorizeScopes(pattern, scopes, false, f)
}

// authorizeScopes is authorize; with every, the token (or the member)
// needs all of the scopes.
func (a *API) authorizeScopes(pattern string, scopes []string, every bool, f httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if m, ok := r.Context().Value(memberKey{}).(Member); ok {
			// A console member's call, made in process (never set from
			// the network: the key is this package's). A write the
			// member's role does not allow is refused and, as any failed
			// write, logged (fapi) naming the member.
			r = r.WithContext(context.WithValue(r.Context(), subjectKey{}, MemberSubjectPrefix+m.Email))
			if err := checkScopes(scopes, every, m.Scopes); err != nil {
				return a.audited(pattern, func(http.ResponseWriter, *http.Request) error { return err })(w, r)
			}
			return f(w, r)
		}
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return unauthorized("Missing authentication", "")
		}
		payload, err := a.Keys.Verify(tok)
		if err != nil {
			return unauthorized("Invalid token", "invalid_token")
		}
		var c claims
		if err := json.Unmarshal(payload, &c); err != nil {
			return unauthorized("Invalid token", "invalid_token")
		}
		now := a.Now().Unix()
		switch {
		case c.Iss != a.Issuer:
			return unauthorized("Bad issuer", "invalid_token")
		case !slices.Contains(c.audiences(), tenant.ManagementAudience(a.Issuer)):
			return unauthorized("Bad audience", "invalid_token")
		case c.Exp == 0 || now >= c.Exp:
			return unauthorized("Expired token received for JSON Web Token validation", "token_expired")
		case c.Nbf != 0 && now < c.Nbf:
			return unauthorized("Token is not valid yet", "invalid_token")
		}
		if err := checkScopes(scopes, every, strings.Fields(c.Scope)); err != nil {
			return err
		}
		return f(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, c.Sub)))
	}
}

// checkScopes is nil when granted holds any of scopes (none: nothing is
// needed) or, with every, all of them; otherwise Auth0's 403.
func checkScopes(scopes []string, every bool, granted []string) error {
	has := func(s string) bool { return slices.Contains(granted, s) }
	lacks := func(s string) bool { return !has(s) }
	switch {
	case every && slices.ContainsFunc(scopes, lacks):
		return httpx.Errorf(http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected all of: %s", strings.Join(scopes, ","))
	case !every && len(scopes) > 0 && !slices.ContainsFunc(scopes, has):
		return httpx.Errorf(http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected any of: %s", strings.Join(scopes, ","))
	}
	return nil
}

type subjectKey struct{}

// subject is the sub claim of the request's access token.
func subject(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}

// Member is an operator-console member calling the API in process.
type Member struct {
	Email  string
	Scopes []string
}

type memberKey struct{}

// MemberSubjectPrefix starts the audit subject of a console member's call.
const MemberSubjectPrefix = "console|"

// AsMember returns ctx for a console member's in-process call: the routes
// take it in place of an access token, with the member's scopes, and the
// tenant log names the member.
func AsMember(ctx context.Context, m Member) context.Context {
	return context.WithValue(ctx, memberKey{}, m)
}
