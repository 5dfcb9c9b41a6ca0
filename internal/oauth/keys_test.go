package oauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/tenant"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// keyNodes opens one SQLite store and returns n key managers over it (as n
// nodes sharing a database would have), each initialised, with one clock.
func keyNodes(t *testing.T, n int) ([]*KeyManager, *testClock, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	var ms []*KeyManager
	for range n {
		m := NewKeyManager(st, seal, "https://login.example.com/", clk.now)
		if err := m.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms, clk, st
}

func jwksKids(t *testing.T, m *KeyManager) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func byStatus(t *testing.T, st *sqlite.Store) map[store.SigningKeyStatus][]string {
	t.Helper()
	keys, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.SigningKeyStatus][]string{}
	for _, k := range keys {
		out[k.Status] = append(out[k.Status], k.KID)
	}
	return out
}

func sign(t *testing.T, m *KeyManager) string {
	t.Helper()
	tok, err := m.Sign(t.Context(), AlgRS256, []byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// TestKeyRotation walks a key through its life on one node: published as
// next before it signs, current, previous (still verifying), then gone
// from the JWKS once its grace ends or it is revoked.
func TestKeyRotation(t *testing.T) {
	ms, clk, st := keyNodes(t, 1)
	m, ctx := ms[0], t.Context()
	s := byStatus(t, st)
	if len(s[store.KeyCurrent]) != 1 || len(s[store.KeyNext]) != 1 || len(s) != 2 {
		t.Fatalf("after Init: %v, want one current and one next key", s)
	}
	first, next := s[store.KeyCurrent][0], s[store.KeyNext][0]
	if got := jwksKids(t, m); len(got) != 2 || got[0] != next || got[1] != first {
		t.Fatalf("JWKS %v, want the next key and the current one [%s %s]", got, next, first)
	}
	before := sign(t, m)
	if kidOf(t, before) != first {
		t.Fatalf("signed with %s, want the current key %s", kidOf(t, before), first)
	}

	clk.advance(time.Hour)
	promoted, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if promoted.KID != next || promoted.Status != store.KeyCurrent || !promoted.CurrentSince.Equal(clk.now()) {
		t.Fatalf("Rotate promoted %+v, want %s current since now", promoted, next)
	}
	s = byStatus(t, st)
	newNext := s[store.KeyNext][0]
	if got := jwksKids(t, m); len(got) != 3 || got[0] != newNext || got[1] != next || got[2] != first {
		t.Fatalf("JWKS after the rotation %v, want [%s %s %s]", got, newNext, next, first)
	}
	after := sign(t, m)
	if kidOf(t, after) != next {
		t.Fatalf("signed with %s after the rotation, want %s", kidOf(t, after), next)
	}
	for _, tok := range []string{before, after} {
		if _, err := m.Verify(tok); err != nil {
			t.Fatalf("token of %s does not verify: %v", kidOf(t, tok), err)
		}
	}

	// The previous key verifies for RetiredKeyGrace, then leaves the JWKS.
	clk.advance(RetiredKeyGrace - time.Millisecond)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(before); err != nil {
		t.Fatalf("previous key's token at the end of the grace: %v", err)
	}
	clk.advance(time.Millisecond)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwksKids(t, m); len(got) != 2 {
		t.Fatalf("JWKS once the grace is over: %v, want the next and current keys", got)
	}
	if _, err := m.Verify(before); err == nil {
		t.Fatal("the previous key's token verifies after the grace")
	}

	// Rotate again and revoke the previous key at once.
	clk.advance(time.Hour)
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(after); err != nil {
		t.Fatalf("token of the key just rotated out: %v", err)
	}
	rev, err := m.Revoke(ctx, next)
	if err != nil || rev.Status != store.KeyRevoked || !rev.RevokedAt.Equal(clk.now()) {
		t.Fatalf("Revoke: %+v %v", rev, err)
	}
	if _, err := m.Verify(after); err == nil {
		t.Fatal("a revoked key's token verifies")
	}
	for _, kid := range jwksKids(t, m) {
		if kid == next {
			t.Fatal("the revoked key is in the JWKS")
		}
	}
	s = byStatus(t, st)
	for _, kid := range []string{s[store.KeyCurrent][0], s[store.KeyNext][0]} {
		if _, err := m.Revoke(ctx, kid); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Revoke of the current or next key %s: %v, want ErrConflict", kid, err)
		}
	}
	if _, err := m.Revoke(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revoke of an unknown key: %v", err)
	}
}

// TestKeyRotationAcrossNodes: nodes over one store agree on the signer
// once they have reloaded; a node that has not reloaded yet still
// verifies what the rotating node signs (the next key it already
// publishes), and even a kid it never saw (two rotations since) after one
// reload on the miss. A revocation takes effect on the other node at its
// reload.
func TestKeyRotationAcrossNodes(t *testing.T) {
	ms, clk, st := keyNodes(t, 2)
	a, b, ctx := ms[0], ms[1], t.Context()
	if a.Current() != b.Current() {
		t.Fatalf("nodes sign with %s and %s", a.Current(), b.Current())
	}
	old := sign(t, b)
	clk.advance(time.Minute)
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok := sign(t, a)
	if _, err := b.Verify(tok); err != nil {
		t.Fatalf("node b (not reloaded) refuses node a's token: %v", err)
	}
	if b.Current() == a.Current() {
		t.Fatalf("node b switched signer without reloading: %s %s %s", b.Current(), a.Current(), kidOf(t, tok))
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Current() != a.Current() {
		t.Fatalf("after reloading, nodes sign with %s and %s", a.Current(), b.Current())
	}

	// Two rotations on a: b has never seen the new signer even as next.
	for range 2 {
		clk.advance(time.Minute)
		if _, err := a.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b.missed.Store(0) // no reload for a miss in the last second
	if _, err := b.Verify(sign(t, a)); err != nil {
		t.Fatalf("node b refuses a token of a key two rotations new: %v", err)
	}

	// Revoked on a: b stops accepting at its reload.
	prev := byStatus(t, st)[store.KeyPrevious]
	if _, err := a.Verify(old); err != nil {
		t.Fatal(err)
	}
	for _, kid := range prev {
		if _, err := a.Revoke(ctx, kid); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Verify(old); err == nil {
		t.Fatal("node a accepts a revoked key's token")
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(old); err == nil {
		t.Fatal("node b accepts a revoked key's token after reloading")
	}
	if string(a.JWKS()) != string(b.JWKS()) {
		t.Fatalf("nodes publish different JWKS:\n%s\n%s", a.JWKS(), b.JWKS())
	}
}

// TestRotateIfDue: the scheduled rotation, driven by the injected clock;
// nodes checking at the same moment rotate once.
func TestRotateIfDue(t *testing.T) {
	ms, clk, st := keyNodes(t, 4)
	ctx := t.Context()
	every := 90 * 24 * time.Hour
	if rotated, err := ms[0].RotateIfDue(ctx, every); err != nil || len(rotated) != 0 {
		t.Fatalf("fresh key: rotated=%v err=%v", rotated, err)
	}
	clk.advance(every - time.Second)
	if rotated, err := ms[0].RotateIfDue(ctx, every); err != nil || len(rotated) != 0 {
		t.Fatalf("a second early: rotated=%v err=%v", rotated, err)
	}
	clk.advance(time.Second)
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			rotated, err := m.RotateIfDue(ctx, every)
			if err != nil {
				t.Error(err)
			}
			if len(rotated) > 0 {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("%d nodes rotated, want 1", n)
	}
	if s := byStatus(t, st); len(s[store.KeyPrevious]) != 1 || len(s[store.KeyCurrent]) != 1 || len(s[store.KeyNext]) != 1 {
		t.Fatalf("after the scheduled rotation: %v", s)
	}
	for _, m := range ms {
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if m.Current() != ms[0].Current() {
			t.Fatal("nodes disagree on the current key after the scheduled rotation")
		}
	}
	if rotated, _ := ms[1].RotateIfDue(ctx, every); len(rotated) > 0 {
		t.Fatal("rotated again at once")
	}
}

// TestKeyCertificate: the certificate is self-signed over the key, the
// same on every node, and its Auth0 renderings parse.
func TestKeyCertificate(t *testing.T) {
	ms, _, st := keyNodes(t, 2)
	keys, err := st.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	k := keys[0]
	c1, err := ms[0].Certificate(k)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ms[1].Certificate(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Raw, c2.Raw) {
		t.Fatal("two nodes make different certificates for one key")
	}
	if err := c1.CheckSignatureFrom(c1); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
		t.Fatal(err)
	}
	if !jwk.Key.(*rsa.PublicKey).Equal(c1.PublicKey) {
		t.Fatal("the certificate is not over the signing key")
	}
	if c1.Subject.CommonName != "login.example.com" || !c1.NotBefore.Equal(k.CreatedAt.Truncate(time.Second)) {
		t.Fatalf("subject %q, not before %v", c1.Subject.CommonName, c1.NotBefore)
	}

	p := CertPEM(c1)
	if !strings.HasPrefix(p, "-----BEGIN CERTIFICATE-----\r\n") || !strings.HasSuffix(p, "\r\n-----END CERTIFICATE-----") {
		t.Fatalf("cert PEM %q", p)
	}
	blk, _ := pem.Decode([]byte(p))
	if blk == nil || !bytes.Equal(blk.Bytes, c1.Raw) {
		t.Fatal("cert PEM does not decode to the certificate")
	}
	p7, err := CertPKCS7(c1)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ = pem.Decode([]byte(p7))
	if blk == nil || blk.Type != "PKCS7" {
		t.Fatalf("pkcs7 PEM %q", p7)
	}
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     struct {
			Version          int
			DigestAlgorithms asn1.RawValue
			ContentInfo      struct{ ContentType asn1.ObjectIdentifier }
			Certificates     asn1.RawValue `asn1:"tag:0"`
			SignerInfos      asn1.RawValue
		} `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(blk.Bytes, &ci); err != nil || len(rest) != 0 {
		t.Fatalf("pkcs7 does not parse: %v", err)
	}
	if !ci.ContentType.Equal(oidSignedData) || ci.Content.Version != 1 || !bytes.Equal(ci.Content.Certificates.Bytes, c1.Raw) {
		t.Fatalf("pkcs7 content %+v", ci)
	}
	if _, err := x509.ParseCertificates(ci.Content.Certificates.Bytes); err != nil {
		t.Fatal(err)
	}
	if fp := CertFingerprint(c1); !regexp.MustCompile(`^([0-9A-F]{2}:){19}[0-9A-F]{2}$`).MatchString(fp) ||
		strings.ReplaceAll(fp, ":", "") != CertThumbprint(c1) {
		t.Fatalf("fingerprint %q, thumbprint %q", fp, CertThumbprint(c1))
	}
}

// TestRetiredKeyGrace: the grace covers the longest token Latchkey signs,
// and the shortest schedule serve accepts is the grace.
func TestRetiredKeyGrace(t *testing.T) {
	for name, life := range map[string]time.Duration{"longest ID token": tenant.MaxIDTokenLifetime * time.Second, "Management API token": ManagementTokenLifetime,
		"longest API token": 2592000 * time.Second} {
		if RetiredKeyGrace <= life {
			t.Errorf("RetiredKeyGrace %v does not outlast the %s (%v)", RetiredKeyGrace, name, life)
		}
	}
	if config.MinSigningKeyRotation != RetiredKeyGrace {
		t.Errorf("config.MinSigningKeyRotation %v != RetiredKeyGrace %v", config.MinSigningKeyRotation, RetiredKeyGrace)
	}
}

func TestKeyIDNeverLooksLikeAFlag(t *testing.T) {
	for range 2000 { // a leading '-' or '_' comes once in 32 draws
		if k := keyID(); k[0] == '-' || k[0] == '_' || len(k) < 16 {
			t.Fatalf("key ID %q", k)
		}
	}
}
