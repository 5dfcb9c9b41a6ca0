package tenant

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func TestCheckSettings(t *testing.T) {
	ok := store.TenantSettings{AllowedLogoutURLs: []string{"https://app.example.com/bye"}}
	bf, sit := store.DefaultBruteForce(), store.DefaultSuspiciousIP()
	ok.AttackProtection = store.AttackProtection{BruteForce: &bf, SuspiciousIP: &sit}
	ok.Latchkey.RateLimits.Token = &store.RateLimit{Burst: 30, Rate: 30, IntervalSeconds: 1}
	ok.Latchkey.RateLimits.Global = &store.RateLimit{} // off
	if err := CheckSettings(ok); err != nil {
		t.Fatalf("valid settings: %v", err)
	}
	for _, tc := range []struct {
		want string
		mod  func(*store.TenantSettings)
	}{
		{"allowed_logout_urls[0]", func(s *store.TenantSettings) { s.AllowedLogoutURLs = []string{"not a url"} }},
		{"latchkey.custom_login_page", func(s *store.TenantSettings) { s.Latchkey.CustomLoginPage = strings.Repeat("x", MaxLoginPage+1) }},
		{"rate_limits.token.burst", func(s *store.TenantSettings) { s.Latchkey.RateLimits.Token = &store.RateLimit{Burst: -1} }},
		{"rate_limits.token.rate", func(s *store.TenantSettings) { s.Latchkey.RateLimits.Token = &store.RateLimit{Burst: 5} }},
		{"rate_limits.userinfo.interval_seconds", func(s *store.TenantSettings) {
			s.Latchkey.RateLimits.Userinfo = &store.RateLimit{Burst: 5, Rate: 5, IntervalSeconds: MaxRateLimitInterval + 1}
		}},
		{"rate_limits.per_recipient.burst", func(s *store.TenantSettings) {
			s.Latchkey.RateLimits.PerRecipient = &store.RateLimit{Burst: MaxRateLimitTokens + 1, Rate: 1, IntervalSeconds: 1}
		}},
		{"brute_force_protection.mode", func(s *store.TenantSettings) { b := bf; b.Mode = "x"; s.AttackProtection.BruteForce = &b }},
		{"brute_force_protection.shields", func(s *store.TenantSettings) {
			b := bf
			b.Shields = []string{"admin_notification"}
			s.AttackProtection.BruteForce = &b
		}},
		{"brute_force_protection.max_attempts", func(s *store.TenantSettings) { b := bf; b.MaxAttempts = 0; s.AttackProtection.BruteForce = &b }},
		{"brute_force_protection.allowlist[0]", func(s *store.TenantSettings) {
			b := bf
			b.Allowlist = []string{"fe80::1%eth0"}
			s.AttackProtection.BruteForce = &b
		}},
		{"suspicious_ip_throttling.stage.pre-login.rate", func(s *store.TenantSettings) {
			x := sit
			x.Stage.PreLogin.Rate = 1
			s.AttackProtection.SuspiciousIP = &x
		}},
		{"suspicious_ip_throttling.allowlist", func(s *store.TenantSettings) {
			x := sit
			x.Allowlist = make([]string, MaxAllowlist+1)
			for i := range x.Allowlist {
				x.Allowlist[i] = "192.0.2.1"
			}
			s.AttackProtection.SuspiciousIP = &x
		}},
	} {
		s := ok
		tc.mod(&s)
		if err := CheckSettings(s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
}
