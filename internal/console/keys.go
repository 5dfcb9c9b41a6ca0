package console

import (
	"net/http"
	"net/url"
)

// signingKey is a key as GET /api/v2/keys/signing shows it.
type signingKey struct {
	KID          string `json:"kid"`
	Alg          string `json:"alg"`
	Current      bool   `json:"current"`
	Next         bool   `json:"next"`
	Previous     bool   `json:"previous"`
	Revoked      bool   `json:"revoked"`
	CurrentSince string `json:"current_since"`
	CurrentUntil string `json:"current_until"`
	RevokedAt    string `json:"revoked_at"`
	Fingerprint  string `json:"fingerprint"`
	Thumbprint   string `json:"thumbprint"`
}

func (c *Console) keys(w http.ResponseWriter, r *http.Request, s *session) {
	c.showKeys(w, r, s, "", http.StatusOK)
}

func (c *Console) showKeys(w http.ResponseWriter, r *http.Request, s *session, msg string, status int) {
	var ks []signingKey
	if err := c.call(r, s, http.MethodGet, "/api/v2/keys/signing", nil, &ks); err != nil {
		c.apiFailure(w, r, s, "keys.html", "Signing keys", "keys", err)
		return
	}
	c.render(w, r, s, "keys.html", page{Title: "Signing keys", Nav: "keys", Data: ks, Error: msg}, status)
}

// rotateKey makes the next key current (fresh sign-in).
func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, s *session) {
	c.write(w, r, s, http.MethodPost, "/api/v2/keys/signing/rotate", nil, c.keysShow(w, r, s), "/admin/keys", "rotated")
}

// keysShow shows the keys again with a refusal.
func (c *Console) keysShow(w http.ResponseWriter, r *http.Request, s *session) func(string, int) {
	return func(msg string, status int) { c.showKeys(w, r, s, msg, status) }
}

// revokeKey revokes a previous key (fresh sign-in).
func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, s *session) {
	c.write(w, r, s, http.MethodPut, "/api/v2/keys/signing/"+url.PathEscape(r.PathValue("kid"))+"/revoke", nil,
		c.keysShow(w, r, s), "/admin/keys", "revoked")
}
