package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testredis"
)

// forEachLimiter runs f on a node with the in-memory limiter and on one
// whose counters are in the test Redis (a key space of its own), in
// parallel.
func forEachLimiter(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		f(t, newEnv(t))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		u, _ := testredis.ServerURL(t, "limits")
		f(t, newEnv(t, func(c *config.Config) { c.RedisURL = u }))
	})
}

// defaultLimits puts Auth0's default limits back (the test tenant raises
// them so that other tests can start many logins from one address).
func (e *env) defaultLimits() {
	e.updateSettings(func(s *store.TenantSettings) { s.Latchkey.RateLimits = store.RateLimits{} })
}

// TestStartRateLimit: /passwordless/start allows a burst of 50 per end-user
// IP with X-RateLimit-* headers; the 51st and the SDKs' retries get 429
// with Retry-After and send nothing; the trusted forwarded IP is the key,
// a spoofed one from an untrusted app changes nothing.
func TestStartRateLimit(t *testing.T) {
	t.Parallel()
	forEachLimiter(t, startRateLimit)
}

func startRateLimit(t *testing.T, e *env) {
	e.defaultLimits()
	start := func(client, secret, email string, hdr map[string]string) response {
		body := map[string]any{"client_id": client, "connection": "email", "send": "code", "email": email}
		if secret != "" {
			body["client_secret"] = secret
		}
		return e.postJSON("/passwordless/start", body, hdr)
	}
	for i := range 50 {
		r := start(nativeID, "", fmt.Sprintf("rl%d@example.com", i), nil)
		if r.status != 200 {
			t.Fatalf("start %d: %d %s", i, r.status, r.raw)
		}
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(49-i) || r.header.Get("X-RateLimit-Limit") != "50" {
			t.Fatalf("start %d: remaining %q limit %q", i, got, r.header.Get("X-RateLimit-Limit"))
		}
		if reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64); err != nil || reset < e.clock.Now().Unix() {
			t.Fatalf("start %d: reset %q", i, r.header.Get("X-RateLimit-Reset"))
		}
	}
	for i := range 3 { // the refused start and two SDK retries
		r := start(nativeID, "", "over@example.com", nil)
		if r.status != 429 || r.str("error") != "too_many_requests" || r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Remaining") != "0" {
			t.Fatalf("over the limit (%d): %d %s %v", i, r.status, r.raw, r.header)
		}
	}
	if n := len(e.messages("over@example.com")); n != 0 {
		t.Fatalf("a refused start sent %d messages", n)
	}
	if n := e.countLogs("type:api_limit"); n != 3 {
		t.Errorf("api_limit events: %d", n)
	}
	// A spoofed header from a public app: still this address, still refused.
	if r := start(nativeID, "", "spoof@example.com", map[string]string{"Auth0-Forwarded-For": "198.51.100.7"}); r.status != 429 {
		t.Fatalf("spoofed forwarded IP: %d", r.status)
	}
	// A trusted confidential backend passing its user's IP: that user's bucket.
	if r := e.mgmt("PATCH", "clients/"+webID, e.mgmtToken(""), map[string]any{"is_token_endpoint_ip_header_trusted": true}); r.status != 200 {
		t.Fatalf("trust: %d %s", r.status, r.raw)
	}
	e.srv.Dir.Invalidate()
	if r := start(webID, webSecret, "user@example.com", map[string]string{"Auth0-Forwarded-For": "198.51.100.7"}); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "49" {
		t.Fatalf("trusted forwarded IP: %d %v", r.status, r.header)
	}
	// Refilled over the hour.
	e.clock.Advance(time.Hour)
	if r := start(nativeID, "", "later@example.com", nil); r.status != 200 {
		t.Fatalf("after an hour: %d", r.status)
	}
}

// TestPerRecipientLimit: at most 10 codes an hour to one address, whoever
// asks; other addresses are not affected.
func TestPerRecipientLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.defaultLimits()
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.RateLimits.PasswordlessStart = &store.RateLimit{Burst: 1000, Rate: 1000, IntervalSeconds: 1}
	})
	for i := range 10 {
		if code := e.startEmail("victim@example.com"); code == "" {
			t.Fatalf("start %d", i)
		}
	}
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "code", "email": "Victim@Example.com"}, nil)
	if r.status != 429 || r.str("error") != "too_many_requests" {
		t.Fatalf("11th code to one address: %d %s", r.status, r.raw)
	}
	if n := len(e.messages("victim@example.com")); n != 10 {
		t.Fatalf("messages: %d", n)
	}
	if e.startEmail("other@example.com") == "" {
		t.Fatal("another address was refused")
	}
}

// TestBruteForceProtection: failed codes from one IP against one
// identifier block that IP for it at the threshold (429 too_many_attempts,
// limit_wc), even with the right code; other IPs and identifiers are not
// blocked; the block can be lifted.
func TestBruteForceProtection(t *testing.T) {
	t.Parallel()
	forEachLimiter(t, bruteForce)
}

