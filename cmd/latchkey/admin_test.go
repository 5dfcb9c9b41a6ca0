package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/server"
)

// cli runs latchkey with args and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// cliOK runs latchkey and fails the test unless it exits 0.
func cliOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != exitOK {
		t.Fatalf("latchkey %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// cliJSON runs latchkey with --json and decodes its output.
func cliJSON[T any](t *testing.T, args ...string) T {
	t.Helper()
	out := cliOK(t, append(args, "--json")...)
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("latchkey %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// localFlags are the flags of local mode over a fresh SQLite store in a
// temp dir, with a master key file.
func localFlags(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	mk := filepath.Join(dir, "master.key")
	if err := os.WriteFile(mk, []byte(secret.Hex(32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--master-key-file", mk}
	cliOK(t, append([]string{"migrate"}, flags...)...)
	return flags
}

// remoteFlags start a real node on httptest (SQLite in a temp dir, --dev)
// whose tenant file gives an M2M application a grant to the whole
// Management API, and return --server and --token with an access token
// obtained by the client_credentials grant.
func remoteFlags(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	ts := httptest.NewUnstartedServer(nil)
	cfg := config.Config{DataDir: filepath.Join(dir, "data"), Dev: true, LogFormat: "text", LogLevel: "warn",
		Addr: ts.Listener.Addr().String(), Bootstrap: filepath.Join(dir, "tenant.json")}
	cfg.Issuer = "http://" + cfg.Addr + "/"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	scopes, _ := json.Marshal((&mgmtapi.API{}).Scopes())
	tf := fmt.Sprintf(`{"clients": [{"client_id": "ops", "client_secret": "ops-secret-0123456789abcdef0123", "name": "Ops",
  "app_type": "non_interactive", "grant_types": ["client_credentials"]}],
  "client_grants": [{"client_id": "ops", "audience": "%sapi/v2/", "scope": %s}]}`, cfg.Issuer, scopes)
	if err := os.WriteFile(cfg.Bootstrap, []byte(tf), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	res, err := http.PostForm(ts.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ops"},
		"client_secret": {"ops-secret-0123456789abcdef0123"}, "audience": {cfg.Issuer + "api/v2/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %d %v", res.StatusCode, err)
	}
	return []string{"--server", ts.URL, "--token", tok.AccessToken}
}

// postgresFlags are the flags of local mode over a fresh PostgreSQL schema
// (skipped without LATCHKEY_TEST_POSTGRES_URL).
func postgresFlags(t *testing.T) []string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LATCHKEY_TEST_POSTGRES_URL is not set; PostgreSQL tests must run in CI")
		}
		t.Skip("LATCHKEY_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	schema := "cli_" + secret.Hex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	flags := localFlags(t)
	return append(flags, "--database-url", u.String())
}

var modes = []struct {
	name  string
	flags func(t *testing.T) []string
}{
	{"local", localFlags},
	{"remote", remoteFlags},
	{"local-postgres", postgresFlags},
}

// TestClientLifecycle: create → list → get → update → rotate-secret →
// delete, in every mode.
func TestClientLifecycle(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }

			created := cliJSON[map[string]any](t, with("client", "create", "--name", "Billing", "--app-type", "non_interactive",
				"--grant-types", "client_credentials")...)
			id, _ := created["client_id"].(string)
			sec, _ := created["client_secret"].(string)
			if id == "" || len(sec) < 32 || created["name"] != "Billing" {
				t.Fatalf("create: %v", created)
			}

			list := cliJSON[[]map[string]any](t, with("client", "list")...)
			if !containsID(list, "client_id", id) {
				t.Errorf("list --json lacks %s: %v", id, list)
			}
			if out := cliOK(t, with("client", "list")...); !strings.Contains(out, "CLIENT_ID") || !strings.Contains(out, id) || !strings.Contains(out, "Billing") {
				t.Errorf("list table:\n%s", out)
			}

			got := cliJSON[map[string]any](t, with("client", "get", id)...)
			if got["name"] != "Billing" || got["client_secret"] != nil {
				t.Errorf("get: %v", got)
			}

			// Flags after the positional argument work too.
			out := cliOK(t, append([]string{"client", "update", id, "--name", "Billing v2", "--description", "invoices"}, f...)...)
			if !strings.Contains(out, "Billing v2") || !strings.Contains(out, "invoices") {
				t.Errorf("update table:\n%s", out)
			}

			rotated := cliJSON[map[string]any](t, with("client", "rotate-secret", id)...)
			if s, _ := rotated["client_secret"].(string); len(s) < 32 || s == sec {
				t.Errorf("rotate-secret: %v", rotated)
			}

			if out := cliOK(t, with("client", "delete", id)...); !strings.Contains(out, "deleted "+id) {
				t.Errorf("delete: %s", out)
			}
			_, errOut, code := cli(t, with("client", "get", id)...)
			if code != exitFailure || !strings.Contains(errOut, "The client does not exist") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("get after delete: exit %d, %q", code, errOut)
			}
		})
	}
}

func containsID(list []map[string]any, key, id string) bool {
	for _, m := range list {
		if m[key] == id {
			return true
		}
	}
	return false
}

// TestSettingsAndConnections: settings set/get round trip of the
// enforcement flag, and a connection's life, in every mode.
func TestSettingsAndConnections(t *testing.T) {
	const flag = "flags.enforce_client_authentication_on_passwordless_start"
	type settings struct {
		FriendlyName string `json:"friendly_name"`
		Flags        struct {
			Enforce bool `json:"enforce_client_authentication_on_passwordless_start"`
		} `json:"flags"`
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }

			set := cliJSON[settings](t, with("settings", "set", flag+"=true", "friendly_name=Acme Corp")...)
			if !set.Flags.Enforce || set.FriendlyName != "Acme Corp" {
				t.Errorf("set: %+v", set)
			}
			if got := cliJSON[settings](t, with("settings", "get")...); !got.Flags.Enforce || got.FriendlyName != "Acme Corp" {
				t.Errorf("get after set: %+v", got)
			}
			if out := cliOK(t, with("settings", "get")...); !strings.Contains(out, flag) || !strings.Contains(out, "true") {
				t.Errorf("get table:\n%s", out)
			}
			cliOK(t, with("settings", "set", flag+"=false")...)
			if got := cliJSON[settings](t, with("settings", "get")...); got.Flags.Enforce || got.FriendlyName != "Acme Corp" {
				t.Errorf("get after unset: %+v", got)
			}
			_, errOut, code := cli(t, with("settings", "set", "flags.no_such_flag=true")...)
			if code != exitFailure || !strings.Contains(errOut, "no_such_flag") {
				t.Errorf("unknown setting: exit %d, %q", code, errOut)
			}

			app := cliJSON[map[string]any](t, with("client", "create", "--name", "Web", "--app-type", "regular_web",
				"--grant-types", "http://auth0.com/oauth/grant-type/passwordless/otp")...)
			id := app["client_id"].(string)
			cli(t, with("connection", "delete", "sms")...) // the remote node's dev seed made one
			conn := cliJSON[map[string]any](t, with("connection", "create", "--strategy", "sms", "--enabled-clients", id,
				"--options", `{"totp": {"length": 6, "time_step": 300}}`)...)
			if conn["name"] != "sms" || !strings.Contains(fmt.Sprint(conn["enabled_clients"]), id) {
				t.Fatalf("connection create: %v", conn)
			}
			if list := cliJSON[[]map[string]any](t, with("connection", "list", "--strategy", "sms")...); len(list) != 1 || list[0]["id"] != conn["id"] {
				t.Errorf("connection list: %v", list)
			}
			if got := cliJSON[map[string]any](t, with("connection", "get", "sms")...); got["id"] != conn["id"] {
				t.Errorf("connection get by name: %v", got)
			}
			upd := cliJSON[map[string]any](t, with("connection", "update", conn["id"].(string), "--enabled-clients", "")...)
			if ec, _ := upd["enabled_clients"].([]any); len(ec) != 0 {
				t.Errorf("connection update: %v", upd)
			}
			cliOK(t, with("connection", "delete", "sms")...)
			if _, _, code := cli(t, with("connection", "get", conn["id"].(string))...); code != exitFailure {
				t.Errorf("connection get after delete: exit %d", code)
			}
		})
	}
}

