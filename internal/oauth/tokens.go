package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Lifetimes (Auth0's defaults).
const (
	OpaqueTokenLifetime   = 86400 * time.Second
	opaqueTokenPrefix     = "lk1."
	opaqueTokenAssociated = "access_token"
)

// Minter mints ID tokens, access tokens and refresh tokens.
type Minter struct {
	issuer string
	keys   *KeyManager
	seal   *secret.Keys
}

// NewMinter returns a Minter for issuer.
func NewMinter(issuer string, keys *KeyManager, seal *secret.Keys) *Minter {
	return &Minter{issuer: issuer, keys: keys, seal: seal}
}

// Issuer returns the issuer URL (with its trailing slash).
func (m *Minter) Issuer() string { return m.issuer }

// UserinfoAudience is the audience that lets an access token call /userinfo.
func (m *Minter) UserinfoAudience() string { return m.issuer + "userinfo" }

type idClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	Iat      int64  `json:"iat"`
	Exp      int64  `json:"exp"`
	Jti      string `json:"jti"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	AtHash   string `json:"at_hash,omitempty"`
	CHash    string `json:"c_hash,omitempty"`
	profileClaims
}

// IDExtras are the optional claims of an ID token.
type IDExtras struct {
	Nonce       string
	AuthTime    time.Time // zero: no auth_time
	AccessToken string    // issued with it, for at_hash
	Code        string    // issued with it, for c_hash
}

type profileClaims struct {
	Name                string `json:"name,omitempty"`
	Nickname            string `json:"nickname,omitempty"`
	UpdatedAt           string `json:"updated_at,omitempty"`
	Email               string `json:"email,omitempty"`
	EmailVerified       *bool  `json:"email_verified,omitempty"`
	PhoneNumber         string `json:"phone_number,omitempty"`
	PhoneNumberVerified *bool  `json:"phone_number_verified,omitempty"`
}

// Profile returns the OIDC profile claims of u allowed by the scopes.
func Profile(u store.User, scopes []string) profileClaims {
	var p profileClaims
	if slices.Contains(scopes, "profile") {
		p.Name = u.Identifier
		p.Nickname = u.Identifier
		if i := strings.IndexByte(u.Email, '@'); i > 0 {
			p.Nickname = u.Email[:i]
		}
		p.UpdatedAt = u.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		p.Email, p.EmailVerified = u.Email, boolPtr(u.EmailVerified)
	}
	if slices.Contains(scopes, "phone") && u.PhoneNumber != "" {
		p.PhoneNumber, p.PhoneNumberVerified = u.PhoneNumber, boolPtr(u.PhoneVerified)
	}
	return p
}

// UserinfoJSON is the /userinfo body for u.
func UserinfoJSON(u store.User, scopes []string) ([]byte, error) {
	return json.Marshal(struct {
		Sub string `json:"sub"`
		profileClaims
	}{u.UserID, Profile(u, scopes)})
}

func boolPtr(b bool) *bool { return &b }

// IDToken mints an ID token for u and the client, with the extra claims
// x, signed as the client's jwt_configuration says: with the tenant's key
// (RS256 by default, PS256, RS512, ES256) or its client secret (HS256).
func (m *Minter) IDToken(ctx context.Context, u store.User, client store.Client, scopes []string, x IDExtras, now time.Time) (string, error) {
	jc := tenant.JWTConfig(client)
	c := idClaims{Iss: m.issuer, Sub: u.UserID, Aud: client.ClientID, Iat: now.Unix(),
		Exp: now.Add(time.Duration(jc.LifetimeInSeconds) * time.Second).Unix(), Jti: newJTI(), Nonce: x.Nonce,
		AtHash: halfHash(jc.Alg, x.AccessToken), CHash: halfHash(jc.Alg, x.Code), profileClaims: Profile(u, scopes)}
	if !x.AuthTime.IsZero() {
		c.AuthTime = x.AuthTime.Unix()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode id token: %w", err)
	}
	if jc.Alg != AlgHS256 {
		return m.keys.Sign(ctx, jc.Alg, b)
	}
	key, err := tenant.HMACKey(m.seal, client)
	if err != nil {
		return "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("HS256 signer: %w", err)
	}
	jws, err := s.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// halfHash is at_hash or c_hash (OIDC Core §3.1.3.6, §3.3.2.11): the left
// half of v's hash by the hash of the ID token's alg, base64url; "" for "".
func halfHash(alg, v string) string {
	if v == "" {
		return ""
	}
	var h []byte
	if alg == AlgRS512 {
		s := sha512.Sum512([]byte(v))
		h = s[:]
	} else {
		s := sha256.Sum256([]byte(v))
		h = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(h[:len(h)/2])
}

// newJTI is a JWT's unique id: 128 random bits (crypto/rand), so that no two
// tokens are alike, even two minted in the same second for the same user.
func newJTI() string { return secret.Hex(16) }

type atClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   any    `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Jti   string `json:"jti"`
	Scope string `json:"scope,omitempty"`
	Azp   string `json:"azp"`
	Gty   string `json:"gty,omitempty"`
}

