package mgmtapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
)

// fakeVerifier treats the token itself as the verified payload; "forged" fails.
type fakeVerifier struct{}

func (fakeVerifier) Verify(tok string) ([]byte, error) {
	if tok == "forged" {
		return nil, errors.New("bad signature")
	}
	return []byte(tok), nil
}

func TestAuthorize(t *testing.T) {
	const iss = "https://login.example.com/"
	now := time.Unix(1_800_000_000, 0)
	a := &API{Keys: fakeVerifier{}, Issuer: iss, Now: func() time.Time { return now }}
	tok := func(m map[string]any) string {
		c := map[string]any{"iss": iss, "sub": "ops@clients", "aud": iss + "api/v2/", "exp": now.Unix() + 60, "scope": "read:clients"}
		for k, v := range m {
			c[k] = v
		}
		b, _ := json.Marshal(c)
		return "Bearer " + string(b)
	}
	tests := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"valid", tok(nil), 200, ""},
		{"audience array", tok(map[string]any{"aud": []string{"https://x/", iss + "api/v2/"}}), 200, ""},
		{"scheme case", "bearer" + tok(nil)[6:], 200, ""},
		{"missing", "", 401, ""},
		{"not bearer", "Basic abc", 401, ""},
		{"forged", "Bearer forged", 401, "invalid_token"},
		{"not json", "Bearer xyz", 401, "invalid_token"},
		{"issuer", tok(map[string]any{"iss": "https://evil/"}), 401, "invalid_token"},
		{"audience", tok(map[string]any{"aud": "https://api/"}), 401, "invalid_token"},
		{"expired", tok(map[string]any{"exp": now.Unix()}), 401, "token_expired"},
		{"no exp", tok(map[string]any{"exp": nil}), 401, "token_expired"},
		{"not yet valid", tok(map[string]any{"nbf": now.Unix() + 10}), 401, "invalid_token"},
		{"scope", tok(map[string]any{"scope": "read:connections"}), 403, "insufficient_scope"},
		{"no scope", tok(map[string]any{"scope": ""}), 403, "insufficient_scope"},
	}
	h := a.authorize("GET /api/v2/clients", []string{"read:clients", "read:client_summary"}, func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v2/clients", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			err := h(w, r)
			var he *httpx.Error
			switch {
			case tt.status == 200 && (err != nil || w.Code != 200):
				t.Fatalf("got %v", err)
			case tt.status != 200 && (!errors.As(err, &he) || he.Status != tt.status || he.Code != tt.code):
				t.Fatalf("got %v, want %d %q", err, tt.status, tt.code)
			}
			if tt.name == "scope" && he.Description != "Insufficient scope, expected any of: read:clients,read:client_summary" {
				t.Errorf("message %q", he.Description)
			}
		})
	}
}

func TestReadPage(t *testing.T) {
	tests := []struct {
		query    string
		want     page
		bad      bool
		from, to int // window of 7 items
	}{
		{"", page{PerPage: 50}, false, 0, 7},
		{"page=1&per_page=3&include_totals=true", page{Page: 1, PerPage: 3, Totals: true}, false, 3, 6},
		{"page=2&per_page=3", page{Page: 2, PerPage: 3}, false, 6, 7},
		{"page=5&per_page=3", page{Page: 5, PerPage: 3}, false, 7, 7},
		{"per_page=101", page{}, true, 0, 0},
		{"page=-1", page{}, true, 0, 0},
		{"per_page=x", page{}, true, 0, 0},
		{"include_totals=yes", page{}, true, 0, 0},
	}
	for _, tt := range tests {
		p, err := readPage(httptest.NewRequest("GET", "/api/v2/clients?"+tt.query, nil))
		if tt.bad {
			if err == nil {
				t.Errorf("%q: no error", tt.query)
			}
			continue
		}
		if err != nil || p != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.query, p, err, tt.want)
			continue
		}
		if from, to := p.slice(7); from != tt.from || to != tt.to {
			t.Errorf("%q: window [%d,%d), want [%d,%d)", tt.query, from, to, tt.from, tt.to)
		}
	}
}

func TestMergePatch(t *testing.T) {
	type rec struct {
		A string   `json:"a"`
		B []string `json:"b"`
		C *bool    `json:"c"`
	}
	base := rec{A: "x", B: []string{"1"}}
	tests := []struct {
		name, patch string
		want        rec
		bad         bool
	}{
		{"one field", `{"a":"y"}`, rec{A: "y", B: []string{"1"}}, false},
		{"array replaced", `{"b":["2","3"]}`, rec{A: "x", B: []string{"2", "3"}}, false},
		{"empty", `{}`, base, false},
		{"unknown field", `{"d":1}`, rec{}, true},
		{"wrong type", `{"a":1}`, rec{}, true},
	}
	for _, tt := range tests {
		var got rec
		err := mergePatch(base, []byte(tt.patch), &got)
		if tt.bad != (err != nil) {
			t.Errorf("%s: err %v", tt.name, err)
			continue
		}
		if !tt.bad && (got.A != tt.want.A || len(got.B) != len(tt.want.B) || (len(got.B) > 0 && got.B[0] != tt.want.B[0])) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