// TestApply applies a tenant file in local mode, twice (idempotent), and a
// bad one (names the field, changes nothing). The first apply creates the
// store.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	f := []string{"--data-dir", filepath.Join(dir, "data"), "--master-key-file", writeKey(t)}
	good := filepath.Join(dir, "tenant.json")
	os.WriteFile(good, []byte(`{"settings": {"friendly_name": "Applied"},
  "clients": [{"client_id": "web-app", "client_secret": "web-app-secret-0123456789abcdef", "name": "Web", "app_type": "regular_web",
    "grant_types": ["http://auth0.com/oauth/grant-type/passwordless/otp"]},
    {"client_id": "svc", "name": "Service", "app_type": "non_interactive", "grant_types": ["client_credentials"]}],
  "connections": [{"name": "email", "strategy": "email", "enabled_clients": ["web-app"]}]}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"clients": [{"client_id": "x", "name": "X", "app_type": "spaceship"}]}`), 0o600)

	res := cliJSON[struct {
		Changed          int               `json:"changed"`
		GeneratedSecrets map[string]string `json:"generated_secrets"`
	}](t, append([]string{"apply", good}, f...)...)
	if res.Changed == 0 || len(res.GeneratedSecrets["svc"]) < 32 || res.GeneratedSecrets["web-app"] != "" {
		t.Errorf("first apply: %+v", res)
	}
	if out := cliOK(t, append([]string{"apply", good}, f...)...); !strings.Contains(out, "0 change(s)") {
		t.Errorf("second apply: %s", out)
	}
	if got := cliJSON[map[string]any](t, append([]string{"client", "get", "web-app"}, f...)...); got["name"] != "Web" {
		t.Errorf("client after apply: %v", got)
	}
	_, errOut, code := cli(t, append([]string{"apply", bad}, f...)...)
	if code != exitFailure || !strings.Contains(errOut, "app_type") {
		t.Errorf("bad file: exit %d, %q", code, errOut)
	}
	if _, _, code := cli(t, append([]string{"client", "get", "x"}, f...)...); code != exitFailure {
		t.Errorf("the bad file created a client")
	}
}

