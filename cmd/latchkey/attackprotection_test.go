package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// TestAttackProtectionSettings: attack-protection get/set in every mode.
func TestAttackProtectionSettings(t *testing.T) {
	t.Parallel()
	type stage struct {
		MaxAttempts int `json:"max_attempts"`
		Rate        int `json:"rate"`
	}
	type settings struct {
		BruteForce struct {
			Enabled     bool     `json:"enabled"`
			Shields     []string `json:"shields"`
			Allowlist   []string `json:"allowlist"`
			Mode        string   `json:"mode"`
			MaxAttempts int      `json:"max_attempts"`
		} `json:"brute-force-protection"`
		SuspiciousIP struct {
			Enabled   bool     `json:"enabled"`
			Shields   []string `json:"shields"`
			Allowlist []string `json:"allowlist"`
			Stage     struct {
				PreLogin  stage `json:"pre-login"`
				PreSignup stage `json:"pre-user-registration"`
			} `json:"stage"`
		} `json:"suspicious-ip-throttling"`
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			with := func(args ...string) []string { return append(args, f...) }

			got := cliJSON[settings](t, with("attack-protection", "get")...)
			bf, sit := got.BruteForce, got.SuspiciousIP
			if !bf.Enabled || bf.MaxAttempts != 10 || bf.Mode != "count_per_identifier_and_ip" || strings.Join(bf.Shields, ",") != "block" || bf.Allowlist == nil ||
				!sit.Enabled || sit.Stage.PreLogin != (stage{100, 864000}) || sit.Stage.PreSignup != (stage{50, 1728000}) {
				t.Fatalf("defaults: %+v", got)
			}
			out := cliOK(t, with("attack-protection", "get")...)
			for _, want := range []string{"brute-force-protection.max_attempts", "suspicious-ip-throttling.stage.pre-login.rate", "864000"} {
				if !strings.Contains(out, want) {
					t.Errorf("get table lacks %q:\n%s", want, out)
				}
			}

			got = cliJSON[settings](t, with("attack-protection", "set", "brute-force-protection.max_attempts=5",
				`brute_force_protection.allowlist=["10.0.0.0/8","2001:db8::1"]`, "suspicious-ip-throttling.stage.pre-login.rate=100000")...)
			if got.BruteForce.MaxAttempts != 5 || strings.Join(got.BruteForce.Allowlist, ",") != "10.0.0.0/8,2001:db8::1" || !got.BruteForce.Enabled ||
				got.SuspiciousIP.Stage.PreLogin != (stage{100, 100000}) || got.SuspiciousIP.Stage.PreSignup != (stage{50, 1728000}) {
				t.Errorf("set: %+v", got)
			}
			cliOK(t, with("attack-protection", "set", `suspicious-ip-throttling={"enabled": false, "shields": ["block", "admin_notification"]}`)...)
			got = cliJSON[settings](t, with("attack-protection", "get")...)
			if got.BruteForce.MaxAttempts != 5 || got.SuspiciousIP.Enabled || strings.Join(got.SuspiciousIP.Shields, ",") != "block,admin_notification" ||
				got.SuspiciousIP.Stage.PreLogin.Rate != 100000 {
				t.Errorf("get after set: %+v", got)
			}

			failures := []struct {
				args []string
				want string
			}{
				{[]string{"brute-force-protection.max_attempts=101"}, "400 Bad Request: Payload validation error: 'Value 101 is greater than maximum 100' on property max_attempts"},
				{[]string{"brute-force-protection.max_tries=3"}, "'Additional properties not allowed: max_tries'"},
				{[]string{"suspicious-ip-throttling.allowlist=[\"nope\"]"}, "on property allowlist[0]"},
				{[]string{"brute-force-protection.mode=per_ip"}, `No enum match for: "per_ip"`},
			}
			for _, tt := range failures {
				out, errOut, code := cli(t, with(append([]string{"attack-protection", "set"}, tt.args...)...)...)
				if code != exitFailure || !strings.Contains(errOut, tt.want) || out != "" {
					t.Errorf("set %v: exit %d, stderr %q (want %q)", tt.args, code, errOut, tt.want)
				}
			}
			if got := cliJSON[settings](t, with("attack-protection", "get")...); got.BruteForce.MaxAttempts != 5 || got.BruteForce.Mode != "count_per_identifier_and_ip" {
				t.Errorf("a refused set changed the settings: %+v", got)
			}
		})
	}
}

