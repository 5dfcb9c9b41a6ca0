package mgmtapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// MaxCredentialsPerClient bounds the credentials of one client (they live
// inside the client's record).
const MaxCredentialsPerClient = 10

// credentialJSON is a client credential as the Management API shows it:
// never the key material.
type credentialJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	CredentialType string     `json:"credential_type"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

func credentialOut(c store.ClientCredential) credentialJSON {
	out := credentialJSON{ID: c.ID, Name: c.Name, KID: c.KID, Alg: c.Alg, CredentialType: c.CredentialType,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if !c.ExpiresAt.IsZero() {
		t := c.ExpiresAt
		out.ExpiresAt = &t
	}
	return out
}

// credentialRequest is the body of POST /api/v2/clients/{id}/credentials.
type credentialRequest struct {
	CredentialType      string  `json:"credential_type"`
	Name                string  `json:"name"`
	PEM                 string  `json:"pem"`
	Alg                 string  `json:"alg"`
	KID                 string  `json:"kid"`
	ExpiresAt           *string `json:"expires_at"`
	ParseExpiryFromCert bool    `json:"parse_expiry_from_cert"`
}

var kidPattern = regexp.MustCompile(`^[0-9a-zA-Z_-]{10,64}$`)

var errNoCredential = httpx.Errorf(http.StatusNotFound, "inexistent_credential", "The credential does not exist")

// buildCredential validates a credential request into a record.
func buildCredential(req credentialRequest, now time.Time) (store.ClientCredential, error) {
	if req.CredentialType != "public_key" {
		return store.ClientCredential{}, badRequest("credential_type: must be public_key")
	}
	if len(req.Name) > 128 {
		return store.ClientCredential{}, badRequest("name: at most 128 characters")
	}
	if req.PEM == "" {
		return store.ClientCredential{}, badRequest("pem: required")
	}
	if len(req.PEM) > 16<<10 {
		return store.ClientCredential{}, badRequest("pem: too long")
	}
	pub, notAfter, err := oauth.ParsePublicKeyPEM(req.PEM)
	if err != nil {
		return store.ClientCredential{}, badRequest("pem: %s", err.Error())
	}
	if req.Alg == "" {
		req.Alg = "RS256"
	}
	if !slices.Contains(oauth.AssertionAlgs, req.Alg) {
		return store.ClientCredential{}, badRequest("alg: must be one of %v", oauth.AssertionAlgs)
	}
	if req.KID == "" {
		if req.KID, err = oauth.KeyThumbprint(pub); err != nil {
			return store.ClientCredential{}, err
		}
	} else if !kidPattern.MatchString(req.KID) {
		return store.ClientCredential{}, badRequest("kid: must match [0-9a-zA-Z-_]{10,64}")
	}
	c := store.ClientCredential{ID: "cred_" + secret.Alnum(22), Name: req.Name, CredentialType: req.CredentialType,
		KID: req.KID, Alg: req.Alg, PEM: req.PEM, CreatedAt: now, UpdatedAt: now}
	switch {
	case req.ExpiresAt != nil && req.ParseExpiryFromCert:
		return c, badRequest("expires_at and parse_expiry_from_cert cannot be used together")
	case req.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt)
		if err != nil {
			return c, badRequest("expires_at: not an ISO 8601 date-time")
		}
		if !t.After(now) {
			return c, badRequest("expires_at: must be in the future")
		}
		c.ExpiresAt = t.UTC()
	case req.ParseExpiryFromCert:
		if notAfter.IsZero() {
			return c, badRequest("parse_expiry_from_cert: the pem is not a certificate")
		}
		c.ExpiresAt = notAfter.UTC()
	}
	return c, nil
}

func (a *API) createCredential(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var req credentialRequest
	if err := decodeStrict(raw, &req); err != nil {
		return err
	}
	now := a.Now()
	cred, err := buildCredential(req, now)
	if err != nil {
		return err
	}
	_, err = a.Store.ModifyClient(r.Context(), r.PathValue("id"), func(c *store.Client) error {
		if len(c.Credentials) >= MaxCredentialsPerClient {
			return badRequest("a client can have at most %d credentials", MaxCredentialsPerClient)
		}
		if slices.ContainsFunc(c.Credentials, func(x store.ClientCredential) bool { return x.KID == cred.KID }) {
			return httpx.Errorf(http.StatusConflict, "credential_conflict", "A credential with kid %q already exists for this client", cred.KID)
		}
		c.Credentials = append(slices.Clone(c.Credentials), cred)
		c.UpdatedAt = now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoClient
	} else if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusCreated, credentialOut(cred))
	return nil
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	out := make([]credentialJSON, 0, len(c.Credentials))
	for _, cred := range c.Credentials {
		out = append(out, credentialOut(cred))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getCredential(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(c.Credentials, func(x store.ClientCredential) bool { return x.ID == r.PathValue("cred") })
	if i < 0 {
		return errNoCredential
	}
	httpx.WriteJSON(w, http.StatusOK, credentialOut(c.Credentials[i]))
	return nil
}

func (a *API) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	_, err := a.Store.ModifyClient(r.Context(), r.PathValue("id"), func(c *store.Client) error {
		i := slices.IndexFunc(c.Credentials, func(x store.ClientCredential) bool { return x.ID == r.PathValue("cred") })
		if i < 0 {
			return errNoCredential
		}
		c.Credentials = slices.Delete(slices.Clone(c.Credentials), i, i+1)
		c.UpdatedAt = a.Now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoClient
	} else if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	a.Cache.Invalidate()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// authMethodsJSON is client_authentication_methods on the client object.
type authMethodsJSON struct {
	PrivateKeyJWT struct {
		Credentials []credentialRef `json:"credentials"`
	} `json:"private_key_jwt"`
}

type credentialRef struct {
	ID string `json:"id"`
}

// authMethodsOf shows the client's credentials as its Private Key JWT
// method; nil when it has none.
func authMethodsOf(c store.Client) *authMethodsJSON {
	if len(c.Credentials) == 0 {
		return nil
	}
	m := &authMethodsJSON{}
	for _, cred := range c.Credentials {
		m.PrivateKeyJWT.Credentials = append(m.PrivateKeyJWT.Credentials, credentialRef{ID: cred.ID})
	}
	return m
}

// checkAuthMethods accepts client_authentication_methods in a client patch
// when it names only the client's own credentials (in Latchkey every
// registered credential is usable, so there is nothing to switch on) and
// returns the patch without it. Anything else is refused rather than
// silently ignored.
func checkAuthMethods(c store.Client, patch []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil {
		return nil, badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	v, ok := fields["client_authentication_methods"]
	if !ok {
		return patch, nil
	}
	var m struct {
		PrivateKeyJWT *struct {
			Credentials []credentialRef `json:"credentials"`
		} `json:"private_key_jwt"`
	}
	if err := decodeStrict(v, &m); err != nil || m.PrivateKeyJWT == nil {
		return nil, badRequest("client_authentication_methods: only private_key_jwt.credentials is supported")
	}
	for _, ref := range m.PrivateKeyJWT.Credentials {
		if !slices.ContainsFunc(c.Credentials, func(x store.ClientCredential) bool { return x.ID == ref.ID }) {
			return nil, badRequest("client_authentication_methods.private_key_jwt.credentials: %q is not a credential of this client", ref.ID)
		}
	}
	delete(fields, "client_authentication_methods")
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	return out, nil
}
