package authapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/store"
)

type fakeDir struct{ clients map[string]store.Client }

func (d fakeDir) Client(_ context.Context, id string) (store.Client, error) {
	c, ok := d.clients[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func (d fakeDir) Clients(context.Context) ([]store.Client, error) {
	var out []store.Client
	for _, c := range d.clients {
		out = append(out, c)
	}
	return out, nil
}

func (d fakeDir) Connection(context.Context, string) (store.Connection, error) {
	return store.Connection{}, store.ErrNotFound
}

func (d fakeDir) Settings(context.Context) (store.TenantSettings, error) {
	var s store.TenantSettings
	s.Flags.EnforceClientAuthOnPasswordlessStart = true
	return s, nil
}

// recordingStarter remembers the IP each start was attributed to.
type recordingStarter struct {
	mu  sync.Mutex
	ips []string
}

func (s *recordingStarter) Start(_ context.Context, req passwordless.StartRequest) (passwordless.StartResult, error) {
	s.mu.Lock()
	s.ips = append(s.ips, req.IP)
	s.mu.Unlock()
	return passwordless.StartResult{Strategy: "email", Email: req.Email, IdentityID: "0123456789abcdef01234567"}, nil
}

// TestStartForwardedForWithAssertion: on /passwordless/start a client
// assertion is client authentication, so a trusted app's
// auth0-forwarded-for becomes the attributed IP (spec §8, Server note).
func TestStartForwardedForWithAssertion(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cred := store.ClientCredential{ID: "cred_1", KID: "kid-0123456789", Alg: "RS256", CredentialType: "public_key",
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	const issuer = "https://login.example.com/"
	now := time.Now()
	clients := map[string]store.Client{}
	for _, c := range []store.Client{
		{ClientID: "trusted", AppType: "regular_web", TokenEndpointAuthMethod: "client_secret_post", IsTokenEndpointIPHeaderTrusted: true},
		{ClientID: "untrusted", AppType: "regular_web", TokenEndpointAuthMethod: "client_secret_post"},
	} {
		c.Credentials = []store.ClientCredential{cred}
		clients[c.ClientID] = c
	}
	st := &recordingStarter{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &API{Log: log, Dir: fakeDir{clients}, Start: st, Assertions: oauth.NewAssertionVerifier(issuer, nil, func() time.Time { return now })}
	srv := httptest.NewServer(httpx.Middleware(httpx.Options{Log: log, MaxBody: 1 << 20}, httpx.Handle(log, httpx.RenderAuth, a.passwordlessStart)))
	defer srv.Close()

	sign := func(clientID string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{issuer},
			ID: clientID + time.Now().String(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name, client, assertion string
		status                  int
		wantForwarded           bool
	}{
		{"trusted with assertion", "trusted", sign("trusted"), 200, true},
		{"untrusted with assertion", "untrusted", sign("untrusted"), 200, false},
		{"trusted with a bad assertion", "trusted", sign("untrusted"), 401, false},
		{"trusted without credentials", "trusted", "", 403, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"client_id": tt.client, "connection": "email", "email": "a@example.com"}
			if tt.assertion != "" {
				body["client_assertion"], body["client_assertion_type"] = tt.assertion, oauth.ClientAssertionType
			}
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Auth0-Forwarded-For", "198.51.100.9")
			st.mu.Lock()
			st.ips = nil
			st.mu.Unlock()
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if tt.status != 200 {
				if len(st.ips) != 0 {
					t.Fatalf("started despite %d", tt.status)
				}
				return
			}
			if len(st.ips) != 1 || (st.ips[0] == "198.51.100.9") != tt.wantForwarded || st.ips[0] == "" {
				t.Fatalf("attributed IPs %v, want forwarded=%v", st.ips, tt.wantForwarded)
			}
		})
	}
}
