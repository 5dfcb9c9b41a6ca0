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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// KeyStore is what the key manager needs from storage.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k store.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, current, next string, newNext store.SigningKey, now time.Time) (store.SigningKey, error)
	RevokeSigningKey(ctx context.Context, kid string, now time.Time) (store.SigningKey, error)
}

// RetiredKeyGrace is how long a key rotated out (a previous key) stays in
// the JWKS and keeps verifying: until no token it signed can still be live.
// The longest-lived token Latchkey signs is a JWT access token of an API
// with the longest token_lifetime allowed (tenant.MaxTokenLifetime, 30
// days; ID tokens live 10 hours, Management API tokens a day). A day more
// covers the moments a node that has not reloaded yet still signs with
// the old key, and clocks that disagree. Revoking the key ends it sooner.
const RetiredKeyGrace = tenant.MaxTokenLifetime*time.Second + 24*time.Hour

// missReloadEvery bounds the reloads a token with an unknown kid causes.
const missReloadEvery = time.Second

// KeyManager holds the signing keys: the current signer and the JWKS. The
// store decides which key is current and which is next (one of each, set
// by transactions), so every node that has read the same rows signs with
// the same key; Reload picks up another node's rotation.
type KeyManager struct {
	st     KeyStore
	seal   *secret.Keys
	issuer string
	now    func() time.Time

	reload sync.Mutex // one Reload at a time

	mu      sync.RWMutex
	signer  jose.Signer
	current string                    // kid
	public  map[string]*rsa.PublicKey // the published keys: they verify
	jwks    []byte
	shape   string                       // the current kid and the published kids, to skip unchanged reloads
	parsed  map[string]*jose.JSONWebKey  // public JWKs by kid (immutable)
	certs   map[string]*x509.Certificate // self-signed certificates by kid (deterministic)
	missed  atomic.Int64                 // unix nanoseconds of the last reload for an unknown kid
}

// NewKeyManager returns a KeyManager; call Init before use. issuer names
// the keys' certificates.
func NewKeyManager(st KeyStore, seal *secret.Keys, issuer string, now func() time.Time) *KeyManager {
	return &KeyManager{st: st, seal: seal, issuer: issuer, now: now,
		parsed: map[string]*jose.JSONWebKey{}, certs: map[string]*x509.Certificate{}}
}

// Init loads the keys, generating the current key and the next one when
// the store lacks them. Nodes that start together on an empty store race
// to create them: the store keeps one of each, and every node reads those.
func (m *KeyManager) Init(ctx context.Context) error {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, status := range []store.SigningKeyStatus{store.KeyCurrent, store.KeyNext} {
		if find(keys, status) != nil {
			continue
		}
		if _, err := m.create(ctx, status); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return m.Reload(ctx)
}

// generate makes a new RS256 key with status, its private half sealed.
func (m *KeyManager) generate(status store.SigningKeyStatus) (store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	kid := keyID()
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode private key: %w", err)
	}
	now := m.now().UTC().Truncate(time.Millisecond)
	k := store.SigningKey{KID: kid, Alg: "RS256", PublicJWK: pub, PrivateSealed: m.seal.Seal(der, []byte("signing-key:"+kid)),
		Status: status, CreatedAt: now}
	if status == store.KeyCurrent {
		k.CurrentSince = now
	}
	return k, nil
}

// create generates and stores a key with status (ErrConflict when the
// store has a key with that status already).
func (m *KeyManager) create(ctx context.Context, status store.SigningKeyStatus) (store.SigningKey, error) {
	k, err := m.generate(status)
	if err != nil {
		return k, err
	}
	if err := m.st.CreateSigningKey(ctx, k); err != nil {
		return k, fmt.Errorf("store the %s signing key: %w", status, err)
	}
	return k, nil
}

func find(keys []store.SigningKey, status store.SigningKeyStatus) *store.SigningKey {
	for i := range keys {
		if keys[i].Status == status {
			return &keys[i]
		}
	}
	return nil
}

