package server_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/tenant"
)

// loginAs runs an email-code login for the web app with secret and
// returns its ID token.
func (e *env) loginAs(secret, email string) string {
	e.t.Helper()
	code := e.startEmailWith(secret, email)
	r := e.otpGrant(webID, secret, "email", email, code, url.Values{"scope": {"openid email"}})
	if r.status != 200 || r.str("id_token") == "" {
		e.t.Fatalf("login %s: %d %s", email, r.status, r.raw)
	}
	return r.str("id_token")
}

// startEmailWith starts an email-code login for the web app with secret
// and returns the code it sent.
func (e *env) startEmailWith(secret, email string) string {
	e.t.Helper()
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": secret,
		"connection": "email", "send": "code", "email": email}, nil)
	if r.status != 200 {
		e.t.Fatalf("start %s: %d %s", email, r.status, r.raw)
	}
	return e.lastMessage(strings.ToLower(email)).Code
}

// discoveredAlgs is the discovery document's id_token_signing_alg_values_supported.
func (e *env) discoveredAlgs() []string {
	e.t.Helper()
	d := e.do("GET", "/.well-known/openid-configuration", "", nil, nil)
	return anyStrings(d.body["id_token_signing_alg_values_supported"])
}

type publishedKey struct {
	KID string   `json:"kid"`
	Kty string   `json:"kty"`
	Alg string   `json:"alg"`
	Crv string   `json:"crv"`
	X5C []string `json:"x5c"`
}

func (e *env) jwks() []publishedKey {
	e.t.Helper()
	r := e.do("GET", "/.well-known/jwks.json", "", nil, nil)
	var set struct {
		Keys []publishedKey `json:"keys"`
	}
	if err := json.Unmarshal(r.raw, &set); err != nil {
		e.t.Fatalf("jwks: %s", r.raw)
	}
	return set.Keys
}

