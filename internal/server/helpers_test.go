package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	webID      = "web-app"
	webSecret  = "web-app-secret-0123456789abcdef"
	nativeID   = "native-app"
	spaID      = "spa-app"
	m2mID      = "m2m-app"
	m2mSecret  = "m2m-app-secret-0123456789abcdef"
	apiID      = "https://api.example.com/"
	apiNoOffID = "https://no-offline.example.com/"
)

const tenantFile = `{
  "settings": {"friendly_name": "Test", "latchkey": {"rate_limits": {
    "passwordless_start": {"burst": 100000, "rate": 100000, "interval_seconds": 1},
    "token": {"burst": 100000, "rate": 100000, "interval_seconds": 1},
    "co_authenticate": {"burst": 100000, "rate": 100000, "interval_seconds": 1},
    "userinfo": {"burst": 100000, "rate": 100000, "interval_seconds": 1},
    "per_recipient": {"burst": 100000, "rate": 100000, "interval_seconds": 1}}}},
  "clients": [
    {"client_id": "web-app", "client_secret": "web-app-secret-0123456789abcdef", "name": "Web", "app_type": "regular_web",
     "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp", "refresh_token", "authorization_code"],
     "callbacks": ["https://app.example.com/callback"], "allowed_logout_urls": ["https://app.example.com/bye"]},
    {"client_id": "native-app", "name": "Native", "app_type": "native",
     "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp", "refresh_token"]},
    {"client_id": "spa-app", "name": "SPA", "app_type": "spa", "grant_types": ["implicit", "authorization_code"],
     "callbacks": ["https://spa.example.com/callback"], "web_origins": ["https://spa.example.com"],
     "allowed_logout_urls": ["https://spa.example.com/"], "cross_origin_authentication": true},
    {"client_id": "m2m-app", "client_secret": "m2m-app-secret-0123456789abcdef", "name": "M2M", "app_type": "non_interactive",
     "grant_types": ["client_credentials"]}
  ],
  "connections": [
    {"name": "email", "strategy": "email", "enabled_clients": ["web-app", "native-app", "spa-app", "m2m-app"],
     "options": {"totp": {"length": 6, "time_step": 180}, "brute_force_protection": true}},
    {"name": "sms", "strategy": "sms", "enabled_clients": ["web-app", "native-app"], "options": {"totp": {"length": 8, "time_step": 300}}}
  ],
  "resource_servers": [
    {"identifier": "https://api.example.com/", "name": "API", "scopes": [{"value": "read:things"}], "allow_offline_access": true, "token_lifetime": 7200},
    {"identifier": "https://no-offline.example.com/", "name": "No offline"}
  ],
  "client_grants": [
    {"client_id": "m2m-app", "audience": "{{issuer}}api/v2/", "scope": ["read:tenant_settings", "update:tenant_settings",
     "read:clients", "create:clients", "update:clients", "delete:clients",
     "read:client_credentials", "create:client_credentials", "delete:client_credentials",
     "read:connections", "create:connections", "update:connections", "delete:connections",
     "read:resource_servers", "create:resource_servers", "update:resource_servers", "delete:resource_servers",
     "read:client_grants", "create:client_grants", "update:client_grants", "delete:client_grants",
     "read:logs", "read:logs_users",
     "read:attack_protection", "update:attack_protection", "read:anomaly_blocks", "delete:anomaly_blocks",
     "read:branding", "update:branding",
     "read:users", "update:users"]},
    {"client_id": "m2m-app", "audience": "https://api.example.com/", "scope": ["read:things"]}
  ]
}`

// tenantFileFor is tenantFile for a node whose issuer is issuer.
func tenantFileFor(issuer string) []byte {
	return []byte(strings.ReplaceAll(tenantFile, "{{issuer}}", issuer))
}

type env struct {
	t      testing.TB
	ts     *httptest.Server
	srv    *server.Server
	cfg    config.Config
	issuer string
	clock  *clock
	http   *http.Client
	// readLogs caches a Management API token for log searches.
	readLogs string
	// stopWorker stops the outbox worker (real delivery only).
	stopWorker func()
}

type envOpt func(*config.Config)

