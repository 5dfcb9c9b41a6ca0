package authapi

import "testing"

func TestCSPSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ callback, want string }{
		{"https://App.Example.com/callback?x=1", " https://app.example.com"},
		{"http://127.0.0.1:3000/cb", " http://127.0.0.1:3000"},
		{"https://[::1]:8443/cb", " https://[::1]:8443"},
		{"com.example.app://login/callback", " com.example.app:"},
		{"", ""},
		{"/relative", ""},
		{"https:///nohost", ""},
		{"mailto:a@b", ""},
		{"https://a.example.com;script-src/x", ""},
		{"https://a.example.com%20*/x", ""},
	} {
		if got := cspSource(tc.callback); got != tc.want {
			t.Errorf("cspSource(%q) = %q, want %q", tc.callback, got, tc.want)
		}
	}
}
