package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

var (
	pkOnce         sync.Once
	pkKey, pkOther *rsa.PrivateKey
)

// pkKeys are two RSA keys, generated once for the package's tests.
func pkKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	pkOnce.Do(func() {
		var err error
		if pkKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if pkOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return pkKey, pkOther
}

func publicPEM(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// assertion builds a client assertion the way go-auth0's authentication
// package does (iss = sub = client_id, aud the tenant URL as one string,
// iat = nbf = now, exp = now + 2 min, a random jti, RS256), signed with key.
func (e *env) assertion(key *rsa.PrivateKey, clientID, aud, kid string) string {
	e.t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		ID:       fmt.Sprintf("%x-%x-%x-%x-%x", jti[0:4], jti[4:6], jti[6:8], jti[8:10], jti[10:]),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute))}).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key, other := pkKeys(t)
	forEachBackend(t, func(t *testing.T, e *env) {
		tok := e.mgmtToken("")

		// Register a credential on the confidential web app.
		r := e.mgmt("POST", "clients/"+webID+"/credentials", tok, map[string]any{
			"credential_type": "public_key", "name": "laptop", "pem": publicPEM(t, key), "alg": "RS256"})
		if r.status != 201 || !strings.HasPrefix(r.str("id"), "cred_") || len(r.str("kid")) != 43 ||
			r.str("alg") != "RS256" || r.str("credential_type") != "public_key" || r.str("name") != "laptop" ||
			r.str("created_at") == "" || r.str("updated_at") == "" || r.body["expires_at"] != nil {
			t.Fatalf("create credential: %d %s", r.status, r.raw)
		}
		if strings.Contains(string(r.raw), "BEGIN") || r.body["pem"] != nil {
			t.Fatalf("the credential echoes its key: %s", r.raw)
		}
		credID, kid := r.str("id"), r.str("kid")

		var list []map[string]any
		if r := e.mgmt("GET", "clients/"+webID+"/credentials", tok, nil); r.status != 200 || json.Unmarshal(r.raw, &list) != nil ||
			len(list) != 1 || list[0]["id"] != credID || list[0]["kid"] != kid || list[0]["pem"] != nil {
			t.Fatalf("list credentials: %d %s", r.status, r.raw)
		}
		if r := e.mgmt("GET", "clients/"+webID+"/credentials/"+credID, tok, nil); r.status != 200 || r.str("id") != credID {
			t.Fatalf("get credential: %d %s", r.status, r.raw)
		}
		c := e.mgmt("GET", "clients/"+webID, tok, nil)
		if !strings.Contains(string(c.raw), `"client_authentication_methods":{"private_key_jwt":{"credentials":[{"id":"`+credID+`"}]}}`) {
			t.Fatalf("client without client_authentication_methods: %s", c.raw)
		}
		// Patching the client keeps its credentials, and accepts its own methods back.
		if r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"description": "x",
			"client_authentication_methods": map[string]any{"private_key_jwt": map[string]any{"credentials": []any{map[string]any{"id": credID}}}}}); r.status != 200 ||
			!strings.Contains(string(r.raw), credID) {
			t.Fatalf("patch client: %d %s", r.status, r.raw)
		}

		// Enforce client authentication on /passwordless/start.
		if r := e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"flags": map[string]any{
			"enforce_client_authentication_on_passwordless_start": true}}); r.status != 200 {
			t.Fatalf("settings: %d %s", r.status, r.raw)
		}
		start := func(assertion string) response {
			body := map[string]any{"client_id": webID, "connection": "email", "send": "code", "email": "pk@example.com"}
			if assertion != "" {
				body["client_assertion"], body["client_assertion_type"] = assertion, jwtBearer
			}
			return e.postJSON("/passwordless/start", body, nil)
		}
		wantError(t, start(""), 403, "unauthorized_client", "Client authentication is required")
		good := e.assertion(key, webID, e.issuer, kid)
		if r := start(good); r.status != 200 || r.str("email") != "pk@example.com" {
			t.Fatalf("start with an assertion: %d %s", r.status, r.raw)
		}
		// Its code is sent before the next one (sends run concurrently, so
		// lastMessage could pick either).
		e.delivered()
		wantError(t, start(good), 401, "access_denied", "Unauthorized") // replayed
		wantError(t, start(e.assertion(other, webID, e.issuer, "")), 401, "access_denied", "Unauthorized")
		wantError(t, start(e.assertion(key, webID, "https://elsewhere.example.com/", "")), 401, "access_denied", "Unauthorized")
		wantError(t, start(e.assertion(key, nativeID, e.issuer, "")), 401, "access_denied", "Unauthorized") // iss is not the client
		wantError(t, start("garbage"), 401, "access_denied", "Unauthorized")
		r = e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "email": "pk@example.com",
			"client_assertion": good, "client_assertion_type": "jwt"}, nil)
		wantError(t, r, 400, "bad.client_assertion_type", "")

		// Finish at /oauth/token, authenticated by an assertion (aud: the token endpoint).
		if r := start(e.assertion(key, webID, e.issuer, kid)); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
		code := e.lastMessage("pk@example.com").Code
		otp := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {webID},
			"realm": {"email"}, "username": {"pk@example.com"}, "otp": {code}, "scope": {"openid email"},
			"client_assertion_type": {jwtBearer}}
		bad := cloneValues(otp)
		bad.Set("client_assertion", e.assertion(other, webID, e.issuer+"oauth/token", ""))
		wantError(t, e.postForm("/oauth/token", bad, nil), 401, "access_denied", "Unauthorized")
		both := cloneValues(otp)
		both.Set("client_assertion", e.assertion(key, webID, e.issuer+"oauth/token", ""))
		both.Set("client_secret", webSecret)
		wantError(t, e.postForm("/oauth/token", both, nil), 400, "invalid_request", "")
		otp.Set("client_assertion", e.assertion(key, webID, e.issuer+"oauth/token", kid))
		tr := e.postForm("/oauth/token", otp, nil)
		if tr.status != 200 || tr.str("id_token") == "" {
			t.Fatalf("token with an assertion: %d %s", tr.status, tr.raw)
		}
		ctx := oidc.ClientContext(t.Context(), e.http)
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, tr.str("id_token")); err != nil {
			t.Fatal(err)
		}

		// A restart re-applies the tenant file; registered credentials stay.
		e.restart()
		tok = e.mgmtToken("")
		if r := start(e.assertion(key, webID, e.issuer, kid)); r.status != 200 {
			t.Fatalf("start after restart: %d %s", r.status, r.raw)
		}

		// Deleting the credential ends it.
		if r := e.mgmt("DELETE", "clients/"+webID+"/credentials/"+credID, tok, nil); r.status != 204 {
			t.Fatalf("delete credential: %d %s", r.status, r.raw)
		}
		wantMgmtError(t, e.mgmt("GET", "clients/"+webID+"/credentials/"+credID, tok, nil), 404, "inexistent_credential", "")
		wantMgmtError(t, e.mgmt("DELETE", "clients/"+webID+"/credentials/"+credID, tok, nil), 404, "inexistent_credential", "")
		wantError(t, start(e.assertion(key, webID, e.issuer, kid)), 401, "access_denied", "Unauthorized")
		if c := e.mgmt("GET", "clients/"+webID, tok, nil); strings.Contains(string(c.raw), "client_authentication_methods") {
			t.Fatalf("client_authentication_methods without credentials: %s", c.raw)
		}
	})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func TestPrivateKeyJWTManagementErrors(t *testing.T) {
	t.Parallel()
	key, _ := pkKeys(t)
	e := newEnv(t)
	tok := e.mgmtToken("")
	pemKey := publicPEM(t, key)
	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"wrong type", map[string]any{"credential_type": "cert_subject_dn", "pem": pemKey}, 400, "invalid_body"},
		{"no pem", map[string]any{"credential_type": "public_key"}, 400, "invalid_body"},
		{"bad pem", map[string]any{"credential_type": "public_key", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, 400, "invalid_body"},
		{"private key", map[string]any{"credential_type": "public_key", "pem": strings.ReplaceAll(pemKey, "PUBLIC", "PRIVATE")}, 400, "invalid_body"},
		{"bad alg", map[string]any{"credential_type": "public_key", "pem": pemKey, "alg": "HS256"}, 400, "invalid_body"},
		{"bad kid", map[string]any{"credential_type": "public_key", "pem": pemKey, "kid": "short"}, 400, "invalid_body"},
		{"past expiry", map[string]any{"credential_type": "public_key", "pem": pemKey, "expires_at": "2001-01-01T00:00:00Z"}, 400, "invalid_body"},
		{"bad expiry", map[string]any{"credential_type": "public_key", "pem": pemKey, "expires_at": "tomorrow"}, 400, "invalid_body"},
		{"expiry from a bare key", map[string]any{"credential_type": "public_key", "pem": pemKey, "parse_expiry_from_cert": true}, 400, "invalid_body"},
		{"unknown field", map[string]any{"credential_type": "public_key", "pem": pemKey, "secret": "x"}, 400, "invalid_body"},
		{"pem wrong type", map[string]any{"credential_type": "public_key", "pem": 5}, 400, "invalid_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantMgmtError(t, e.mgmt("POST", "clients/"+webID+"/credentials", tok, tt.body), tt.status, tt.code, "")
		})
	}
	wantMgmtError(t, e.mgmt("POST", "clients/nope/credentials", tok, map[string]any{"credential_type": "public_key", "pem": pemKey}), 404, "inexistent_client", "")
	wantMgmtError(t, e.mgmt("GET", "clients/nope/credentials", tok, nil), 404, "inexistent_client", "")
	wantMgmtError(t, e.mgmt("GET", "clients/"+webID+"/credentials/cred_nope", tok, nil), 404, "inexistent_credential", "")
	readOnly := e.mgmtToken("read:clients")
	wantMgmtError(t, e.mgmt("POST", "clients/"+webID+"/credentials", readOnly, map[string]any{"credential_type": "public_key", "pem": pemKey}), 403, "insufficient_scope", "")
	wantMgmtError(t, e.mgmt("GET", "clients/"+webID+"/credentials", readOnly, nil), 403, "insufficient_scope", "")

	// A kid given by the caller is kept, and must be unique on the client; an expiry is shown.
	exp := e.clock.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	r := e.mgmt("POST", "clients/"+webID+"/credentials", tok, map[string]any{"credential_type": "public_key", "pem": pemKey,
		"kid": "my-key-id-0001", "alg": "PS256", "expires_at": exp.Format(time.RFC3339)})
	if r.status != 201 || r.str("kid") != "my-key-id-0001" || r.str("alg") != "PS256" || r.str("expires_at") != exp.Format(time.RFC3339) {
		t.Fatalf("create with kid: %d %s", r.status, r.raw)
	}
	wantMgmtError(t, e.mgmt("POST", "clients/"+webID+"/credentials", tok, map[string]any{"credential_type": "public_key", "pem": pemKey,
		"kid": "my-key-id-0001"}), 409, "credential_conflict", "")
	// PATCH may not reference a credential the client does not have.
	wantMgmtError(t, e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"client_authentication_methods": map[string]any{
		"private_key_jwt": map[string]any{"credentials": []any{map[string]any{"id": "cred_other"}}}}}), 400, "invalid_body", "")
}

