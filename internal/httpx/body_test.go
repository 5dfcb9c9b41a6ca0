package httpx

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		raw    string
		want   Body
		status int
	}{
		{"json", "application/json", `{"a":"b","n":1}`, Body{"a": "b", "n": json.Number("1")}, 0},
		{"json charset", "application/json", `{"a":"b"}`, Body{"a": "b"}, 0},
		{"empty", "application/json", ``, Body{}, 0},
		{"no type object", "", `{"a":"b"}`, Body{"a": "b"}, 0},
		{"form", "application/x-www-form-urlencoded", `a=b&authParams%5Bscope%5D=openid`, Body{"a": "b", "authParams": map[string]any{"scope": "openid"}}, 0},
		{"array", "application/json", `[1]`, nil, 400},
		{"string", "application/json", `"x"`, nil, 400},
		{"truncated", "application/json", `{"a":`, nil, 400},
		{"trailing", "application/json", `{"a":1} {"b":2}`, nil, 400},
		{"garbage", "application/json", `{a:1}`, nil, 400},
		{"text/plain", "text/plain", `a=b`, nil, 400},
		{"no type not json", "", `a=b`, nil, 400},
		{"repeated form key", "application/x-www-form-urlencoded", `a=b&a=c`, nil, 400},
		{"form value and object", "application/x-www-form-urlencoded", `a=b&a%5Bc%5D=d`, nil, 400},
		{"bad form escape", "application/x-www-form-urlencoded", `a=%zz`, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBody(tt.ct, []byte(tt.raw), "invalid_request")
			if tt.status != 0 {
				var he *Error
				if !errors.As(err, &he) || he.Status != tt.status || he.Code != "invalid_request" {
					t.Fatalf("got %v, %v; want status %d", got, err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBodyString(t *testing.T) {
	b := Body{"s": "x", "n": json.Number("2"), "o": map[string]any{}}
	if s, err := b.String("s"); s != "x" || err != nil {
		t.Errorf("String(s) = %q, %v", s, err)
	}
	if s, err := b.String("missing"); s != "" || err != nil {
		t.Errorf("String(missing) = %q, %v", s, err)
	}
	_, err := b.String("n")
	var te *TypeError
	if !errors.As(err, &te) || te.Error() != "error in n - invalid type: number (expected string)" {
		t.Errorf("String(n) error = %v", err)
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"client_id":"x","authParams":{"scope":"openid"}}`, `[]`, `{"a":`, `a=b&c[d]=e`, `a[=b`, `{"a":1e999}`, "\xff"} {
		f.Add("application/json", []byte(s))
		f.Add("application/x-www-form-urlencoded", []byte(s))
	}
	f.Fuzz(func(t *testing.T, ct string, raw []byte) {
		b, err := DecodeBody(ct, raw, "bad.request")
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
				t.Fatalf("error %v is not a 4xx *Error", err)
			}
			return
		}
		if b == nil {
			t.Fatal("nil body without error")
		}
	})
}
