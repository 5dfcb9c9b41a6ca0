package secret

import (
	"bytes"
	"strings"
	"testing"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := New(bytes.Repeat([]byte{7}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHashSeparatesParts(t *testing.T) {
	k := testKeys(t)
	if Equal(k.Hash("code", "ab", "c"), k.Hash("code", "a", "bc")) {
		t.Error("part boundaries can be shifted")
	}
	if Equal(k.Hash("code", "x"), k.Hash("client_secret", "x")) {
		t.Error("purposes collide")
	}
	if !Equal(k.Hash("code", "x"), k.Hash("code", "x")) {
		t.Error("hash is not deterministic")
	}
	other, _ := New(bytes.Repeat([]byte{8}, MasterKeySize))
	if Equal(k.Hash("code", "x"), other.Hash("code", "x")) {
		t.Error("hash does not depend on the key")
	}
}

func TestSealOpen(t *testing.T) {
	k := testKeys(t)
	s := k.Seal([]byte("hello"), []byte("ad"))
	if pt, err := k.Open(s, []byte("ad")); err != nil || string(pt) != "hello" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open(s, []byte("other")); err == nil {
		t.Error("opened with the wrong associated data")
	}
	s[len(s)-1] ^= 1
	if _, err := k.Open(s, []byte("ad")); err == nil {
		t.Error("opened a tampered value")
	}
	if _, err := k.Open([]byte("short"), nil); err == nil {
		t.Error("opened a short value")
	}
}

func TestParseMasterKey(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, s := range []string{hex, " " + hex + "\n", "q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80="} {
		if b, err := ParseMasterKey(s); err != nil || len(b) != 32 {
			t.Errorf("ParseMasterKey(%q) = %d bytes, %v", s, len(b), err)
		}
	}
	for _, s := range []string{"", "abcd", strings.Repeat("ab", 31)} {
		if _, err := ParseMasterKey(s); err == nil {
			t.Errorf("ParseMasterKey(%q) accepted", s)
		}
	}
}

func TestDigitsAndAlnum(t *testing.T) {
	counts := map[rune]int{}
	for range 2000 {
		d := Digits(6)
		if len(d) != 6 {
			t.Fatalf("Digits(6) = %q", d)
		}
		for _, r := range d {
			if r < '0' || r > '9' {
				t.Fatalf("Digits gave %q", d)
			}
			counts[r]++
		}
	}
	// 12,000 digits: each of the ten should appear roughly 1,200 times.
	for r := '0'; r <= '9'; r++ {
		if counts[r] < 900 || counts[r] > 1500 {
			t.Errorf("digit %c appeared %d times in 12000", r, counts[r])
		}
	}
	if a := Alnum(40); len(a) != 40 || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("Alnum(40) = %q", a)
	}
	if a, b := Token(32), Token(32); a == b {
		t.Error("two tokens are equal")
	}
}