// JWTAccessToken mints an RS256 access token for an API audience.
func (m *Minter) JWTAccessToken(ctx context.Context, sub, clientID, audience string, scopes []string, gty string, lifetime time.Duration, now time.Time) (string, error) {
	var aud any = audience
	if slices.Contains(scopes, "openid") {
		aud = []string{audience, m.UserinfoAudience()}
	}
	b, err := json.Marshal(atClaims{Iss: m.issuer, Sub: sub, Aud: aud, Iat: now.Unix(), Exp: now.Add(lifetime).Unix(), Jti: newJTI(),
		Scope: strings.Join(scopes, " "), Azp: clientID, Gty: gty})
	if err != nil {
		return "", fmt.Errorf("encode access token: %w", err)
	}
	return m.keys.Sign(ctx, AlgRS256, b)
}

// opaque is the sealed content of an opaque access token.
type opaque struct {
	Sub   string `json:"s"`
	Cid   string `json:"c"`
	Scope string `json:"p"`
	Exp   int64  `json:"e"`
}

// OpaqueAccessToken mints an access token for /userinfo only: sealed
// (AES-GCM) under the server key, so it needs no database row and reveals
// nothing to its holder.
func (m *Minter) OpaqueAccessToken(sub, clientID string, scopes []string, now time.Time) string {
	b, _ := json.Marshal(opaque{Sub: sub, Cid: clientID, Scope: strings.Join(scopes, " "), Exp: now.Add(OpaqueTokenLifetime).Unix()})
	return opaqueTokenPrefix + base64.RawURLEncoding.EncodeToString(m.seal.Seal(b, []byte(opaqueTokenAssociated)))
}

// AccessGrant is what a valid access token grants at /userinfo.
type AccessGrant struct {
	Sub    string
	Scopes []string
}

// ErrInvalidToken: the access token is malformed, forged, expired or not for /userinfo.
var ErrInvalidToken = errors.New("invalid access token")

// CheckUserinfoToken validates an access token presented at /userinfo.
func (m *Minter) CheckUserinfoToken(tok string, now time.Time) (AccessGrant, error) {
	if rest, ok := strings.CutPrefix(tok, opaqueTokenPrefix); ok {
		raw, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil {
			return AccessGrant{}, ErrInvalidToken
		}
		pt, err := m.seal.Open(raw, []byte(opaqueTokenAssociated))
		if err != nil {
			return AccessGrant{}, ErrInvalidToken
		}
		var o opaque
		if json.Unmarshal(pt, &o) != nil || now.Unix() >= o.Exp {
			return AccessGrant{}, ErrInvalidToken
		}
		return AccessGrant{Sub: o.Sub, Scopes: strings.Fields(o.Scope)}, nil
	}
	payload, err := m.keys.Verify(tok)
	if err != nil {
		return AccessGrant{}, ErrInvalidToken
	}
	var c struct {
		Iss   string          `json:"iss"`
		Sub   string          `json:"sub"`
		Aud   json.RawMessage `json:"aud"`
		Exp   int64           `json:"exp"`
		Scope string          `json:"scope"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss != m.issuer || now.Unix() >= c.Exp || c.Sub == "" {
		return AccessGrant{}, ErrInvalidToken
	}
	var auds []string
	if json.Unmarshal(c.Aud, &auds) != nil {
		var one string
		if json.Unmarshal(c.Aud, &one) != nil {
			return AccessGrant{}, ErrInvalidToken
		}
		auds = []string{one}
	}
	if !slices.Contains(auds, m.UserinfoAudience()) {
		return AccessGrant{}, ErrInvalidToken
	}
	return AccessGrant{Sub: c.Sub, Scopes: strings.Fields(c.Scope)}, nil
}

// NewRefreshToken returns a new refresh token and the hash it is stored under.
func NewRefreshToken(seal *secret.Keys) (token string, hash []byte) {
	token = secret.Token(32)
	return token, HashRefreshToken(seal, token)
}

// HashRefreshToken is the keyed hash a refresh token is stored under.
func HashRefreshToken(seal *secret.Keys, token string) []byte {
	return seal.Hash("refresh_token", token)
}
