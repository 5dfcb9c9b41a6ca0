package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store"
)

// The tenant file every test node applies: an M2M application with a grant
// to the whole Management API (the remote CLI's token) and a confidential
// web application on the email connection (whose unauthenticated starts
// leave depnotes).
const (
	opsID, opsSecret       = "ops", "ops-secret-0123456789abcdef0123"
	webAppID, webAppSecret = "web-app", "web-app-secret-0123456789abcdef0123"
)

// node is a real Latchkey node on httptest.
type node struct {
	t      *testing.T
	url    string
	issuer string
	token  string // Management API token of opsID with every scope
	srv    *server.Server
	clock  *offsetClock

	mu       sync.Mutex
	logPages []string // per_page/page of each GET /api/v2/logs (and users/{id}/logs)
	// afterLogPage, when set, runs after each such page is served.
	afterLogPage func()
}

// offsetClock is the real time moved by an offset the test sets.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) set(d time.Duration) {
	c.mu.Lock()
	c.off = d
	c.mu.Unlock()
}

// startNode starts a node with --dev over the store cfg names (DataDir,
// and DatabaseURL and MasterKeyFile when set): the same store a local-mode
// CLI opens with the same flags. It applies the tenant file above and
// obtains the ops token by the client_credentials grant.
func startNode(t *testing.T, store config.Config) *node {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg := store
	cfg.Dev, cfg.LogFormat, cfg.LogLevel = true, "text", "warn"
	cfg.Addr = ts.Listener.Addr().String()
	cfg.Issuer = "http://" + cfg.Addr + "/"
	cfg.Bootstrap = filepath.Join(t.TempDir(), "tenant.json")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	scopes, _ := json.Marshal((&mgmtapi.API{}).Scopes())
	// Limits raised: these tests start many logins from one address.
	tf := fmt.Sprintf(`{"settings": {"latchkey": {"rate_limits": {
    "passwordless_start": {"burst": 100000, "rate": 100000, "interval_seconds": 1},
    "token": {"burst": 100000, "rate": 100000, "interval_seconds": 1}}},
   "attack_protection": {"suspicious_ip_throttling": {"enabled": true, "shields": ["block"], "allowlist": ["127.0.0.1"],
    "stage": {"pre-login": {"max_attempts": 100, "rate": 864000}, "pre-user-registration": {"max_attempts": 50, "rate": 1728000}}}}},
  "clients": [
  {"client_id": %q, "client_secret": %q, "name": "Ops", "app_type": "non_interactive", "grant_types": ["client_credentials"]},
  {"client_id": %q, "client_secret": %q, "name": "Web App", "app_type": "regular_web",
   "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]}],
  "connections": [{"name": "email", "strategy": "email", "enabled_clients": [%q]}],
  "client_grants": [{"client_id": %q, "audience": "%sapi/v2/", "scope": %s}]}`,
		opsID, opsSecret, webAppID, webAppSecret, webAppID, opsID, cfg.Issuer, scopes)
	if err := os.WriteFile(cfg.Bootstrap, []byte(tf), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, issuer: cfg.Issuer, clock: &offsetClock{}}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	h := srv.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || !strings.HasSuffix(r.URL.Path, "/logs") {
			h.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		n.mu.Lock()
		n.logPages = append(n.logPages, q.Get("per_page")+"/"+q.Get("page"))
		after := n.afterLogPage
		n.mu.Unlock()
		h.ServeHTTP(w, r)
		if after != nil {
			after()
		}
	})
	ts.Start()
	ctx, cancel := context.WithCancel(context.Background())
	wait := srv.StartJobs(ctx) // the outbox delivers codes to the capture
	t.Cleanup(func() { ts.Close(); cancel(); wait(); srv.Close() })
	n.url = ts.URL
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	status := n.post("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {opsID},
		"client_secret": {opsSecret}, "audience": {cfg.Issuer + "api/v2/"}}, nil, &tok)
	if status != 200 || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %d", status)
	}
	n.token = tok.AccessToken
	return n
}

// remoteFlags are the CLI flags that reach this node's Management API.
func (n *node) remoteFlags() []string { return []string{"--server", n.url, "--token", n.token} }

