package authapi

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
)

func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	p, err := httpx.ReadBody(r, "invalid_request")
	if err != nil {
		return err
	}
	id, err := p.String("client_id")
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	sec, err := p.String("client_secret")
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	// An empty secret counts as none (x/oauth2 sends "id:" in Basic for public clients).
	creds := oauth.ClientCredentials{ClientID: id, Secret: sec, HasSecret: sec != ""}
	if bid, bsec, rawSec, ok := basicAuth(r); ok {
		if creds.HasSecret {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Use one client authentication method: HTTP Basic or client_secret in the body, not both")
		}
		if id != "" && id != bid {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "client_id in the body does not match the HTTP Basic credentials")
		}
		creds = oauth.ClientCredentials{ClientID: bid, Secret: bsec, RawSecret: rawSec, HasSecret: bsec != "", ViaBasic: true}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_assertion", &creds.Assertion}, {"client_assertion_type", &creds.AssertionType}} {
		if *f.dst, err = p.String(f.key); err != nil {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
		}
	}
	if creds.Assertion != "" {
		if creds.HasSecret {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Use one client authentication method: client_assertion or a client secret, not both")
		}
		if creds.AssertionType != oauth.ClientAssertionType {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "client_assertion_type must be %s", oauth.ClientAssertionType)
		}
	}
	resp, err := a.Tokens.Token(r.Context(), oauth.TokenRequest{Params: p, Creds: creds,
		PeerIP: httpx.PeerIP(r.Context()), ForwardedFor: r.Header.Get("Auth0-Forwarded-For")})
	if err != nil {
		return err
	}
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}