// TestIDTokenSigningAlgs: an application's jwt_configuration.alg decides
// how its ID tokens are signed, and a relying party verifies each with
// its own library: go-oidc for PS256, RS512 and ES256 (beyond Auth0, with
// the tenant's P-256 key, published from the moment an application chose
// it, also by a node that had not loaded it), go-jose with the client
// secret for HS256. The secret is kept readable only while HS256 needs it.
func TestIDTokenSigningAlgs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := oidc.ClientContext(t.Context(), e.http)
		tok := e.mgmtToken("")
		other := e.sibling() // loaded the keys before any EC key existed

		if got, want := e.discoveredAlgs(), []string{"RS256", "PS256", "RS512", "HS256"}; !slices.Equal(got, want) {
			t.Fatalf("discovery algs %q, want %q", got, want)
		}
		got := e.mgmt("GET", "clients/"+webID, tok, nil)
		if jc, _ := got.body["jwt_configuration"].(map[string]any); jc["alg"] != "RS256" || jc["lifetime_in_seconds"] != float64(36000) || jc["secret_encoded"] != false {
			t.Fatalf("default jwt_configuration %v", got.body["jwt_configuration"])
		}
		// A change asking for ES256 that is refused makes no P-256 key.
		es := map[string]any{"alg": "ES256"}
		for _, tc := range []struct {
			id   string
			body map[string]any
			want int
		}{
			{"no-such-client", map[string]any{"jwt_configuration": es}, 404},
			{webID, map[string]any{"jwt_configuration": es, "callbacks": []string{"not a url"}}, 400},
			{webID, map[string]any{"jwt_configuration": es, "client_id": "another"}, 400},
		} {
			if r := e.mgmt("PATCH", "clients/"+tc.id, tok, tc.body); r.status != tc.want {
				t.Errorf("PATCH %s %v: %d %s, want %d", tc.id, tc.body, r.status, r.raw, tc.want)
			}
		}
		for _, k := range e.jwks() {
			if k.Kty == "EC" {
				t.Fatalf("refused changes made a P-256 key: %+v", k)
			}
		}
		if got, want := e.discoveredAlgs(), []string{"RS256", "PS256", "RS512", "HS256"}; !slices.Equal(got, want) {
			t.Fatalf("discovery algs after refused changes %q, want %q", got, want)
		}

		for _, tc := range []struct {
			alg      string
			kty      string
			lifetime int
		}{{"PS256", "RSA", 600}, {"RS512", "RSA", 0}, {"ES256", "EC", 7200}} {
			r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": tc.alg, "lifetime_in_seconds": tc.lifetime}})
			jc, _ := r.body["jwt_configuration"].(map[string]any)
			if r.status != 200 || jc["alg"] != tc.alg {
				t.Fatalf("PATCH alg %s: %d %s", tc.alg, r.status, r.raw)
			}
			idt := e.loginAs(webSecret, "alg-"+tc.alg+"@example.com")
			h := jwtHeader(t, idt)
			var key *publishedKey
			for _, k := range e.jwks() {
				if k.KID == h["kid"] {
					key = &k
				}
			}
			if h["alg"] != tc.alg || key == nil || key.Kty != tc.kty || len(key.X5C) != 1 {
				t.Fatalf("%s: header %v, signing key %+v", tc.alg, h, key)
			}
			p, err := oidc.NewProvider(ctx, e.issuer)
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Verifier(&oidc.Config{ClientID: webID, SupportedSigningAlgs: []string{tc.alg}}).Verify(ctx, idt)
			if err != nil {
				t.Fatalf("go-oidc refuses the %s ID token: %v", tc.alg, err)
			}
			want := tc.lifetime
			if want == 0 {
				want = 36000
			}
			if life := v.Expiry.Sub(v.IssuedAt).Seconds(); life != float64(want) {
				t.Errorf("%s: ID token lives %vs, want %d", tc.alg, life, want)
			}
		}

		// ES256 is published as what is in use: discovery lists it, the
		// JWKS has the P-256 family's current and next key.
		if got, want := e.discoveredAlgs(), []string{"RS256", "PS256", "RS512", "ES256", "HS256"}; !slices.Equal(got, want) {
			t.Errorf("discovery algs after ES256 %q, want %q", got, want)
		}
		var ec []publishedKey
		for _, k := range e.jwks() {
			if k.Kty == "EC" {
				ec = append(ec, k)
			}
		}
		if len(ec) != 2 || ec[0].Crv != "P-256" || ec[0].Alg != "ES256" {
			t.Fatalf("EC keys in the JWKS: %+v", ec)
		}
		// The other node signs ES256 with the same key without a restart.
		code := other.startEmailWith(webSecret, "other-node@example.com")
		r := other.otpGrant(webID, webSecret, "email", "other-node@example.com", code, url.Values{"scope": {"openid"}})
		if r.status != 200 || jwtHeader(t, r.str("id_token"))["alg"] != "ES256" {
			t.Fatalf("other node: %d %s", r.status, r.raw)
		}
		p, err := oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, r.str("id_token")); err != nil {
			t.Fatalf("the other node's ES256 token: %v", err)
		}

		// Rotation rotates both families; the ES256 key that signs changes.
		e.grantScopes(t, "read:signing_keys", "create:signing_keys", "update:signing_keys")
		tok = e.mgmtToken("")
		before := jwtHeader(t, e.loginAs(webSecret, "pre-rotation@example.com"))["kid"]
		if rr := e.mgmt("POST", "keys/signing/rotate", tok, nil); rr.status != 201 && rr.status != 200 {
			t.Fatalf("rotate: %d %s", rr.status, rr.raw)
		}
		if after := jwtHeader(t, e.loginAs(webSecret, "post-rotation@example.com"))["kid"]; after == before {
			t.Errorf("ES256 still signed with %v after the rotation", before)
		}
		var listed []struct {
			Alg     string `json:"alg"`
			Current bool   `json:"current"`
		}
		kl := e.mgmt("GET", "keys/signing", tok, nil)
		if err := json.Unmarshal(kl.raw, &listed); err != nil {
			t.Fatal(err)
		}
		currents := map[string]int{}
		for _, k := range listed {
			if k.Current {
				currents[k.Alg]++
			}
		}
		if currents["RS256"] != 1 || currents["ES256"] != 1 || len(listed) != 6 {
			t.Errorf("keys after the rotation: %s", kl.raw)
		}

		// HS256 needs the secret itself, which Latchkey keeps only as a hash.
		r = e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": "HS256"}})
		wantMgmtError(t, r, 400, "invalid_body", "Payload validation error: jwt_configuration.alg: HS256 signs ID tokens with the client secret, which Latchkey keeps only as a hash: give client_secret in the same change")
		r = e.mgmt("PATCH", "clients/"+spaID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": "HS256"}})
		wantMgmtError(t, r, 400, "invalid_body", "Payload validation error: jwt_configuration.alg: HS256 signs with the client secret, and a public application (spa, native) cannot keep one")
		r = e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": "HS256"}, "client_secret": "too-short-for-hs256-0123456789"})
		wantMgmtError(t, r, 400, "invalid_body", "Payload validation error: jwt_configuration.alg: HS256 needs a client secret of at least 32 bytes")
		for _, bad := range []any{
			map[string]any{"alg": "none"}, map[string]any{"alg": "HS512"}, map[string]any{"alg": "rs256"},
			map[string]any{"lifetime_in_seconds": -1}, map[string]any{"lifetime_in_seconds": 2592001},
			map[string]any{"alg": "RS256", "secret_encoded": true}, map[string]any{"alg": 5},
			map[string]any{"lifetime_in_seconds": "600"}, map[string]any{"lifetime_in_seconds": 1e30},
			map[string]any{"scopes": map[string]any{}}, "RS256", []any{"RS256"},
		} {
			r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": bad})
			if r.status != 400 || r.str("errorCode") != "invalid_body" {
				t.Errorf("jwt_configuration %v: %d %s", bad, r.status, r.raw)
			}
			if r := e.mgmt("POST", "clients", tok, map[string]any{"name": "Bad", "jwt_configuration": bad}); r.status != 400 {
				t.Errorf("new client with jwt_configuration %v: %d %s", bad, r.status, r.raw)
			}
		}
		if jc := e.mgmt("GET", "clients/"+webID, tok, nil).body["jwt_configuration"].(map[string]any); jc["alg"] != "ES256" {
			t.Errorf("refused changes changed the application: %v", jc)
		}

		hsSecret := "a-client-secret-long-enough-for-hs256-0123456789"
		r = e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": "HS256"}, "client_secret": hsSecret})
		if r.status != 200 {
			t.Fatalf("PATCH HS256 with a secret: %d %s", r.status, r.raw)
		}
		verifyHS := func(idt, secret string) error {
			jws, err := jose.ParseSignedCompact(idt, []jose.SignatureAlgorithm{jose.HS256})
			if err != nil {
				return err
			}
			_, err = jws.Verify([]byte(secret))
			return err
		}
		idt := e.loginAs(hsSecret, "hs256@example.com")
		if h := jwtHeader(t, idt); h["alg"] != "HS256" || h["kid"] != nil {
			t.Fatalf("HS256 header %v", h)
		}
		if err := verifyHS(idt, hsSecret); err != nil {
			t.Fatalf("HS256 ID token does not verify with the client secret: %v", err)
		}
		if verifyHS(idt, hsSecret+"x") == nil {
			t.Fatal("HS256 ID token verifies with another secret")
		}
		// A rotated secret signs from then on.
		rot := e.mgmt("POST", "clients/"+webID+"/rotate-secret", tok, nil)
		newSecret := rot.str("client_secret")
		if rot.status != 200 || newSecret == "" {
			t.Fatalf("rotate secret: %d %s", rot.status, rot.raw)
		}
		if err := verifyHS(e.loginAs(newSecret, "hs256@example.com"), newSecret); err != nil {
			t.Fatalf("after rotating the secret: %v", err)
		}
		c, err := e.srv.Store.GetClient(t.Context(), webID)
		if err != nil || len(c.SecretSealed) == 0 || string(c.SecretSealed) == newSecret {
			t.Fatalf("HS256 client: sealed secret %d bytes, %v", len(c.SecretSealed), err)
		}
		// Back to RS256: the readable copy goes.
		if r := e.mgmt("PATCH", "clients/"+webID, tok, map[string]any{"jwt_configuration": map[string]any{"alg": "RS256"}}); r.status != 200 {
			t.Fatalf("back to RS256: %d %s", r.status, r.raw)
		}
		if c, err := e.srv.Store.GetClient(t.Context(), webID); err != nil || len(c.SecretSealed) != 0 || tenant.JWTConfig(c).Alg != "RS256" {
			t.Fatalf("back to RS256: sealed %d bytes, %+v, %v", len(c.SecretSealed), c.JWTConfiguration, err)
		}

		// A restart keeps both key families.
		e.restart()
		if r := e.mgmt("PATCH", "clients/"+webID, e.mgmtToken(""), map[string]any{"jwt_configuration": map[string]any{"alg": "ES256"}}); r.status != 200 {
			t.Fatalf("ES256 after restart: %d %s", r.status, r.raw)
		}
		p, err = oidc.NewProvider(ctx, e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verifier(&oidc.Config{ClientID: webID}).Verify(ctx, e.loginAs(newSecret, "restarted@example.com")); err != nil {
			t.Fatalf("ES256 after restart: %v", err)
		}
	})
}