// post sends a form (url.Values) or a JSON body and decodes the answer into v.
func (n *node) post(path string, body any, hdr map[string]string, v any) int {
	n.t.Helper()
	var req *http.Request
	var err error
	if form, ok := body.(url.Values); ok {
		req, err = http.NewRequest("POST", n.url+path, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		b, _ := json.Marshal(body)
		req, err = http.NewRequest("POST", n.url+path, bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		n.t.Fatal(err)
	}
	for k, val := range hdr {
		req.Header.Set(k, val)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if v != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, v); err != nil {
			n.t.Fatalf("POST %s: %v in %s", path, err, raw)
		}
	}
	return res.StatusCode
}

// start calls /passwordless/start for webAppID, with its secret or not.
func (n *node) start(email, secret string, hdr map[string]string) {
	n.t.Helper()
	body := map[string]any{"client_id": webAppID, "connection": "email", "send": "code", "email": email}
	if secret != "" {
		body["client_secret"] = secret
	}
	if s := n.post("/passwordless/start", body, hdr, nil); s != 200 {
		n.t.Fatalf("start %s: %d", email, s)
	}
}

// login runs a whole authenticated email-code login (cls, ss, s).
func (n *node) login(email string) {
	n.t.Helper()
	n.start(email, webAppSecret, nil)
	code, err := devCode(n.url+"/", email)
	if err != nil {
		n.t.Fatal(err)
	}
	if s := n.post("/oauth/token", url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"},
		"client_id": {webAppID}, "client_secret": {webAppSecret}, "realm": {"email"}, "username": {email},
		"otp": {code}, "scope": {"openid"}}, nil, nil); s != 200 {
		n.t.Fatalf("code exchange for %s: %d", email, s)
	}
}

// flush stores what the node has recorded (its batch delay would do it
// within 20 ms; a local-mode CLI reads the store, not the node's queue).
func (n *node) flush() {
	n.t.Helper()
	if err := n.srv.Events.Flush(n.t.Context()); err != nil {
		n.t.Fatal(err)
	}
}

// pages returns and forgets the GET …/logs pages the node served.
func (n *node) pages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.logPages
	n.logPages = nil
	return p
}

// nodeOver starts a node over the store of local-mode CLI flags.
func nodeOver(t *testing.T, flags []string) *node {
	t.Helper()
	var cfg config.Config
	for i := 0; i+1 < len(flags); i += 2 {
		switch flags[i] {
		case "--data-dir":
			cfg.DataDir = flags[i+1]
		case "--master-key-file":
			cfg.MasterKeyFile = flags[i+1]
		case "--database-url":
			cfg.DatabaseURL = flags[i+1]
		default:
			t.Fatalf("nodeOver: flag %s", flags[i])
		}
	}
	return startNode(t, cfg)
}

// logModes give a node and the CLI flags that read its tenant log: in
// local mode the CLI opens the node's store (SQLite or PostgreSQL), in
// remote mode it calls the node.
var logModes = []struct {
	name   string
	remote bool
	flags  func(t *testing.T) []string
}{
	{"local", false, localFlags},
	{"remote", true, nil},
	{"local-postgres", false, postgresFlags},
}

func forEachLogMode(t *testing.T, fn func(t *testing.T, n *node, f []string, remote bool)) {
	for _, m := range logModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			if m.remote {
				n := startNode(t, config.Config{DataDir: filepath.Join(t.TempDir(), "data")})
				fn(t, n, n.remoteFlags(), true)
				return
			}
			f := m.flags(t)
			fn(t, nodeOver(t, f), f, false)
		})
	}
}

const depnoteQuery = "type:depnote AND description:*passwordless*"

// auth0Client is an Auth0-Client header as auth0.js sends it.
var auth0Client = base64.URLEncoding.EncodeToString([]byte(`{"name":"auth0.js","version":"9.23.0"}`))

