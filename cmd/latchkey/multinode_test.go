package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testpg"
	"github.com/latchkey/latchkey/internal/testredis"
)

// tcpProxy forwards a local port to a target, and can be stopped and
// started again on the same port (Redis going away and coming back).
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

const multiTenant = `{"settings": {"latchkey": {"rate_limits": {
    "passwordless_start": {"burst": 6, "rate": 6, "interval_seconds": 3600},
    "per_recipient": {"burst": 1000, "rate": 1000, "interval_seconds": 1}}}},
 "clients": [
  {"client_id": "native", "name": "Native", "app_type": "native", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]},
  {"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij", "name": "Web", "app_type": "regular_web",
   "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"], "is_token_endpoint_ip_header_trusted": true},
  {"client_id": "ops", "client_secret": "ops-secret-0123456789abcdefghij", "name": "Ops", "app_type": "non_interactive",
   "grant_types": ["client_credentials"]}],
 "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["native", "web"],
   "options": {"brute_force_protection": true}}],
 "client_grants": [{"client_id": "ops", "audience": "%sapi/v2/", "scope": ["update:tenant_settings", "read:tenant_settings"]}]}`

// TestTwoNodes: two latchkey processes on one PostgreSQL and one Redis.
// Requests alternating between them stop at exactly the shared limit; a
// code started on one is finished on the other; the enforcement setting
// changed through one is in force on the other within seconds; with Redis
// gone, traffic limits let requests through and brute-force protection
// refuses code attempts; when Redis is back, both recover by themselves.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	pg := testpg.SchemaURL(t, "multi")
	rawRedisURL, _ := testredis.ServerURL(t, "multi")
	redisURL, err := url.Parse(rawRedisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, redisURL.Host)
	redisURL.Host = proxy.addr

	dir := t.TempDir()
	var nodes [2]string
	for i := range nodes {
		addr := freeAddr(t)
		issuer := "http://" + addr + "/"
		tf := filepath.Join(dir, fmt.Sprintf("tenant%d.json", i))
		// Both nodes serve one tenant; each names its own issuer in the grant.
		if err := os.WriteFile(tf, []byte(fmt.Sprintf(multiTenant, issuer)), 0o600); err != nil {
			t.Fatal(err)
		}
		startProcess(t, []string{"serve", "--dev", "--addr", addr, "--issuer", issuer, "--data-dir", filepath.Join(dir, fmt.Sprint("node", i)),
			"--bootstrap", tf, "--database-url", pg, "--redis-url", redisURL.String(), "--log-level", "warn"}, issuer)
		nodes[i] = issuer
	}
	post := func(base, path string, body any, hdr map[string]string) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}

	// One limit for both nodes: 6 starts from this address, alternating.
	ok := 0
	for i := range 12 {
		status, _ := post(nodes[i%2], "passwordless/start", map[string]any{"client_id": "native", "connection": "email",
			"send": "code", "email": fmt.Sprintf("multi%d@example.com", i)}, nil)
		switch status {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("start %d: %d", i, status)
		}
	}
	if ok != 6 {
		t.Fatalf("%d of 12 alternating starts allowed, want exactly 6", ok)
	}

	// A code started on node 0 is finished on node 1.
	user := map[string]string{"Auth0-Forwarded-For": "198.51.100.10"}
	if s, body := post(nodes[0], "passwordless/start", map[string]any{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij",
		"connection": "email", "send": "code", "email": "cross@example.com"}, user); s != 200 {
		t.Fatalf("start on node 0: %d %v", s, body)
	}
	code := capturedCode(t, nodes[:], "cross@example.com")
	otp := func(base, email, code string) int {
		form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {"web"},
			"client_secret": {"web-secret-0123456789abcdefghij"}, "username": {email}, "otp": {code}, "realm": {"email"}}
		req, _ := http.NewRequest("POST", base+"oauth/token", bytes.NewReader([]byte(form.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Auth0-Forwarded-For", "198.51.100.10")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := otp(nodes[1], "cross@example.com", code); s != 200 {
		t.Fatalf("finishing on node 1: %d", s)
	}

	// The enforcement setting, changed through node 0, holds on node 1.
	tok := ccToken(t, nodes[0])
	req, _ := http.NewRequest("PATCH", nodes[0]+"api/v2/tenants/settings",
		bytes.NewReader([]byte(`{"flags":{"enforce_client_authentication_on_passwordless_start":true}}`)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("PATCH settings: %v %v", res, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := post(nodes[1], "passwordless/start", map[string]any{"client_id": "web", "connection": "email",
			"send": "code", "email": "unauth@example.com"}, user)
		if s == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 still answers %d to an unauthenticated confidential start", s)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Redis goes away: traffic limits fail open, brute-force protection
	// fails closed.
	if s, _ := post(nodes[1], "passwordless/start", map[string]any{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij",
		"connection": "email", "send": "code", "email": "outage@example.com"}, user); s != 200 {
		t.Fatalf("start before the outage: %d", s)
	}
	outageCode := capturedCode(t, nodes[:], "outage@example.com")
	proxy.stop()
	// (An existing user: signup throttling is a security limit and fails closed.)
	if s, _ := post(nodes[0], "passwordless/start", map[string]any{"client_id": "native", "connection": "email",
		"send": "code", "email": "cross@example.com"}, nil); s != 200 {
		t.Fatalf("a start during the outage (limits fail open): %d", s)
	}
	if s, body := post(nodes[0], "passwordless/start", map[string]any{"client_id": "native", "connection": "email",
		"send": "code", "email": "newcomer@example.com"}, nil); s != 503 || body["error"] != "temporarily_unavailable" {
		t.Fatalf("a signup during the outage (signup throttling fails closed, not the user's fault): %d %v", s, body)
	}
	if s := otp(nodes[1], "outage@example.com", outageCode); s != 503 {
		t.Fatalf("a code attempt during the outage (brute-force protection fails closed): %d", s)
	}
	proxy.start()
	deadline = time.Now().Add(10 * time.Second)
	for otp(nodes[1], "outage@example.com", outageCode) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after Redis came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The shared counters survived: this address is still over its limit.
	if s, _ := post(nodes[0], "passwordless/start", map[string]any{"client_id": "native", "connection": "email",
		"send": "code", "email": "after@example.com"}, nil); s != 429 {
		t.Fatalf("after the outage: %d, want the shared limit's 429", s)
	}
}

// capturedCode waits for the code sent to to in the dev capture of any of
// the nodes: the outbox is shared, so whichever node's worker claims the
// message captures it.
func capturedCode(t *testing.T, nodes []string, to string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, base := range nodes {
			code, err := capturedNow(base, to)
			if err != nil {
				t.Fatal(err)
			}
			if code != "" {
				return code
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message captured for %s on any node", to)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ccToken(t *testing.T, base string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"ops"}, "client_secret": {"ops-secret-0123456789abcdefghij"},
		"audience": {base + "api/v2/"}}
	res, err := http.PostForm(base+"oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("management token: %d %v", res.StatusCode, err)
	}
	return out.AccessToken
}
