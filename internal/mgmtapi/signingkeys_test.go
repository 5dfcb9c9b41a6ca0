package mgmtapi

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/oauth"
)

// keysAPI is usersAPI with a key manager over its store, and a clock that
// tests can move.
func keysAPI(t *testing.T) (*API, *oauth.KeyManager, *time.Time) {
	t.Helper()
	a, st := usersAPI(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	km := oauth.NewKeyManager(st, a.Seal, a.Issuer, clock)
	if err := km.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.SigningKeys, a.Now = km, clock
	return a, km, &now
}

func listedKeys(t *testing.T, r apiResponse) []signingKeyJSON {
	t.Helper()
	var keys []signingKeyJSON
	if r.status != 200 || json.Unmarshal([]byte(r.raw), &keys) != nil {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	return keys
}

func TestSigningKeysRoutes(t *testing.T) {
	a, km, now := keysAPI(t)
	h := a.Handler()
	const read, rotate, update = "read:signing_keys", "create:signing_keys update:signing_keys", "update:signing_keys"

	keys := listedKeys(t, call(t, h, "GET", "/api/v2/keys/signing", read, ""))
	if len(keys) != 2 || !keys[0].Next || keys[0].Current || !keys[1].Current || keys[1].CurrentSince != "2026-01-02T03:04:05.000Z" ||
		keys[0].CurrentSince != "" || keys[1].Previous || keys[1].Revoked || keys[1].KID != km.Current() {
		t.Fatalf("keys of a new store: %+v", keys)
	}
	for _, k := range keys {
		blk, _ := pem.Decode([]byte(k.Cert))
		if blk == nil || !strings.Contains(k.Cert, "\r\n") || !strings.HasPrefix(k.PKCS7, "-----BEGIN PKCS7-----\r\n") {
			t.Fatalf("cert %q pkcs7 %q", k.Cert, k.PKCS7)
		}
		sum := sha1.Sum(blk.Bytes)
		if k.Thumbprint != strings.ToUpper(hex.EncodeToString(sum[:])) || strings.ReplaceAll(k.Fingerprint, ":", "") != k.Thumbprint {
			t.Fatalf("thumbprint %s fingerprint %s", k.Thumbprint, k.Fingerprint)
		}
	}
	first, next := keys[1], keys[0]

	// One key; an unknown one is Auth0's 404.
	r := call(t, h, "GET", "/api/v2/keys/signing/"+first.KID, read, "")
	if r.status != 200 || r.body["kid"] != first.KID || r.body["current"] != true || r.body["cert"] != first.Cert {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	r = call(t, h, "GET", "/api/v2/keys/signing/nope", read, "")
	if r.status != 404 || r.body["statusCode"] != 404.0 || r.body["error"] != "Not Found" || r.body["message"] != "Signing key not found" {
		t.Fatalf("unknown kid: %d %s", r.status, r.raw)
	}

	// Rotating takes both scopes.
	for _, scope := range []string{"create:signing_keys", update, read} {
		r := call(t, h, "POST", "/api/v2/keys/signing/rotate", scope, "")
		if r.status != 403 || r.body["message"] != "Insufficient scope, expected all of: create:signing_keys,update:signing_keys" {
			t.Fatalf("rotate with %s: %d %s", scope, r.status, r.raw)
		}
	}
	*now = now.Add(time.Hour)
	r = call(t, h, "POST", "/api/v2/keys/signing/rotate", rotate, "")
	if r.status != 201 || r.body["kid"] != next.KID || r.body["cert"] != next.Cert || len(r.body) != 2 {
		t.Fatalf("rotate: %d %s (want the next key %s)", r.status, r.raw, next.KID)
	}
	if km.Current() != next.KID {
		t.Fatalf("signing with %s after the rotation, want %s", km.Current(), next.KID)
	}
	keys = listedKeys(t, call(t, h, "GET", "/api/v2/keys/signing", read, ""))
	if len(keys) != 3 || !keys[0].Next || keys[1].KID != next.KID || !keys[1].Current || keys[1].CurrentSince != "2026-01-02T04:04:05.000Z" ||
		keys[2].KID != first.KID || !keys[2].Previous || keys[2].Current || keys[2].CurrentUntil != "2026-01-02T04:04:05.000Z" {
		t.Fatalf("keys after a rotation: %+v", keys)
	}

	// Only the previous key can be revoked.
	for _, k := range keys[:2] {
		r := call(t, h, "PUT", "/api/v2/keys/signing/"+k.KID+"/revoke", update, "")
		if r.status != 409 || r.body["errorCode"] != "signing_key_in_use" {
			t.Fatalf("revoke %s: %d %s", k.KID, r.status, r.raw)
		}
	}
	if r := call(t, h, "PUT", "/api/v2/keys/signing/nope/revoke", update, ""); r.status != 404 {
		t.Fatalf("revoke of an unknown key: %d %s", r.status, r.raw)
	}
	if r := call(t, h, "PUT", "/api/v2/keys/signing/"+first.KID+"/revoke", read, ""); r.status != 403 {
		t.Fatalf("revoke with read:signing_keys: %d %s", r.status, r.raw)
	}
	for range 2 { // the second time answers the same
		r := call(t, h, "PUT", "/api/v2/keys/signing/"+first.KID+"/revoke", update, "")
		if r.status != 200 || r.body["kid"] != first.KID || r.body["cert"] != first.Cert || len(r.body) != 2 {
			t.Fatalf("revoke the previous key: %d %s", r.status, r.raw)
		}
	}
	keys = listedKeys(t, call(t, h, "GET", "/api/v2/keys/signing", read, ""))
	if k := keys[2]; k.KID != first.KID || !k.Revoked || k.Previous || k.RevokedAt != "2026-01-02T04:04:05.000Z" {
		t.Fatalf("the revoked key: %+v", k)
	}
	if strings.Contains(string(km.JWKS()), first.KID) {
		t.Fatal("the revoked key is still in the JWKS")
	}

	// A previous key whose grace is over is listed, but not as previous.
	*now = now.Add(time.Hour)
	if _, err := km.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(oauth.RetiredKeyGrace)
	keys = listedKeys(t, call(t, h, "GET", "/api/v2/keys/signing", read, ""))
	if k := keys[2]; k.KID != next.KID || k.Previous || k.Current || k.Next || k.Revoked || k.CurrentUntil == "" {
		t.Fatalf("a key past its grace: %+v", k)
	}

	scopes := a.Scopes()
	for _, s := range []string{"read:signing_keys", "create:signing_keys", "update:signing_keys"} {
		if !strings.Contains(" "+strings.Join(scopes, " ")+" ", " "+s+" ") {
			t.Errorf("Scopes() lacks %s", s)
		}
	}
}

// TestSigningKeysNotManaged: without a key manager the routes answer 501.
func TestSigningKeysNotManaged(t *testing.T) {
	a, _ := usersAPI(t)
	if r := call(t, a.Handler(), "GET", "/api/v2/keys/signing", "read:signing_keys", ""); r.status != 501 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}
