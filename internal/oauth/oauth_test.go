package oauth

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

func TestGrantedScopes(t *testing.T) {
	api := &store.ResourceServer{Identifier: "https://api/", AllowOfflineAccess: true, Scopes: []store.Scope{{Value: "read:x"}}}
	noOffline := &store.ResourceServer{Identifier: "https://api/"}
	refreshing := store.Client{GrantTypes: []string{tenant.GrantRefreshToken}}
	noRefresh := store.Client{GrantTypes: []string{tenant.GrantAuthorizationCode}}
	tests := []struct {
		name      string
		client    store.Client
		requested []string
		api       *store.ResourceServer
		want      []string
	}{
		{"oidc only", refreshing, []string{"openid", "email", "bogus"}, nil, []string{"openid", "email"}},
		{"offline without api", refreshing, []string{"openid", "offline_access"}, nil, []string{"openid", "offline_access"}},
		{"offline without api or grant", noRefresh, []string{"openid", "offline_access"}, nil, []string{"openid"}},
		{"offline with api", refreshing, []string{"offline_access", "read:x", "write:x"}, api, []string{"offline_access", "read:x"}},
		{"offline with api, no grant", noRefresh, []string{"offline_access", "read:x"}, api, []string{"read:x"}},
		{"offline not allowed", refreshing, []string{"offline_access", "openid"}, noOffline, []string{"openid"}},
		{"duplicates", refreshing, []string{"openid", "openid"}, nil, []string{"openid"}},
		{"empty", refreshing, nil, api, []string{}},
	}
	for _, tt := range tests {
		if got := grantedScopes(tt.client, tt.requested, tt.api); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEffectiveIP(t *testing.T) {
	trusted := store.Client{AppType: tenant.AppRegularWeb, TokenEndpointAuthMethod: tenant.AuthClientSecretPost, IsTokenEndpointIPHeaderTrusted: true}
	untrusted := trusted
	untrusted.IsTokenEndpointIPHeaderTrusted = false
	public := store.Client{AppType: tenant.AppNative, TokenEndpointAuthMethod: tenant.AuthNone, IsTokenEndpointIPHeaderTrusted: true}
	tests := []struct {
		name          string
		c             store.Client
		authenticated bool
		fwd, want     string
	}{
		{"honoured", trusted, true, "203.0.113.9", "203.0.113.9"},
		{"ipv6", trusted, true, " 2001:db8::1 ", "2001:db8::1"},
		{"mapped", trusted, true, "::ffff:203.0.113.9", "203.0.113.9"},
		{"not authenticated", trusted, false, "203.0.113.9", "10.0.0.1"},
		{"not trusted", untrusted, true, "203.0.113.9", "10.0.0.1"},
		{"public", public, true, "203.0.113.9", "10.0.0.1"},
		{"malformed", trusted, true, "203.0.113.9, 10.1.1.1", "10.0.0.1"},
		{"absent", trusted, true, "", "10.0.0.1"},
		{"zone", trusted, true, "fe80::1%eth0", "10.0.0.1"},
		{"zone with text", trusted, true, "fe80::1%x' OR 1=1", "10.0.0.1"},
	}
	for _, tt := range tests {
		if got := EffectiveIP(tt.c, tt.authenticated, "10.0.0.1", tt.fwd); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestOpaqueAccessToken(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMinter("https://issuer/", nil, keys)
	now := time.Unix(1_800_000_000, 0)
	tok := m.OpaqueAccessToken("email|abc", "client", []string{"openid", "email"}, now)
	g, err := m.CheckUserinfoToken(tok, now.Add(time.Hour))
	if err != nil || g.Sub != "email|abc" || !slices.Equal(g.Scopes, []string{"openid", "email"}) {
		t.Fatalf("grant %+v, %v", g, err)
	}
	if _, err := m.CheckUserinfoToken(tok, now.Add(OpaqueTokenLifetime)); err == nil {
		t.Error("expired token accepted")
	}
	other, _ := secret.New(bytes.Repeat([]byte{4}, 32))
	if _, err := NewMinter("https://issuer/", nil, other).CheckUserinfoToken(tok, now); err == nil {
		t.Error("token accepted under another key")
	}
	for _, bad := range []string{"lk1.", "lk1.!!!", "lk1.AAAA", tok[:len(tok)-2]} {
		if _, err := m.CheckUserinfoToken(bad, now); err == nil {
			t.Errorf("malformed token %q accepted", bad)
		}
	}
}

func TestCheckSecret(t *testing.T) {
	keys, err := secret.New(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := store.Client{ClientID: "c", SecretHash: tenant.HashClientSecret(keys, "c", "a+b%2Fc-secret-value")}
	tests := []struct {
		name  string
		creds ClientCredentials
		want  int
	}{
		{"none", ClientCredentials{}, AuthNone},
		{"right", ClientCredentials{Secret: "a+b%2Fc-secret-value", HasSecret: true}, AuthValid},
		{"wrong", ClientCredentials{Secret: "nope", HasSecret: true}, AuthInvalid},
		{"basic unescaped by the client", ClientCredentials{Secret: "a b/c-secret-value", RawSecret: "a+b%2Fc-secret-value", HasSecret: true}, AuthValid},
		{"basic escaped by the client", ClientCredentials{Secret: "a+b%2Fc-secret-value", RawSecret: "a%2Bb%252Fc-secret-value", HasSecret: true}, AuthValid},
	}
	for _, tt := range tests {
		if got := CheckSecret(keys, c, tt.creds); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := CheckSecret(keys, store.Client{ClientID: "pub"}, ClientCredentials{Secret: "x", HasSecret: true}); got != AuthInvalid {
		t.Errorf("secret for a client without one: %d", got)
	}
}

func TestGrantScopes(t *testing.T) {
	granted := []string{"read:clients", "update:clients"}
	tests := []struct {
		name      string
		requested []string
		want      []string
	}{
		{"none requested gets all", nil, granted},
		{"subset", []string{"read:clients"}, []string{"read:clients"}},
		{"ungranted dropped", []string{"delete:clients", "update:clients", "openid"}, []string{"update:clients"}},
		{"duplicates", []string{"read:clients", "read:clients"}, []string{"read:clients"}},
		{"nothing granted", []string{"delete:clients"}, []string{}},
	}
	for _, tt := range tests {
		if got := grantScopes(tt.requested, granted); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
