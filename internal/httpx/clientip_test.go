package httpx

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func prefixes(t testing.TB, s ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestResolveXForwardedFor(t *testing.T) {
	p := NewProxies(prefixes(t, "10.0.0.0/8", "127.0.0.1/32", "fd00::/8"), false)
	tests := []struct {
		name       string
		peer       string
		tls        bool
		header     http.Header
		wantClient string
		wantProto  string
		wantHost   string
	}{
		{"untrusted peer: headers ignored", "203.0.113.9", false,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}},
			"203.0.113.9", "http", ""},
		{"untrusted peer over TLS", "203.0.113.9", true, nil, "203.0.113.9", "https", ""},
		{"trusted peer without header", "10.1.2.3", false, nil, "10.1.2.3", "http", ""},
		{"one proxy", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"login.example.com"}},
			"198.51.100.1", "https", "login.example.com"},
		{"spoofed entry left of the real client", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1"}}, "198.51.100.1", "http", ""},
		{"two proxies, skipped from the right", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"1.1.1.1, 198.51.100.1, 10.9.9.9"}}, "198.51.100.1", "http", ""},
		{"header split over lines", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"6.6.6.6", "198.51.100.1, 10.9.9.9"}}, "198.51.100.1", "http", ""},
		{"all trusted: leftmost", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"10.5.5.5, 10.9.9.9"}}, "10.5.5.5", "http", ""},
		{"garbage stops the walk at the proxy that received it", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"198.51.100.1, not-an-ip, 10.9.9.9"}}, "10.9.9.9", "http", ""},
		{"garbage from the client", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"<script>, 198.51.100.1"}}, "198.51.100.1", "http", ""},
		{"IPv6 client", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::1", "http", ""},
		{"IPv6 client in brackets with a port", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"[2001:db8::1]:4711"}}, "2001:db8::1", "http", ""},
		{"IPv4 with a port", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"198.51.100.1:5555"}}, "198.51.100.1", "http", ""},
		{"IPv6 proxy peer", "fd00::5", false,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", "http", ""},
		{"IPv4-mapped peer", "::ffff:10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"::ffff:198.51.100.1"}}, "198.51.100.1", "http", ""},
		{"zone dropped", "10.1.2.3", false,
			http.Header{"X-Forwarded-For": {"fe80::1%eth0"}}, "fe80::1", "http", ""},
		{"unknown proto ignored", "10.1.2.3", true,
			http.Header{"X-Forwarded-Proto": {"gopher"}}, "10.1.2.3", "https", ""},
		{"proto: the nearest proxy's", "10.1.2.3", false,
			http.Header{"X-Forwarded-Proto": {"http, HTTPS"}}, "10.1.2.3", "https", ""},
		{"hostile host dropped", "10.1.2.3", false,
			http.Header{"X-Forwarded-Host": {"a b<c>"}}, "10.1.2.3", "http", ""},
		{"Forwarded ignored in X-Forwarded-For mode", "10.1.2.3", false,
			http.Header{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", "http", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := p.Resolve(netip.MustParseAddr(tt.peer), tt.tls, tt.header)
			if o.Client.String() != tt.wantClient || o.Proto != tt.wantProto || o.Host != tt.wantHost {
				t.Errorf("got client %s proto %s host %q; want %s %s %q", o.Client, o.Proto, o.Host, tt.wantClient, tt.wantProto, tt.wantHost)
			}
			if o.Peer != netip.MustParseAddr(tt.peer).Unmap() {
				t.Errorf("peer %s", o.Peer)
			}
		})
	}
}

func TestResolveForwarded(t *testing.T) {
	p := NewProxies(prefixes(t, "10.0.0.0/8"), true)
	tests := []struct {
		name       string
		header     []string
		wantClient string
		wantProto  string
		wantHost   string
	}{
		{"RFC 7239 example", []string{`for=192.0.2.60;proto=https;by=203.0.113.43;host=login.example.com`}, "192.0.2.60", "https", "login.example.com"},
		{"quoted IPv6 with port", []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17", "http", ""},
		{"case-insensitive names", []string{`For=192.0.2.60;PROTO=HTTPS`}, "192.0.2.60", "https", ""},
		{"chain, trusted skipped", []string{`for=6.6.6.6, for=192.0.2.60;proto=https, for=10.0.0.7;proto=http`}, "192.0.2.60", "https", ""},
		{"several header lines", []string{`for=6.6.6.6`, `for=192.0.2.60`}, "192.0.2.60", "http", ""},
		{"obfuscated node stops the walk", []string{`for=192.0.2.60, for=_hidden, for=10.0.0.7`}, "10.0.0.7", "http", ""},
		{"unknown", []string{`for=unknown`}, "10.1.2.3", "http", ""},
		{"X-Forwarded-For ignored in Forwarded mode", nil, "10.1.2.3", "http", ""},
		{"malformed element left of the client", []string{`for=192.0.2.60, garbage, for=198.51.100.1`}, "198.51.100.1", "http", ""},
		{"malformed element stops the walk", []string{`for=1.2.3.4, garbage, for=10.0.0.7`}, "10.0.0.7", "http", ""},
		{"comma inside quotes", []string{`for=6.6.6.6, host="a,b";for=192.0.2.60`}, "192.0.2.60", "http", ""},
		{"unterminated quote", []string{`for="192.0.2.60`}, "10.1.2.3", "http", ""},
		{"a client's open quote does not swallow the proxy's element", []string{`for="1.2.3.4, for=203.0.113.7`}, "203.0.113.7", "http", ""},
		{"an open quote in a later pair", []string{`for=1.2.3.4;host="x, for=203.0.113.7;proto=https`}, "203.0.113.7", "https", ""},
		{"escaped quote in a value", []string{`host="a\"b";for=192.0.2.60`}, "192.0.2.60", "http", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Forwarded": tt.header, "X-Forwarded-For": {"6.6.6.6"}}
			if tt.header == nil {
				delete(h, "Forwarded")
			}
			o := p.Resolve(netip.MustParseAddr("10.1.2.3"), false, h)
			if o.Client.String() != tt.wantClient || o.Proto != tt.wantProto || o.Host != tt.wantHost {
				t.Errorf("got client %s proto %s host %q; want %s %s %q", o.Client, o.Proto, o.Host, tt.wantClient, tt.wantProto, tt.wantHost)
			}
		})
	}
}

