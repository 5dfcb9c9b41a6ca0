package tenant

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// Auth0's limits on the attack-protection settings (its OpenAPI schemas).
const (
	MaxAllowlist = 100 // entries in an allowlist

	BruteForceMinAttempts, BruteForceMaxAttempts = 1, 100
	PreLoginMinAttempts, PreLoginMaxAttempts     = 1, 2500
	PreLoginMinRate, PreLoginMaxRate             = 34560, 86400000 // milliseconds
	PreSignupMinAttempts, PreSignupMaxAttempts   = 1, 72000
	PreSignupMinRate, PreSignupMaxRate           = 1200, 86400000
)

// The values the attack-protection settings take.
var (
	BruteForceShields = []string{"block", "user_notification"}
	BruteForceModes   = []string{"count_per_identifier_and_ip", "count_per_identifier"}
	SuspiciousShields = []string{"block", "admin_notification"}
)

// Limits on a configured rate limit (RateLimit): a bucket of at most a
// million tokens, refilled over at most 30 days.
const (
	MaxRateLimitTokens   = 1_000_000
	MaxRateLimitInterval = 30 * 24 * 3600
)

// ValidAllowlistEntry reports whether s is an IPv4 or IPv6 address
// (without a zone) or a CIDR block of either.
func ValidAllowlistEntry(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Zone() == ""
}

// CheckSettings checks the parts of the tenant settings that the tenant
// file and the settings document can set beyond the Management API's own
// field checks: logout URLs, the login page, rate limits, branding and
// attack protection. The error names the field.
func CheckSettings(s store.TenantSettings) error {
	for i, u := range s.AllowedLogoutURLs {
		if err := CheckURL(u); err != nil {
			return fmt.Errorf("allowed_logout_urls[%d]: %w", i, err)
		}
	}
	if n := len(s.Latchkey.CustomLoginPage); n > MaxLoginPage {
		return fmt.Errorf("latchkey.custom_login_page: %d bytes, at most %d", n, MaxLoginPage)
	}
	if err := CheckRateLimits(s.Latchkey.RateLimits); err != nil {
		return err
	}
	if err := CheckBranding(s.Branding); err != nil {
		return err
	}
	if err := CheckMembers(s.Latchkey.Members); err != nil {
		return err
	}
	return CheckAttackProtection(s.AttackProtection)
}

// MaxLoginPage bounds a custom login page template.
const MaxLoginPage = 256 << 10

// CheckRateLimits checks the configured rate limits.
func CheckRateLimits(rl store.RateLimits) error {
	for _, l := range []struct {
		name string
		v    *store.RateLimit
	}{{"passwordless_start", rl.PasswordlessStart}, {"token", rl.Token}, {"co_authenticate", rl.CoAuthenticate},
		{"userinfo", rl.Userinfo}, {"global", rl.Global}, {"per_recipient", rl.PerRecipient}} {
		if l.v == nil || l.v.Burst == 0 { // absent: the default; burst 0: off
			continue
		}
		prop := "latchkey.rate_limits." + l.name
		switch {
		case l.v.Burst < 0 || l.v.Burst > MaxRateLimitTokens:
			return fmt.Errorf("%s.burst: %d is outside 0–%d", prop, l.v.Burst, MaxRateLimitTokens)
		case l.v.Rate < 1 || l.v.Rate > MaxRateLimitTokens:
			return fmt.Errorf("%s.rate: %d is outside 1–%d", prop, l.v.Rate, MaxRateLimitTokens)
		case l.v.IntervalSeconds < 1 || l.v.IntervalSeconds > MaxRateLimitInterval:
			return fmt.Errorf("%s.interval_seconds: %d is outside 1–%d", prop, l.v.IntervalSeconds, MaxRateLimitInterval)
		}
	}
	return nil
}

// CheckAttackProtection checks the attack-protection settings against
// Auth0's schema.
func CheckAttackProtection(ap store.AttackProtection) error {
	allowlist := func(prop string, list []string) error {
		if len(list) > MaxAllowlist {
			return fmt.Errorf("%s: more than %d entries", prop, MaxAllowlist)
		}
		for i, e := range list {
			if !ValidAllowlistEntry(e) {
				return fmt.Errorf("%s[%d]: %q is not an IP address or CIDR block", prop, i, e)
			}
		}
		return nil
	}
	within := func(prop string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s: %d is outside %d–%d", prop, v, lo, hi)
		}
		return nil
	}
	if b := ap.BruteForce; b != nil {
		const p = "attack_protection.brute_force_protection"
		if !slices.Contains(BruteForceModes, b.Mode) {
			return fmt.Errorf("%s.mode: %q is not one of %s", p, b.Mode, strings.Join(BruteForceModes, ", "))
		}
		for _, sh := range b.Shields {
			if !slices.Contains(BruteForceShields, sh) {
				return fmt.Errorf("%s.shields: %q is not one of %s", p, sh, strings.Join(BruteForceShields, ", "))
			}
		}
		if err := within(p+".max_attempts", b.MaxAttempts, BruteForceMinAttempts, BruteForceMaxAttempts); err != nil {
			return err
		}
		if err := allowlist(p+".allowlist", b.Allowlist); err != nil {
			return err
		}
	}
	if s := ap.SuspiciousIP; s != nil {
		const p = "attack_protection.suspicious_ip_throttling"
		for _, sh := range s.Shields {
			if !slices.Contains(SuspiciousShields, sh) {
				return fmt.Errorf("%s.shields: %q is not one of %s", p, sh, strings.Join(SuspiciousShields, ", "))
			}
		}
		for _, c := range []struct {
			prop      string
			v, lo, hi int
		}{
			{p + ".stage.pre-login.max_attempts", s.Stage.PreLogin.MaxAttempts, PreLoginMinAttempts, PreLoginMaxAttempts},
			{p + ".stage.pre-login.rate", s.Stage.PreLogin.Rate, PreLoginMinRate, PreLoginMaxRate},
			{p + ".stage.pre-user-registration.max_attempts", s.Stage.PreUserRegistration.MaxAttempts, PreSignupMinAttempts, PreSignupMaxAttempts},
			{p + ".stage.pre-user-registration.rate", s.Stage.PreUserRegistration.Rate, PreSignupMinRate, PreSignupMaxRate},
		} {
			if err := within(c.prop, c.v, c.lo, c.hi); err != nil {
				return err
			}
		}
		if err := allowlist(p+".allowlist", s.Allowlist); err != nil {
			return err
		}
	}
	return nil
}
