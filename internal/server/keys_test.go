package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/oauth"
)

// countingTransport counts the JWKS fetches a verifier makes.
type countingTransport struct {
	base  http.RoundTripper
	jwkss atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/.well-known/jwks.json") {
		c.jwkss.Add(1)
	}
	return c.base.RoundTrip(r)
}

// verifier is a go-oidc ID-token verifier for the web app, as a relying
// party would run it, with its own JWKS cache; it counts JWKS fetches.
func (e *env) verifier(t *testing.T) (*oidc.IDTokenVerifier, *countingTransport) {
	t.Helper()
	ct := &countingTransport{base: e.http.Transport}
	ctx := oidc.ClientContext(t.Context(), &http.Client{Transport: ct})
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return p.Verifier(&oidc.Config{ClientID: webID}), ct
}

func (e *env) jwksKids(t *testing.T) []string {
	t.Helper()
	r := e.do("GET", "/.well-known/jwks.json", "", nil, nil)
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.raw, &set); err != nil {
		t.Fatalf("jwks: %s", r.raw)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

type listedKey struct {
	KID      string `json:"kid"`
	Current  bool   `json:"current"`
	Next     bool   `json:"next"`
	Previous bool   `json:"previous"`
	Revoked  bool   `json:"revoked"`
}

func (e *env) signingKeys(t *testing.T, tok string) []listedKey {
	t.Helper()
	r := e.mgmt("GET", "keys/signing", tok, nil)
	var keys []listedKey
	if r.status != 200 || json.Unmarshal(r.raw, &keys) != nil {
		t.Fatalf("list signing keys: %d %s", r.status, r.raw)
	}
	return keys
}

// TestSigningKeyRotation: a relying party verifying ID tokens with go-oidc
// across a rotation. The next key is in the JWKS before it signs anything,
// so a verifier that fetched the JWKS before the rotation verifies tokens
// signed after it without fetching again; tokens signed before it keep
// verifying; revoking the previous key takes it out of the JWKS, and a
// fresh verifier, the Management API and /userinfo refuse what it signed.
// A second node on the same store agrees once it has reloaded.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		e.grantScopes(t, "read:signing_keys", "create:signing_keys", "update:signing_keys")
		oldMgmt := e.mgmtToken("")
		other := e.sibling()

		keys := e.signingKeys(t, oldMgmt)
		if len(keys) != 2 || !keys[0].Next || !keys[1].Current {
			t.Fatalf("keys of a new tenant: %+v", keys)
		}
		first, next := keys[1].KID, keys[0].KID
		if kids := e.jwksKids(t); !slices.Equal(kids, []string{next, first}) {
			t.Fatalf("JWKS %v, want the next key published beside the current one [%s %s]", kids, next, first)
		}

		before := e.login("before@example.com")
		idBefore := before.str("id_token")
		if kid := jwtHeader(t, idBefore)["kid"]; kid != first {
			t.Fatalf("ID token signed with %v, want the current key %s", kid, first)
		}
		rp, fetches := e.verifier(t)
		if _, err := rp.Verify(t.Context(), idBefore); err != nil {
			t.Fatalf("ID token before the rotation: %v", err)
		}

		r := e.mgmt("POST", "keys/signing/rotate", oldMgmt, nil)
		if r.status != 201 || r.str("kid") != next || !strings.HasPrefix(r.str("cert"), "-----BEGIN CERTIFICATE-----") {
			t.Fatalf("rotate: %d %s", r.status, r.raw)
		}
		after := e.login("after@example.com")
		idAfter := after.str("id_token")
		if kid := jwtHeader(t, idAfter)["kid"]; kid != next {
			t.Fatalf("ID token after the rotation signed with %v, want %s", kid, next)
		}
		n := fetches.jwkss.Load()
		for _, tok := range []string{idBefore, idAfter} {
			if _, err := rp.Verify(t.Context(), tok); err != nil {
				t.Fatalf("ID token of %v after the rotation: %v", jwtHeader(t, tok)["kid"], err)
			}
		}
		if got := fetches.jwkss.Load(); got != n {
			t.Errorf("the relying party fetched the JWKS again (%d times) to verify the new key's token: it was not published ahead", got-n)
		}
		keys = e.signingKeys(t, oldMgmt)
		if len(keys) != 3 || !keys[0].Next || keys[1].KID != next || !keys[1].Current || keys[2].KID != first || !keys[2].Previous {
			t.Fatalf("keys after the rotation: %+v", keys)
		}
		if kids := e.jwksKids(t); len(kids) != 3 || kids[0] != keys[0].KID || kids[1] != next || kids[2] != first {
			t.Fatalf("JWKS after the rotation %v", kids)
		}

		// The other node may not have reloaded yet (it does every few
		// seconds): it verifies what this node now signs all the same, the
		// key it publishes as next.
		if r := other.mgmt("GET", "keys/signing", e.mgmtToken(""), nil); r.status != 200 {
			t.Fatalf("other node refuses a token of the new key: %d %s", r.status, r.raw)
		}
		if err := other.srv.Signing.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := other.srv.Signing.Current(); got != next {
			t.Fatalf("other node signs with %s after reloading, want %s", got, next)
		}

		// Only the previous key can be revoked.
		for _, kid := range []string{keys[0].KID, next} {
			if r := e.mgmt("PUT", "keys/signing/"+kid+"/revoke", oldMgmt, nil); r.status != 409 {
				t.Fatalf("revoke %s: %d %s", kid, r.status, r.raw)
			}
		}
		if r := e.mgmt("PUT", "keys/signing/"+first+"/revoke", oldMgmt, nil); r.status != 200 || r.str("kid") != first {
			t.Fatalf("revoke the previous key: %d %s", r.status, r.raw)
		}
		if kids := e.jwksKids(t); slices.Contains(kids, first) || len(kids) != 2 {
			t.Fatalf("JWKS after the revocation %v still has %s", kids, first)
		}
		fresh, _ := e.verifier(t)
		if _, err := fresh.Verify(t.Context(), idBefore); err == nil {
			t.Fatal("go-oidc verifies an ID token of the revoked key")
		}
		if _, err := fresh.Verify(t.Context(), idAfter); err != nil {
			t.Fatalf("ID token of the current key after the revocation: %v", err)
		}
		// Latchkey itself refuses what the revoked key signed: the
		// Management API token and the access token at /userinfo.
		wantMgmtError(t, e.mgmt("GET", "keys/signing", oldMgmt, nil), 401, "invalid_token", "Invalid token")
		bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
		if r := e.do("GET", "/userinfo", "", nil, bearer(before.str("access_token"))); r.status != 401 {
			t.Fatalf("userinfo with the revoked key's access token: %d %s", r.status, r.raw)
		}
		if r := e.do("GET", "/userinfo", "", nil, bearer(after.str("access_token"))); r.status != 200 {
			t.Fatalf("userinfo with the current key's access token: %d %s", r.status, r.raw)
		}
		// The other node, at its next reload.
		if err := other.srv.Signing.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantMgmtError(t, other.mgmt("GET", "keys/signing", oldMgmt, nil), 401, "invalid_token", "Invalid token")
		if a, b := e.do("GET", "/.well-known/jwks.json", "", nil, nil), other.do("GET", "/.well-known/jwks.json", "", nil, nil); string(a.raw) != string(b.raw) {
			t.Fatalf("the nodes publish different JWKS:\n%s\n%s", a.raw, b.raw)
		}
		// Each change is a tenant-log event, the refused ones too.
		e.waitLogs(`type:sapi AND description:"POST /api/v2/keys/signing/rotate"`, 1)
		e.waitLogs(`type:sapi AND description:*revoke*`, 1)
		e.waitLogs(`type:fapi AND description:*revoke*`, 2)
	})
}

