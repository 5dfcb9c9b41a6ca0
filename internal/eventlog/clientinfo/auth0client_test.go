package clientinfo

import (
	"encoding/base64"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	auth0jsJSON = `{"name":"auth0.js","version":"10.2.1"}`
	goAuth0JSON = `{"name":"go-auth0","version":"1.x","env":{"go":"go1.26"}}`
)

// auth0jsStyle encodes like auth0.js: the URL alphabet, keeping the padding.
func auth0jsStyle(s string) string {
	return base64.URLEncoding.EncodeToString([]byte(s))
}

func TestDecodeAuth0Client(t *testing.T) {
	auth0js := Client{Name: "auth0.js", Version: "10.2.1"}
	goAuth0 := Client{Name: "go-auth0", Version: "1.x", Env: map[string]string{"go": "go1.26"}}
	// A value whose encodings differ between the alphabets ('+' and '/'
	// versus '-' and '_') and that needs padding.
	odd := `{"name":"lock.js?>>","version":"12.0.0~~~","env":{"auth0.js":"9.x"}}`
	oddClient := Client{Name: "lock.js?>>", Version: "12.0.0~~~", Env: map[string]string{"auth0.js": "9.x"}}
	if std := base64.StdEncoding.EncodeToString([]byte(odd)); !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("test value does not exercise the alphabets: %s", std)
	}

	long := strings.Repeat("é", 40) // 80 bytes
	manyEnv := `{"name":"x","env":{"k00":"v","k01":"v","k02":"v","k03":"v","k04":"v","k05":"v","k06":"v","k07":"v","k08":"v","k09":"v","k10":"v","k11":"v"}}`

	tests := []struct {
		name   string
		header string
		want   Client
		ok     bool
	}{
		{"auth0.js std padded", base64.StdEncoding.EncodeToString([]byte(auth0jsJSON)), auth0js, true},
		{"auth0.js url unpadded", base64.RawURLEncoding.EncodeToString([]byte(auth0jsJSON)), auth0js, true},
		{"auth0.js url padded", auth0jsStyle(auth0jsJSON), auth0js, true},
		{"auth0.js std unpadded", base64.RawStdEncoding.EncodeToString([]byte(auth0jsJSON)), auth0js, true},
		{"auth0.js whitespace", " \t" + auth0jsStyle(auth0jsJSON) + "\r\n", auth0js, true},
		{"go-auth0 std padded", base64.StdEncoding.EncodeToString([]byte(goAuth0JSON)), goAuth0, true},
		{"go-auth0 url unpadded", base64.RawURLEncoding.EncodeToString([]byte(goAuth0JSON)), goAuth0, true},
		{"odd std", base64.StdEncoding.EncodeToString([]byte(odd)), oddClient, true},
		{"odd url raw", base64.RawURLEncoding.EncodeToString([]byte(odd)), oddClient, true},
		{"odd url padded", auth0jsStyle(odd), oddClient, true},
		{"bare json", auth0jsJSON, auth0js, true},
		{"no version", auth0jsStyle(`{"name":"auth0.js"}`), Client{Name: "auth0.js"}, true},
		{"wrong types dropped", auth0jsStyle(`{"name":"a","version":3,"env":{"go":"1","n":2,"o":{},"b":true}}`),
			Client{Name: "a", Env: map[string]string{"go": "1"}}, true},
		{"env not object", auth0jsStyle(`{"name":"a","env":["x"]}`), Client{Name: "a"}, true},
		{"long fields cut", auth0jsStyle(`{"name":"` + long + `","version":"` + strings.Repeat("1", 70) + `"}`),
			Client{Name: strings.Repeat("é", 32), Version: strings.Repeat("1", 64)}, true},
		{"env capped", auth0jsStyle(manyEnv), Client{Name: "x", Env: map[string]string{
			"k00": "v", "k01": "v", "k02": "v", "k03": "v", "k04": "v",
			"k05": "v", "k06": "v", "k07": "v", "k08": "v", "k09": "v"}}, true},
		{"empty", "", Client{}, false},
		{"blank", "   ", Client{}, false},
		{"only padding", "==", Client{}, false},
		{"not base64", "!!!not base64!!!", Client{}, false},
		{"not json", base64.StdEncoding.EncodeToString([]byte("hello")), Client{}, false},
		{"json array", auth0jsStyle(`["auth0.js"]`), Client{}, false},
		{"no name", auth0jsStyle(`{"version":"1"}`), Client{}, false},
		{"empty name", auth0jsStyle(`{"name":""}`), Client{}, false},
		{"name not string", auth0jsStyle(`{"name":1}`), Client{}, false},
		{"trailing garbage", auth0jsStyle(auth0jsJSON + "x"), Client{}, false},
		{"padding in the middle", "eyJu=YW1lIjoiYSJ9", Client{}, false},
		{"too long", base64.StdEncoding.EncodeToString([]byte(`{"name":"a","x":"` + strings.Repeat("x", 2000) + `"}`)), Client{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DecodeAuth0Client(tt.header)
			if ok != tt.ok {
				t.Fatalf("DecodeAuth0Client(%q) ok = %v, want %v", tt.header, ok, tt.ok)
			}
			if got.Name != tt.want.Name || got.Version != tt.want.Version || !maps.Equal(got.Env, tt.want.Env) {
				t.Errorf("DecodeAuth0Client(%q) = %+v, want %+v", tt.header, got, tt.want)
			}
			if (got.Env == nil) != (tt.want.Env == nil) {
				t.Errorf("Env nil = %v, want %v", got.Env == nil, tt.want.Env == nil)
			}
		})
	}
}