func bruteForce(t *testing.T, e *env) {
	e.updateSettings(func(s *store.TenantSettings) {
		bf := store.DefaultBruteForce()
		bf.MaxAttempts = 4
		s.AttackProtection.BruteForce = &bf
	})
	fail := func(email string) {
		t.Helper()
		e.startEmail(email)
		if r := e.otpGrant(webID, webSecret, "email", email, "000000x", nil); r.status != 403 {
			t.Fatalf("wrong code: %d %s", r.status, r.raw)
		}
	}
	for range 4 {
		fail("bf@example.com")
	}
	code := e.startEmail("bf@example.com")
	r := e.otpGrant(webID, webSecret, "email", "bf@example.com", code, nil)
	if r.status != 429 || r.str("error") != "too_many_attempts" {
		t.Fatalf("blocked identifier with the right code: %d %s", r.status, r.raw)
	}
	if n := e.countLogs("type:limit_wc"); n != 1 {
		t.Errorf("limit_wc events: %d", n)
	}
	other := e.startEmail("fine@example.com")
	if r := e.otpGrant(webID, webSecret, "email", "fine@example.com", other, nil); r.status != 200 {
		t.Fatalf("another identifier: %d %s", r.status, r.raw)
	}
	// Lifted through the Management API: the code (still outstanding) works.
	if r := e.mgmt("DELETE", "user-blocks?"+url.Values{"identifier": {"bf@example.com"}}.Encode(), e.mgmtToken(""), nil); r.status != 204 {
		t.Fatalf("unblock: %d %s", r.status, r.raw)
	}
	if r := e.otpGrant(webID, webSecret, "email", "bf@example.com", code, nil); r.status != 200 {
		t.Fatalf("after the unblock: %d %s", r.status, r.raw)
	}
}

// TestSuspiciousIPThrottling: failed logins from one IP against any
// identifiers reach the pre-login threshold: that IP is throttled (429,
// limit_mu) until an administrator unblocks it.
func TestSuspiciousIPThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.updateSettings(func(s *store.TenantSettings) {
		sit := store.DefaultSuspiciousIP()
		sit.Stage.PreLogin.MaxAttempts = 3
		s.AttackProtection.SuspiciousIP = &sit
	})
	for i := range 3 {
		email := fmt.Sprintf("sit%d@example.com", i)
		e.startEmail(email)
		e.otpGrant(webID, webSecret, "email", email, "000000x", nil)
	}
	code := e.startEmail("sit-ok@example.com")
	r := e.otpGrant(webID, webSecret, "email", "sit-ok@example.com", code, nil)
	if r.status != 429 || r.str("error") != "too_many_attempts" {
		t.Fatalf("throttled IP: %d %s", r.status, r.raw)
	}
	if n := e.countLogs("type:limit_mu"); n != 1 {
		t.Errorf("limit_mu events: %d", n)
	}
	if r := e.mgmt("GET", "anomaly/blocks/ips/127.0.0.1", e.mgmtToken(""), nil); r.status != 200 {
		t.Fatalf("blocked IP lookup: %d %s", r.status, r.raw)
	}
	if r := e.mgmt("DELETE", "anomaly/blocks/ips/127.0.0.1", e.mgmtToken(""), nil); r.status != 204 {
		t.Fatalf("unblock IP: %d %s", r.status, r.raw)
	}
	if r := e.otpGrant(webID, webSecret, "email", "sit-ok@example.com", code, nil); r.status != 200 {
		t.Fatalf("after the unblock: %d %s", r.status, r.raw)
	}
}

// TestHostedPageStartLimit: the hosted page's code requests count against
// the same per-IP start limit as the API's.
func TestHostedPageStartLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.RateLimits.PasswordlessStart = &store.RateLimit{Burst: 2, Rate: 2, IntervalSeconds: 3600}
	})
	b := e.browser()
	lp := b.get(b.get(authorizeURL(webID, webCallback, "code", nil)).loc.RequestURI())
	for i := range 3 {
		f := lp.hidden()
		f.Set("username", fmt.Sprintf("page%d@example.com", i))
		f.Set("action", "start")
		p := b.do("POST", "/login", f, nil)
		if i < 2 && p.status != 200 {
			t.Fatalf("start %d: %d", i, p.status)
		}
		if i == 2 && (p.status != 400 || len(e.messages("page2@example.com")) != 0) {
			t.Fatalf("start over the limit: %d, %d messages", p.status, len(e.messages("page2@example.com")))
		}
	}
}

// TestRateLimitsThroughSettings: the limits are set with PATCH
// /api/v2/tenants/settings (one limit replaced, the others kept) and take
// effect at once; an invalid one is a 400 that changes nothing.
func TestRateLimitsThroughSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mgmtToken("")
	patch := func(body string) response {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return e.mgmt("PATCH", "tenants/settings", tok, v)
	}
	if r := patch(`{"latchkey":{"rate_limits":{"passwordless_start":{"burst":1,"rate":1,"interval_seconds":3600}}}}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}
	if r := patch(`{"latchkey":{"rate_limits":{"token":{"burst":-1,"rate":1,"interval_seconds":1}}}}`); r.status != 400 ||
		!strings.Contains(string(r.raw), "latchkey.rate_limits.token.burst") {
		t.Fatalf("invalid PATCH: %d %s", r.status, r.raw)
	}
	s, err := e.srv.Store.GetSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rl := s.Latchkey.RateLimits; rl.PasswordlessStart == nil || rl.PasswordlessStart.Burst != 1 ||
		rl.Token == nil || rl.Token.Burst != 100000 {
		t.Fatalf("stored limits: %+v %+v", rl.PasswordlessStart, rl.Token)
	}
	start := func(email string) int {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code", "email": email}, nil).status
	}
	if a, b := start("one@example.com"), start("two@example.com"); a != 200 || b != 429 {
		t.Fatalf("starts under a limit of 1: %d, %d", a, b)
	}
}
