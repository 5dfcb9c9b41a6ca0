// Package secret derives Latchkey's working keys from the master key and
// offers the few primitives built on them: keyed hashes for secrets that are
// never read back, authenticated sealing for those that are, and random
// values from crypto/rand.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MasterKeySize is the length of the master key in bytes.
const MasterKeySize = 32

// Keys holds the keys derived from the master key.
type Keys struct {
	hashKey []byte
	aead    cipher.AEAD
}

// New derives the working keys from a 32-byte master key.
func New(master []byte) (*Keys, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	hk, err := hkdf.Key(sha256.New, master, nil, "latchkey hash v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive hash key: %w", err)
	}
	sk, err := hkdf.Key(sha256.New, master, nil, "latchkey seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(sk)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	return &Keys{hashKey: hk, aead: aead}, nil
}

// ParseMasterKey accepts a master key written as 64 hex digits or as
// (standard or URL-safe) base64 of 32 bytes.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == MasterKeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeySize {
			return b, nil
		}
	}
	return nil, errors.New("master key must be 32 bytes as 64 hex digits or base64")
}

// Hash returns HMAC-SHA256 under the hash key of the parts, each prefixed by
// its length so that part boundaries cannot be shifted. purpose separates
// uses (e.g. "code", "client_secret").
func (k *Keys) Hash(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, k.hashKey)
	writePart(m, purpose)
	for _, p := range parts {
		writePart(m, p)
	}
	return m.Sum(nil)
}

func writePart(m interface{ Write([]byte) (int, error) }, s string) {
	var n [4]byte
	l := len(s)
	n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
	m.Write(n[:])
	m.Write([]byte(s))
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// Seal encrypts and authenticates plaintext; ad binds it to a context.
func (k *Keys) Seal(plaintext, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return k.aead.Seal(nonce, nonce, plaintext, ad)
}

// Open reverses Seal.
func (k *Keys) Open(sealed, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, errors.New("sealed value does not authenticate")
	}
	return pt, nil
}

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return b
}

// Token returns a URL-safe random string carrying n random bytes.
func Token(n int) string { return base64.RawURLEncoding.EncodeToString(RandomBytes(n)) }

// Hex returns n random bytes as lowercase hex.
func Hex(n int) string { return hex.EncodeToString(RandomBytes(n)) }

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Alnum returns a random string of n letters and digits (uniform).
func Alnum(n int) string {
	return fromAlphabet(alnum, n)
}

// Digits returns a random string of n decimal digits (uniform).
func Digits(n int) string { return fromAlphabet("0123456789", n) }

func fromAlphabet(alphabet string, n int) string {
	out := make([]byte, n)
	// Rejection sampling: accept bytes below the largest multiple of len(alphabet).
	limit := byte(256 - 256%len(alphabet))
	buf := make([]byte, n+n/2+8)
	i := 0
	for i < n {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if limit != 0 && b >= limit {
				continue
			}
			out[i] = alphabet[int(b)%len(alphabet)]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}
