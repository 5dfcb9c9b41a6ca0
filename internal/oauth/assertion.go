package oauth

import (
	"context"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha256" // for crypto.SHA256
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/store"
)

// Private Key JWT (RFC 7523 client authentication), as Auth0 documents it
// in "Authenticate with Private Key JWT".
const (
	// ClientAssertionType is the only client_assertion_type accepted.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// MaxAssertionLifetime is the longest exp-iat (and exp-now) Auth0 accepts.
	MaxAssertionLifetime = 5 * time.Minute
	// AssertionLeeway is the clock skew allowed on iat and nbf (Auth0: 10 s).
	AssertionLeeway = 10 * time.Second
	// MaxAssertionSize bounds the compact JWS before any parsing.
	MaxAssertionSize = 8 << 10
	// MaxJTILength is Auth0's limit on the jti claim.
	MaxJTILength = 64
	// MinRSABits is the smallest RSA modulus accepted for a credential.
	MinRSABits = 2048
	// DefaultReplayCacheSize bounds the jti replay cache.
	DefaultReplayCacheSize = 200_000
)

// AssertionAlgs are the signing algorithms a credential may use (Auth0's
// list for public_key credentials).
var AssertionAlgs = []string{"RS256", "RS384", "PS256"}

// ErrInvalidAssertion is wrapped by every reason an assertion is refused.
var ErrInvalidAssertion = errors.New("invalid client assertion")

func assertionErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidAssertion, fmt.Sprintf(format, args...))
}

// ParsePublicKeyPEM reads an RSA public key from PEM: SPKI ("PUBLIC KEY"),
// PKCS#1 ("RSA PUBLIC KEY") or an X.509 certificate. For a certificate the
// second result is its NotAfter. Keys shorter than MinRSABits are refused.
func ParsePublicKeyPEM(s string) (*rsa.PublicKey, time.Time, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, time.Time{}, errors.New("not a PEM block")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, time.Time{}, errors.New("more than one PEM block")
	}
	var (
		key      any
		notAfter time.Time
		err      error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key, notAfter = cert.PublicKey, cert.NotAfter
		}
	default:
		return nil, time.Time{}, fmt.Errorf("PEM type %q is not a public key or certificate", block.Type)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("parse %s: %w", strings.ToLower(block.Type), err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, time.Time{}, errors.New("the key is not an RSA key")
	}
	if pub.N.BitLen() < MinRSABits {
		return nil, time.Time{}, fmt.Errorf("the RSA key has %d bits; at least %d are required", pub.N.BitLen(), MinRSABits)
	}
	return pub, notAfter, nil
}