// TestBlocksCommands: the block commands in every mode, on a node with
// attack protection: nothing blocked, unblocking is idempotent, an unknown
// user is Auth0's 404.
func TestBlocksCommandsOnANode(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := m.flags(t)
			if m.name != "remote" {
				out, errOut, code := cli(t, append([]string{"ips", "unblock", "192.0.2.1"}, f...)...)
				if code != exitFailure || !strings.Contains(errOut, "501") {
					t.Errorf("local mode without Redis: exit %d, stderr %q, stdout %q", code, errOut, out)
				}
				return
			}
			for _, tc := range []struct {
				args []string
				code int
				want string
			}{
				{[]string{"users", "blocks", "--identifier", "ana@example.com"}, exitOK, ""},
				{[]string{"ips", "blocked", "192.0.2.1"}, exitOK, "192.0.2.1: not blocked"},
				{[]string{"ips", "unblock", "2001:db8::1"}, exitOK, "unblocked 2001:db8::1"},
				{[]string{"users", "unblock-attempts", "email|000000000000000000000000"}, exitFailure, "The user does not exist."},
			} {
				out, errOut, code := cli(t, append(tc.args, f...)...)
				if code != tc.code || !strings.Contains(out+errOut, tc.want) {
					t.Errorf("%v: exit %d, stderr %q, stdout %q", tc.args, code, errOut, out)
				}
			}
		})
	}
}

func TestAttackProtectionUsage(t *testing.T) {
	t.Parallel()
	f := localFlags(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"attack-protection", "set"}, "argument(s) missing"},
		{[]string{"attack-protection", "set", "max_attempts=5"}, "the path must start with brute-force-protection or suspicious-ip-throttling"},
		{[]string{"attack-protection", "set", "brute-force-protection.max_attempts"}, "is not OBJECT.PATH=VALUE"},
		{[]string{"attack-protection", "set", "brute-force-protection=5"}, "must be set to a JSON object"},
		{[]string{"attack-protection", "get", "extra"}, "unexpected arguments"},
		{[]string{"users", "blocks"}, "give a USER_ID or --identifier"},
		{[]string{"users", "unblock-attempts", "email|x", "--identifier", "a@example.com"}, "not both"},
		{[]string{"users", "blocks", "a", "b"}, "unexpected arguments"},
		{[]string{"ips", "blocked"}, "argument(s) missing"},
		{[]string{"ips", "unblock", "1.2.3.4", "5.6.7.8"}, "unexpected arguments"},
		{[]string{"ips"}, "an action is required"},
	} {
		out, errOut, code := cli(t, append(tt.args, f...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d (want 2), stderr %q (want %q), stdout %q", tt.args, code, errOut, tt.want, out)
		}
	}
}

// cliProtection is a mgmtapi.Protection over maps.
type cliProtection struct {
	mu     sync.Mutex
	blocks map[string][]store.Block
	ips    map[string]bool
}

func (p *cliProtection) Blocks(_ context.Context, id string) ([]store.Block, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocks[id], nil
}

func (p *cliProtection) Unblock(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.blocks, id)
	return nil
}

func (p *cliProtection) IPBlocked(_ context.Context, ip string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ips[ip], nil
}

func (p *cliProtection) UnblockIP(_ context.Context, ip string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ips, ip)
	return nil
}

// anyToken verifies every token as one with every scope.
type anyToken struct{ issuer string }

func (v anyToken) Verify(string) ([]byte, error) {
	return json.Marshal(map[string]any{"iss": v.issuer, "aud": v.issuer + "api/v2/", "sub": "ops@clients",
		"exp": time.Now().Add(time.Hour).Unix(), "scope": strings.Join((&mgmtapi.API{}).Scopes(), " ")})
}

type noCache struct{}

func (noCache) Invalidate() {}

