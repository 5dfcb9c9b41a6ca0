// Package oauth holds token minting, signing keys and the JWKS, client
// authentication, and the grants of the token endpoint.
package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
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

// The JWS algorithms Latchkey signs with. The tenant's keys come in
// families, one per key type, named by the stored alg of their keys: the
// RSA family (RS256) signs RS256, PS256 and RS512, the P-256 family (ES256)
// signs ES256. HS256 signs with the application's client secret.
const (
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
	AlgRS512 = "RS512"
	AlgES256 = "ES256"
	AlgHS256 = "HS256"
)

// KeyFamily returns the key family that signs alg; ok is false for an
// algorithm no tenant key signs (HS256, or one Latchkey does not know).
func KeyFamily(alg string) (family string, ok bool) {
	switch alg {
	case AlgRS256, AlgPS256, AlgRS512:
		return AlgRS256, true
	case AlgES256:
		return AlgES256, true
	}
	return "", false
}

// familyAlgs are the JWS algorithms each key family signs.
var familyAlgs = map[string][]jose.SignatureAlgorithm{
	AlgRS256: {jose.RS256, jose.PS256, jose.RS512},
	AlgES256: {jose.ES256},
}

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

	mu       sync.RWMutex
	signers  map[string]jose.Signer      // by JWS algorithm
	current  map[string]string           // the current kid by key family
	families []string                    // the families with a current key, RS256 first
	public   map[string]crypto.PublicKey // the published keys: they verify
	jwks     []byte
	shape    string                       // the current kids and the published kids, to skip unchanged reloads
	parsed   map[string]*jose.JSONWebKey  // public JWKs by kid (immutable)
	certs    map[string]*x509.Certificate // self-signed certificates by kid (deterministic)
	missed   atomic.Int64                 // unix nanoseconds of the last reload for an unknown kid
}

// NewKeyManager returns a KeyManager; call Init before use. issuer names
// the keys' certificates.
func NewKeyManager(st KeyStore, seal *secret.Keys, issuer string, now func() time.Time) *KeyManager {
	return &KeyManager{st: st, seal: seal, issuer: issuer, now: now,
		parsed: map[string]*jose.JSONWebKey{}, certs: map[string]*x509.Certificate{}}
}

// Init loads the keys, generating the RSA family's current key and next
// key when the store lacks them (and the next key of any other family
// that has a current one). Nodes that start together on an empty store
// race to create them: the store keeps one of each, and every node reads
// those.
func (m *KeyManager) Init(ctx context.Context) error {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	families := []string{AlgRS256}
	for _, k := range keys {
		if (k.Status == store.KeyCurrent || k.Status == store.KeyNext) && !slices.Contains(families, k.Alg) {
			families = append(families, k.Alg)
		}
	}
	for _, f := range families {
		if err := m.fill(ctx, keys, f); err != nil {
			return err
		}
	}
	return m.Reload(ctx)
}

