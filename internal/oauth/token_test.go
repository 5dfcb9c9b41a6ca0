package oauth

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
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
	s := NewService(Deps{Directory: publicDir{}, Now: time.Now})
	token := func(grant string) (Audit, *httpx.Error) {
		t.Helper()
		var au Audit
		_, err := s.Token(t.Context(), TokenRequest{Params: httpx.Body{"grant_type": grant, "client_id": "pub"},
			Creds: ClientCredentials{ClientID: "pub"}, PeerIP: "10.0.0.1", Audit: &au})
		var he *httpx.Error
		if !errors.As(err, &he) {
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

// TestGrantHandlersCoverTable keeps the token endpoint's handlers in step
// with tenant's grant table: a grant with a metric name is exchanged here,
// with tenant-log event types of its own for success and failure; every
// handler is a grant of the table; anything else is not logged.
func TestGrantHandlersCoverTable(t *testing.T) {
	seen := map[string]string{}
	for _, g := range tenant.GrantTypes() {
		success, failure, ok := TokenEvents(g.Name)
		if _, handled := grantHandlers[g.Name]; handled != (g.Metric != "") || ok != handled {
			t.Errorf("%s: handler %v, TokenEvents ok %v, metric %q", g.Name, handled, ok, g.Metric)
		}
		if !ok {
			continue
		}
		if success == "" || failure == "" || success == failure {
			t.Errorf("%s: event types %q/%q", g.Name, success, failure)
		}
		for _, typ := range []string{success, failure} {
			if other, dup := seen[typ]; dup && typ != eventlog.TypeSuccessLogin {
				t.Errorf("%s and %s both log %q", other, g.Name, typ)
			}
			seen[typ] = g.Name
		}
	}
	for name := range grantHandlers {
		if _, ok := tenant.LookupGrant(name); !ok {
			t.Errorf("handler for %q, which is not in tenant's grant table", name)
		}
	}
	if _, _, ok := TokenEvents("password"); ok {
		t.Error("TokenEvents knows an unknown grant")
	}
}
