package oauth

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// BenchmarkSignRS256: one ID token's signature with the tenant's RS256
// key (2048 bits), the floor of a login's CPU cost.
func BenchmarkSignRS256(b *testing.B) {
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
	payload := []byte(`{"iss":"https://login.example.com/","sub":"email|0123456789abcdef01234567","aud":"app","exp":2000000000,"iat":1700000000,"nonce":"n","email":"a@example.com"}`)
	for b.Loop() {
		if _, err := m.Sign(b.Context(), AlgRS256, payload); err != nil {
			b.Fatal(err)
		}
	}
}
