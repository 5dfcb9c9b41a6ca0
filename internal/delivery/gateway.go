package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// GatewayAuth is an sms connection's gateway_authentication: the gateway
// gets "Authorization: Bearer <JWT>", the JWT signed with HS256 under Secret
// (base64url-decoded first when SecretBase64), with sub=Subject,
// aud=Audience. Method is "bearer", the only method Auth0 has.
type GatewayAuth struct {
	Method, Subject, Audience, Secret string
	SecretBase64                      bool
}

// GatewayConfig is an sms connection's custom gateway: gateway_url, from
// (the sender), gateway_authentication and forward_req_info.
type GatewayConfig struct {
	URL, Sender    string
	Auth           *GatewayAuth
	ForwardReqInfo bool
}

// Gateway sends SMS through a custom SMS gateway, as Auth0's sms_gateway
// provider does. It is safe for concurrent use.
type Gateway struct {
	hc  *http.Client
	now func() time.Time
}

// NewGateway returns a Gateway. A nil hc means a client with the contract's
// 30 s timeout that does not follow redirects.
func NewGateway(hc *http.Client) *Gateway {
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Gateway{hc: hc, now: time.Now}
}

// gatewayLifetime is how long the bearer JWT is valid.
const gatewayLifetime = 60 * time.Second

type gatewayPayload struct {
	Recipient string          `json:"recipient"`
	Body      string          `json:"body"`
	Sender    string          `json:"sender,omitempty"`
	Req       *gatewayReqInfo `json:"req,omitempty"`
}

type gatewayReqInfo struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user-agent"`
}

// Send POSTs {"recipient","body","sender"} (and "req":{"ip","user-agent"}
// when ForwardReqInfo) as JSON to cfg.URL, with the message's ID as the
// Idempotency-Key header (an addition to Auth0's gateway call). Only a 200 answer is a success,
// as in Auth0; the answer's body is ignored. A 401 gives "Authentication
// failed while calling the SMS gateway: 401", any other status "Unexpected
// response while calling the SMS gateway: <status>".
func (g *Gateway) Send(ctx context.Context, cfg GatewayConfig, m SMS) error {
	var secret string
	if cfg.Auth != nil {
		secret = cfg.Auth.Secret
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &SendError{Message: "Invalid SMS gateway URL"}
	}
	p := gatewayPayload{Recipient: m.To, Body: m.Body, Sender: cfg.Sender}
	if cfg.ForwardReqInfo {
		p.Req = &gatewayReqInfo{IP: m.IP, UserAgent: m.UserAgent}
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the bytes JSON.stringify would send
	if err := enc.Encode(p); err != nil {
		return &SendError{Message: "Could not encode the SMS gateway request"}
	}
	body.Truncate(body.Len() - 1) // Encode's newline
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), &body)
	if err != nil {
		return &SendError{Message: "Invalid SMS gateway URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	if m.ID != "" {
		// The same for every attempt at one message: a gateway that
		// honours it drops a resend after a crash.
		req.Header.Set("Idempotency-Key", m.ID)
	}
	if cfg.Auth != nil {
		tok, err := gatewayToken(*cfg.Auth, g.now())
		if err != nil {
			return &SendError{Message: "Invalid SMS gateway authentication: " + err.Error()}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := g.hc.Do(req)
	if err != nil {
		if isTimeout(err) {
			return &SendError{Temporary: true, Message: "Timeout while calling the SMS gateway"}
		}
		return &SendError{Temporary: true, Message: "Error while calling the SMS gateway: " + transportDetail(err, secret)}
	}
	readBody(res)
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode == http.StatusUnauthorized:
		return &SendError{Status: res.StatusCode, Message: "Authentication failed while calling the SMS gateway: 401"}
	}
	return &SendError{
		Temporary: statusTemporary(res.StatusCode),
		Status:    res.StatusCode,
		Message:   fmt.Sprintf("Unexpected response while calling the SMS gateway: %d", res.StatusCode),
	}
}

// gatewayToken returns the HS256 JWT for a gateway call at now.
func gatewayToken(a GatewayAuth, now time.Time) (string, error) {
	if a.Method != "" && !strings.EqualFold(a.Method, "bearer") {
		return "", fmt.Errorf("unsupported method")
	}
	key := []byte(a.Secret)
	if a.SecretBase64 {
		var err error
		if key, err = decodeBase64Secret(a.Secret); err != nil {
			return "", fmt.Errorf("the secret is not base64")
		}
	}
	if len(key) == 0 {
		return "", fmt.Errorf("the secret is empty")
	}
	// go-jose refuses HMAC keys shorter than the hash (RFC 7518 §3.2), but
	// Auth0 accepts any secret from 1 character ("shhhh" in its own
	// example), so the MAC is computed by an opaque signer.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hs256Key(key)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("cannot sign")
	}
	claims := jwt.Claims{
		Subject:  a.Subject,
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(gatewayLifetime)),
	}
	if a.Audience != "" {
		claims.Audience = jwt.Audience{a.Audience}
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("cannot sign")
	}
	return tok, nil
}

// decodeBase64Secret accepts base64url (what Auth0 documents) and standard
// base64, padded or not.
func decodeBase64Secret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// hs256Key is an HMAC-SHA256 key of any length, as a go-jose OpaqueSigner.
type hs256Key []byte

func (k hs256Key) Public() *jose.JSONWebKey { return nil }

func (k hs256Key) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.HS256} }

func (k hs256Key) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.HS256 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	mac := hmac.New(sha256.New, k)
	mac.Write(payload)
	return mac.Sum(nil), nil
}
