// Package oauth holds token minting, signing keys and the JWKS, client
// authentication, and the grants of the token endpoint.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// KeyStore is what the key manager needs from storage.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k store.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
}

// RetiredKeyGrace is how long a retired key stays in the JWKS: at least the
// ID-token lifetime, so tokens signed just before a rotation still verify.
const RetiredKeyGrace = 36 * time.Hour

// KeyManager holds the signing keys: the current signer and the JWKS.
type KeyManager struct {
	st   KeyStore
	seal *secret.Keys
	now  func() time.Time

	mu      sync.RWMutex
	signer  jose.Signer
	current string // kid
	public  map[string]*rsa.PublicKey
	jwks    []byte
}

// NewKeyManager returns a KeyManager; call Init before use.
func NewKeyManager(st KeyStore, seal *secret.Keys, now func() time.Time) *KeyManager {
	return &KeyManager{st: st, seal: seal, now: now}
}

// Init loads the keys, generating the first one when there is none.
func (m *KeyManager) Init(ctx context.Context) error {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	if activeKey(keys, m.now()) == nil {
		if _, err := m.Generate(ctx); err != nil {
			return err
		}
	}
	return m.Reload(ctx)
}

// Generate creates, seals and stores a new RS256 key. It signs once every
// older key is retired.
func (m *KeyManager) Generate(ctx context.Context) (store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	kid := secret.Token(16)
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode private key: %w", err)
	}
	k := store.SigningKey{KID: kid, Alg: "RS256", PublicJWK: pub,
		PrivateSealed: m.seal.Seal(der, []byte("signing-key:"+kid)), CreatedAt: m.now().UTC().Truncate(time.Millisecond)}
	if err := m.st.CreateSigningKey(ctx, k); err != nil {
		return store.SigningKey{}, fmt.Errorf("store signing key: %w", err)
	}
	return k, nil
}

// activeKey is the oldest key not retired. Every node picks the same one,
// even when two nodes generated a first key at the same time (both keys are
// published; only the first signs), and a key added for a rotation is
// published before it signs anything: it signs once the old one is retired.
func activeKey(keys []store.SigningKey, now time.Time) *store.SigningKey {
	var best *store.SigningKey
	for i := range keys {
		k := &keys[i]
		if !k.RetiredAt.IsZero() || k.CreatedAt.After(now) {
			continue
		}
		if best == nil || k.CreatedAt.Before(best.CreatedAt) || (k.CreatedAt.Equal(best.CreatedAt) && k.KID < best.KID) {
			best = k
		}
	}
	return best
}

// Reload rereads the keys (to pick up a rotation made by another node).
func (m *KeyManager) Reload(ctx context.Context) error {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := m.now()
	act := activeKey(keys, now)
	if act == nil {
		return errors.New("no signing key in use")
	}
	m.mu.RLock()
	same := m.current == act.KID
	m.mu.RUnlock()

	var set jose.JSONWebKeySet
	public := map[string]*rsa.PublicKey{}
	for _, k := range keys {
		if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > RetiredKeyGrace {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
			return fmt.Errorf("signing key %s: %w", k.KID, err)
		}
		pk, ok := jwk.Key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("signing key %s: not an RSA public key", k.KID)
		}
		public[k.KID] = pk
		set.Keys = append(set.Keys, jwk)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	var signer jose.Signer
	if !same {
		der, err := m.seal.Open(act.PrivateSealed, []byte("signing-key:"+act.KID))
		if err != nil {
			return fmt.Errorf("unseal signing key %s (wrong master key?): %w", act.KID, err)
		}
		pk, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("parse signing key %s: %w", act.KID, err)
		}
		priv, ok := pk.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("signing key %s: not an RSA key", act.KID)
		}
		priv.Precompute()
		signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: act.KID}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return fmt.Errorf("signer for %s: %w", act.KID, err)
		}
	}
	m.mu.Lock()
	if signer != nil {
		m.signer, m.current = signer, act.KID
	}
	m.public, m.jwks = public, jwks
	m.mu.Unlock()
	return nil
}

// JWKS returns the JSON Web Key Set document.
func (m *KeyManager) JWKS() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks
}

// Sign signs a JSON payload as a compact JWS with the current key.
func (m *KeyManager) Sign(payload []byte) (string, error) {
	m.mu.RLock()
	s := m.signer
	m.mu.RUnlock()
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// Verify checks a compact JWS against the published keys and returns its payload.
func (m *KeyManager) Verify(token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must have one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	m.mu.RLock()
	pk := m.public[kid]
	m.mu.RUnlock()
	if pk == nil {
		return nil, errors.New("unknown signing key")
	}
	return jws.Verify(pk)
}