// fill creates family's current and next keys where keys lacks them. Both
// are generated at once, side by side: a first start makes two RSA keys,
// and each takes a random time.
func (m *KeyManager) fill(ctx context.Context, keys []store.SigningKey, family string) error {
	var missing []store.SigningKeyStatus
	for _, status := range []store.SigningKeyStatus{store.KeyCurrent, store.KeyNext} {
		if find(keys, family, status) == nil {
			missing = append(missing, status)
		}
	}
	made := make([]store.SigningKey, len(missing))
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	for i, status := range missing {
		wg.Go(func() { made[i], errs[i] = m.generate(family, status) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, k := range made {
		if err := m.st.CreateSigningKey(ctx, k); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("store the %s %s signing key: %w", k.Status, family, err)
		}
	}
	return nil
}

// Ensure makes sure the key family that signs alg has a current key,
// creating the family (its current and next key) the first time an
// application asks for it: the ES256 keys are published only from then.
func (m *KeyManager) Ensure(ctx context.Context, alg string) error {
	family, ok := KeyFamily(alg)
	if !ok {
		return fmt.Errorf("no signing key signs %s", alg)
	}
	if m.has(family) {
		return nil
	}
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	if err := m.fill(ctx, keys, family); err != nil {
		return err
	}
	return m.Reload(ctx)
}

func (m *KeyManager) has(family string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current[family] != ""
}

// generate makes a new key of family with status, its private half sealed.
func (m *KeyManager) generate(family string, status store.SigningKeyStatus) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch family {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.SigningKey{}, fmt.Errorf("generate signing key: no key family %q", family)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	kid := keyID()
	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: family, Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode private key: %w", err)
	}
	now := m.now().UTC().Truncate(time.Millisecond)
	k := store.SigningKey{KID: kid, Alg: family, PublicJWK: pub, PrivateSealed: m.seal.Seal(der, []byte("signing-key:"+kid)),
		Status: status, CreatedAt: now}
	if status == store.KeyCurrent {
		k.CurrentSince = now
	}
	return k, nil
}

// find returns family's key with status in keys, or nil.
func find(keys []store.SigningKey, family string, status store.SigningKeyStatus) *store.SigningKey {
	for i := range keys {
		if keys[i].Status == status && keys[i].Alg == family {
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
		if a.Alg != b.Alg && ra < 2 {
			return strings.Compare(b.Alg, a.Alg) // RS256 before ES256
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
	if find(keys, AlgRS256, store.KeyCurrent) == nil {
		return errors.New("no current signing key")
	}
	current := map[string]string{}
	var families []string
	for _, f := range []string{AlgRS256, AlgES256} {
		if k := find(keys, f, store.KeyCurrent); k != nil {
			current[f] = k.KID
			families = append(families, f)
		}
	}
	var published []store.SigningKey
	for _, k := range keys {
		if Published(k, now) {
			published = append(published, k)
		}
	}
	SortKeys(published)
	shape := ""
	for _, f := range families {
		shape += f + ":" + current[f] + " "
	}
	for _, k := range published {
		shape += " " + k.KID
	}
	m.mu.RLock()
	same, old, oldSigners := m.shape == shape, m.current, m.signers
	m.mu.RUnlock()
	if same {
		return nil
	}

	var set jose.JSONWebKeySet
	public := map[string]crypto.PublicKey{}
	for _, k := range published {
		jwk, err := m.publicJWK(k)
		if err != nil {
			return err
		}
		public[k.KID] = jwk.Key
		set.Keys = append(set.Keys, *jwk)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	signers := map[string]jose.Signer{}
	for _, f := range families {
		if old[f] == current[f] {
			for _, alg := range familyAlgs[f] {
				signers[string(alg)] = oldSigners[string(alg)]
			}
			continue
		}
		priv, err := m.private(*find(keys, f, store.KeyCurrent))
		if err != nil {
			return err
		}
		for _, alg := range familyAlgs[f] {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: current[f]}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				return fmt.Errorf("%s signer for %s: %w", alg, current[f], err)
			}
			signers[string(alg)] = s
		}
	}
	m.mu.Lock()
	m.signers, m.current, m.families = signers, current, families
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
	switch jwk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("signing key %s: not an RSA or EC public key", k.KID)
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
func (m *KeyManager) private(k store.SigningKey) (crypto.Signer, error) {
	der, err := m.seal.Open(k.PrivateSealed, []byte("signing-key:"+k.KID))
	if err != nil {
		return nil, fmt.Errorf("unseal signing key %s (wrong master key?): %w", k.KID, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", k.KID, err)
	}
	switch priv := pk.(type) {
	case *rsa.PrivateKey:
		priv.Precompute()
		return priv, nil
	case *ecdsa.PrivateKey:
		return priv, nil
	}
	return nil, fmt.Errorf("signing key %s: not an RSA or EC key", k.KID)
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

// Rotate rotates every key family: the next key becomes current and the
// current one previous, and a new next key is generated. It returns the
// RSA key that now signs. A new next key is published at once and signs
// nothing until the following rotation.
func (m *KeyManager) Rotate(ctx context.Context) (store.SigningKey, error) {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("list signing keys: %w", err)
	}
	var promoted store.SigningKey
	for _, f := range storedFamilies(keys) {
		p, err := m.rotate(ctx, keys, f)
		if err != nil {
			return store.SigningKey{}, err
		}
		if f == AlgRS256 {
			promoted = p
		}
	}
	return promoted, nil
}

// storedFamilies are the key families with a current key in keys, RSA first.
func storedFamilies(keys []store.SigningKey) []string {
	var out []string
	for _, f := range []string{AlgRS256, AlgES256} {
		if find(keys, f, store.KeyCurrent) != nil {
			out = append(out, f)
		}
	}
	return out
}

func (m *KeyManager) rotate(ctx context.Context, keys []store.SigningKey, family string) (store.SigningKey, error) {
	cur, next := find(keys, family, store.KeyCurrent), find(keys, family, store.KeyNext)
	if cur == nil || next == nil {
		// Init creates both; a store without them was changed by hand.
		return store.SigningKey{}, fmt.Errorf("rotate signing keys: the store has no current or no next %s key (restart a node to create them)", family)
	}
	fresh, err := m.generate(family, store.KeyNext)
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

// RotateIfDue rotates each key family whose current key has signed for
// every or longer (by the injected clock); it returns the keys this call
// promoted. When another node rotates at the same moment, its rotation
// stands and this one reports none.
func (m *KeyManager) RotateIfDue(ctx context.Context, every time.Duration) (promoted []store.SigningKey, err error) {
	keys, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	for _, f := range storedFamilies(keys) {
		if m.now().Before(find(keys, f, store.KeyCurrent).CurrentSince.Add(every)) {
			continue
		}
		p, err := m.rotate(ctx, keys, f)
		if errors.Is(err, ErrKeysChanged) {
			if err := m.Reload(ctx); err != nil {
				return promoted, err
			}
			continue
		}
		if err != nil {
			return promoted, err
		}
		promoted = append(promoted, p)
	}
	return promoted, nil
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

// Current returns the kid of the RSA key that signs.
func (m *KeyManager) Current() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current[AlgRS256]
}

// Algs returns the JWS algorithms the tenant's keys sign with now: those
// of the RSA family, and ES256 once an application asked for it.
func (m *KeyManager) Algs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, f := range m.families {
		for _, a := range familyAlgs[f] {
			out = append(out, string(a))
		}
	}
	return out
}

// Sign signs a JSON payload as a compact JWS with the current key of the
// family that signs alg (RS256, PS256, RS512 or ES256), creating the
// family the first time it is asked for.
func (m *KeyManager) Sign(ctx context.Context, alg string, payload []byte) (string, error) {
	m.mu.RLock()
	s := m.signers[alg]
	m.mu.RUnlock()
	if s == nil {
		if err := m.Ensure(ctx, alg); err != nil {
			return "", fmt.Errorf("sign %s: %w", alg, err)
		}
		m.mu.RLock()
		s = m.signers[alg]
		m.mu.RUnlock()
		if s == nil {
			return "", fmt.Errorf("sign: no %s key", alg)
		}
	}
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

func (m *KeyManager) publicKey(kid string) crypto.PublicKey {
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
