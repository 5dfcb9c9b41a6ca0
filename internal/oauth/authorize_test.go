package oauth

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

var testClient = store.Client{ClientID: "app", AppType: "spa",
	GrantTypes: []string{"authorization_code", "implicit"},
	Callbacks:  []string{"https://app.example.com/cb", "https://app.example.com/cb?x=1", "com.example.app://callback", "http://127.0.0.1:8080/cb"},
	WebOrigins: []string{"https://app.example.com"}}

func TestParseAuthorize(t *testing.T) {
	ch := strings.Repeat("a", 43)
	for _, tc := range []struct {
		name string
		q    string
		page bool   // a PageError
		mism bool   // ... that is a callback mismatch
		code string // the RedirectError code; "" for success
		mode string // the response mode on success
		rt   string
	}{
		{name: "code", q: "redirect_uri=https://app.example.com/cb&response_type=code", mode: "query", rt: "code"},
		{name: "implicit default fragment", q: "redirect_uri=https://app.example.com/cb&response_type=token+id_token&nonce=n", mode: "fragment", rt: "id_token token"},
		{name: "order and duplicates", q: "redirect_uri=https://app.example.com/cb&response_type=token+code+token+id_token&nonce=n", mode: "fragment", rt: "code id_token token"},
		{name: "registered query", q: "redirect_uri=" + url.QueryEscape("https://app.example.com/cb?x=1") + "&response_type=code", mode: "query", rt: "code"},
		{name: "native scheme", q: "redirect_uri=com.example.app://callback&response_type=code", mode: "query", rt: "code"},
		{name: "loopback http", q: "redirect_uri=http://127.0.0.1:8080/cb&response_type=code", mode: "query", rt: "code"},
		{name: "web_message", q: "redirect_uri=https://app.example.com/cb&response_type=code&response_mode=web_message", mode: "web_message", rt: "code"},
		{name: "form_post", q: "redirect_uri=https://app.example.com/cb&response_type=id_token&nonce=n&response_mode=form_post", mode: "form_post", rt: "id_token"},
		{name: "pkce", q: "redirect_uri=https://app.example.com/cb&response_type=code&code_challenge=" + ch + "&code_challenge_method=S256", mode: "query", rt: "code"},
		{name: "no redirect_uri", q: "response_type=code", page: true},
		{name: "unregistered", q: "redirect_uri=https://app.example.com/cb2&response_type=code", page: true, mism: true},
		{name: "registered query dropped", q: "redirect_uri=" + url.QueryEscape("https://app.example.com/cb?x=2") + "&response_type=code", page: true, mism: true},
		{name: "no response_type", q: "redirect_uri=https://app.example.com/cb", code: "invalid_request"},
		{name: "bad response_type", q: "redirect_uri=https://app.example.com/cb&response_type=code+device", code: "unsupported_response_type"},
		{name: "tokens in query", q: "redirect_uri=https://app.example.com/cb&response_type=token&response_mode=query", code: "invalid_request"},
		{name: "unknown mode", q: "redirect_uri=https://app.example.com/cb&response_type=code&response_mode=jwt", code: "invalid_request"},
		{name: "id_token without nonce", q: "redirect_uri=https://app.example.com/cb&response_type=id_token", code: "invalid_request"},
		{name: "plain pkce", q: "redirect_uri=https://app.example.com/cb&response_type=code&code_challenge=" + ch + "&code_challenge_method=plain", code: "invalid_request"},
		{name: "short challenge", q: "redirect_uri=https://app.example.com/cb&response_type=code&code_challenge=abc&code_challenge_method=S256", code: "invalid_request"},
		{name: "method without challenge", q: "redirect_uri=https://app.example.com/cb&response_type=code&code_challenge_method=S256", code: "invalid_request"},
		{name: "repeated state", q: "redirect_uri=https://app.example.com/cb&response_type=code&state=a&state=b", code: "invalid_request"},
		{name: "bad prompt", q: "redirect_uri=https://app.example.com/cb&response_type=code&prompt=always", code: "invalid_request"},
	} {
		q, err := url.ParseQuery(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseAuthorize(testClient, q)
		var pe *PageError
		var re *RedirectError
		switch {
		case tc.page:
			if !errors.As(err, &pe) || pe.Mismatch != tc.mism {
				t.Errorf("%s: %v (%+v), want a page error (mismatch %v)", tc.name, err, pe, tc.mism)
			}
		case tc.code != "":
			if !errors.As(err, &re) || re.Code != tc.code {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
			}
		case err != nil || r.ResponseMode != tc.mode || r.ResponseType != tc.rt:
			t.Errorf("%s: %+v %v", tc.name, r, err)
		}
	}
	noImplicit := testClient
	noImplicit.GrantTypes = []string{"authorization_code"}
	if _, err := ParseAuthorize(noImplicit, url.Values{"redirect_uri": {"https://app.example.com/cb"}, "response_type": {"token"}}); err == nil ||
		!strings.Contains(err.Error(), "unauthorized_client") {
		t.Errorf("implicit without the grant: %v", err)
	}
	noWeb := testClient
	noWeb.WebOrigins = nil
	var pe *PageError
	if _, err := ParseAuthorize(noWeb, url.Values{"redirect_uri": {"https://app.example.com/cb"}, "response_type": {"code"},
		"response_mode": {"web_message"}}); !errors.As(err, &pe) {
		t.Errorf("web_message without web origins: %v", err)
	}
}

func TestHalfHash(t *testing.T) {
	// OIDC Core A.3: at_hash of this access token.
	if got := halfHash(AlgRS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("at_hash = %s", got)
	}
	// RS512 takes the left half of the SHA-512: 32 bytes, 43 characters.
	if got := halfHash(AlgRS512, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); len(got) != 43 {
		t.Fatalf("RS512 at_hash = %s", got)
	}
	if halfHash(AlgES256, "") != "" {
		t.Fatal("empty")
	}
}

// FuzzMatchRedirectURI: a URI matches only when it is byte for byte one of
// the registered URLs, whatever it looks like; nothing panics.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range []string{"https://app.example.com/cb", "https://app.example.com/cb/", "https://APP.example.com/cb",
		"https://app.example.com@evil.com/cb", "https://app.example.com/cb#x", "https://app.example.com/cb?x=1",
		"https://app.example.com/cb?x=1&y=2", "//evil.com", "javascript:alert(1)", "com.example.app://callback",
		"https://app.example.com/cb/../cb", "https://app.example.com%2F@evil.com", "http://127.0.0.1:8080/cb", "\x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		ok := MatchRedirectURI(testClient.Callbacks, uri)
		registered := false
		for _, c := range testClient.Callbacks {
			registered = registered || c == uri
		}
		if ok && !registered {
			t.Fatalf("%q matched without being registered", uri)
		}
		if registered && !ok {
			t.Fatalf("registered %q did not match", uri)
		}
		_ = Origin(uri)
		_ = AllowedOrigin(testClient, uri)
	})
}