// TestForwardedForWithAssertion: a trusted confidential app that proves
// itself with a client assertion (no secret) gets auth0-forwarded-for
// honoured, as with a secret (spec §8, Server note).
func TestForwardedForWithAssertion(t *testing.T) {
	t.Parallel()
	key, _ := pkKeys(t)
	e := newEnv(t)
	tok := e.mgmtToken("")
	r := e.mgmt("POST", "clients/"+webID+"/credentials", tok, map[string]any{"credential_type": "public_key", "pem": publicPEM(t, key)})
	if r.status != 201 {
		t.Fatalf("create credential: %d %s", r.status, r.raw)
	}
	login := func(email string) string {
		t.Helper()
		hdr := map[string]string{"Auth0-Forwarded-For": "203.0.113.7"}
		s := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code", "email": email,
			"client_assertion": e.assertion(key, webID, e.issuer, ""), "client_assertion_type": jwtBearer}, hdr)
		if s.status != 200 {
			t.Fatalf("start: %d %s", s.status, s.raw)
		}
		v := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {webID},
			"realm": {"email"}, "username": {email}, "otp": {e.lastMessage(email).Code},
			"client_assertion": {e.assertion(key, webID, e.issuer, "")}, "client_assertion_type": {jwtBearer}}
		if r := e.postForm("/oauth/token", v, hdr); r.status != 200 {
			t.Fatalf("token: %d %s", r.status, r.raw)
		}
		u, err := e.srv.Store.FindUser(t.Context(), "email", email)
		if err != nil {
			t.Fatal(err)
		}
		return u.LastIP
	}
	if ip := login("untrusted@example.com"); ip == "203.0.113.7" || ip == "" {
		t.Fatalf("header honoured for an untrusted app: last IP %q", ip)
	}
	if r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"is_token_endpoint_ip_header_trusted": true}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if ip := login("trusted@example.com"); ip != "203.0.113.7" {
		t.Fatalf("header not honoured for a trusted app authenticated by assertion: last IP %q", ip)
	}
}

