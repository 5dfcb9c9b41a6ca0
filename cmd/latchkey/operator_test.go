package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/metrics/metricstest"
	"github.com/latchkey/latchkey/internal/testpg"
	"github.com/latchkey/latchkey/internal/testredis"
)

const operatorTenant = `{
  "clients": [
    {"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij", "name": "Web",
     "app_type": "regular_web", "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"],
     "is_token_endpoint_ip_header_trusted": true},
    {"client_id": "ops", "client_secret": "ops-secret-0123456789abcdefghij", "name": "Ops",
     "app_type": "non_interactive", "grant_types": ["client_credentials"]}
  ],
  "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["web"],
                   "options": {"brute_force_protection": true}}],
  "client_grants": [{"client_id": "ops", "audience": "%sapi/v2/", "scope": ["read:logs"]}]
}`

// TestOperatorDeployment is issue 11's definition of done: a node
// configured only through LATCHKEY_* variables, serving TLS, on PostgreSQL
// and Redis, with real SMTP delivery and the ops listener, behind a real
// reverse proxy (Go's httputil.ReverseProxy, appending to X-Forwarded-For
// as nginx's $proxy_add_x_forwarded_for does). Users reach the proxy from
// distinct loopback addresses (127.0.0.N), so every one of them is a
// different client: limits and the tenant log see each user's address, a
// spoofed header changes nothing, the metrics count exactly the traffic
// sent, and readiness fails as soon as shutdown begins.
//
// Two shapes: the proxy reaches the node over IPv4 (trusted 127.0.0.1/32),
// with one user over IPv6; and over IPv6 (trusted ::1/128).
func TestOperatorDeployment(t *testing.T) {
	t.Parallel()
	t.Run("ipv4 proxy", func(t *testing.T) {
		t.Parallel()
		operatorTest(t, "127.0.0.1", "127.0.0.1/32")
	})
	t.Run("ipv6 proxy", func(t *testing.T) {
		t.Parallel()
		operatorTest(t, "::1", "::1/128")
	})
}