// TestAdminUsageAndErrors: usage mistakes exit 2 before touching anything;
// API errors exit 1 with the API's message on one line.
func TestAdminUsageAndErrors(t *testing.T) {
	f := localFlags(t)
	usage := []struct {
		name string
		args []string
		want string
	}{
		{"no action", []string{"client"}, "an action is required"},
		{"unknown action", []string{"client", "frob"}, `unknown action "frob"`},
		{"missing id", []string{"client", "get"}, "argument(s) missing"},
		{"extra args", []string{"client", "get", "a", "b"}, "unexpected arguments"},
		{"create without name", []string{"client", "create"}, "--name is required"},
		{"bad bool", []string{"client", "create", "--name", "x", "--cross-origin-authentication=maybe"}, "not true or false"},
		{"bad --data", []string{"client", "create", "--data", "[1]"}, "not a JSON object"},
		{"update nothing", []string{"client", "update", "x"}, "nothing to change"},
		{"settings set no value", []string{"settings", "set", "friendly_name"}, "is not PATH=VALUE"},
		{"settings set nothing", []string{"settings", "set"}, "argument(s) missing"},
		{"settings set conflict", []string{"settings", "set", "flags=1", "flags.x=2"}, "already set"},
		{"bad server", []string{"client", "list", "--server", "ftp://x", "--token", "t"}, "not an http(s) URL"},
		{"server without token", []string{"client", "list", "--server", "http://127.0.0.1:1"}, "needs --token"},
		{"token without server", []string{"client", "list", "--token", "t"}, "give --server too"},
		{"logs limit", []string{"logs", "search", "type:s", "--limit", "0"}, "--limit must be"},
		{"logs limit too big", []string{"logs", "search", "--limit", "1001"}, "--limit must be"},
		{"days", []string{"logs", "migration-report", "--days", "0"}, "--days must be"},
		{"users per page", []string{"users", "list", "--per-page", "500"}, "--per-page"},
		{"users create", []string{"users", "create", "--email", "a@example.com"}, "--connection is required"},
		{"apply remote", []string{"apply", "x.json", "--server", "http://127.0.0.1:1", "--token", "t"}, "not with --server"},
		{"unknown flag", []string{"client", "list", "--nope"}, "flag provided but not defined"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, append(tt.args, f...)...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d (want 2), stderr %q (want %q), stdout %q", code, errOut, tt.want, out)
			}
		})
	}
	for _, args := range [][]string{{"client", "-h"}, {"client", "get", "-h"}, {"settings", "set", "--help"}} {
		if _, _, code := cli(t, args...); code != exitOK {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
	}

	remote := remoteFlags(t)
	failures := []struct {
		name string
		args []string
		want string
	}{
		{"unknown client", append([]string{"client", "get", "nope"}, f...), "404 Not Found: The client does not exist (inexistent_client)"},
		{"invalid body", append([]string{"client", "create", "--name", "x", "--app-type", "spaceship"}, f...), "400 Bad Request: Payload validation error"},
		{"bad token", []string{"client", "list", "--server", remote[1], "--token", "not-a-jwt"}, "401 Unauthorized: Invalid token"},
		{"no server", []string{"client", "list", "--server", "http://127.0.0.1:1", "--token", "t"}, "connect"},
		{"wrong master key", []string{"client", "list", "--data-dir", f[1], "--master-key-file", writeKey(t)}, "wrong master key"},
		{"no master key", []string{"client", "list", "--data-dir", f[1]}, "master key is required"},
		{"no store", []string{"client", "list", "--data-dir", t.TempDir(), "--master-key-file", f[3]}, "no store at"},
	}
	cliOK(t, append([]string{"client", "list"}, f...)...) // creates the store and its signing key
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, tt.args...)
			if code != exitFailure || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d (want 1), stderr %q (want %q), stdout %q", code, errOut, tt.want, out)
			}
		})
	}
}

func writeKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(p, []byte(secret.Hex(32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUsers: create → list → get → block → unblock → delete, in every mode.
func TestUsers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }
			cli(t, with("connection", "create", "--strategy", "email")...) // the remote node's dev seed made one
			u := cliJSON[map[string]any](t, with("users", "create", "--connection", "email", "--email", "Ana@Example.com", "--email-verified")...)
			id, _ := u["user_id"].(string)
			if id == "" || u["email"] != "ana@example.com" {
				t.Fatalf("users create: %v", u)
			}
			list := cliJSON[struct {
				Users []map[string]any `json:"users"`
				Total int              `json:"total"`
			}](t, with("users", "list")...)
			if list.Total != 1 || !containsID(list.Users, "user_id", id) {
				t.Errorf("users list: %+v", list)
			}
			if out := cliOK(t, with("users", "list", "--q", `email:"ana@example.com"`)...); !strings.Contains(out, id) || !strings.Contains(out, "1 of 1 user(s)") {
				t.Errorf("users list table:\n%s", out)
			}
			if got := cliJSON[map[string]any](t, with("users", "block", id)...); got["blocked"] != true {
				t.Errorf("block: %v", got)
			}
			if got := cliJSON[map[string]any](t, with("users", "get", id)...); got["blocked"] != true {
				t.Errorf("get after block: %v", got)
			}
			if out := cliOK(t, with("users", "unblock", id)...); !strings.Contains(out, "blocked=false") {
				t.Errorf("unblock: %s", out)
			}
			cliOK(t, with("users", "delete", id)...)
			if _, errOut, code := cli(t, with("users", "get", id)...); code != exitFailure || !strings.Contains(errOut, "404") {
				t.Errorf("get after delete: exit %d %q", code, errOut)
			}
		})
	}
}

