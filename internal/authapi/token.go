package authapi

import (
	"errors"
	"net/http"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	p, creds, err := a.clientRequest(w, r)
	if err != nil {
		return err
	}
	var au oauth.Audit
	admitted := false
	admit := func(ip string, authenticated bool, c store.Client) error {
		admitted = true
		return a.limit(w, r, protect.Token, ip, c, authenticated)
	}
	resp, err := a.Tokens.Token(r.Context(), oauth.TokenRequest{Params: p, Creds: creds,
		PeerIP: httpx.PeerIP(r.Context()), ForwardedFor: r.Header.Get("Auth0-Forwarded-For"), Audit: &au, Admit: admit})
	err = apierr.Answer(apierr.Token, err)
	if err != nil && !admitted {
		// Refused before the limit (unknown client, wrong credentials):
		// count it against the caller's address all the same.
		if lerr := a.limit(w, r, protect.Token, httpx.PeerIP(r.Context()), au.Client, false); lerr != nil {
			err = lerr
		}
	}
	a.recordToken(r, &au, err)
	if err != nil {
		return err
	}
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// recordToken writes the tenant log events of a token request, of the
// types the grant's handler states (oauth.TokenEvents): for the passwordless
// grant ss then s for a login that signed the user up, s for a login,
// fepotpft for a failed one; sertft/fertft for refresh tokens,
// seacft/feacft for authorization codes and seccft/feccft for client
// credentials. Requests for grant types the token endpoint does not
// exchange are not logged.
func (a *API) recordToken(r *http.Request, au *oauth.Audit, err error) {
	success, failure, ok := oauth.TokenEvents(au.Grant)
	if !ok {
		return
	}
	ctx := r.Context()
	ev := eventlog.WithClient(eventlog.FromRequest(r, success, au.IP, httpx.PeerIP(ctx), a.Hostname), au.Client)
	ev.Audience, ev.Scope = au.Audience, au.Scope
	// Only the grants that log in with a connection (passwordless) fill
	// these in; for the others they stay empty.
	ev.Connection, ev.UserName = au.Connection, au.Username
	if au.Strategy != "" {
		ev.Strategy, ev.StrategyType = au.Strategy, "passwordless"
	}
	if au.User.UserID != "" {
		ev.UserID = au.User.UserID
		ev.UserName = au.User.Identifier
		ev.Connection = au.User.Connection
	}
	a.observeLogin(ev.Connection, tenant.GrantMetric(au.Grant), err == nil)
	if err != nil {
		ev.Type = failure
		var he *httpx.Error
		if errors.As(err, &he) {
			ev.Description = he.Description
			ev.Details = eventlog.Details(map[string]any{"error": map[string]string{"message": he.Description, "oauthError": he.Code}})
		} else {
			ev.Description = "Internal error"
		}
		a.record(ctx, ev)
		return
	}
	if au.Created {
		su := ev
		su.Type, su.Description = eventlog.TypeSuccessSignup, eventlog.DescSignup
		a.record(ctx, su)
	}
	if ev.Type == eventlog.TypeSuccessLogin {
		ev.Description = eventlog.DescSuccessLogin
	}
	a.record(ctx, ev)
}

// clientCredentials reads the client's credentials from the body or HTTP
// Basic, as the token and revocation endpoints take them.
// clientRequest reads the body of a request to the token or revocation
// endpoint and the client credentials in it (or in HTTP Basic), answering
// CORS for the calling origin: for any application's origin until the
// client is known, then for the client's own (an unknown client allows
// none).
func (a *API) clientRequest(w http.ResponseWriter, r *http.Request) (httpx.Body, oauth.ClientCredentials, error) {
	browser := r.Header.Get("Origin") != ""
	if browser {
		a.corsAnyClient(w, r) // readable errors before the client is known
	}
	p, err := httpx.ReadBody(r, "invalid_request")
	if err != nil {
		return p, oauth.ClientCredentials{}, err
	}
	creds, err := clientCredentials(r, p)
	if err != nil {
		return p, creds, err
	}
	if cid := creds.ClientID; cid != "" && browser {
		c, err := a.Dir.Client(r.Context(), cid)
		if err != nil {
			c = store.Client{} // unknown: no origin is allowed
		}
		a.cors(w, r, c)
	}
	return p, creds, nil
}

func clientCredentials(r *http.Request, p httpx.Body) (oauth.ClientCredentials, error) {
	id, err := p.String("client_id")
	if err != nil {
		return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	sec, err := p.String("client_secret")
	if err != nil {
		return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	// An empty secret counts as none (x/oauth2 sends "id:" in Basic for public clients).
	creds := oauth.ClientCredentials{ClientID: id, Secret: sec, HasSecret: sec != ""}
	if bid, bsec, rawSec, ok := basicAuth(r); ok {
		if creds.HasSecret {
			return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "Use one client authentication method: HTTP Basic or client_secret in the body, not both")
		}
		if id != "" && id != bid {
			return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "client_id in the body does not match the HTTP Basic credentials")
		}
		creds = oauth.ClientCredentials{ClientID: bid, Secret: bsec, RawSecret: rawSec, HasSecret: bsec != "", ViaBasic: true}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_assertion", &creds.Assertion}, {"client_assertion_type", &creds.AssertionType}} {
		if *f.dst, err = p.String(f.key); err != nil {
			return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
		}
	}
	if creds.Assertion != "" {
		if creds.HasSecret {
			return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "Use one client authentication method: client_assertion or a client secret, not both")
		}
		if creds.AssertionType != oauth.ClientAssertionType {
			return oauth.ClientCredentials{}, httpx.Errorf(http.StatusBadRequest, "invalid_request", "client_assertion_type must be %s", oauth.ClientAssertionType)
		}
	}
	return creds, nil
}

// revoke is POST /oauth/revoke (Auth0's refresh-token revocation): 200 with
// an empty body, also for a token that is unknown or not the client's.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) error {
	p, creds, err := a.clientRequest(w, r)
	if err != nil {
		return err
	}
	tok, err := p.String("token")
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	if err := a.limit(w, r, protect.Token, httpx.PeerIP(r.Context()), store.Client{ClientID: creds.ClientID}, false); err != nil {
		return err
	}
	rv, err := a.Tokens.Revoke(r.Context(), creds, tok)
	if err := apierr.Answer(apierr.Token, err); err != nil {
		return err
	}
	if rv.Revoked > 0 {
		// srrt, as Auth0 logs a revocation; nothing for a token that was
		// unknown, not the client's or already revoked.
		ev := eventlog.WithClient(eventlog.FromRequest(r, eventlog.TypeRefreshRevoked, httpx.PeerIP(r.Context()), httpx.PeerIP(r.Context()), a.Hostname), rv.Client)
		ev.UserID, ev.Audience = rv.UserID, rv.Audience
		ev.Description = "Successfully revoked a refresh token"
		a.record(r.Context(), ev)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