func operatorTest(t *testing.T, nodeHost, trusted string) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	sink := newMailSink(t)
	redisURL, _ := testredis.ServerURL(t, "operator")

	// The proxy's address is the issuer (what users and applications see).
	proxyLn4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyPort := proxyLn4.Addr().(*net.TCPAddr).Port
	issuer := fmt.Sprintf("https://127.0.0.1:%d/", proxyPort)
	tf := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tf, []byte(fmt.Sprintf(operatorTenant, issuer)), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "master.key")
	if err := os.WriteFile(keyPath, []byte(hex.EncodeToString([]byte("operator-test-master-key-0123456"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	smtpURLFile := filepath.Join(dir, "smtp-url")
	if err := os.WriteFile(smtpURLFile, []byte("smtp://"+sink.addr+"?from=login%40latchkey.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"LATCHKEY_ADDR=" + net.JoinHostPort(nodeHost, "0"),
		"LATCHKEY_ISSUER=" + issuer,
		"LATCHKEY_TLS_CERT=" + certFile, "LATCHKEY_TLS_KEY=" + keyFile,
		"LATCHKEY_TRUSTED_PROXIES=" + trusted,
		"LATCHKEY_OPS_ADDR=127.0.0.1:0",
		"LATCHKEY_DATABASE_URL=" + testpg.SchemaURL(t, "operator"),
		"LATCHKEY_REDIS_URL=" + redisURL,
		"LATCHKEY_SMTP_URL_FILE=" + smtpURLFile,
		"LATCHKEY_MASTER_KEY_FILE=" + keyPath,
		"LATCHKEY_BOOTSTRAP=" + tf,
		"LATCHKEY_DATA_DIR=" + filepath.Join(dir, "data"),
		"LATCHKEY_LOG_FORMAT=json",
		"LATCHKEY_LOG_LEVEL=info",
	}
	n := startEnvNode(t, env)
	if n.scheme != "https" {
		t.Fatalf("scheme %q; want https", n.scheme)
	}
	nodeURL, _ := url.Parse("https://" + n.addr)

	// The reverse proxy: appends the client's address to the X-Forwarded-For
	// it received, sets X-Forwarded-Proto/Host, and talks TLS to the node.
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(nodeURL)
			r.Out.Host = r.In.Host
			if prior := r.In.Header["X-Forwarded-For"]; prior != nil {
				r.Out.Header["X-Forwarded-For"] = prior
			}
			r.SetXForwarded()
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true},
	}
	// TLS ends at the proxy too (it sends X-Forwarded-Proto: https).
	proxy := &http.Server{Handler: rp}
	go proxy.ServeTLS(proxyLn4, certFile, keyFile)
	if nodeHost == "127.0.0.1" {
		proxyLn6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", proxyPort))
		if err != nil {
			t.Fatal(err)
		}
		go proxy.ServeTLS(proxyLn6, certFile, keyFile)
	}
	t.Cleanup(func() { proxy.Close() })

	// A user: a client connecting from its own loopback address.
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, DisableKeepAlives: true}}
	}
	starts := 0 // answered 200: each is a code sent
	start := func(c *http.Client, base, email string, hdr map[string]string) (*http.Response, map[string]any) {
		t.Helper()
		body := fmt.Sprintf(`{"client_id":"web","client_secret":"web-secret-0123456789abcdefghij","connection":"email","send":"code","email":%q}`, email)
		req, _ := http.NewRequest("POST", base+"passwordless/start", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode == 200 {
			starts++
		}
		return res, out
	}

	// 55 users behind one proxy: before trusted proxies, the 49th was refused.
	for i := 2; i <= 56; i++ {
		res, body := start(from(fmt.Sprintf("127.0.0.%d", i)), issuer, fmt.Sprintf("user%d@example.com", i), nil)
		if res.StatusCode != 200 {
			t.Fatalf("user %d through the proxy: %d %v", i, res.StatusCode, body)
		}
		if i == 2 && res.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Errorf("HSTS through the proxy: %q", res.Header.Get("Strict-Transport-Security"))
		}
	}
	// A client naming someone else's address: its own is used.
	if res, body := start(from("127.0.0.60"), issuer, "spoof@example.com", map[string]string{"X-Forwarded-For": "203.0.113.50"}); res.StatusCode != 200 {
		t.Fatalf("spoofing client: %d %v", res.StatusCode, body)
	}
	// A backend passing its user's address the Auth0 way (trusted app with
	// its secret): the user's address is the event's ip, the backend's own
	// (as the proxy saw it) its client_ip.
	if res, body := start(from("127.0.0.80"), issuer, "fwd@example.com", map[string]string{"Auth0-Forwarded-For": "198.51.100.7"}); res.StatusCode != 200 {
		t.Fatalf("auth0-forwarded-for: %d %v", res.StatusCode, body)
	}
	var direct bool
	if nodeHost == "127.0.0.1" {
		// A client that goes around the proxy (an untrusted peer): its
		// forwarding header is ignored.
		direct = true
		if res, body := start(from("127.0.0.61"), "https://"+n.addr+"/", "direct@example.com", map[string]string{"X-Forwarded-For": "203.0.113.51"}); res.StatusCode != 200 {
			t.Fatalf("direct client: %d %v", res.StatusCode, body)
		}
		// A user over IPv6.
		if res, body := start(from("::1"), fmt.Sprintf("https://[::1]:%d/", proxyPort), "v6@example.com", nil); res.StatusCode != 200 {
			t.Fatalf("IPv6 user: %d %v", res.StatusCode, body)
		}
	}
	// Limits still hold per user: one address gets 50 signups an hour.
	heavy := from("127.0.0.70")
	refusedAt := 0
	for i := 1; i <= 51; i++ {
		res, body := start(heavy, issuer, fmt.Sprintf("heavy%d@example.com", i), nil)
		if res.StatusCode == 429 {
			refusedAt = i
			if body["error"] != "too_many_requests" && body["error"] != "too_many_attempts" {
				t.Errorf("refusal body %v", body)
			}
			break
		}
		if res.StatusCode != 200 {
			t.Fatalf("heavy user start %d: %d %v", i, res.StatusCode, body)
		}
	}
	if refusedAt != 51 {
		t.Fatalf("the heavy user was refused at start %d; want 51 (50 an hour from one address)", refusedAt)
	}
	// The others are not affected.
	if res, body := start(from("127.0.0.71"), issuer, "other@example.com", nil); res.StatusCode != 200 {
		t.Fatalf("another user after the heavy one: %d %v", res.StatusCode, body)
	}

	// A login with the code as delivered by SMTP.
	code := sink.code(t, "user2@example.com")
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {"web"},
		"client_secret": {"web-secret-0123456789abcdefghij"}, "username": {"user2@example.com"}, "otp": {code}, "realm": {"email"}, "scope": {"openid"}}
	res, err := from("127.0.0.2").PostForm(issuer+"oauth/token", form)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %v %v", res, err)
	}
	res.Body.Close()

	// The tenant log, through the Management API behind the proxy.
	ops := from("127.0.0.90")
	res, err = ops.PostForm(issuer+"oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ops"},
		"client_secret": {"ops-secret-0123456789abcdefghij"}, "audience": {issuer + "api/v2/"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("management token: %v %v", res, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	logs := func(q string) []map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", issuer+"api/v2/logs?per_page=100&q="+url.QueryEscape(q), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := ops.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("logs %q: %v %v", q, res, err)
		}
		defer res.Body.Close()
		var out []map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sent := logs("type:cls AND user_name:user*")
	if len(sent) != 55 {
		t.Fatalf("%d cls events for the 55 users", len(sent))
	}
	for _, ev := range sent {
		var i int
		fmt.Sscanf(ev["user_name"].(string), "user%d@", &i)
		want := fmt.Sprintf("127.0.0.%d", i)
		if ev["ip"] != want || ev["client_ip"] != want {
			t.Errorf("%s: ip %v client_ip %v; want %s", ev["user_name"], ev["ip"], ev["client_ip"], want)
		}
	}
	wantIP := func(user, ip, clientIP string) {
		t.Helper()
		evs := logs(`type:cls AND user_name:"` + user + `"`)
		if len(evs) != 1 || evs[0]["ip"] != ip || evs[0]["client_ip"] != clientIP {
			t.Errorf("%s: %v; want ip %s client_ip %s", user, evs, ip, clientIP)
		}
	}
	wantIP("spoof@example.com", "127.0.0.60", "127.0.0.60")
	wantIP("fwd@example.com", "198.51.100.7", "127.0.0.80")
	if direct {
		wantIP("direct@example.com", "127.0.0.61", "127.0.0.61")
		wantIP("v6@example.com", "::1", "::1")
	}
	if s := logs(`type:s AND user_name:"user2@example.com"`); len(s) != 1 || s[0]["ip"] != "127.0.0.2" {
		t.Errorf("login event %v", s)
	}

	// Metrics: exactly the traffic sent. Deliveries are asynchronous: wait
	// until the outbox is empty.
	deadline := time.Now().Add(30 * time.Second)
	var m metricstest.Families
	for {
		m = metricstest.Scrape(t, "http://"+n.ops+"/metrics")
		if m.Value("latchkey_deliveries_total", "provider", "smtp") == float64(starts) && m.Value("latchkey_outbox_messages") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %v of %d, outbox %v", m.Value("latchkey_deliveries_total", "provider", "smtp"), starts,
				m.Value("latchkey_outbox_messages"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := sink.count(); got != starts {
		t.Errorf("%d messages at the SMTP server; %d starts", got, starts)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latchkey_build_info", nil, 1},
		{"latchkey_codes_sent_total", []string{"channel", "email"}, float64(starts)},
		{"latchkey_http_requests_total", []string{"route", "/passwordless/start", "method", "POST", "code", "2xx"}, float64(starts)},
		{"latchkey_http_requests_total", []string{"route", "/passwordless/start", "method", "POST", "code", "4xx"}, 1},
		{"latchkey_logins_total", []string{"connection", "email", "grant", "passwordless_otp"}, 1},
		{"latchkey_logins_total", []string{"connection", "none", "grant", "client_credentials"}, 1},
		{"latchkey_delivery_failures_total", []string{"provider", "smtp", "kind", "temporary"}, 0},
		{"latchkey_store_errors_total", nil, 0},
		{"latchkey_limiter_backend_errors_total", nil, 0},
		{"latchkey_eventlog_dropped_events_total", nil, 0},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := m.Value("latchkey_limit_refusals_total", "limit", "passwordless_start") + m.Value("latchkey_limit_refusals_total", "limit", "suspicious_ip_signup"); got != 1 {
		t.Errorf("limit refusals %v; want 1", got)
	}
	if m["process_cpu_seconds_total"] == nil || m["latchkey_http_request_duration_seconds"] == nil {
		t.Error("process or duration metrics missing")
	}

	// The access log: a line per request with the user's address and the
	// proxy as peer; never a code or a secret.
	out := n.out.String()
	if strings.Contains(out, code) || strings.Contains(out, "web-secret-0123456789abcdefghij") || strings.Contains(out, tok.AccessToken) {
		t.Error("the server log holds a code, a secret or a token")
	}
	proxyPeer := nodeHost
	found := false
	for _, l := range jsonLines(out) {
		if l["msg"] == "request" && l["ip"] == "127.0.0.60" {
			found = l["route"] == "/passwordless/start" && l["status"] == 200.0 && l["peer"] == proxyPeer && l["request_id"] != ""
			if !found {
				t.Errorf("access log line %v", l)
			}
		}
	}
	if !found {
		t.Error("no access-log line for the spoofing client's request")
	}

	// HTTP/2 over TLS, straight to the node.
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	if res, err := h2.Get("https://" + n.addr + "/.well-known/openid-configuration"); err != nil || res.ProtoMajor != 2 {
		t.Errorf("HTTP/2: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	// Shutdown: readiness fails as soon as it begins, while a request is
	// still in flight (the proxy keeps sending elsewhere); then the node
	// drains and exits cleanly.
	if s, _ := get(t, "http://"+n.ops+"/health/ready"); s != 200 {
		t.Fatalf("ready before shutdown: %d", s)
	}
	// The request in flight: headers with Expect: 100-continue, so that the
	// server's "100 Continue" proves its handler is reading the body.
	body := `{"client_id":"web","client_secret":"web-secret-0123456789abcdefghij","connection":"email","send":"code","email":"last@example.com"}`
	conn, err := tls.Dial("tcp", n.addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /passwordless/start HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	br.ReadString('\n') // the blank line after the 100
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, body := get(t, "http://"+n.ops+"/health/ready")
		if s == 503 && strings.Contains(body, `"draining"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness during shutdown: %d %s", s, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err = http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the request in flight at shutdown: %v %v", res, err)
	}
	res.Body.Close()
	select {
	case <-n.exited:
		if n.err != nil {
			t.Fatalf("exit: %v\n%s", n.err, n.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not exit after SIGTERM")
	}
}

// startEnvNode runs `latchkey serve` with no arguments and only env (and
// what the OS needs) in its environment: nothing from the test's
// environment configures it. It waits for the JSON start-up line, then for
// readiness.
func startEnvNode(t *testing.T, env []string) *serveNode {
	t.Helper()
	n := spawn(t, []string{"serve"}, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...))
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range jsonLines(n.out.String()) {
			if l["msg"] == "latchkey started" {
				n.addr, _ = l["addr"].(string)
				n.scheme, _ = l["scheme"].(string)
				ops, _ := l["ops"].(string)
				n.ops = strings.TrimSuffix(strings.TrimPrefix(ops, "http://"), "/")
			}
		}
		if n.addr != "" {
			break
		}
		select {
		case <-n.exited:
			t.Fatalf("latchkey serve exited: %v\n%s", n.err, n.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("latchkey serve did not start:\n%s", n.out.String())
		}
	}
	for {
		if s, _ := get(t, "http://"+n.ops+"/health/ready"); s == 200 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", n.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func jsonLines(s string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// writeCert writes a self-signed certificate for localhost, 127.0.0.1 and
// ::1 and returns its files and a pool trusting it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// mailSink is an SMTP server that keeps every message.
type mailSink struct {
	addr string
	mu   sync.Mutex
	msgs []sunkMail
}

type sunkMail struct{ to, data string }

func newMailSink(t *testing.T) *mailSink {
	s := &mailSink{}
	srv := smtp.NewServer(s)
	srv.Domain, srv.AllowInsecureAuth = "sink.test", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (s *mailSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }

// code waits for the newest message to addr and returns its 6-digit code.
func (s *mailSink) code(t *testing.T, addr string) string {
	t.Helper()
	re := regexp.MustCompile(`\b([0-9]{6})\b`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		for i := len(s.msgs) - 1; i >= 0; i-- {
			if s.msgs[i].to == addr {
				if m := re.FindStringSubmatch(s.msgs[i].data); m != nil {
					s.mu.Unlock()
					return m[1]
				}
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type sinkSession struct {
	s  *mailSink
	to string
}

func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = to
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, sunkMail{to: x.to, data: string(b)})
	x.s.mu.Unlock()
	return nil
}
