package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/store"
)

const testIssuer = "https://login.example.com/"

var (
	keysOnce       sync.Once
	keyA, keyB     *rsa.PrivateKey
	keySmall       *rsa.PrivateKey
	pemA, pemB     string
	pemA1, certA   string
	certANotAfter  time.Time
	pemEC, pemSmal string
)

// testKeys generates the RSA keys once: 2048-bit generation is slow under -race.
func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		keyA, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keyB, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keySmall, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		spki := func(pub any) string {
			der, err := x509.MarshalPKIXPublicKey(pub)
			must(err)
			return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		pemA, pemB, pemSmal = spki(&keyA.PublicKey), spki(&keyB.PublicKey), spki(&keySmall.PublicKey)
		pemA1 = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&keyA.PublicKey)}))
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		pemEC = spki(&ec.PublicKey)
		certANotAfter = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
			NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: certANotAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keyA.PublicKey, keyA)
		must(err)
		certA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
}

func signAssertion(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, embed bool, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: embed}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodClaims(now time.Time, jti string) map[string]any {
	return map[string]any{"iss": "app", "sub": "app", "aud": testIssuer, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Minute).Unix()}
}

func TestVerifyAssertion(t *testing.T) {
	testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	client := store.Client{ClientID: "app", AppType: "regular_web", Credentials: []store.ClientCredential{
		{ID: "cred_a", KID: "kid-a-0123456789", Alg: "RS256", PEM: pemA, CredentialType: "public_key"},
		{ID: "cred_bad", KID: "kid-bad-0123456789", Alg: "RS256", PEM: "not a pem", CredentialType: "public_key"},
		{ID: "cred_ps", KID: "kid-ps-0123456789", Alg: "PS256", PEM: pemB, CredentialType: "public_key"},
		{ID: "cred_old", KID: "kid-old-0123456789", Alg: "RS384", PEM: pemA1, CredentialType: "public_key", ExpiresAt: now.Add(-time.Second)},
	}}
	type mod func(map[string]any)
	set := func(k string, v any) mod { return func(c map[string]any) { c[k] = v } }
	del := func(k string) mod { return func(c map[string]any) { delete(c, k) } }
	noneToken := func() string {
		enc := base64.RawURLEncoding.EncodeToString
		b, _ := json.Marshal(goodClaims(now, "none-jti"))
		return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(b) + "."
	}
	tests := []struct {
		name  string
		key   any
		alg   jose.SignatureAlgorithm
		kid   string
		embed bool
		mod   mod
		raw   string // used instead of signing when set
		ok    bool
	}{
		{name: "good with kid", key: keyA, alg: jose.RS256, kid: "kid-a-0123456789", ok: true},
		{name: "good without kid", key: keyA, alg: jose.RS256, ok: true},
		{name: "aud token endpoint", key: keyA, alg: jose.RS256, mod: set("aud", testIssuer+"oauth/token"), ok: true},
		{name: "aud array", key: keyA, alg: jose.RS256, mod: set("aud", []string{"https://other/", testIssuer}), ok: true},
		{name: "PS256 credential", key: keyB, alg: jose.PS256, ok: true},
		{name: "no iat nor nbf", key: keyA, alg: jose.RS256, mod: func(c map[string]any) { delete(c, "iat"); delete(c, "nbf") }, ok: true},
		{name: "iat within leeway", key: keyA, alg: jose.RS256, mod: set("iat", now.Add(5*time.Second).Unix()), ok: true},
		{name: "wrong key", key: keyB, alg: jose.RS256},
		{name: "wrong key under the right kid", key: keyB, alg: jose.RS256, kid: "kid-a-0123456789"},
		{name: "kid of another credential", key: keyA, alg: jose.RS256, kid: "kid-ps-0123456789"},
		{name: "unknown kid", key: keyA, alg: jose.RS256, kid: "nope-0123456789"},
		{name: "alg not the credential's", key: keyA, alg: jose.RS384},
		{name: "alg PS256 with an RS256 key", key: keyA, alg: jose.PS256},
		{name: "alg RS512 not allowed", key: keyA, alg: jose.RS512},
		{name: "alg none", raw: noneToken()},
		{name: "HS256 with the public key as secret", key: []byte(pemA), alg: jose.HS256},
		{name: "embedded jwk", key: keyA, alg: jose.RS256, embed: true},
		{name: "expired credential", key: keyA, alg: jose.RS384, kid: "kid-old-0123456789"},
		{name: "wrong iss", key: keyA, alg: jose.RS256, mod: set("iss", "other")},
		{name: "wrong sub", key: keyA, alg: jose.RS256, mod: set("sub", "other")},
		{name: "missing sub", key: keyA, alg: jose.RS256, mod: del("sub")},
		{name: "wrong aud", key: keyA, alg: jose.RS256, mod: set("aud", "https://evil.example.com/")},
		{name: "aud without slash", key: keyA, alg: jose.RS256, mod: set("aud", strings.TrimSuffix(testIssuer, "/"))},
		{name: "aud missing", key: keyA, alg: jose.RS256, mod: del("aud")},
		{name: "expired", key: keyA, alg: jose.RS256, mod: set("exp", now.Add(-time.Second).Unix())},
		{name: "exp now", key: keyA, alg: jose.RS256, mod: set("exp", now.Unix())},
		{name: "exp missing", key: keyA, alg: jose.RS256, mod: del("exp")},
		{name: "exp too far", key: keyA, alg: jose.RS256, mod: func(c map[string]any) { delete(c, "iat"); c["exp"] = now.Add(10 * time.Minute).Unix() }},
		{name: "lifetime too long", key: keyA, alg: jose.RS256, mod: func(c map[string]any) {
			c["iat"] = now.Add(-4 * time.Minute).Unix()
			c["exp"] = now.Add(4 * time.Minute).Unix()
		}},
		{name: "iat in the future", key: keyA, alg: jose.RS256, mod: set("iat", now.Add(time.Minute).Unix())},
		{name: "nbf in the future", key: keyA, alg: jose.RS256, mod: set("nbf", now.Add(time.Minute).Unix())},
		{name: "exp not a number", key: keyA, alg: jose.RS256, mod: set("exp", "soon")},
		{name: "missing jti", key: keyA, alg: jose.RS256, mod: del("jti")},
		{name: "empty jti", key: keyA, alg: jose.RS256, mod: set("jti", "")},
		{name: "jti too long", key: keyA, alg: jose.RS256, mod: set("jti", strings.Repeat("j", 65))},
		{name: "garbage", raw: "not a jwt"},
		{name: "three garbage parts", raw: "a.b.c"},
		{name: "empty", raw: ""},
		{name: "huge", raw: strings.Repeat("a", MaxAssertionSize+1)},
		{name: "JSON serialization", raw: `{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}]}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewAssertionVerifier(testIssuer, nil, func() time.Time { return now })
			tok := tt.raw
			if tok == "" && tt.key != nil {
				c := goodClaims(now, "jti-"+string(rune('a'+i%26))+tt.name)
				if tt.mod != nil {
					tt.mod(c)
				}
				tok = signAssertion(t, tt.key, tt.alg, tt.kid, tt.embed, c)
			}
			err := v.Verify(t.Context(), client, tok)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if !errors.Is(err, ErrInvalidAssertion) {
					t.Fatalf("error %v does not wrap ErrInvalidAssertion", err)
				}
			}
		})
	}
}

func TestAssertionReplay(t *testing.T) {
	testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	clock := now
	v := NewAssertionVerifier(testIssuer, nil, func() time.Time { return clock })
	cred := []store.ClientCredential{{ID: "cred_a", KID: "kid-a-0123456789", Alg: "RS256", PEM: pemA}}
	app, other := store.Client{ClientID: "app", Credentials: cred}, store.Client{ClientID: "other", Credentials: cred}

	tok := signAssertion(t, keyA, jose.RS256, "", false, goodClaims(now, "same"))
	if err := v.Verify(t.Context(), app, tok); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(t.Context(), app, tok); err == nil {
		t.Fatal("the same assertion was accepted twice")
	}
	// A new assertion with the same jti is a replay too.
	c := goodClaims(now, "same")
	c["exp"] = now.Add(time.Minute).Unix()
	if err := v.Verify(t.Context(), app, signAssertion(t, keyA, jose.RS256, "", false, c)); err == nil {
		t.Fatal("a reused jti was accepted")
	}
	// The jti is per client.
	oc := goodClaims(now, "same")
	oc["iss"], oc["sub"] = "other", "other"
	if err := v.Verify(t.Context(), other, signAssertion(t, keyA, jose.RS256, "", false, oc)); err != nil {
		t.Fatalf("another client's jti: %v", err)
	}
	// A refused assertion does not spend its jti.
	bad := goodClaims(now, "fresh")
	bad["aud"] = "https://evil/"
	if err := v.Verify(t.Context(), app, signAssertion(t, keyA, jose.RS256, "", false, bad)); err == nil {
		t.Fatal("bad aud accepted")
	}
	if err := v.Verify(t.Context(), app, signAssertion(t, keyA, jose.RS256, "", false, goodClaims(now, "fresh"))); err != nil {
		t.Fatalf("jti spent by a refused assertion: %v", err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newReplayCache(2)
	if !r.add("a", now.Add(time.Minute), now) || !r.add("b", now.Add(2*time.Minute), now) {
		t.Fatal("first adds refused")
	}
	if r.add("c", now.Add(time.Minute), now) {
		t.Fatal("a full cache of live entries took another")
	}
	later := now.Add(90 * time.Second) // "a" has expired
	if !r.add("c", later.Add(time.Minute), later) {
		t.Fatal("expired entries were not purged")
	}
	if r.add("b", later.Add(time.Minute), later) {
		t.Fatal("live entry replayed")
	}
	if len(r.until) != 2 {
		t.Fatalf("size %d", len(r.until))
	}
	// A full cache is swept at most once a second: right after a sweep,
	// even an expired entry is not reclaimed.
	r2 := newReplayCache(1)
	r2.add("x", now.Add(time.Second), now)
	if r2.add("y", now.Add(time.Minute), now) {
		t.Fatal("full cache took another")
	}
	if r2.add("y", now.Add(time.Minute), now.Add(1500*time.Millisecond)) != true {
		t.Fatal("no sweep a second after the last one")
	}
	if r2.add("z", now.Add(time.Minute), now.Add(3*time.Second)) {
		t.Fatal("live entry evicted")
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	testKeys(t)
	tests := []struct {
		name     string
		pem      string
		ok       bool
		notAfter time.Time
	}{
		{"spki", pemA, true, time.Time{}},
		{"pkcs1", pemA1, true, time.Time{}},
		{"certificate", certA, true, certANotAfter},
		{"surrounding space", "\n  " + pemA + "\n", true, time.Time{}},
		{"ec key", pemEC, false, time.Time{}},
		{"1024-bit key", pemSmal, false, time.Time{}},
		{"two blocks", pemA + pemB, false, time.Time{}},
		{"private key type", strings.ReplaceAll(pemA, "PUBLIC KEY", "PRIVATE KEY"), false, time.Time{}},
		{"garbage", "hello", false, time.Time{}},
		{"corrupt body", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", false, time.Time{}},
		{"empty", "", false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, na, err := ParsePublicKeyPEM(tt.pem)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (pub == nil || !na.Equal(tt.notAfter)) {
				t.Fatalf("pub %v notAfter %v", pub != nil, na)
			}
		})
	}
	a, err := KeyThumbprint(&keyA.PublicKey)
	if err != nil || len(a) != 43 {
		t.Fatalf("thumbprint %q %v", a, err)
	}
	if b, _ := KeyThumbprint(&keyB.PublicKey); a == b {
		t.Fatal("two keys, one thumbprint")
	}
}

func TestCheckClient(t *testing.T) {
	testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	v := NewAssertionVerifier(testIssuer, nil, func() time.Time { return now })
	c := store.Client{ClientID: "app", Credentials: []store.ClientCredential{{ID: "cred_a", KID: "kid-a-0123456789", Alg: "RS256", PEM: pemA}}}
	tok := func(jti string) string { return signAssertion(t, keyA, jose.RS256, "", false, goodClaims(now, jti)) }
	tests := []struct {
		name  string
		av    *AssertionVerifier
		creds ClientCredentials
		want  int
	}{
		{"nothing", v, ClientCredentials{ClientID: "app"}, AuthNone},
		{"valid assertion", v, ClientCredentials{ClientID: "app", Assertion: tok("1"), AssertionType: ClientAssertionType}, AuthValid},
		{"wrong type", v, ClientCredentials{ClientID: "app", Assertion: tok("2"), AssertionType: "jwt"}, AuthInvalid},
		{"with a secret too", v, ClientCredentials{ClientID: "app", Assertion: tok("3"), AssertionType: ClientAssertionType, Secret: "x", HasSecret: true}, AuthInvalid},
		{"no verifier", nil, ClientCredentials{ClientID: "app", Assertion: tok("4"), AssertionType: ClientAssertionType}, AuthInvalid},
		{"bad assertion", v, ClientCredentials{ClientID: "app", Assertion: "x.y.z", AssertionType: ClientAssertionType}, AuthInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := CheckClient(t.Context(), nil, tt.av, c, tt.creds); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
		})
	}
	if got := UnverifiedAssertionIssuer(tok("5")); got != "app" {
		t.Fatalf("UnverifiedAssertionIssuer = %q", got)
	}
}

func FuzzVerifyAssertion(f *testing.F) {
	testKeys(f)
	now := time.Unix(1_800_000_000, 0)
	c := store.Client{ClientID: "app", Credentials: []store.ClientCredential{
		{ID: "cred_a", KID: "kid-a-0123456789", Alg: "RS256", PEM: pemA},
		{ID: "cred_ps", Alg: "PS256", PEM: pemB},
	}}
	f.Add(signAssertion(f, keyA, jose.RS256, "kid-a-0123456789", false, goodClaims(now, "seed")))
	f.Add(signAssertion(f, keyB, jose.PS256, "", false, goodClaims(now, "seed2")))
	f.Add(signAssertion(f, []byte(pemA), jose.HS256, "", false, goodClaims(now, "seed3")))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		v := NewAssertionVerifier(testIssuer, nil, func() time.Time { return now })
		if err := v.Verify(t.Context(), c, s); err != nil && !errors.Is(err, ErrInvalidAssertion) {
			t.Fatalf("error %v does not wrap ErrInvalidAssertion", err)
		}
		_ = UnverifiedAssertionIssuer(s)
	})
}

// TestAssertionSharedReplayCache: with a shared replay cache the verifier
// asks it for every jti; a replay and an unavailable cache both refuse.
func TestAssertionSharedReplayCache(t *testing.T) {
	testKeys(t)
	now := time.Unix(1_800_000_000, 0)
	client := store.Client{ClientID: "app", AppType: "regular_web", Credentials: []store.ClientCredential{
		{ID: "cred_a", KID: "kid-a-0123456789", Alg: "RS256", PEM: pemA, CredentialType: "public_key"}}}
	shared := &fakeOnce{t: t, seen: map[string]bool{}}
	v := NewAssertionVerifier(testIssuer, shared, func() time.Time { return now })
	a := signAssertion(t, keyA, jose.RS256, "", false, goodClaims(now, "shared-1"))
	if err := v.Verify(t.Context(), client, a); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := v.Verify(t.Context(), client, a); err == nil {
		t.Fatal("a replay was accepted")
	}
	shared.down = true
	if err := v.Verify(t.Context(), client, signAssertion(t, keyA, jose.RS256, "", false, goodClaims(now, "shared-2"))); err == nil {
		t.Fatal("accepted with the replay cache down")
	}
}

// fakeOnce is a shared replay cache in memory that can be "down".
type fakeOnce struct {
	t    *testing.T
	seen map[string]bool
	down bool
}

func (f *fakeOnce) Once(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if f.down {
		return false, errors.New("redis: connection refused")
	}
	if _, ok := ctx.Deadline(); !ok {
		f.t.Error("the shared cache was called without a deadline")
	}
	if ttl <= 0 || ttl > MaxAssertionLifetime+2*time.Second {
		f.t.Errorf("ttl %v", ttl)
	}
	if f.seen[key] {
		return false, nil
	}
	f.seen[key] = true
	return true, nil
}
