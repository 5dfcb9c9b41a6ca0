package mgmtapi

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/store"
)

// SigningKeys manages the token-signing keys (oauth.KeyManager).
type SigningKeys interface {
	// Keys returns every key as stored, oldest first.
	Keys(ctx context.Context) ([]store.SigningKey, error)
	// Certificate is a key's self-signed certificate.
	Certificate(k store.SigningKey) (*x509.Certificate, error)
	// Ensure creates the key family that signs alg if it has no key yet.
	Ensure(ctx context.Context, alg string) error
	// Rotate makes the next key current and returns it.
	Rotate(ctx context.Context) (store.SigningKey, error)
	// Revoke revokes a previous key (store.ErrConflict for the current or
	// next key, store.ErrNotFound for an unknown one).
	Revoke(ctx context.Context, kid string) (store.SigningKey, error)
}

var (
	errNoSigningKey = httpx.Errorf(http.StatusNotFound, "inexistent_signing_key", "Signing key not found")
	errNoKeys       = httpx.Errorf(http.StatusNotImplemented, "not_implemented", "Signing keys are not managed here")
)

// signingKeyJSON is Auth0's signing key.
type signingKeyJSON struct {
	KID          string `json:"kid"`
	Alg          string `json:"alg"` // beyond Auth0: RS256 (RSA) or ES256 (P-256)
	Cert         string `json:"cert"`
	PKCS7        string `json:"pkcs7"`
	Current      bool   `json:"current"`
	Next         bool   `json:"next"`
	Previous     bool   `json:"previous"`
	CurrentSince string `json:"current_since,omitempty"`
	CurrentUntil string `json:"current_until,omitempty"`
	Fingerprint  string `json:"fingerprint"`
	Thumbprint   string `json:"thumbprint"`
	Revoked      bool   `json:"revoked"`
	RevokedAt    string `json:"revoked_at,omitempty"`
}

// certJSON is what rotate and revoke answer: the key's id and certificate.
type certJSON struct {
	Cert string `json:"cert"`
	KID  string `json:"kid"`
}

func (a *API) signingKeys() (SigningKeys, error) {
	if a.SigningKeys == nil {
		return nil, errNoKeys
	}
	return a.SigningKeys, nil
}

// signingKeyOut renders k. previous is set on a key rotated out while it
// still verifies (in the JWKS); once its grace is over it is none of
// current, next, previous or revoked.
func (a *API) signingKeyOut(sk SigningKeys, k store.SigningKey) (signingKeyJSON, error) {
	c, err := sk.Certificate(k)
	if err != nil {
		return signingKeyJSON{}, err
	}
	p7, err := oauth.CertPKCS7(c)
	if err != nil {
		return signingKeyJSON{}, err
	}
	return signingKeyJSON{
		KID: k.KID, Alg: k.Alg, Cert: oauth.CertPEM(c), PKCS7: p7,
		Current: k.Status == store.KeyCurrent, Next: k.Status == store.KeyNext,
		Previous:     k.Status == store.KeyPrevious && oauth.Published(k, a.Now()),
		CurrentSince: timeJSON(k.CurrentSince), CurrentUntil: timeJSON(k.RetiredAt),
		Fingerprint: oauth.CertFingerprint(c), Thumbprint: oauth.CertThumbprint(c),
		Revoked: k.Status == store.KeyRevoked, RevokedAt: timeJSON(k.RevokedAt),
	}, nil
}

func (a *API) certOut(sk SigningKeys, k store.SigningKey) (certJSON, error) {
	c, err := sk.Certificate(k)
	if err != nil {
		return certJSON{}, err
	}
	return certJSON{Cert: oauth.CertPEM(c), KID: k.KID}, nil
}

// findSigningKey returns the stored key kid.
func findSigningKey(ctx context.Context, sk SigningKeys, kid string) (store.SigningKey, error) {
	keys, err := sk.Keys(ctx)
	if err != nil {
		return store.SigningKey{}, err
	}
	for _, k := range keys {
		if k.KID == kid {
			return k, nil
		}
	}
	return store.SigningKey{}, errNoSigningKey
}

// listSigningKeys is GET /api/v2/keys/signing: every key, the next and the
// current first, then the others, latest rotated out first.
func (a *API) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	sk, err := a.signingKeys()
	if err != nil {
		return err
	}
	keys, err := sk.Keys(r.Context())
	if err != nil {
		return err
	}
	oauth.SortKeys(keys)
	out := make([]signingKeyJSON, 0, len(keys))
	for _, k := range keys {
		j, err := a.signingKeyOut(sk, k)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getSigningKey(w http.ResponseWriter, r *http.Request) error {
	sk, err := a.signingKeys()
	if err != nil {
		return err
	}
	k, err := findSigningKey(r.Context(), sk, r.PathValue("kid"))
	if err != nil {
		return err
	}
	j, err := a.signingKeyOut(sk, k)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, j)
	return nil
}

// rotateSigningKey is POST /api/v2/keys/signing/rotate: the next key becomes
// current (the answer names it), the current one previous, and a new next
// key is published.
func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	sk, err := a.signingKeys()
	if err != nil {
		return err
	}
	promoted, err := sk.Rotate(r.Context())
	if errors.Is(err, oauth.ErrKeysChanged) {
		return httpx.Errorf(http.StatusConflict, "conflict", "The signing keys changed during the rotation (another rotation at the same moment); list them and rotate again if needed")
	}
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	j, err := a.certOut(sk, promoted)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, j)
	return nil
}

// revokeSigningKey is PUT /api/v2/keys/signing/{kid}/revoke: only a key
// rotated out can be revoked; it leaves the JWKS and what it signed stops
// verifying. Revoking a revoked key again answers the same.
func (a *API) revokeSigningKey(w http.ResponseWriter, r *http.Request) error {
	sk, err := a.signingKeys()
	if err != nil {
		return err
	}
	ctx := r.Context()
	k, err := findSigningKey(ctx, sk, r.PathValue("kid"))
	if err != nil {
		return err
	}
	switch k.Status {
	case store.KeyCurrent:
		return httpx.Errorf(http.StatusConflict, "signing_key_in_use", "The current signing key cannot be revoked: rotate the keys first, then revoke it as the previous key")
	case store.KeyNext:
		return httpx.Errorf(http.StatusConflict, "signing_key_in_use", "The next signing key cannot be revoked: it has signed nothing yet and becomes current at the next rotation")
	}
	k, err = sk.Revoke(ctx, k.KID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNoSigningKey
	case errors.Is(err, store.ErrConflict):
		return httpx.Errorf(http.StatusConflict, "signing_key_in_use", "The signing key became the current or next key meanwhile; it cannot be revoked")
	case err != nil:
		return fmt.Errorf("revoke signing key: %w", err)
	}
	j, err := a.certOut(sk, k)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, j)
	return nil
}
