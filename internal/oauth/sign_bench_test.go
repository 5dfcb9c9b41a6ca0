package oauth

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// BenchmarkSign: one ID token's signature with each of the tenant's keys
// (RSA 2048 for RS256, PS256 and RS512; P-256 for ES256). RS256 is the
// floor of a login's CPU cost with Auth0's default algorithm.
func BenchmarkSign(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "latchkey.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seal, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	m := NewKeyManager(st, seal, "https://login.example.com/", time.Now)
	if err := m.Init(b.Context()); err != nil {
		b.Fatal(err)
	}
	if err := m.Ensure(b.Context(), AlgES256); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://login.example.com/","sub":"email|0123456789abcdef01234567","aud":"app","exp":2000000000,"iat":1700000000,"nonce":"n","email":"a@example.com"}`)
	for _, alg := range []string{AlgRS256, AlgPS256, AlgRS512, AlgES256} {
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Sign(b.Context(), alg, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