// TestLogsSearchAndReport: a confidential application's unauthenticated
// start, made ten days ago on a real node, is found by logs search (table
// and JSON), shown by logs get, and named by the migration report over 30
// days; over 7 days the report says it is safe. users logs lists a user's
// login. A syntax error exits 1 with the position. The CLI's own writes are
// logged too.
func TestLogsSearchAndReport(t *testing.T) {
	t.Parallel()
	forEachLogMode(t, func(t *testing.T, n *node, f []string, remote bool) {
		with := func(args ...string) []string { return append(args, f...) }

		n.clock.set(-10 * 24 * time.Hour)
		n.start("legacy@example.com", "", map[string]string{"Auth0-Client": auth0Client}) // depnote
		n.login("ana@example.com")                                                        // authenticated: cls, ss, s
		n.clock.set(0)
		n.flush()

		deps := cliJSON[[]map[string]any](t, with("logs", "search", depnoteQuery)...)
		if len(deps) != 1 || deps[0]["client_id"] != webAppID || deps[0]["type"] != "depnote" {
			t.Fatalf("depnotes: %v", deps)
		}
		id, _ := deps[0]["log_id"].(string)
		out := cliOK(t, with("logs", "search", depnoteQuery)...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "DATE") ||
			!strings.Contains(lines[1], "depnote") || !strings.Contains(lines[1], "Web App") ||
			!strings.Contains(lines[1], "Enforce client authentication") || !strings.Contains(lines[1], id) {
			t.Errorf("search table:\n%s", out)
		}

		got := cliJSON[map[string]any](t, with("logs", "get", id)...)
		if got["log_id"] != id || got["type"] != "depnote" {
			t.Errorf("logs get: %v", got)
		}
		if out := cliOK(t, with("logs", "get", id)...); !strings.Contains(out, "details.feature.name") || !strings.Contains(out, "/passwordless/start") {
			t.Errorf("logs get table:\n%s", out)
		}
		if _, errOut, code := cli(t, with("logs", "get", "99999999999999999999999999")...); code != exitFailure ||
			!strings.Contains(errOut, "404 Not Found: The log does not exist. (inexistent_log)") {
			t.Errorf("logs get unknown: exit %d %q", code, errOut)
		}

		// The user's log: the login's events, newest first.
		s := cliJSON[[]map[string]any](t, with("logs", "search", `type:s AND user_name:"ana@example.com"`)...)
		if len(s) != 1 {
			t.Fatalf("s events: %v", s)
		}
		userID, _ := s[0]["user_id"].(string)
		ul := cliJSON[[]map[string]any](t, with("users", "logs", userID)...)
		var types []string
		for _, e := range ul {
			types = append(types, fmt.Sprint(e["type"]))
			if e["user_id"] != userID {
				t.Errorf("users logs: another user's event %v", e)
			}
		}
		if fmt.Sprint(types) != "[s ss cls]" {
			t.Errorf("users logs types %v", types)
		}
		if out := cliOK(t, with("users", "logs", userID, "--limit", "1")...); strings.Count(out, "\n") != 2 || !strings.Contains(out, "ana@example.com") {
			t.Errorf("users logs table:\n%s", out)
		}

		_, errOut, code := cli(t, with("logs", "search", "type:(cls OR")...)
		if code != exitFailure || !strings.Contains(errOut, "400 Bad Request") || !strings.Contains(errOut, "position") ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("syntax error: exit %d %q", code, errOut)
		}

		// The report over 30 days names the application; over 7 it is safe.
		type reportClient struct {
			ClientID              string `json:"client_id"`
			UnauthenticatedStarts int    `json:"unauthenticated_starts"`
			WouldBreak            bool   `json:"would_break"`
		}
		type report struct {
			Days          int            `json:"days"`
			SafeToEnforce bool           `json:"safe_to_enforce"`
			Verdict       string         `json:"verdict"`
			Clients       []reportClient `json:"clients"`
		}
		rep := cliJSON[report](t, with("logs", "migration-report", "--days", "30")...)
		i := slices.IndexFunc(rep.Clients, func(c reportClient) bool { return c.ClientID == webAppID })
		if rep.Days != 30 || rep.SafeToEnforce || !strings.Contains(rep.Verdict, webAppID) || i < 0 ||
			!rep.Clients[i].WouldBreak || rep.Clients[i].UnauthenticatedStarts != 1 {
			t.Errorf("report over 30 days: %+v", rep)
		}
		out = cliOK(t, with("logs", "migration-report", "--days", "30")...)
		for _, want := range []string{rep.Verdict, "(30 days)", "safe to enforce: false", "WOULD_BREAK", "Web App", "auth0.js@9.23.0×1"} {
			if !strings.Contains(out, want) {
				t.Errorf("report table lacks %q:\n%s", want, out)
			}
		}
		webLine := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, webAppID+" ") {
				webLine = l
			}
		}
		if !strings.HasSuffix(strings.TrimSpace(webLine), "true") {
			t.Errorf("report table: web-app line %q", webLine)
		}
		rep = cliJSON[report](t, with("logs", "migration-report", "--days", "7")...)
		if rep.Days != 7 || !rep.SafeToEnforce || !strings.HasPrefix(rep.Verdict, "Safe to enforce") {
			t.Errorf("report over 7 days: %+v", rep)
		}
		if out := cliOK(t, with("logs", "migration-report", "--days", "7")...); !strings.HasPrefix(out, "Safe to enforce") ||
			!strings.Contains(out, "safe to enforce: true") {
			t.Errorf("report table over 7 days:\n%s", out)
		}

		cliWritesAreLogged(t, n, f, remote)

		// Once the application is deleted it no longer counts against the verdict.
		cliOK(t, with("client", "delete", webAppID)...)
		rep = cliJSON[report](t, with("logs", "migration-report", "--days", "30")...)
		if !rep.SafeToEnforce || !slices.ContainsFunc(rep.Clients, func(c reportClient) bool { return c.ClientID == webAppID && !c.WouldBreak }) {
			t.Errorf("report after delete: %+v", rep)
		}
		if out := cliOK(t, with("logs", "migration-report", "--days", "30")...); !strings.Contains(out, "Web App (deleted)") {
			t.Errorf("report table after delete:\n%s", out)
		}
	})
}