// newEnv starts a real Latchkey node (SQLite in a temp dir, --dev capture,
// the tenant file above) behind an httptest TLS server.
func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	// The tenant file names the issuer, so start writes it once the address is known.
	tf := filepath.Join(dir, "tenant.json")
	cfg := config.Config{DataDir: filepath.Join(dir, "data"), Dev: true, Bootstrap: tf, LogFormat: "text"}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{t: t, cfg: cfg, clock: &clock{t: time.Now()}}
	e.start()
	return e
}

func (e *env) start() {
	t := e.t
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if e.cfg.Addr != "" { // a restart keeps the address, hence the issuer
		ts.Listener.Close()
		ln, err := net.Listen("tcp", e.cfg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		ts.Listener = ln
	}
	e.cfg.Addr = ts.Listener.Addr().String()
	e.cfg.Issuer = "https://" + e.cfg.Addr
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg.Bootstrap, tenantFileFor(e.cfg.Issuer), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.New(t.Context(), e.cfg, log, server.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // browsers' refused handshakes with the test certificate
	ts.StartTLS()
	e.ts, e.srv, e.issuer, e.http = ts, srv, e.cfg.Issuer, ts.Client()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	// Run the outbox worker as Run would: every message goes through it,
	// to the capture in --dev.
	ctx, cancel := context.WithCancel(context.Background())
	wait := srv.StartJobs(ctx)
	e.stopWorker = func() { cancel(); wait() }
	t.Cleanup(e.stopWorker) // runs before the cleanup above
}

// delivered waits until the outbox holds no message: every message was
// handed to its transport (the capture in --dev) or given up, so none is on
// its way and none can be sent later (instead of sleeping to see whether
// one is).
func (e *env) delivered() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _, err := e.srv.Store.OutboxStats(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d messages still in the outbox after 10 s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// restart stops the node and starts a new one on the same data directory.
func (e *env) restart() {
	e.stopWorker()
	e.ts.Close()
	e.srv.Close()
	e.start()
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

func (e *env) do(method, path, contentType string, body []byte, hdr map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) postJSON(path string, v any, hdr map[string]string) response {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do("POST", path, "application/json", b, hdr)
}

func (e *env) postForm(path string, v url.Values, hdr map[string]string) response {
	e.t.Helper()
	return e.do("POST", path, "application/x-www-form-urlencoded", []byte(v.Encode()), hdr)
}

type captured struct {
	ID, Channel, To, Subject, Text, HTML, Code, Link string
}

// lastMessage reads the newest captured message for to from /dev/outbox/messages.
func (e *env) lastMessage(to string) captured {
	e.t.Helper()
	msgs := e.messages(to)
	if len(msgs) == 0 {
		e.t.Fatalf("no message captured for %s", to)
	}
	return msgs[0]
}

func (e *env) messages(to string) []captured {
	e.t.Helper()
	e.delivered()
	res, err := e.http.Get(e.ts.URL + "/dev/outbox/messages?to=" + url.QueryEscape(to))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var msgs []captured
	if err := json.NewDecoder(res.Body).Decode(&msgs); err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// startEmail starts an email-code login for the web app and returns the code.
func (e *env) startEmail(email string) string {
	e.t.Helper()
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "code", "email": email}, nil)
	if r.status != 200 {
		e.t.Fatalf("start: %d %s", r.status, r.raw)
	}
	return e.lastMessage(strings.ToLower(email)).Code
}

func (e *env) otpGrant(clientID, secret, realm, username, otp string, extra url.Values) response {
	e.t.Helper()
	v := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {clientID},
		"realm": {realm}, "username": {username}, "otp": {otp}}
	if secret != "" {
		v.Set("client_secret", secret)
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return e.postForm("/oauth/token", v, nil)
}

// updateSettings changes tenant settings directly in the store and drops the cache.
func (e *env) updateSettings(f func(*store.TenantSettings)) {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.srv.Store.GetSettings(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	f(&s)
	if err := e.srv.Store.PutSettings(ctx, s); err != nil {
		e.t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
}

func wantError(t *testing.T, r response, status int, code, desc string) {
	t.Helper()
	if r.status != status || r.str("error") != code || (desc != "" && r.str("error_description") != desc) {
		t.Fatalf("got %d %s; want %d %s %q", r.status, r.raw, status, code, desc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error content type %q", ct)
	}
}

func fmtJSON(v any) string { b, _ := json.Marshal(v); return fmt.Sprint(string(b)) }
