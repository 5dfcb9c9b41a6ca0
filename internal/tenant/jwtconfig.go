package tenant

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// JWTAlgs returns the ID-token signing algorithms an application may
// choose (jwt_configuration.alg): Auth0's RS256, PS256, RS512 and HS256,
// and ES256, beyond Auth0, signed with the tenant's P-256 key.
func JWTAlgs() []string { return []string{"RS256", "PS256", "RS512", "HS256", "ES256"} }

// DefaultJWTAlg and DefaultIDTokenLifetime are what an application that
// states no jwt_configuration gets.
const (
	DefaultJWTAlg          = "RS256"
	DefaultIDTokenLifetime = 36000
	// MaxIDTokenLifetime is the longest ID-token lifetime an application
	// may set (Auth0's limit, 30 days).
	MaxIDTokenLifetime = MaxTokenLifetime
	// minHMACKey is the shortest HS256 key, in bytes (RFC 7518 §3.2).
	minHMACKey = 32
)

// JWTConfig returns c's ID-token settings with the defaults filled in.
func JWTConfig(c store.Client) store.JWTConfiguration {
	j := store.JWTConfiguration{Alg: DefaultJWTAlg, LifetimeInSeconds: DefaultIDTokenLifetime}
	if c.JWTConfiguration != nil {
		j = *c.JWTConfiguration
		if j.Alg == "" {
			j.Alg = DefaultJWTAlg
		}
		if j.LifetimeInSeconds == 0 {
			j.LifetimeInSeconds = DefaultIDTokenLifetime
		}
	}
	return j
}

// buildJWTConfig validates a jwt_configuration; errors name the field.
func buildJWTConfig(j store.JWTConfiguration) (store.JWTConfiguration, error) {
	switch {
	case j.Alg == "":
		j.Alg = DefaultJWTAlg
	case !slices.Contains(JWTAlgs(), j.Alg):
		return j, fmt.Errorf("jwt_configuration.alg: %q is not one of %s", j.Alg, strings.Join(JWTAlgs(), ", "))
	}
	switch {
	case j.LifetimeInSeconds == 0:
		j.LifetimeInSeconds = DefaultIDTokenLifetime
	case j.LifetimeInSeconds < 0 || j.LifetimeInSeconds > MaxIDTokenLifetime:
		return j, fmt.Errorf("jwt_configuration.lifetime_in_seconds: must be between 1 and %d", MaxIDTokenLifetime)
	}
	if j.SecretEncoded && j.Alg != "HS256" {
		return j, errors.New("jwt_configuration.secret_encoded: only HS256 signs with the client secret")
	}
	return j, nil
}

// sealSecret seals a client secret for HS256, bound to its client.
func sealSecret(keys *secret.Keys, clientID, sec string) []byte {
	return keys.Seal([]byte(sec), []byte("client-secret:"+clientID))
}

// SetClientSecret gives c the secret sec: its hash, and its sealed copy
// when c signs its ID tokens with it (HS256).
func SetClientSecret(keys *secret.Keys, c *store.Client, sec string) error {
	if JWTConfig(*c).Alg == "HS256" {
		if _, err := hmacKey(sec, JWTConfig(*c).SecretEncoded); err != nil {
			return err
		}
		c.SecretSealed = sealSecret(keys, c.ClientID, sec)
	}
	c.SecretHash = HashClientSecret(keys, c.ClientID, sec)
	return nil
}

// hmacKey is the HS256 key of a secret: its bytes, or the bytes it
// encodes in base64url when encoded (Auth0's secret_encoded).
func hmacKey(sec string, encoded bool) ([]byte, error) {
	key := []byte(sec)
	if encoded {
		var err error
		if key, err = base64.RawURLEncoding.DecodeString(trimPad(sec)); err != nil {
			return nil, errors.New("jwt_configuration.secret_encoded: the client secret is not base64url")
		}
	}
	if len(key) < minHMACKey {
		return nil, fmt.Errorf("jwt_configuration.alg: HS256 needs a client secret of at least %d bytes", minHMACKey)
	}
	return key, nil
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

// HMACKey returns the key c's HS256 ID tokens are signed with: its client
// secret, unsealed.
func HMACKey(keys *secret.Keys, c store.Client) ([]byte, error) {
	if len(c.SecretSealed) == 0 {
		return nil, fmt.Errorf("client %s signs with HS256 but has no readable secret", c.ClientID)
	}
	sec, err := keys.Open(c.SecretSealed, []byte("client-secret:"+c.ClientID))
	if err != nil {
		return nil, fmt.Errorf("unseal the client secret of %s: %w", c.ClientID, err)
	}
	return hmacKey(string(sec), JWTConfig(c).SecretEncoded)
}

// applySecret sets c's secret state from the spec's secret (plain, may be
// empty) or the stored client's (keep), after c's jwt_configuration is
// set: the hash always, the sealed copy only for HS256.
func applySecret(keys *secret.Keys, c *store.Client, plain string, keep *store.Client) error {
	hs := JWTConfig(*c).Alg == "HS256"
	if plain != "" {
		if hs && !IsConfidential(*c) {
			return errors.New("jwt_configuration.alg: HS256 signs with the client secret, and a public application (spa, native) cannot keep one")
		}
		if err := SetClientSecret(keys, c, plain); err != nil {
			return err
		}
		if hs && keep != nil && len(keep.SecretSealed) > 0 && secret.Equal(c.SecretHash, keep.SecretHash) {
			// The same secret: keep its sealed copy (a new one differs by
			// its nonce only, and would make every apply a change).
			c.SecretSealed = keep.SecretSealed
		}
		return nil
	}
	if keep != nil {
		c.SecretHash = keep.SecretHash
		if hs {
			c.SecretSealed = keep.SecretSealed
		}
	}
	if !hs {
		return nil
	}
	switch {
	case !IsConfidential(*c) || len(c.SecretHash) == 0:
		return errors.New("jwt_configuration.alg: HS256 signs with the client secret, and a public application (spa, native) cannot keep one")
	case len(c.SecretSealed) == 0:
		return errors.New("jwt_configuration.alg: HS256 signs ID tokens with the client secret, which Latchkey keeps only as a hash: give client_secret in the same change")
	}
	if _, err := HMACKey(keys, *c); err != nil {
		return err
	}
	return nil
}
