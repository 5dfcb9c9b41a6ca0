package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/testpg"
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

// remoteFlags start a real node (see startNode) and return --server and
// --token with a Management API access token.
func remoteFlags(t *testing.T) []string {
	t.Helper()
	return startNode(t, config.Config{DataDir: filepath.Join(t.TempDir(), "data")}).remoteFlags()
}

// postgresFlags are the flags of local mode over a fresh PostgreSQL schema
// (skipped without LATCHKEY_TEST_POSTGRES_URL).
func postgresFlags(t *testing.T) []string {
	t.Helper()
	flags := localFlags(t)
	return append(flags, "--database-url", testpg.SchemaURL(t, "cli"))
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
	t.Parallel()
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

			// Auth0's refresh_token object, as JSON.
			upd := cliJSON[map[string]any](t, with("client", "update", id, "--refresh-token",
				`{"rotation_type":"non-rotating","expiration_type":"expiring","token_lifetime":3600,"idle_token_lifetime":600,"leeway":0}`)...)
			if rt, _ := upd["refresh_token"].(map[string]any); rt["rotation_type"] != "non-rotating" || rt["token_lifetime"] != float64(3600) || rt["idle_token_lifetime"] != float64(600) {
				t.Errorf("update --refresh-token: %v", upd["refresh_token"])
			}
			if _, errOut, code := cli(t, with("client", "update", id, "--refresh-token", `{"rotation_type":"sometimes"}`)...); code == 0 || !strings.Contains(errOut, "rotation_type") {
				t.Errorf("bad --refresh-token: exit %d, %q", code, errOut)
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