// KeyThumbprint is the RFC 7638 SHA-256 thumbprint of the key, base64url:
// the kid given to a credential registered without one.
func KeyThumbprint(pub *rsa.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// AssertionVerifier checks client assertions against a client's registered
// credentials and remembers the jti of each accepted assertion until it
// expires, so that an assertion is used once.
//
// The replay cache is in memory, hence per node, unless the verifier is
// given a store every node shares (Redis): with several nodes and the
// memory cache an assertion could be replayed once on each node within its
// (at most five-minute) lifetime.
type AssertionVerifier struct {
	issuer string
	now    func() time.Time
	seen   *replayCache
	shared Once
}

// Once remembers keys every node shares: Once reports whether key is new,
// remembering it for ttl (Redis SET NX).
type Once interface {
	Once(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// SharedTimeout bounds a call to the shared replay cache; an unanswered
// call refuses the assertion (the cache fails closed).
const SharedTimeout = 200 * time.Millisecond

// NewAssertionVerifier returns a verifier for a server whose issuer (with
// its trailing slash) is issuer. With shared (not nil) a jti is used once
// across every node; otherwise once per node.
func NewAssertionVerifier(issuer string, shared Once, now func() time.Time) *AssertionVerifier {
	return &AssertionVerifier{issuer: issuer, now: now, seen: newReplayCache(DefaultReplayCacheSize), shared: shared}
}

// assertionClaims are the claims read from an assertion.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
}

// Verify checks assertion for client c: one of its unexpired credentials
// with the header's alg (and kid, when the header names one) must have
// signed it; iss and sub must be the client_id; aud the issuer or the token
// endpoint; exp in the future and at most MaxAssertionLifetime away (and
// from iat); iat and nbf not in the future beyond AssertionLeeway; jti
// present and not seen before. Every refusal wraps ErrInvalidAssertion.
func (v *AssertionVerifier) Verify(ctx context.Context, c store.Client, assertion string) error {
	if len(assertion) > MaxAssertionSize {
		return assertionErr("longer than %d bytes", MaxAssertionSize)
	}
	algs := make([]jose.SignatureAlgorithm, len(AssertionAlgs))
	for i, a := range AssertionAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(assertion, algs)
	if err != nil {
		return assertionErr("%v", err)
	}
	if len(jws.Signatures) != 1 {
		return assertionErr("want one signature")
	}
	h := jws.Signatures[0].Header
	if h.JSONWebKey != nil {
		// Keys come from the client's registration, never from the token.
		return assertionErr("embedded keys are not accepted")
	}
	now := v.now()
	var payload []byte
	for _, cred := range c.Credentials {
		if cred.Alg != h.Algorithm || (h.KeyID != "" && h.KeyID != cred.KID) {
			continue
		}
		if !cred.ExpiresAt.IsZero() && !now.Before(cred.ExpiresAt) {
			continue
		}
		pub, _, err := ParsePublicKeyPEM(cred.PEM)
		if err != nil {
			continue
		}
		if p, err := jws.Verify(pub); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return assertionErr("no valid credential of the client signed it")
	}
	var cl assertionClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return assertionErr("claims: %v", err)
	}
	switch {
	case cl.Issuer != c.ClientID:
		return assertionErr("iss is not the client_id")
	case cl.Subject != c.ClientID:
		return assertionErr("sub is not the client_id")
	case !slices.ContainsFunc(cl.Audience, func(a string) bool { return a == v.issuer || a == v.issuer+"oauth/token" }):
		return assertionErr("aud is neither %s nor %soauth/token", v.issuer, v.issuer)
	case cl.Expiry == nil:
		return assertionErr("exp is missing")
	case cl.ID == "":
		return assertionErr("jti is missing")
	case len(cl.ID) > MaxJTILength:
		return assertionErr("jti is longer than %d characters", MaxJTILength)
	}
	exp := cl.Expiry.Time()
	if !now.Before(exp) {
		return assertionErr("expired")
	}
	if exp.Sub(now) > MaxAssertionLifetime+AssertionLeeway {
		return assertionErr("exp is more than %s away", MaxAssertionLifetime)
	}
	if cl.IssuedAt != nil {
		iat := cl.IssuedAt.Time()
		if iat.After(now.Add(AssertionLeeway)) {
			return assertionErr("iat is in the future")
		}
		if exp.Sub(iat) > MaxAssertionLifetime {
			return assertionErr("lifetime exp-iat is more than %s", MaxAssertionLifetime)
		}
	}
	if cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(AssertionLeeway)) {
		return assertionErr("nbf is in the future")
	}
	key := c.ClientID + "\x00" + cl.ID
	if v.shared != nil {
		sctx, cancel := context.WithTimeout(ctx, SharedTimeout)
		first, err := v.shared.Once(sctx, "jti:"+key, exp.Sub(now)+time.Second)
		cancel()
		if err != nil {
			return assertionErr("the replay cache is unavailable: %v", err)
		}
		if !first {
			return assertionErr("jti was already used")
		}
		return nil
	}
	if !v.seen.add(key, exp, now) {
		return assertionErr("jti was already used")
	}
	return nil
}

// UnverifiedAssertionIssuer is the iss claim of an assertion, read without
// checking it: it names the client when a request carries no client_id.
// Empty when the assertion cannot be read.
func UnverifiedAssertionIssuer(assertion string) string {
	if len(assertion) > MaxAssertionSize {
		return ""
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.PS256})
	if err != nil {
		return ""
	}
	var cl assertionClaims
	if tok.UnsafeClaimsWithoutVerification(&cl) != nil {
		return ""
	}
	return cl.Issuer
}

// replayCache remembers keys until their expiry; bounded, and fails closed
// (refuses new keys) when full of unexpired ones.
type replayCache struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time
	// nextSweep is when a full cache may next be swept for expired keys: a
	// sweep walks the whole map, so it runs at most once a second.
	nextSweep time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, until: make(map[string]time.Time)}
}

// add records key until exp; false when it is already there (a replay) or
// the cache is full.
func (r *replayCache) add(key string, exp, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.until[key]; ok && now.Before(t) {
		return false
	}
	if len(r.until) >= r.max {
		if now.Before(r.nextSweep) {
			return false
		}
		r.nextSweep = now.Add(time.Second)
		for k, t := range r.until {
			if !now.Before(t) {
				delete(r.until, k)
			}
		}
		if len(r.until) >= r.max {
			return false
		}
	}
	r.until[key] = exp
	return true
}