// TestLogsPaging checks how logs search pages (per_page, page, sort, q) and
// what both log commands print. The node cannot store log events yet (the
// stores lack the log contract), so this runs against a small HTTP server
// that answers GET /api/v2/logs and the migration report in their shapes.
func TestLogsPaging(t *testing.T) {
	var mu sync.Mutex
	var requests []url.Values
	total := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		requests = append(requests, q)
		n := total
		mu.Unlock()
		page, _ := strconv.Atoi(q.Get("page"))
		per, _ := strconv.Atoi(q.Get("per_page"))
		events := []map[string]any{}
		for i := page * per; i < min(n, (page+1)*per); i++ {
			events = append(events, map[string]any{"log_id": fmt.Sprint(i), "date": "2026-11-23T10:00:00.000Z", "type": "cs",
				"description": "Passwordless start", "client_id": "web-app", "client_name": "Web", "connection": "email", "ip": "203.0.113.9"})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(events)
	})
	mux.HandleFunc("GET /api/v2/latchkey/migration-report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"days": %s, "since": "2026-10-24T00:00:00Z", "until": "2026-11-23T00:00:00Z", "enforced": false,
  "safe_to_enforce": false, "verdict": "Enforcing now would break 1 application.",
  "clients": [{"client_id": "web-app", "client_name": "Web", "app_type": "regular_web", "unauthenticated_starts": 12,
    "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-22T00:00:00Z", "ips": ["203.0.113.9"],
    "sdks": [{"name": "auth0.js", "version": "9.24.1", "count": 12}], "would_break": true}]}`, r.URL.Query().Get("days"))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	remote := []string{"--server", ts.URL, "--token", "t"}

	tests := []struct {
		name      string
		events    int
		args      []string
		wantCount int
		wantPages []string // per_page/page of each request
	}{
		{"one small page", 500, []string{"--limit", "30"}, 30, []string{"30/0"}},
		{"default limit", 500, nil, 50, []string{"50/0"}},
		{"pages of 100 up to the limit", 500, []string{"--limit", "250"}, 250, []string{"100/0", "100/1", "100/2"}},
		{"stops at a short page", 120, []string{"--limit", "1000"}, 120, []string{"100/0", "100/1"}},
		{"stops at 1000", 5000, []string{"--limit", "1000"}, 1000, []string{"100/0", "100/1", "100/2", "100/3", "100/4", "100/5", "100/6", "100/7", "100/8", "100/9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			requests, total = nil, tt.events
			mu.Unlock()
			args := append(append([]string{"logs", "search", `type:cs AND connection:"email"`}, tt.args...), remote...)
			events := cliJSON[[]map[string]any](t, args...)
			if len(events) != tt.wantCount {
				t.Errorf("got %d events, want %d", len(events), tt.wantCount)
			}
			var pages []string
			for _, q := range requests {
				pages = append(pages, q.Get("per_page")+"/"+q.Get("page"))
				if q.Get("q") != `type:cs AND connection:"email"` || q.Get("sort") != "date:-1" {
					t.Errorf("request %v", q)
				}
			}
			if fmt.Sprint(pages) != fmt.Sprint(tt.wantPages) {
				t.Errorf("pages %v, want %v", pages, tt.wantPages)
			}
		})
	}
	mu.Lock()
	total = 3
	mu.Unlock()
	out := cliOK(t, append([]string{"logs", "search", "--limit", "5"}, remote...)...)
	if !strings.Contains(out, "DESCRIPTION") || strings.Count(out, "Passwordless start") != 3 || !strings.Contains(out, "203.0.113.9") {
		t.Errorf("logs table:\n%s", out)
	}

	rep := cliJSON[map[string]any](t, append([]string{"logs", "migration-report", "--days", "7"}, remote...)...)
	if rep["days"] != float64(7) || rep["safe_to_enforce"] != false {
		t.Errorf("migration-report --json: %v", rep)
	}
	out = cliOK(t, append([]string{"logs", "migration-report"}, remote...)...)
	for _, want := range []string{"Enforcing now would break 1 application.", "(30 days)", "web-app", "auth0.js@9.24.1×12", "WOULD_BREAK"} {
		if !strings.Contains(out, want) {
			t.Errorf("migration-report lacks %q:\n%s", want, out)
		}
	}
}

// TestRemoteFromEnvironment: LATCHKEY_SERVER and LATCHKEY_TOKEN select
// remote mode without flags.
func TestRemoteFromEnvironment(t *testing.T) {
	r := remoteFlags(t)
	t.Setenv("LATCHKEY_SERVER", r[1])
	t.Setenv("LATCHKEY_TOKEN", r[3])
	list := cliJSON[[]map[string]any](t, "client", "list")
	if !containsID(list, "client_id", "ops") {
		t.Errorf("client list: %v", list)
	}
	if got := cliJSON[map[string]any](t, "client", "delete", "ops"); got["deleted"] != "ops" {
		t.Errorf("delete --json: %v", got)
	}
}