func FuzzDecodeAuth0Client(f *testing.F) {
	for _, s := range []string{auth0jsJSON, goAuth0JSON, `{"name":"a","env":{"x":1,"y":"z"}}`, `{}`, `[]`, `null`, "\xff"} {
		f.Add(s)
		f.Add(base64.StdEncoding.EncodeToString([]byte(s)))
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(s)))
		f.Add(auth0jsStyle(s))
	}
	f.Add("")
	f.Add("====")
	f.Add(" eyJuYW1lIjoiYSJ9 ")
	f.Fuzz(func(t *testing.T, header string) {
		checkDecoded(t, header)
		// Treat the input as the JSON payload too, so the fuzzer reaches
		// the JSON handling; all encodings must agree.
		c0, ok0 := checkDecoded(t, base64.StdEncoding.EncodeToString([]byte(header)))
		for _, enc := range []string{
			base64.RawURLEncoding.EncodeToString([]byte(header)),
			auth0jsStyle(header),
		} {
			c, ok := checkDecoded(t, enc)
			if ok != ok0 || c.Name != c0.Name || c.Version != c0.Version || !maps.Equal(c.Env, c0.Env) {
				t.Fatalf("encodings disagree: %+v %v vs %+v %v", c, ok, c0, ok0)
			}
		}
	})
}

// checkDecoded decodes header and checks the bounds on the result.
func checkDecoded(t *testing.T, header string) (Client, bool) {
	t.Helper()
	c, ok := DecodeAuth0Client(header)
	if !ok {
		if c.Name != "" || c.Version != "" || c.Env != nil {
			t.Fatalf("not ok but non-zero result %+v", c)
		}
		return c, ok
	}
	if len(header) > MaxHeaderLength {
		t.Fatalf("decoded a %d-byte header", len(header))
	}
	if c.Name == "" || len(c.Name) > MaxFieldLength || len(c.Version) > MaxFieldLength {
		t.Fatalf("bad name/version sizes: %q %q", c.Name, c.Version)
	}
	if !utf8.ValidString(c.Name) || !utf8.ValidString(c.Version) {
		t.Fatalf("invalid UTF-8: %q %q", c.Name, c.Version)
	}
	if len(c.Env) > MaxEnvEntries || (c.Env != nil && len(c.Env) == 0) {
		t.Fatalf("env has %d entries", len(c.Env))
	}
	for k, v := range c.Env {
		if k == "" || len(k) > MaxFieldLength || len(v) > MaxFieldLength || !utf8.ValidString(v) {
			t.Fatalf("bad env entry %q=%q", k, v)
		}
	}
	return c, ok
}
