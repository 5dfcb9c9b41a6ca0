package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// enumEnv is a node in enumeration-safe mode with one existing user,
// known@example.com, on the email connection; signup is set as disable
// says.
func enumEnv(t testing.TB, disable bool, settings func(*store.TenantSettings)) *env {
	e := newEnv(t)
	code := e.startEmail("known@example.com")
	if r := e.otpGrant(webID, webSecret, "email", "known@example.com", code, nil); r.status != 200 {
		t.Fatalf("sign up known@example.com: %d %s", r.status, r.raw)
	}
	ctx := t.Context()
	conn, err := e.srv.Store.GetConnectionByName(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	conn.Options.DisableSignup = disable
	if err := e.srv.Store.UpdateConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.EnumerationSafeSignup = true
		settings(s)
	})
	return e
}

// shape is what an answer shows a client, less what differs by nature
// between two requests (the date, the request id, and the state of the
// endpoint limit, which counts the caller's address, not the one asked
// for), the identity id (24 hex, whichever the address) and the address
// itself.
func shape(r response) string {
	var names []string
	for k := range r.header {
		switch k {
		case "Date", "X-Request-Id", "X-Ratelimit-Reset", "X-Ratelimit-Remaining", "Content-Length":
			continue
		}
		names = append(names, k+"="+strings.Join(r.header[k], ","))
	}
	sort.Strings(names)
	body := regexp.MustCompile(`"_id":"[0-9a-f]{24}"`).ReplaceAllString(string(r.raw), `"_id":"<24 hex>"`)
	body = regexp.MustCompile(`"email":"[^"]*"`).ReplaceAllString(body, `"email":"<the address>"`)
	return fmt.Sprintf("%d %s %s", r.status, body, strings.Join(names, " "))
}

// TestEnumerationSafeAlike: with enumeration_safe_signup on, the answers of
// /passwordless/start and of the passwordless grant, statuses, bodies,
// headers and limits, are the same for an existing and for an unknown
// address: the per-recipient cap and the signup throttle count both, and a
// start for an address that gets nothing stores a code nobody holds, so
// that wrong guesses run out its attempts as they would a real code's.
func TestEnumerationSafeAlike(t *testing.T) {
	t.Parallel()
	start := func(e *env, email string) response {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": email}, nil)
	}
	alike := func(t *testing.T, what string, known, unknown []string) {
		t.Helper()
		if !slices.Equal(known, unknown) {
			t.Errorf("%s: an existing and an unknown address answer differently\nexisting:\n  %s\nunknown:\n  %s",
				what, strings.Join(known, "\n  "), strings.Join(unknown, "\n  "))
		}
	}
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disable_signup=%v", disable), func(t *testing.T) {
			t.Run("per-recipient cap", func(t *testing.T) {
				e := enumEnv(t, disable, func(s *store.TenantSettings) {
					s.Latchkey.RateLimits.PerRecipient = &store.RateLimit{Burst: 3, Rate: 3, IntervalSeconds: 3600}
				})
				var known, unknown []string
				for range 5 {
					known = append(known, shape(start(e, "known@example.com")))
					unknown = append(unknown, shape(start(e, "unknown@example.com")))
				}
				alike(t, "starts", known, unknown)
				if !strings.HasPrefix(known[3], "429 ") || !strings.Contains(known[3], "Retry-After=") {
					t.Errorf("the cap of 3 did not refuse the 4th start (with Retry-After): %s", known[3])
				}
			})
			t.Run("signup throttle", func(t *testing.T) {
				e := enumEnv(t, disable, func(s *store.TenantSettings) {
					s.AttackProtection.SuspiciousIP = &store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"},
						Stage: store.SITStages{PreLogin: store.SITStage{MaxAttempts: 100, Rate: 1000},
							PreUserRegistration: store.SITStage{MaxAttempts: 3, Rate: 3_600_000}}}
				})
				seq := func(email string) []string {
					var out []string
					for range 5 {
						out = append(out, shape(start(e, email)))
					}
					// The next address starts from a fresh count.
					if err := e.srv.Guard.UnblockIP(t.Context(), "127.0.0.1"); err != nil {
						t.Fatal(err)
					}
					return out
				}
				known, unknown := seq("known@example.com"), seq("unknown@example.com")
				alike(t, "starts", known, unknown)
				if !strings.HasPrefix(known[3], "429 ") {
					t.Errorf("the signup throttle of 3 did not refuse the 4th start: %s", known[3])
				}
			})
			t.Run("wrong codes", func(t *testing.T) {
				e := enumEnv(t, disable, func(*store.TenantSettings) {})
				seq := func(email string) []string {
					if r := start(e, email); r.status != 200 {
						t.Fatalf("start %s: %d %s", email, r.status, r.raw)
					}
					var out []string
					for range 4 {
						out = append(out, shape(e.otpGrant(webID, webSecret, "email", email, "000000", nil)))
					}
					return out
				}
				known, unknown := seq("known@example.com"), seq("unknown@example.com")
				alike(t, "wrong codes", known, unknown)
				if !strings.Contains(known[3], "maximum number of attempts") {
					t.Errorf("the 4th wrong code did not find the code used up: %s", known[3])
				}
			})
		})
	}
}