// TestLogsSearchPaging: --limit above 100 pages by 100 (the node sees the
// pages in remote mode), newest first, and stops at a short page.
func TestLogsSearchPaging(t *testing.T) {
	t.Parallel()
	forEachLogMode(t, func(t *testing.T, n *node, f []string, remote bool) {
		with := func(args ...string) []string { return append(args, f...) }
		const total = 120
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < total; i += 4 {
					body := map[string]any{"client_id": webAppID, "client_secret": webAppSecret, "connection": "email",
						"send": "code", "email": fmt.Sprintf("page%03d@example.com", i)}
					b, _ := json.Marshal(body)
					res, err := http.Post(n.url+"/passwordless/start", "application/json", bytes.NewReader(b))
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					if res.StatusCode != 200 {
						t.Errorf("start %d: %d", i, res.StatusCode)
					}
				}
			})
		}
		wg.Wait()
		n.flush()
		n.pages()

		const q = "type:cls AND user_name:page*"
		check := func(limit string, want int, wantPages string) {
			t.Helper()
			args := with("logs", "search", q)
			if limit != "" {
				args = append(args, "--limit", limit)
			}
			wantNewestFirst(t, "--limit "+limit, cliJSON[[]map[string]any](t, args...), want)
			if p := fmt.Sprint(n.pages()); remote && p != wantPages {
				t.Errorf("--limit %s: pages %s, want %s", limit, p, wantPages)
			}
		}
		check("", 50, "[50/0]")
		check("30", 30, "[30/0]")
		check("110", 110, "[100/0 100/1]")
		check("1000", total, "[100/0 100/1]")
		if out := cliOK(t, with("logs", "search", q, "--limit", "101")...); strings.Count(out, "\n") != 102 || strings.Count(out, "page") != 101 {
			t.Errorf("table of 101 events: %d lines", strings.Count(out, "\n"))
		}
		if !remote {
			return
		}
		// Events written while the CLI pages shift the later pages: the
		// events seen twice are printed once.
		record := func(prefix string, count int) { // also runs in the node's handler goroutine: no t.Fatal
			for i := range count {
				n.srv.Events.Record(t.Context(), store.LogEvent{Type: "cls", ClientID: webAppID, UserName: fmt.Sprintf("%s%04d@example.com", prefix, i)})
			}
			if err := n.srv.Events.Flush(t.Context()); err != nil {
				t.Error(err)
			}
		}
		record("shift", 150)
		var once sync.Once
		n.mu.Lock()
		n.afterLogPage = func() { once.Do(func() { record("shiftnew", 10) }) }
		n.mu.Unlock()
		n.pages()
		wantNewestFirst(t, "while writing", cliJSON[[]map[string]any](t, with("logs", "search", "user_name:shift*", "--limit", "200")...), 150)
		n.mu.Lock()
		n.afterLogPage = nil
		n.mu.Unlock()
		if p := fmt.Sprint(n.pages()); p != "[100/0 100/1]" {
			t.Errorf("pages while writing: %s", p)
		}

		// The search stops at Auth0's 1,000 results.
		for i := range 1001 {
			n.srv.Events.Record(t.Context(), store.LogEvent{Type: "sv", UserName: fmt.Sprintf("bulk%04d@example.com", i)})
		}
		n.flush()
		n.pages()
		out := cliOK(t, with("logs", "search", "type:sv", "--limit", "1000")...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1001 || !strings.Contains(lines[1], "bulk1000@example.com") ||
			!strings.Contains(lines[1000], "bulk0001@example.com") {
			t.Errorf("1,000 of 1,001: %d lines", len(lines))
		}
		if p := n.pages(); len(p) != 10 || p[9] != "100/9" {
			t.Errorf("1,000 of 1,001: pages %v", p)
		}
	})
}