// Published reports whether k is in the JWKS at now, that is whether
// tokens it signed verify: the next and the current key, and a previous key
// for RetiredKeyGrace after it stopped signing. A revoked key never is.
func Published(k store.SigningKey, now time.Time) bool {
	switch k.Status {
	case store.KeyNext, store.KeyCurrent:
		return true
	case store.KeyPrevious:
		return now.Before(k.RetiredAt.Add(RetiredKeyGrace))
	}
	return false
}

// SortKeys orders keys as the JWKS and the Management API list them: the
// next key, the current one, then the others by when they stopped being
// current, the latest first (then by kid).
func SortKeys(keys []store.SigningKey) {
	rank := map[store.SigningKeyStatus]int{store.KeyNext: 0, store.KeyCurrent: 1}
	slices.SortStableFunc(keys, func(a, b store.SigningKey) int {
		ra, oka := rank[a.Status]
		rb, okb := rank[b.Status]
		if !oka {
			ra = 2
		}
		if !okb {
			rb = 2
		}
		if ra != rb {
			return ra - rb
		}
		if c := b.RetiredAt.Compare(a.RetiredAt); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
}

// Reload rereads the keys (to pick up a rotation or a revocation made by
// another node, or a previous key's grace ending).
func (m *KeyManager) Reload(ctx context.Context) error {
	m.reload.Lock()
	defer m.reload.Unlock()
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := m.now()
	found := find(keys, store.KeyCurrent)
	if found == nil {
		return errors.New("no current signing key")
	}
	cur := *found
	var published []store.SigningKey
	for _, k := range keys {
		if Published(k, now) {
			published = append(published, k)
		}
	}
	SortKeys(published)
	shape := cur.KID
	for _, k := range published {
		shape += " " + k.KID
	}
	m.mu.RLock()
	same, sameSigner := m.shape == shape, m.current == cur.KID
	m.mu.RUnlock()
	if same {
		return nil
	}

	var set jose.JSONWebKeySet
	public := map[string]*rsa.PublicKey{}
	for _, k := range published {
		jwk, err := m.publicJWK(k)
		if err != nil {
			return err
		}
		public[k.KID] = jwk.Key.(*rsa.PublicKey)
		set.Keys = append(set.Keys, *jwk)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	var signer jose.Signer
	if !sameSigner {
		priv, err := m.private(cur)
		if err != nil {
			return err
		}
		signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: cur.KID}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return fmt.Errorf("signer for %s: %w", cur.KID, err)
		}
	}
	m.mu.Lock()
	if signer != nil {
		m.signer, m.current = signer, cur.KID
	}
	m.public, m.jwks, m.shape = public, jwks, shape
	m.mu.Unlock()
	return nil
}

// publicJWK is k's public JWK as the JWKS publishes it, with its
// certificate (x5c, x5t) as Auth0's JWKS has; parsed once per key.
func (m *KeyManager) publicJWK(k store.SigningKey) (*jose.JSONWebKey, error) {
	m.mu.RLock()
	jwk := m.parsed[k.KID]
	m.mu.RUnlock()
	if jwk != nil {
		return jwk, nil
	}
	jwk = new(jose.JSONWebKey)
	if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.KID, err)
	}
	if _, ok := jwk.Key.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("signing key %s: not an RSA public key", k.KID)
	}
	cert, err := m.Certificate(k)
	if err != nil {
		return nil, err
	}
	jwk.Certificates = []*x509.Certificate{cert}
	jwk.CertificateThumbprintSHA1 = thumbprint(cert)
	m.mu.Lock()
	m.parsed[k.KID] = jwk
	m.mu.Unlock()
	return jwk, nil
}

// private unseals k's private half.
func (m *KeyManager) private(k store.SigningKey) (*rsa.PrivateKey, error) {
	der, err := m.seal.Open(k.PrivateSealed, []byte("signing-key:"+k.KID))
	if err != nil {
		return nil, fmt.Errorf("unseal signing key %s (wrong master key?): %w", k.KID, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", k.KID, err)
	}
	priv, ok := pk.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not an RSA key", k.KID)
	}
	priv.Precompute()
	return priv, nil
}

// Keys returns every signing key as stored now (not as this node last
// loaded them), oldest first.
func (m *KeyManager) Keys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// ErrKeysChanged: the current or the next key changed while rotating
// (another rotation, on this node or another, won).
var ErrKeysChanged = errors.New("the signing keys changed during the rotation")

