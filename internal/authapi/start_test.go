package authapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/httpx"
)

func FuzzDecodeStart(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"a","connection":"email","email":"a@example.com","send":"code","authParams":{"scope":"openid","n":1,"b":true,"z":null}}`,
		`{"client_id":"a","connection":"sms","phone_number":"+1555","authParams":"x"}`,
		`{"client_id":1}`, `{"type":"x"}`, `{"authParams":{"a":{"b":1}}}`, `{}`, `[]`, `{"client_id":"a","connection":"email","client_assertion":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := httpx.DecodeBody("application/json", raw, "bad.request")
		if err != nil {
			return
		}
		s, err := decodeStart(b)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != 400 || he.Code == "" || he.Description == "" {
				t.Fatalf("decodeStart error %v is not a 400 with a code", err)
			}
			return
		}
		if s.ClientID == "" || s.Connection == "" {
			t.Fatalf("accepted a body without client_id or connection: %q", raw)
		}
		for k, v := range s.AuthParams {
			if len(v) > maxAuthParamValue || len(k) > 128 {
				t.Fatalf("oversized authParams accepted")
			}
		}
	})
}

func TestRequestLanguage(t *testing.T) {
	tests := []struct{ xrl, al, want string }{
		{"fr", "de", "fr"},
		{"", "de-CH, de;q=0.9, en;q=0.8", "de-CH"},
		{"", "en;q=0.8", "en"},
		{"", "*", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		r := httptestRequest(tt.xrl, tt.al)
		if got := requestLanguage(r); got != tt.want {
			t.Errorf("requestLanguage(%q, %q) = %q; want %q", tt.xrl, tt.al, got, tt.want)
		}
	}
}

func httptestRequest(xrl, al string) *http.Request {
	r := httptest.NewRequest("POST", "/passwordless/start", nil)
	if xrl != "" {
		r.Header.Set("X-Request-Language", xrl)
	}
	if al != "" {
		r.Header.Set("Accept-Language", al)
	}
	return r
}
