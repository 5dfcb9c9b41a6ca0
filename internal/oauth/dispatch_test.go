package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// publicDir knows one public application, allowed no grant at all.
type publicDir struct{}

func (publicDir) Client(_ context.Context, id string) (store.Client, error) {
	return store.Client{ClientID: id, AppType: tenant.AppNative, TokenEndpointAuthMethod: tenant.AuthNone, GrantTypes: []string{}}, nil
}
func (publicDir) ResourceServer(context.Context, string) (store.ResourceServer, error) {
	return store.ResourceServer{}, store.ErrNotFound
}
func (publicDir) Settings(context.Context) (store.TenantSettings, error) {
	return store.TenantSettings{}, nil
}
func (publicDir) ClientGrant(context.Context, string, string) (store.ClientGrant, error) {
	return store.ClientGrant{}, store.ErrNotFound
}

// TestTokenDispatch pins the token endpoint's dispatch: each grant type it
// exchanges reaches its own handler (which refuses an application not
// allowed that grant, naming it), and any other grant type, implicit
// included, is unsupported.
func TestTokenDispatch(t *testing.T) {
	s := oauth.NewService(oauth.Deps{Directory: publicDir{}, Now: time.Now})
	token := func(grant string) (oauth.Audit, *httpx.Error) {
		t.Helper()
		var au oauth.Audit
		_, err := s.Token(t.Context(), oauth.TokenRequest{Params: httpx.Body{"grant_type": grant, "client_id": "pub"},
			Creds: oauth.ClientCredentials{ClientID: "pub"}, PeerIP: "10.0.0.1", Audit: &au})
		var he *httpx.Error
		if !errors.As(apierr.Answer(apierr.Token, err), &he) {
			t.Fatalf("%s: error %v is not an httpx.Error", grant, err)
		}
		return au, he
	}
	for _, g := range []string{"http://auth0.com/oauth/grant-type/passwordless/otp", "refresh_token", "authorization_code", "client_credentials"} {
		au, he := token(g)
		if he.Status != http.StatusForbidden || he.Code != "unauthorized_client" || he.Description != "Grant type '"+g+"' not allowed for the client." {
			t.Errorf("%s: %d %s %q", g, he.Status, he.Code, he.Description)
		}
		if au.Grant != g || au.Client.ClientID != "pub" || au.IP != "10.0.0.1" {
			t.Errorf("%s: audit %+v", g, au)
		}
	}
	for _, g := range []string{"implicit", "password", "urn:ietf:params:oauth:grant-type:device_code"} {
		_, he := token(g)
		if he.Status != http.StatusBadRequest || he.Code != "unsupported_grant_type" || he.Description != "Unsupported grant type: "+g {
			t.Errorf("%s: %d %s %q", g, he.Status, he.Code, he.Description)
		}
	}
}