// TestBlocksCommands runs the block commands in remote mode against a
// Management API with a fake Protection that has blocks to show.
func TestBlocksCommands(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	if err := st.CreateConnection(ctx, store.Connection{ID: "con_1", Name: "email", Strategy: "email"}); err != nil {
		t.Fatal(err)
	}
	const userID = "email|0123456789abcdef01234567"
	if err := st.CreateUser(ctx, store.User{UserID: userID, Connection: "email", Identifier: "ana@example.com", Email: "ana@example.com",
		CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := &cliProtection{
		blocks: map[string][]store.Block{"ana@example.com": {
			{Identifier: "ana@example.com", IP: "192.0.2.1", Connection: "email"},
			{Identifier: "ana@example.com", Connection: "email"}}},
		ips: map[string]bool{"192.0.2.9": true},
	}
	ts := httptest.NewServer(nil)
	t.Cleanup(ts.Close)
	api := &mgmtapi.API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: st, Cache: noCache{}, Keys: anyToken{ts.URL + "/"},
		Issuer: ts.URL + "/", Now: time.Now, Protection: p}
	ts.Config.Handler = api.Handler()
	f := []string{"--server", ts.URL, "--token", "t"}
	with := func(args ...string) []string { return append(args, f...) }

	out := cliOK(t, with("users", "blocks", userID)...)
	for _, want := range []string{"IDENTIFIER", "ana@example.com", "192.0.2.1", "(any)", "email", "2 brute-force block(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("users blocks table lacks %q:\n%s", want, out)
		}
	}
	res := cliJSON[struct {
		BlockedFor []map[string]string `json:"blocked_for"`
	}](t, with("users", "blocks", "--identifier", "Ana@Example.com")...)
	if len(res.BlockedFor) != 2 || res.BlockedFor[0]["ip"] != "192.0.2.1" || res.BlockedFor[0]["connection"] != "email" {
		t.Errorf("users blocks --identifier --json: %+v", res)
	}
	if _, errOut, code := cli(t, with("users", "blocks", "email|ffffffffffffffffffffffff")...); code != exitFailure || !strings.Contains(errOut, "404 Not Found: The user does not exist.") {
		t.Errorf("blocks of an unknown user: exit %d %q", code, errOut)
	}
	if out := cliOK(t, with("users", "unblock-attempts", userID)...); !strings.Contains(out, "lifted the brute-force blocks of "+userID) {
		t.Errorf("unblock-attempts: %s", out)
	}
	if out := cliOK(t, with("users", "blocks", "--identifier", "ana@example.com")...); !strings.Contains(out, "0 brute-force block(s)") {
		t.Errorf("blocks after unblock:\n%s", out)
	}
	if got := cliJSON[map[string]any](t, with("users", "unblock-attempts", "--identifier", "+15550001111")...); got["unblocked"] != "+15550001111" {
		t.Errorf("unblock-attempts --json: %v", got)
	}

	if out := cliOK(t, with("ips", "blocked", "192.0.2.9")...); out != "192.0.2.9: blocked\n" {
		t.Errorf("ips blocked: %q", out)
	}
	if got := cliJSON[map[string]any](t, with("ips", "blocked", "::ffff:192.0.2.9")...); got["blocked"] != true || got["ip"] != "::ffff:192.0.2.9" {
		t.Errorf("ips blocked --json: %v", got)
	}
	if out := cliOK(t, with("ips", "unblock", "192.0.2.9")...); out != "unblocked 192.0.2.9\n" {
		t.Errorf("ips unblock: %q", out)
	}
	if got := cliJSON[map[string]any](t, with("ips", "blocked", "192.0.2.9")...); got["blocked"] != false {
		t.Errorf("ips blocked after unblock: %v", got)
	}
	if _, errOut, code := cli(t, with("ips", "blocked", "192.0.2")...); code != exitFailure || !strings.Contains(errOut, "400 Bad Request: Path validation error") {
		t.Errorf("malformed IP: exit %d %q", code, errOut)
	}
	if got := cliJSON[map[string]any](t, with("ips", "unblock", "2001:db8::1")...); got["unblocked"] != "2001:db8::1" {
		t.Errorf("ips unblock --json: %v", got)
	}
}
