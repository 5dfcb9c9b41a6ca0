package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// ManagementTokenLifetime is the lifetime of Management API access tokens
// (Auth0's default for client_credentials tokens).
const ManagementTokenLifetime = 86400 * time.Second

// GtyClientCredentials is the gty claim of client_credentials access tokens.
const GtyClientCredentials = "client-credentials"

// clientCredentialsGrant issues a machine-to-machine access token: the
// (authenticated, confidential) client needs a client grant for the
// audience, and gets at most the grant's scopes.
func (s *Service) clientCredentialsGrant(ctx context.Context, call grantCall) (*TokenResponse, error) {
	client, authenticated, p := call.client, call.authenticated, call.params
	call.audit.Audience = str(p, "audience")
	if !tenant.HasGrant(client, tenant.GrantClientCredentials) {
		return nil, refusal(ErrGrantNotAllowed, tenant.GrantClientCredentials)
	}
	if !authenticated || !tenant.IsConfidential(client) {
		// A public client cannot hold a secret, so it cannot use this grant.
		return nil, fmt.Errorf("%w: client %s: a public client cannot use client_credentials", ErrClientUnauthorized, client.ClientID)
	}
	aud := str(p, "audience")
	if aud == "" {
		settings, err := s.dir.Settings(ctx)
		if err != nil {
			return nil, fmt.Errorf("read settings: %w", err)
		}
		aud = settings.DefaultAudience
	}
	if aud == "" {
		return nil, ErrNoAudience
	}
	lifetime := ManagementTokenLifetime
	if aud != tenant.ManagementAudience(s.mint.Issuer()) {
		rs, err := s.dir.ResourceServer(ctx, aud)
		if errors.Is(err, store.ErrNotFound) {
			return nil, refusal(ErrUnknownAudience, aud)
		}
		if err != nil {
			return nil, fmt.Errorf("read resource server: %w", err)
		}
		lifetime = time.Duration(rs.TokenLifetime) * time.Second
	}
	g, err := s.dir.ClientGrant(ctx, client.ClientID, aud)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusal(ErrNoClientGrant, aud)
	}
	if err != nil {
		return nil, fmt.Errorf("read client grant: %w", err)
	}
	scopes := grantScopes(strings.Fields(str(p, "scope")), g.Scope)
	now := s.now()
	at, err := s.mint.JWTAccessToken(ctx, client.ClientID+"@clients", client.ClientID, aud, scopes, GtyClientCredentials, lifetime, now)
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: at, Scope: strings.Join(scopes, " "), ExpiresIn: int(lifetime / time.Second), TokenType: "Bearer"}, nil
}

// grantScopes is the requested scopes that the grant allows, or all the
// grant's scopes when none are requested.
func grantScopes(requested, granted []string) []string {
	if len(requested) == 0 {
		return slices.Clone(granted)
	}
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if slices.Contains(granted, sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}