func TestNoProxies(t *testing.T) {
	var p *Proxies // no --trusted-proxies
	o := p.Resolve(netip.MustParseAddr("127.0.0.1"), false, http.Header{"X-Forwarded-For": {"6.6.6.6"}})
	if o.Client.String() != "127.0.0.1" {
		t.Errorf("client %s", o.Client)
	}
	o = NewProxies(nil, false).Resolve(netip.MustParseAddr("127.0.0.1"), false, http.Header{"X-Forwarded-For": {"6.6.6.6"}})
	if o.Client.String() != "127.0.0.1" {
		t.Errorf("client %s", o.Client)
	}
}

// FuzzResolve feeds hostile forwarding headers from a trusted peer: the
// result is always a valid address that is the peer or appears in the
// header, and never a panic.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"198.51.100.1", "6.6.6.6, 198.51.100.1, 10.0.0.1", "[2001:db8::1]:80", `for=192.0.2.60;proto=https`,
		`for="[2001:db8:cafe::17]:4711", for=10.0.0.9`, `for="\"`, ",,,", `for=;;`, "unknown", "_x",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	trusted := prefixes(f, "10.0.0.0/8", "::1/128")
	f.Fuzz(func(t *testing.T, header string, forwarded bool) {
		p := NewProxies(trusted, forwarded)
		h := http.Header{"X-Forwarded-For": {header}, "Forwarded": {header}, "X-Forwarded-Proto": {header}, "X-Forwarded-Host": {header}}
		peer := netip.MustParseAddr("10.0.0.1")
		o := p.Resolve(peer, false, h)
		if !o.Client.IsValid() || o.Client.Zone() != "" {
			t.Fatalf("client %v", o.Client)
		}
		if o.Proto != "http" && o.Proto != "https" {
			t.Fatalf("proto %q", o.Proto)
		}
		if o.Client != peer && !containsAddr(header, o.Client) {
			t.Fatalf("client %s neither the peer nor in %q", o.Client, header)
		}
	})
}

// containsAddr reports whether some token of s parses as a.
func containsAddr(s string, a netip.Addr) bool {
	for i := 0; i < len(s); i++ {
		for j := i + 1; j <= len(s) && j-i <= 64; j++ {
			if b, ok := parseNode(s[i:j]); ok && b == a {
				return true
			}
		}
	}
	return false
}

// FuzzAppendedClient: whatever a client writes in the header, the address
// a trusted proxy appends after it is the client, in both modes.
func FuzzAppendedClient(f *testing.F) {
	for _, s := range []string{"", "6.6.6.6", `for="1.2.3.4`, `for=1.2.3.4;host="x`, `"`, `\`, ",", ";", "for=_x", "[::1]:80",
		`for="[2001:db8::1`, "10.0.0.9"} {
		f.Add(s)
	}
	trusted := prefixes(f, "10.0.0.0/8")
	real := netip.MustParseAddr("203.0.113.7")
	f.Fuzz(func(t *testing.T, spoof string) {
		if strings.ContainsAny(spoof, "\r\n") {
			return // not one header line
		}
		peer := netip.MustParseAddr("10.0.0.1")
		o := NewProxies(trusted, false).Resolve(peer, false, http.Header{"X-Forwarded-For": {spoof + ", " + real.String()}})
		if o.Client != real {
			t.Fatalf("X-Forwarded-For %q, then the real client: resolved %s", spoof, o.Client)
		}
		o = NewProxies(trusted, true).Resolve(peer, false, http.Header{"Forwarded": {spoof + ", for=" + real.String()}})
		if o.Client != real {
			t.Fatalf("Forwarded %q, then the real client: resolved %s", spoof, o.Client)
		}
	})
}
