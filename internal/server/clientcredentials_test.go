package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/internal/store"
)

// mgmtScopes are the Management API scopes the tenant file grants the m2m app.
func mgmtScopes(t *testing.T) string {
	var f struct {
		ClientGrants []struct {
			ClientID string   `json:"client_id"`
			Audience string   `json:"audience"`
			Scope    []string `json:"scope"`
		} `json:"client_grants"`
	}
	if err := json.Unmarshal([]byte(tenantFile), &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.ClientGrants {
		if g.ClientID == m2mID && g.Audience == "{{issuer}}api/v2/" {
			return strings.Join(g.Scope, " ")
		}
	}
	t.Fatal("no Management API grant in the tenant file")
	return ""
}

// ccToken obtains a client_credentials token with x/oauth2.
func (e *env) ccToken(id, secret, audience, scope string, style oauth2.AuthStyle) (*oauth2.Token, error) {
	e.t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.issuer + "oauth/token",
		EndpointParams: url.Values{"audience": {audience}}, AuthStyle: style}
	if scope != "" {
		cc.Scopes = strings.Fields(scope)
	}
	return cc.Token(context.WithValue(e.t.Context(), oauth2.HTTPClient, e.http))
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgmtAud := e.issuer + "api/v2/"
	tests := []struct {
		name, audience, scope string
		style                 oauth2.AuthStyle
		wantScope             string
		wantLifetime          float64
	}{
		{"management api, all scopes", mgmtAud, "", oauth2.AuthStyleInParams, mgmtScopes(t), 86400},
		{"management api, basic auth", mgmtAud, "", oauth2.AuthStyleInHeader, mgmtScopes(t), 86400},
		{"scopes filtered to the grant", mgmtAud, "read:clients delete:users", oauth2.AuthStyleInParams, "read:clients", 86400},
		{"registered api", apiID, "", oauth2.AuthStyleInParams, "read:things", 7200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := e.ccToken(m2mID, m2mSecret, tt.audience, tt.scope, tt.style)
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
				t.Errorf("refresh or id token issued: %+v", tok)
			}
			if got := tok.Extra("scope"); got != tt.wantScope {
				t.Errorf("scope %q, want %q", got, tt.wantScope)
			}
			if got := tok.Extra("expires_in"); got != tt.wantLifetime {
				t.Errorf("expires_in %v, want %v", got, tt.wantLifetime)
			}
			c := jwtClaims(t, tok.AccessToken)
			want := map[string]any{"iss": e.issuer, "sub": m2mID + "@clients", "aud": tt.audience, "azp": m2mID,
				"gty": "client-credentials", "scope": tt.wantScope}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
		})
	}

	form := func(id, secret string, extra url.Values) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
		if secret != "" {
			v.Set("client_secret", secret)
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	aud := func(a string) url.Values { return url.Values{"audience": {a}} }
	errs := []struct {
		name          string
		body          url.Values
		status        int
		code, message string
	}{
		{"no audience", form(m2mID, m2mSecret, nil), 403, "access_denied",
			"No audience parameter was provided, and no default audience has been configured"},
		{"no client grant", form(m2mID, m2mSecret, aud(apiNoOffID)), 403, "access_denied",
			`Client is not authorized to access "https://no-offline.example.com/". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`},
		{"unknown audience", form(m2mID, m2mSecret, aud("https://nope.example.com/")), 403, "access_denied", "Service not found: https://nope.example.com/"},
		{"wrong secret", form(m2mID, "wrong-secret-wrong-secret", aud(mgmtAud)), 401, "access_denied", "Unauthorized"},
		{"no secret", form(m2mID, "", aud(mgmtAud)), 401, "access_denied", "Unauthorized"},
		{"spa", form(spaID, "", aud(mgmtAud)), 403, "unauthorized_client", "Grant type 'client_credentials' not allowed for the client."},
		{"grant not enabled", form(webID, webSecret, aud(mgmtAud)), 403, "unauthorized_client", "Grant type 'client_credentials' not allowed for the client."},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.postForm("/oauth/token", tt.body, nil), tt.status, tt.code, tt.message)
		})
	}

	// The tenant's default audience stands in for a missing one.
	e.updateSettings(func(s *store.TenantSettings) { s.DefaultAudience = apiID })
	r := e.postForm("/oauth/token", form(m2mID, m2mSecret, nil), nil)
	if r.status != 200 || r.str("scope") != "read:things" || r.str("token_type") != "Bearer" || r.body["refresh_token"] != nil || r.body["id_token"] != nil {
		t.Fatalf("default audience: %d %s", r.status, r.raw)
	}

	// x/oauth2 surfaces the error body.
	_, err := e.ccToken(m2mID, "wrong-secret-wrong-secret", mgmtAud, "", oauth2.AuthStyleInParams)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 401 || re.ErrorCode != "access_denied" {
		t.Fatalf("wrong secret via x/oauth2: %v", err)
	}
}