// BenchmarkEnumerationTiming measures, with enumeration_safe_signup on and
// signup disabled, the median latency of /passwordless/start and of a
// wrong code at the passwordless grant for an existing and for an unknown
// address, taken in alternation (b.N tries each; run with -benchtime=1000x
// for the goal's 1,000), and reports both medians and their difference in
// microseconds. The goal is a difference under 100 µs.
func BenchmarkEnumerationTiming(b *testing.B) {
	e := enumEnv(b, true, func(s *store.TenantSettings) {
		// No limit or block may get in the way of thousands of tries
		// from one address.
		s.AttackProtection.SuspiciousIP = &store.SuspiciousIPThrottling{Enabled: false}
		s.AttackProtection.BruteForce = &store.BruteForceProtection{Enabled: false}
	})
	start := func(email string) time.Duration {
		t0 := time.Now()
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": email}, nil)
		d := time.Since(t0)
		if r.status != 200 {
			b.Fatalf("start %s: %d %s", email, r.status, r.raw)
		}
		// The delivery a start sets off is observable by nature (its
		// message arrives); it must not slow the next request measured.
		e.delivered()
		return d
	}
	guess := func(email string) time.Duration {
		t0 := time.Now()
		r := e.otpGrant(webID, webSecret, "email", email, "000000", nil)
		d := time.Since(t0)
		if r.status != http.StatusForbidden || !strings.Contains(r.str("error_description"), "Wrong email") {
			b.Fatalf("guess %s: %d %s", email, r.status, r.raw)
		}
		return d
	}
	var sk, su, gk, gu []time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always follows the other.
		if i%2 == 0 {
			sk, su = append(sk, start("known@example.com")), append(su, start("unknown@example.com"))
			gk, gu = append(gk, guess("known@example.com")), append(gu, guess("unknown@example.com"))
		} else {
			su, sk = append(su, start("unknown@example.com")), append(sk, start("known@example.com"))
			gu, gk = append(gu, guess("unknown@example.com")), append(gk, guess("known@example.com"))
		}
	}
	report := func(name string, known, unknown []time.Duration) {
		mk, mu := median(known), median(unknown)
		b.ReportMetric(float64(mk.Nanoseconds())/1e3, name+"-existing-median-µs")
		b.ReportMetric(float64(mu.Nanoseconds())/1e3, name+"-unknown-median-µs")
		b.ReportMetric(float64((mk-mu).Nanoseconds())/1e3, name+"-diff-µs")
	}
	report("start", sk, su)
	report("wrong-code", gk, gu)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