// Rotate makes the next key current and the current one previous, and
// generates a new next key; it returns the key that now signs. The new
// next key is published at once and signs nothing until the following
// rotation.
func (m *KeyManager) Rotate(ctx context.Context) (store.SigningKey, error) {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("list signing keys: %w", err)
	}
	return m.rotate(ctx, keys)
}

func (m *KeyManager) rotate(ctx context.Context, keys []store.SigningKey) (store.SigningKey, error) {
	cur, next := find(keys, store.KeyCurrent), find(keys, store.KeyNext)
	if cur == nil || next == nil {
		// Init creates both; a store without them was changed by hand.
		return store.SigningKey{}, errors.New("rotate signing keys: the store has no current or no next key (restart a node to create them)")
	}
	fresh, err := m.generate(store.KeyNext)
	if err != nil {
		return store.SigningKey{}, err
	}
	promoted, err := m.st.RotateSigningKey(ctx, cur.KID, next.KID, fresh, m.now().UTC().Truncate(time.Millisecond))
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: %w", ErrKeysChanged, err)
	}
	if err != nil {
		return store.SigningKey{}, err
	}
	return promoted, m.Reload(ctx)
}

// RotateIfDue rotates when the current key has signed for every or longer
// (by the injected clock); rotated says whether this call rotated. When
// another node rotates at the same moment, its rotation stands and this
// one reports none.
func (m *KeyManager) RotateIfDue(ctx context.Context, every time.Duration) (promoted store.SigningKey, rotated bool, err error) {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return store.SigningKey{}, false, fmt.Errorf("list signing keys: %w", err)
	}
	cur := find(keys, store.KeyCurrent)
	if cur == nil || m.now().Before(cur.CurrentSince.Add(every)) {
		return store.SigningKey{}, false, nil
	}
	promoted, err = m.rotate(ctx, keys)
	if errors.Is(err, ErrKeysChanged) {
		return store.SigningKey{}, false, m.Reload(ctx)
	}
	return promoted, err == nil, err
}

// Revoke revokes a previous key: it leaves the JWKS and tokens it signed
// stop verifying at once on this node (on the others at their next
// reload). The current and the next key cannot be revoked
// (store.ErrConflict), an unknown kid is store.ErrNotFound.
func (m *KeyManager) Revoke(ctx context.Context, kid string) (store.SigningKey, error) {
	k, err := m.st.RevokeSigningKey(ctx, kid, m.now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return k, err
	}
	return k, m.Reload(ctx)
}

// JWKS returns the JSON Web Key Set document.
func (m *KeyManager) JWKS() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks
}

// Current returns the kid of the key that signs.
func (m *KeyManager) Current() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current
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

// Verify checks a compact JWS against the published keys and returns its
// payload. A kid this node does not know makes it reload the keys first
// (at most once every missReloadEvery): another node may have rotated
// twice since this one last looked.
func (m *KeyManager) Verify(token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must have one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	pk := m.publicKey(kid)
	if pk == nil && kid != "" && m.mayReload() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := m.Reload(ctx); err == nil {
			pk = m.publicKey(kid)
		}
		cancel()
	}
	if pk == nil {
		return nil, errors.New("unknown signing key")
	}
	return jws.Verify(pk)
}

func (m *KeyManager) publicKey(kid string) *rsa.PublicKey {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.public[kid]
}

// mayReload reports whether a reload for an unknown kid may run now, and
// if so claims it.
func (m *KeyManager) mayReload() bool {
	now := time.Now().UnixNano()
	last := m.missed.Load()
	return now-last >= int64(missReloadEvery) && m.missed.CompareAndSwap(last, now)
}

// issuerHost is the host of the issuer URL, the certificates' subject.
func (m *KeyManager) issuerHost() string {
	h := strings.TrimPrefix(strings.TrimPrefix(m.issuer, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	if h == "" {
		return "latchkey"
	}
	return h
}

// keyID is a random key ID that does not start with '-' or '_', so that a
// command line (latchkey keys revoke KID) never takes it for a flag.
func keyID() string {
	for {
		if k := secret.Token(16); k[0] != '-' && k[0] != '_' {
			return k
		}
	}
}
