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
	creds := oauth.ClientCredentials{ClientID: id, Secret: sec, HasSecret: p.Has("client_secret")}
	if bid, bsec, ok := basicAuth(r); ok {
		if creds.HasSecret {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Use one client authentication method: HTTP Basic or client_secret in the body, not both")
		}
		if id != "" && id != bid {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "client_id in the body does not match the HTTP Basic credentials")
		}
		creds = oauth.ClientCredentials{ClientID: bid, Secret: bsec, HasSecret: true, ViaBasic: true}
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
