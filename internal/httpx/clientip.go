package httpx

import (
	"net/http"
	"net/netip"
	"strings"
)

// Proxies says which TCP peers are trusted reverse proxies and which
// header they maintain, and reads the client's address, scheme and host
// from a request accordingly.
//
// Only one header is read. A proxy that maintains X-Forwarded-For passes a
// client's own Forwarded header through untouched (and the other way
// round), so reading both would let any client name its own address.
type Proxies struct {
	trusted []netip.Prefix
	// forwarded: read RFC 7239 Forwarded; otherwise X-Forwarded-For with
	// X-Forwarded-Proto and X-Forwarded-Host.
	forwarded bool
}

// NewProxies returns the proxy rules for the trusted prefixes; forwarded
// selects the RFC 7239 Forwarded header instead of X-Forwarded-For. With
// no prefixes, every forwarding header is ignored.
func NewProxies(trusted []netip.Prefix, forwarded bool) *Proxies {
	return &Proxies{trusted: trusted, forwarded: forwarded}
}

// Trusts reports whether addr is a trusted proxy.
func (p *Proxies) Trusts(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, t := range p.trusted {
		if t.Contains(addr) {
			return true
		}
	}
	return false
}

// Origin is what a request says about where it came from.
type Origin struct {
	// Client is the client's address: the TCP peer, or, when the peer is a
	// trusted proxy, the nearest address in the forwarding header that is
	// not itself a trusted proxy.
	Client netip.Addr
	// Peer is the TCP peer.
	Peer netip.Addr
	// Proto is "https" or "http": the connection's, or the one a trusted
	// proxy reports.
	Proto string
	// Host is the host a trusted proxy reports the client asked for ("" when
	// none did).
	Host string
}

// Resolve reads the origin of a request that arrived from peer over a
// connection that is TLS or not. Forwarding headers count only when the
// peer is a trusted proxy. They are walked from the right (the entry the
// nearest proxy added) towards the left, skipping trusted proxies; the
// first other address is the client. When an entry cannot be read the walk
// stops and the last address read stands (the proxy that received it);
// when every entry is a trusted proxy, the leftmost one is the client.
func (p *Proxies) Resolve(peer netip.Addr, tls bool, h http.Header) Origin {
	peer = peer.Unmap().WithZone("")
	o := Origin{Client: peer, Peer: peer, Proto: "http"}
	if tls {
		o.Proto = "https"
	}
	if !p.Trusts(peer) {
		return o
	}
	if p.forwarded {
		elems := parseForwarded(h.Values("Forwarded"))
		chosen := -1
		for i := len(elems) - 1; i >= 0; i-- {
			a, ok := parseNode(elems[i].for_)
			if !ok {
				break
			}
			o.Client, chosen = a, i
			if !p.Trusts(a) {
				break
			}
		}
		if chosen < 0 && len(elems) > 0 {
			chosen = len(elems) - 1
		}
		if chosen >= 0 {
			if proto := elems[chosen].proto; proto == "http" || proto == "https" {
				o.Proto = proto
			}
			o.Host = cleanHost(elems[chosen].host)
		}
		return o
	}
	entries := splitList(h.Values("X-Forwarded-For"))
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseNode(entries[i])
		if !ok {
			break
		}
		o.Client = a
		if !p.Trusts(a) {
			break
		}
	}
	if v := lastOf(h.Values("X-Forwarded-Proto")); v == "http" || v == "https" {
		o.Proto = v
	}
	o.Host = cleanHost(lastOf(h.Values("X-Forwarded-Host")))
	return o
}

// splitList splits comma-separated header values into trimmed entries.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// lastOf is the last entry of a comma-separated header, lower-cased.
func lastOf(values []string) string {
	l := splitList(values)
	if len(l) == 0 {
		return ""
	}
	return strings.ToLower(l[len(l)-1])
}

// cleanHost keeps a reported host only when it looks like a host[:port]
// (it is logged; never used to build URLs, which come from the issuer).
func cleanHost(h string) string {
	if h == "" || len(h) > 255 {
		return ""
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]_", c)) {
			return ""
		}
	}
	return h
}

// parseNode reads an address as forwarding headers write it: an IPv4
// address, an IPv6 address bare or in brackets, either with a port.
// "unknown", obfuscated identifiers ("_hidden") and anything else are not
// addresses.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// forwardedElem is one element of an RFC 7239 Forwarded header (one hop).
type forwardedElem struct{ for_, proto, host string }

// parseForwarded reads RFC 7239 Forwarded header values into their
// elements, in order. Parameters other than for, proto and host are
// skipped. A malformed element stays in the list with an empty for_, so
// that a walk from the right stops there instead of skipping to what a
// client wrote further left.
func parseForwarded(values []string) []forwardedElem {
	var out []forwardedElem
	for _, v := range values {
		parts, balanced := splitQuoted(v, ',')
		if !balanced {
			// An unterminated quote (a client's) must not swallow the
			// elements a proxy appended after it: split at every comma, so
			// that the client's element is malformed and the proxy's stand.
			parts = strings.Split(v, ",")
		}
		for _, raw := range parts {
			e, ok := parseElement(raw)
			if !ok {
				e = forwardedElem{}
			}
			out = append(out, e)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings (with backslash
// escapes inside them); balanced is false when a quote is left open (it
// then runs to the end).
func splitQuoted(s string, sep byte) (parts []string, balanced bool) {
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:]), !inQuote
}

// parseElement parses one element: name=value pairs separated by ';',
// each value a token or a quoted string.
func parseElement(s string) (forwardedElem, bool) {
	var e forwardedElem
	if strings.TrimSpace(s) == "" {
		return e, false
	}
	pairs, balanced := splitQuoted(s, ';')
	if !balanced {
		return e, false
	}
	for _, pair := range pairs {
		name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !isToken(name) {
			return e, false
		}
		if strings.HasPrefix(val, `"`) {
			u, ok := unquote(val)
			if !ok {
				return e, false
			}
			val = u
		} else if !isToken(val) {
			return e, false
		}
		switch strings.ToLower(name) {
		case "for":
			e.for_ = val
		case "proto":
			e.proto = strings.ToLower(val)
		case "host":
			e.host = val
		}
	}
	return e, true
}

// unquote reads a whole quoted string (RFC 7230 quoted-string).
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s)-1 {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case c == '"':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// isToken reports whether s is an RFC 7230 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~:", c) >= 0) {
			return false
		}
	}
	return true
}