// wantNewestFirst checks that events are want distinct events, newest first.
func wantNewestFirst(t *testing.T, name string, events []map[string]any, want int) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range events {
		id := fmt.Sprint(e["log_id"])
		if seen[id] || (i > 0 && id >= fmt.Sprint(events[i-1]["log_id"])) {
			t.Errorf("%s: event %d (%s) is a repeat or out of order", name, i, id)
		}
		seen[id] = true
	}
	if len(events) != want {
		t.Errorf("%s: %d events, want %d", name, len(events), want)
	}
}

// cliWritesAreLogged: a CLI write is a sapi event that a later search
// finds; in local mode the CLI's in-process API records it and Close writes
// it before the command returns. A refused write is a fapi event. (Part of
// TestLogsSearchAndReport, to share its node.)
func cliWritesAreLogged(t *testing.T, n *node, f []string, remote bool) {
	t.Run("cli writes are logged", func(t *testing.T) {
		with := func(args ...string) []string { return append(args, f...) }
		cliOK(t, with("settings", "set", "friendly_name=Logged")...)
		cli(t, with("client", "update", "nope", "--name", "x")...)
		caller := server.LocalClientID
		if remote {
			caller = opsID
		}
		s := cliJSON[[]map[string]any](t, with("logs", "search", "type:sapi")...)
		if len(s) != 1 || s[0]["client_id"] != caller || !strings.Contains(fmt.Sprint(s[0]["description"]), "/api/v2/tenants/settings") {
			t.Errorf("sapi: %v", s)
		}
		fa := cliJSON[[]map[string]any](t, with("logs", "search", "type:fapi")...)
		if len(fa) != 1 || fa[0]["client_id"] != caller || !strings.Contains(fmt.Sprint(fa[0]["description"]), "The client does not exist") ||
			!strings.Contains(fmt.Sprint(fa[0]["details"]), "path:/api/v2/clients/nope") {
			t.Errorf("fapi: %v", fa)
		}
		// The node reads the same store: the CLI's events are there for it too.
		if !remote {
			var page []map[string]any
			req, _ := http.NewRequest("GET", n.url+"/api/v2/logs?q=type:sapi", nil)
			req.Header.Set("Authorization", "Bearer "+n.token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page) != 1 {
				t.Errorf("the node's search: %v %v", page, err)
			}
		}
	})
}

// TestLogsUsage: the logs commands' usage mistakes exit 2.
func TestLogsUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "get"}, "argument(s) missing"},
		{[]string{"logs", "get", "a", "b"}, "unexpected arguments"},
		{[]string{"users", "logs"}, "argument(s) missing"},
		{[]string{"users", "logs", "u", "--limit", "1001"}, "--limit must be"},
		{[]string{"logs", "search", "a", "b"}, "unexpected arguments"},
	} {
		if _, errOut, code := cli(t, tt.args...); code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