// TestScheduledKeyRotation: with --signing-key-rotation the background
// check rotates once the current key has signed that long (the clock is
// the test's; no waiting), and not again until the new key has.
func TestScheduledKeyRotation(t *testing.T) {
	t.Parallel()
	every := config.MinSigningKeyRotation
	e := newEnv(t, func(c *config.Config) { c.SigningKeyRotation = every })
	ctx := t.Context()
	first := e.srv.Signing.Current()
	if e.srv.RotateSigningKeyIfDue(ctx) {
		t.Fatal("rotated a new key")
	}
	e.clock.Advance(every - time.Second)
	if e.srv.RotateSigningKeyIfDue(ctx) {
		t.Fatal("rotated a second early")
	}
	e.clock.Advance(time.Second)
	if !e.srv.RotateSigningKeyIfDue(ctx) {
		t.Fatal("did not rotate a key that has signed for the whole period")
	}
	second := e.srv.Signing.Current()
	if second == first {
		t.Fatal("the signer did not change")
	}
	if e.srv.RotateSigningKeyIfDue(ctx) {
		t.Fatal("rotated twice")
	}
	// The rotated-out key still verifies: a login's ID token before and after.
	if kids := e.jwksKids(t); len(kids) != 3 || kids[1] != second || kids[2] != first {
		t.Fatalf("JWKS after the scheduled rotation: %v", kids)
	}
	tok := e.login("scheduled@example.com")
	if kid := jwtHeader(t, tok.str("id_token"))["kid"]; kid != second {
		t.Fatalf("signed with %v after the scheduled rotation, want %s", kid, second)
	}
	// Once the previous key's grace is over it leaves the JWKS (at the
	// node's next reload); the next period then rotates again.
	e.clock.Advance(oauth.RetiredKeyGrace)
	if err := e.srv.Signing.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := e.jwksKids(t); len(kids) != 2 || slices.Contains(kids, first) {
		t.Fatalf("JWKS once the grace is over: %v", kids)
	}
	if !e.srv.RotateSigningKeyIfDue(ctx) {
		t.Fatal("no rotation after the second period")
	}
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	var m map[string]any
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("JWT header of %q", tok)
	}
	return m
}