// TestClientCredentialsWithAssertion: the M2M app gets a Management API
// token through x/oauth2's clientcredentials with a client assertion in
// place of a secret; without client_id in the body the assertion's iss
// names the client.
func TestClientCredentialsWithAssertion(t *testing.T) {
	t.Parallel()
	key, other := pkKeys(t)
	e := newEnv(t)
	tok := e.mgmtToken("")
	if r := e.mgmt("POST", "clients/"+m2mID+"/credentials", tok, map[string]any{"credential_type": "public_key", "pem": publicPEM(t, key)}); r.status != 201 {
		t.Fatalf("create credential: %d %s", r.status, r.raw)
	}
	aud := e.issuer + "api/v2/"
	cc := clientcredentials.Config{ClientID: m2mID, TokenURL: e.issuer + "oauth/token", AuthStyle: oauth2.AuthStyleInParams,
		Scopes: []string{"read:clients"}, EndpointParams: url.Values{"audience": {aud}, "client_assertion_type": {jwtBearer},
			"client_assertion": {e.assertion(key, m2mID, e.issuer+"oauth/token", "")}}}
	got, err := cc.Token(context.WithValue(t.Context(), oauth2.HTTPClient, e.http))
	if err != nil {
		t.Fatal(err)
	}
	if c := jwtClaims(t, got.AccessToken); c["sub"] != m2mID+"@clients" || c["scope"] != "read:clients" {
		t.Fatalf("claims %v", c)
	}
	if r := e.mgmt("GET", "clients/"+webID, got.AccessToken, nil); r.status != 200 {
		t.Fatalf("use the token: %d %s", r.status, r.raw)
	}
	// The same assertion again is a replay.
	if _, err := cc.Token(context.WithValue(t.Context(), oauth2.HTTPClient, e.http)); err == nil {
		t.Fatal("replayed assertion accepted")
	}
	v := url.Values{"grant_type": {"client_credentials"}, "audience": {aud}, "client_assertion_type": {jwtBearer}}
	v.Set("client_assertion", e.assertion(key, m2mID, e.issuer, ""))
	if r := e.postForm("/oauth/token", v, nil); r.status != 200 || r.str("access_token") == "" {
		t.Fatalf("without client_id: %d %s", r.status, r.raw)
	}
	v.Set("client_assertion", e.assertion(other, m2mID, e.issuer, ""))
	wantError(t, e.postForm("/oauth/token", v, nil), 401, "access_denied", "Unauthorized")
	v.Set("client_assertion", e.assertion(key, m2mID, e.issuer, ""))
	v.Set("client_assertion_type", "bearer")
	wantError(t, e.postForm("/oauth/token", v, nil), 400, "invalid_request", "")
	// A public app with no credentials that sends an assertion is refused.
	v.Set("client_assertion_type", jwtBearer)
	v.Set("client_assertion", e.assertion(key, nativeID, e.issuer, ""))
	wantError(t, e.postForm("/oauth/token", v, nil), 401, "access_denied", "Unauthorized")
}
