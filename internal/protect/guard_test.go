package protect

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/ratelimit/ratelimittest"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// The Guard's rules are tested on a real in-memory limiter with an
// injected clock; the fakes below stand in for its other consumer
// interfaces (Settings, Blocks, Events, Metrics) and for a limiter whose
// backend is down.

type mutableSettings struct {
	mu sync.Mutex
	s  store.TenantSettings
}

func (m *mutableSettings) Settings(context.Context) (store.TenantSettings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s, nil
}

// fakeBlocks keeps ephemeral records as the storage contract does.
type fakeBlocks struct {
	mu   sync.Mutex
	recs map[string]store.Ephemeral
}

func (b *fakeBlocks) PutEphemeral(_ context.Context, e store.Ephemeral) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := e.Kind + "/" + hex.EncodeToString(e.Hash)
	if _, ok := b.recs[k]; ok {
		return store.ErrConflict
	}
	b.recs[k] = e
	return nil
}

func (b *fakeBlocks) GetEphemeral(_ context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.recs[kind+"/"+hex.EncodeToString(hash)]
	if !ok || !now.Before(e.ExpiresAt) {
		return store.Ephemeral{}, store.ErrNotFound
	}
	return e, nil
}

func (b *fakeBlocks) ListEphemeralsBySubject(_ context.Context, kind, subject string, now time.Time) ([]store.Ephemeral, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []store.Ephemeral
	for _, e := range b.recs {
		if e.Kind == kind && e.Subject == subject && now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *fakeBlocks) DeleteEphemeralsBySubject(_ context.Context, kind, subject string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for k, e := range b.recs {
		if e.Kind == kind && e.Subject == subject {
			delete(b.recs, k)
			n++
		}
	}
	return n, nil
}

func (b *fakeBlocks) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}

type recorder struct {
	mu      sync.Mutex
	events  []store.LogEvent
	refused []string
}

func (r *recorder) Record(_ context.Context, ev store.LogEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Refused(limit string) {
	r.mu.Lock()
	r.refused = append(r.refused, limit)
	r.mu.Unlock()
}

// types returns "type description" of each event.
func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Type+" "+ev.Description)
	}
	return out
}

func (r *recorder) refusals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refused)
}

// downLimiter is a backend that does not answer.
type downLimiter struct{}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (downLimiter) Take(context.Context, string, ratelimit.Limit, int) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errDown
}

func (downLimiter) Peek(context.Context, string, ratelimit.Limit) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errDown
}

func (downLimiter) Reset(context.Context, string) error { return errDown }

func (downLimiter) TakeAll(context.Context, []ratelimit.Op) ([]ratelimit.Decision, error) {
	return nil, errDown
}

// downLimiters are the two ways the counters can be out of reach: the
// backend's own error, and Resilient's policy answer in front of it.
var downLimiters = []struct {
	name string
	lim  func(now func() time.Time) Limiter
}{
	{"backend error", func(func() time.Time) Limiter { return downLimiter{} }},
	{"resilient", func(now func() time.Time) Limiter {
		return ratelimit.NewResilient(downLimiter{}, time.Second, now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}},
}

// takeDown counts on Limiter but fails every Take (of the keys containing
// only, when it is set), as a backend that goes away between a Peek and
// the Take after it: with an error (raw), or with Resilient's answers (fail
// closed: unavailable; fail open: allowed).
type takeDown struct {
	Limiter
	raw   bool
	only  string
	takes int
}

func (l *takeDown) Take(ctx context.Context, key string, lim ratelimit.Limit, n int) (ratelimit.Decision, error) {
	l.takes++
	switch {
	case l.only != "" && !strings.Contains(key, l.only):
		return l.Limiter.Take(ctx, key, lim, n)
	case l.raw:
		return ratelimit.Decision{}, errDown
	case lim.FailClosed:
		return ratelimit.Decision{Limit: lim.Burst, RetryAfter: time.Second, Unavailable: true}, nil
	}
	return ratelimit.Decision{Allowed: true, Limit: lim.Burst, Remaining: lim.Burst}, nil
}

func (l *takeDown) TakeAll(ctx context.Context, ops []ratelimit.Op) ([]ratelimit.Decision, error) {
	hit := false
	for _, op := range ops {
		hit = hit || (op.N > 0 && (l.only == "" || strings.Contains(op.Key, l.only)))
	}
	if !hit {
		return l.Limiter.TakeAll(ctx, ops)
	}
	l.takes++
	if l.raw {
		return nil, errDown
	}
	ds := make([]ratelimit.Decision, len(ops))
	for i, op := range ops {
		ds[i] = ratelimit.Decision{Allowed: true, Limit: op.Limit.Burst, Remaining: op.Limit.Burst}
		if op.Limit.FailClosed {
			ds[i] = ratelimit.Decision{Limit: op.Limit.Burst, RetryAfter: time.Second, Unavailable: true}
		}
	}
	return ds, nil
}

type fixture struct {
	g        *Guard
	clock    *ratelimittest.Clock
	settings *mutableSettings
	blocks   *fakeBlocks
	rec      *recorder
}

// newFixture returns a Guard with Auth0's default attack protection on a
// fresh memory limiter, or on the limiter lim returns for the fixture's
// clock when lim is given.
func newFixture(t *testing.T, lim func(now func() time.Time) Limiter) *fixture {
	t.Helper()
	keys, err := secret.New(make([]byte, secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: ratelimittest.NewClock(ratelimittest.T0), settings: &mutableSettings{},
		blocks: &fakeBlocks{recs: map[string]store.Ephemeral{}}, rec: &recorder{}}
	if lim == nil {
		lim = func(now func() time.Time) Limiter { return ratelimit.NewMemory(now) }
	}
	f.g = New(Deps{Limiter: lim(f.clock.Now), Settings: f.settings, Blocks: f.blocks, Keys: keys, Events: f.rec, Metrics: f.rec,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Hostname: "login.example.com", Now: f.clock.Now})
	return f
}

func (f *fixture) set(change func(*store.TenantSettings)) {
	f.settings.mu.Lock()
	change(&f.settings.s)
	f.settings.mu.Unlock()
}

var emailConn = store.Connection{Name: "email", Strategy: "email", Options: store.ConnectionOptions{BruteForceProtection: true}}

// TestEndpointLimits: each endpoint limit allows its burst per key, then
// refuses with ErrLimited (an api_limit event and a counted refusal), and
// refills at its rate; keys and limits do not share buckets; the global
// limit is off unless configured; the tenant's setting replaces a default.
func TestEndpointLimits(t *testing.T) {
	tests := []struct {
		name     string
		limit    string
		set      func(*store.RateLimits)
		burst    int
		interval time.Duration // one token back (to the millisecond, rounded up)
	}{
		{"passwordless start", PasswordlessStart, nil, 50, time.Hour / 50},
		{"token", Token, nil, 30, 34 * time.Millisecond},
		{"co/authenticate", CoAuthenticate, nil, 5, time.Second / 5},
		{"userinfo", Userinfo, nil, 10, time.Minute / 5},
		{"configured token", Token, func(r *store.RateLimits) { r.Token = &store.RateLimit{Burst: 3, Rate: 1, IntervalSeconds: 60} }, 3, time.Minute},
		{"configured global", Global, func(r *store.RateLimits) { r.Global = &store.RateLimit{Burst: 4, Rate: 4, IntervalSeconds: 1} }, 4, time.Second / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil)
			if tt.set != nil {
				f.set(func(s *store.TenantSettings) { tt.set(&s.Latchkey.RateLimits) })
			}
			ev := store.LogEvent{ClientID: "app1", IP: "203.0.113.7"}
			for i := range tt.burst {
				d, limited, err := f.g.Allow(ctx, ev, Endpoint{tt.limit, "203.0.113.7"})
				if err != nil || !limited || !d.Allowed || d.Limit != tt.burst || d.Remaining != tt.burst-1-i {
					t.Fatalf("request %d: %+v limited=%v %v", i, d, limited, err)
				}
			}
			d, limited, err := f.g.Allow(ctx, ev, Endpoint{tt.limit, "203.0.113.7"})
			if !errors.Is(err, ErrLimited) || !limited || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > tt.interval {
				t.Fatalf("over the burst: %+v limited=%v %v", d, limited, err)
			}
			if got := f.rec.refusals(); !slices.Equal(got, []string{tt.limit}) {
				t.Errorf("refusals %v", got)
			}
			if len(f.rec.events) != 1 {
				t.Fatalf("events %v", f.rec.types())
			}
			e := f.rec.events[0]
			var details struct {
				Limit struct {
					Bucket string `json:"bucket"`
					Global bool   `json:"global"`
					Size   int    `json:"size"`
				} `json:"limit"`
			}
			if err := json.Unmarshal(e.Details, &details); err != nil {
				t.Fatal(err)
			}
			if e.Type != "api_limit" || e.Description != "Rate limit exceeded" || e.ClientID != "app1" || e.Hostname != "login.example.com" ||
				details.Limit.Bucket != tt.limit || details.Limit.Global != (tt.limit == Global) || details.Limit.Size != tt.burst {
				t.Errorf("event %+v %+v", e, details)
			}
			// Another key, and another limit on the same key, are untouched.
			if _, _, err := f.g.Allow(ctx, ev, Endpoint{tt.limit, "203.0.113.8"}); err != nil {
				t.Errorf("another key: %v", err)
			}
			other := map[string]string{Token: Userinfo}[tt.limit]
			if other == "" {
				other = Token
			}
			if _, _, err := f.g.Allow(ctx, ev, Endpoint{other, "203.0.113.7"}); err != nil {
				t.Errorf("another limit on the same key: %v", err)
			}
			// One token comes back after its interval, not before.
			f.clock.Advance(tt.interval - time.Millisecond)
			if _, _, err := f.g.Allow(ctx, ev, Endpoint{tt.limit, "203.0.113.7"}); !errors.Is(err, ErrLimited) {
				t.Errorf("just before the refill: %v", err)
			}
			f.clock.Advance(time.Millisecond)
			if _, _, err := f.g.Allow(ctx, ev, Endpoint{tt.limit, "203.0.113.7"}); err != nil {
				t.Errorf("after the refill: %v", err)
			}
		})
	}
}

// TestGlobalLimitOffByDefault: without configuration the global limit
// neither counts nor refuses.
func TestGlobalLimitOffByDefault(t *testing.T) {
	lim := &takeDown{raw: true}
	f := newFixture(t, func(func() time.Time) Limiter { return lim })
	f.set(func(s *store.TenantSettings) { s.Latchkey.RateLimits.Token = &store.RateLimit{} }) // a zero limit is off too
	for i := range 1000 {
		for _, name := range []string{Global, Token} {
			if d, limited, err := f.g.Allow(context.Background(), store.LogEvent{}, Endpoint{name, "all"}); err != nil || limited {
				t.Fatalf("%s request %d: %+v limited=%v %v", name, i, d, limited, err)
			}
		}
	}
	if lim.takes != 0 {
		t.Errorf("a limit that is off reached the counters %d times", lim.takes)
	}
}

// TestTrafficLimitsFailOpen: endpoint and email recipient limits let
// requests through when the counters cannot be reached (a raw backend
// error, or Resilient's fail-open answer); the SMS budgets, an attack
// defence, fail closed.
func TestTrafficLimitsFailOpen(t *testing.T) {
	for _, tt := range downLimiters {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, tt.lim)
			for range 3 {
				if _, _, err := f.g.Allow(ctx, store.LogEvent{}, Endpoint{CoAuthenticate, "203.0.113.7"}); err != nil {
					t.Fatalf("Allow with the counters down: %v", err)
				}
				if err := f.g.AllowRecipient(ctx, emailConn, "ana@example.com", store.LogEvent{}); err != nil {
					t.Fatalf("AllowRecipient(email) with the counters down: %v", err)
				}
			}
			sms := store.Connection{Name: "sms", Strategy: "sms"}
			if err := f.g.AllowRecipient(ctx, sms, "+14155552671", store.LogEvent{}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("AllowRecipient(sms) with the counters down: %v, want ErrUnavailable", err)
			}
			if len(f.rec.events) != 0 || len(f.rec.refusals()) != 0 {
				t.Errorf("an outage was logged as refusals: %v %v", f.rec.types(), f.rec.refusals())
			}
		})
	}
}

// TestSMSBudgetTakeFailsClosed: when the counters fail between the
// block's Peek and the number's Take, the SMS budget refuses as
// unavailable, without blaming the recipient; an email recipient's limit
// lets the code go.
func TestSMSBudgetTakeFailsClosed(t *testing.T) {
	for _, tt := range []struct {
		raw  bool
		only string
	}{{true, ""}, {false, ""}, {true, PerRecipient}, {false, PerRecipient}} {
		t.Run(fmt.Sprintf("raw=%v only=%q", tt.raw, tt.only), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, func(now func() time.Time) Limiter {
				return &takeDown{Limiter: ratelimit.NewMemory(now), raw: tt.raw, only: tt.only}
			})
			if err := f.g.AllowRecipient(ctx, store.Connection{Name: "sms", Strategy: "sms"}, "+14155552671", store.LogEvent{}); !errors.Is(err, ErrUnavailable) {
				t.Errorf("sms: %v, want ErrUnavailable", err)
			}
			if err := f.g.AllowRecipient(ctx, emailConn, "ana@example.com", store.LogEvent{}); err != nil {
				t.Errorf("email: %v", err)
			}
			if len(f.rec.events) != 0 || len(f.rec.refusals()) != 0 {
				t.Errorf("an outage was logged as refusals: %v %v", f.rec.types(), f.rec.refusals())
			}
		})
	}
}

// TestRecipientRefusalEvents: refusals of a recipient's budgets say which
// budget in the api_limit event, and are counted by name.
func TestRecipientRefusalEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	for range DefaultSMSPerNumber {
		if err := f.g.AllowRecipient(ctx, store.Connection{Name: "sms", Strategy: "sms"}, "+14155552671", store.LogEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.g.AllowRecipient(ctx, store.Connection{Name: "sms", Strategy: "sms"}, "+14155552671", store.LogEvent{}); !errors.Is(err, ErrLimited) {
		t.Fatalf("number over its default budget: %v", err)
	}
	sms := store.Connection{Name: "sms2", Strategy: "sms", Options: store.ConnectionOptions{SMSBudget: &store.SMSBudget{PerBlockPerHour: 2}}}
	for i, want := range []error{nil, nil, ErrLimited} {
		if err := f.g.AllowRecipient(ctx, sms, fmt.Sprintf("+1415555267%d", i), store.LogEvent{}); !errors.Is(err, want) && err != want {
			t.Fatalf("block step %d: %v", i, err)
		}
	}
	for range 10 {
		if err := f.g.AllowRecipient(ctx, emailConn, "ana@example.com", store.LogEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.g.AllowRecipient(ctx, emailConn, "ana@example.com", store.LogEvent{}); !errors.Is(err, ErrLimited) {
		t.Fatalf("email over the default per-recipient limit: %v", err)
	}
	want := []string{"api_limit Too many codes sent to one recipient", "api_limit Too many codes sent to one range of phone numbers",
		"api_limit Too many codes sent to one recipient"}
	if got := f.rec.types(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if got := f.rec.refusals(); !slices.Equal(got, []string{PerRecipient, smsBlock, PerRecipient}) {
		t.Errorf("refusals %v", got)
	}
}

// TestBruteForce: failed attempts are counted per identifier and IP (or
// per identifier); at the threshold the IP is blocked for the identifier
// with one limit_wc event and a block record; allow-listed IPs,
// connections without protection, disabled protection and a missing block
// shield never block.
func TestBruteForce(t *testing.T) {
	const other = "198.51.100.9"
	tests := []struct {
		name         string
		bf           *store.BruteForceProtection
		conn         store.Connection
		ip           string
		failures     int
		blocked      bool // ip, for the identifier
		otherBlocked bool // another IP, for the identifier
	}{
		{"default: 10 per identifier and IP", nil, emailConn, "203.0.113.7", 10, true, false},
		{"default: 9 are not enough", nil, emailConn, "203.0.113.7", 9, false, false},
		{"max_attempts 0 means 10", &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, MaxAttempts: 0},
			emailConn, "203.0.113.7", 10, true, false},
		{"3 per identifier", &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, Mode: "count_per_identifier", MaxAttempts: 3},
			emailConn, "203.0.113.7", 3, true, true},
		{"allow-listed IP", &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, Allowlist: []string{"203.0.113.0/24"}, MaxAttempts: 3},
			emailConn, "203.0.113.7", 20, false, false},
		{"connection without protection", nil, store.Connection{Name: "email"}, "203.0.113.7", 20, false, false},
		{"disabled", &store.BruteForceProtection{Enabled: false, Shields: []string{"block"}, MaxAttempts: 3}, emailConn, "203.0.113.7", 20, false, false},
		{"no block shield", &store.BruteForceProtection{Enabled: true, Shields: []string{"user_notification"}, MaxAttempts: 3},
			emailConn, "203.0.113.7", 20, false, false},
		{"IPv6: one /64", &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, MaxAttempts: 3},
			emailConn, "2001:db8:1:2::7", 3, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil)
			f.set(func(s *store.TenantSettings) { s.AttackProtection.BruteForce = tt.bf })
			ev := store.LogEvent{ClientID: "app1", Connection: "email", UserName: "ana@example.com", IP: tt.ip}
			for i := range tt.failures {
				if err := f.g.BeforeAttempt(ctx, tt.conn, "ana@example.com", tt.ip); err != nil {
					t.Fatalf("before failure %d: %v", i, err)
				}
				f.g.AfterFailure(ctx, tt.conn, "ana@example.com", tt.ip, ev)
			}
			blocked := func(ident, ip string) bool {
				err := f.g.BeforeAttempt(ctx, tt.conn, ident, ip)
				if err != nil && !errors.Is(err, ErrBlocked) {
					t.Fatalf("BeforeAttempt(%s, %s): %v", ident, ip, err)
				}
				return err != nil
			}
			sameNet := tt.ip
			if tt.ip == "2001:db8:1:2::7" {
				sameNet = "2001:db8:1:2:ffff::1" // another address of the /64
			}
			if got := blocked("ana@example.com", sameNet); got != tt.blocked {
				t.Errorf("blocked from %s: %v, want %v", sameNet, got, tt.blocked)
			}
			if got := blocked("ana@example.com", other); got != tt.otherBlocked {
				t.Errorf("blocked from another IP: %v, want %v", got, tt.otherBlocked)
			}
			if blocked("bob@example.com", tt.ip) {
				t.Errorf("another identifier is blocked")
			}
			var wantEvents []string
			wantRecords := 0
			if tt.blocked {
				n := 10
				if tt.bf != nil && tt.bf.MaxAttempts > 0 {
					n = tt.bf.MaxAttempts
				}
				wantEvents = []string{fmt.Sprintf("limit_wc An IP was blocked for %d failed login attempts to one account", n)}
				wantRecords = 1
			}
			var bfEvents []string
			for _, e := range f.rec.types() {
				if strings.HasPrefix(e, "limit_wc ") {
					bfEvents = append(bfEvents, e)
				}
			}
			if !slices.Equal(bfEvents, wantEvents) || f.blocks.len() != wantRecords {
				t.Errorf("events %q records %d, want %q and %d", bfEvents, f.blocks.len(), wantEvents, wantRecords)
			}
			if tt.blocked && !slices.Contains(f.rec.refusals(), BruteForce) {
				t.Errorf("refusals %v", f.rec.refusals())
			}
		})
	}
}

// block blocks ip for ana@example.com with the given brute-force settings.
func (f *fixture) block(t *testing.T, ip string, max int) {
	t.Helper()
	f.set(func(s *store.TenantSettings) {
		s.AttackProtection.BruteForce = &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, MaxAttempts: max}
	})
	for range max {
		f.g.AfterFailure(context.Background(), emailConn, "ana@example.com", ip, store.LogEvent{})
	}
	if err := f.g.BeforeAttempt(context.Background(), emailConn, "ana@example.com", ip); !errors.Is(err, ErrBlocked) {
		t.Fatalf("not blocked after %d failures: %v", max, err)
	}
}

// TestBlockLasts: a block lasts BlockLifetime from when it began, although
// its counter refills a guess at a time meanwhile.
func TestBlockLasts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.block(t, "203.0.113.7", 3)
	f.clock.Advance(BlockLifetime / 3) // one guess back in the counter
	if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("a third into the block: %v", err)
	}
	f.clock.Advance(BlockLifetime - BlockLifetime/3)
	if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); err != nil {
		t.Fatalf("after the block's lifetime: %v", err)
	}
}

// TestConnectionProtectionOff: a connection whose brute-force protection
// is switched off no longer enforces the blocks counted while it was on.
func TestConnectionProtectionOff(t *testing.T) {
	f := newFixture(t, nil)
	f.block(t, "203.0.113.7", 3)
	off := emailConn
	off.Options.BruteForceProtection = false
	if err := f.g.BeforeAttempt(context.Background(), off, "ana@example.com", "203.0.113.7"); err != nil {
		t.Errorf("protection off: %v", err)
	}
}

// TestSuccessResetsCount: a successful login forgets the failed attempts
// (Auth0), so failures before it do not add to those after.
func TestSuccessResetsCount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.set(func(s *store.TenantSettings) {
		s.AttackProtection.BruteForce = &store.BruteForceProtection{Enabled: true, Shields: []string{"block"}, MaxAttempts: 3}
	})
	fail := func(n int) {
		for range n {
			f.g.AfterFailure(ctx, emailConn, "ana@example.com", "203.0.113.7", store.LogEvent{})
		}
	}
	fail(2)
	f.g.AfterSuccess(ctx, emailConn, "ana@example.com", "203.0.113.7")
	fail(2)
	if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); err != nil {
		t.Fatalf("2 + 2 failures around a success: %v", err)
	}
	fail(1)
	if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("3 failures since the success: %v", err)
	}
}

// TestBlocksAndUnblock: administrators list an identifier's blocks (any
// case) and lift them all; a block whose counter was reset is not listed.
func TestBlocksAndUnblock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.block(t, "203.0.113.7", 3)
	f.block(t, "198.51.100.9", 3)
	got, err := f.g.Blocks(ctx, "ANA@example.com")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b store.Block) int { return len(a.IP) - len(b.IP) })
	want := []store.Block{{Identifier: "ana@example.com", IP: "203.0.113.7", Connection: "email"}, {Identifier: "ana@example.com", IP: "198.51.100.9", Connection: "email"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Blocks = %v, want %v", got, want)
	}
	if got, _ := f.g.Blocks(ctx, "bob@example.com"); len(got) != 0 {
		t.Errorf("bob's blocks: %v", got)
	}
	// An identifier blocked in another case is listed under any case.
	for range 3 {
		f.g.AfterFailure(ctx, emailConn, "Carol@Example.com", "203.0.113.7", store.LogEvent{})
	}
	if got, _ := f.g.Blocks(ctx, "carol@example.com"); len(got) != 1 || got[0].Identifier != "Carol@Example.com" {
		t.Errorf("carol's blocks: %v", got)
	}
	// A success from one IP resets its counter: that block is no longer listed.
	f.g.AfterSuccess(ctx, emailConn, "ana@example.com", "198.51.100.9")
	if got, _ := f.g.Blocks(ctx, "ana@example.com"); !slices.Equal(got, want[:1]) {
		t.Errorf("after a reset: %v, want %v", got, want[:1])
	}
	if err := f.g.Unblock(ctx, "Ana@Example.com"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.g.Blocks(ctx, "ana@example.com"); len(got) != 0 || f.blocks.len() != 1 {
		t.Errorf("after Unblock: %v, %d records (want carol's only)", got, f.blocks.len())
	}
	for _, ip := range []string{"203.0.113.7", "198.51.100.9"} {
		if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", ip); err != nil {
			t.Errorf("after Unblock, from %s: %v", ip, err)
		}
	}
}

// TestSuspiciousIPSignups: signups per IP are throttled at the
// pre-user-registration stage (limit_mu once, then ErrSuspiciousIP);
// allow-listed IPs and disabled throttling are not.
func TestSuspiciousIPSignups(t *testing.T) {
	stage := store.SITStages{PreLogin: store.SITStage{MaxAttempts: 100, Rate: 1000}, PreUserRegistration: store.SITStage{MaxAttempts: 3, Rate: 60_000}}
	tests := []struct {
		name    string
		sit     store.SuspiciousIPThrottling
		ips     []string // one signup each, in turn
		limited bool     // the next signup from ips[0]'s network
	}{
		{"3 then throttled", store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"}, Stage: stage},
			[]string{"203.0.113.7", "203.0.113.7", "203.0.113.7"}, true},
		{"IPv6 counted by /64", store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"}, Stage: stage},
			[]string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}, true},
		{"other IPs do not count", store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"}, Stage: stage},
			[]string{"203.0.113.7", "203.0.113.8", "203.0.113.9"}, false},
		{"allow-listed", store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"}, Allowlist: []string{"203.0.113.7"}, Stage: stage},
			[]string{"203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.7"}, false},
		{"disabled", store.SuspiciousIPThrottling{Enabled: false, Shields: []string{"block"}, Stage: stage},
			[]string{"203.0.113.7", "203.0.113.7", "203.0.113.7"}, false},
		{"no block shield", store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"admin_notification"}, Stage: stage},
			[]string{"203.0.113.7", "203.0.113.7", "203.0.113.7"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil)
			f.set(func(s *store.TenantSettings) { s.AttackProtection.SuspiciousIP = &tt.sit })
			for i, ip := range tt.ips {
				if err := f.g.BeforeSignup(ctx, ip, store.LogEvent{IP: ip}); err != nil {
					t.Fatalf("signup %d from %s: %v", i, ip, err)
				}
			}
			next := tt.ips[0]
			if next == "2001:db8::1" {
				next = "2001:db8::4"
			}
			err := f.g.BeforeSignup(ctx, next, store.LogEvent{IP: next})
			if got := errors.Is(err, ErrSuspiciousIP); got != tt.limited || (!tt.limited && err != nil) {
				t.Fatalf("next signup: %v, want limited %v", err, tt.limited)
			}
			var wantEvents, wantRefusals []string
			if tt.limited {
				wantEvents = []string{"limit_mu An IP was blocked for too many signups"}
				wantRefusals = []string{SuspiciousIPSignup}
			}
			if got := f.rec.types(); !slices.Equal(got, wantEvents) {
				t.Errorf("events %q, want %q", got, wantEvents)
			}
			if got := f.rec.refusals(); !slices.Equal(got, wantRefusals) {
				t.Errorf("refusals %q, want %q", got, wantRefusals)
			}
			if tt.limited {
				if blocked, err := f.g.IPBlocked(ctx, next); err != nil || !blocked {
					t.Errorf("IPBlocked: %v %v", blocked, err)
				}
				// One signup comes back per Rate.
				f.clock.Advance(time.Minute)
				if err := f.g.BeforeSignup(ctx, next, store.LogEvent{}); err != nil {
					t.Errorf("a minute later: %v", err)
				}
			}
		})
	}
}

// TestSuspiciousIPLogins: failed logins per IP, whatever the identifier,
// are throttled at the pre-login stage; an administrator lifts it.
func TestSuspiciousIPLogins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.set(func(s *store.TenantSettings) {
		s.AttackProtection.SuspiciousIP = &store.SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"},
			Stage: store.SITStages{PreLogin: store.SITStage{MaxAttempts: 3, Rate: 60_000}, PreUserRegistration: store.SITStage{MaxAttempts: 50, Rate: 1000}}}
	})
	conn := store.Connection{Name: "email", Strategy: "email"} // no brute-force protection: only the IP counts
	for i := range 3 {
		ident := fmt.Sprintf("user%d@example.com", i)
		if err := f.g.BeforeAttempt(ctx, conn, ident, "203.0.113.7"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		f.g.AfterFailure(ctx, conn, ident, "203.0.113.7", store.LogEvent{IP: "203.0.113.7"})
	}
	if err := f.g.BeforeAttempt(ctx, conn, "new@example.com", "203.0.113.7"); !errors.Is(err, ErrSuspiciousIP) {
		t.Fatalf("after 3 failures: %v, want ErrSuspiciousIP", err)
	}
	if err := f.g.BeforeAttempt(ctx, conn, "new@example.com", "203.0.113.8"); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	if got := f.rec.types(); !slices.Equal(got, []string{"limit_mu An IP was blocked for too many failed logins"}) {
		t.Errorf("events %q", got)
	}
	if got := f.rec.refusals(); !slices.Equal(got, []string{SuspiciousIPLogin}) {
		t.Errorf("refusals %q", got)
	}
	if blocked, err := f.g.IPBlocked(ctx, "203.0.113.7"); err != nil || !blocked {
		t.Fatalf("IPBlocked: %v %v", blocked, err)
	}
	if blocked, err := f.g.IPBlocked(ctx, "203.0.113.8"); err != nil || blocked {
		t.Fatalf("IPBlocked(another): %v %v", blocked, err)
	}
	if err := f.g.UnblockIP(ctx, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	if blocked, _ := f.g.IPBlocked(ctx, "203.0.113.7"); blocked {
		t.Errorf("IPBlocked after UnblockIP")
	}
	if err := f.g.BeforeAttempt(ctx, conn, "new@example.com", "203.0.113.7"); err != nil {
		t.Errorf("after UnblockIP: %v", err)
	}
	// Allow-listed IPs are neither counted nor blocked.
	f.set(func(s *store.TenantSettings) { s.AttackProtection.SuspiciousIP.Allowlist = []string{"203.0.113.0/24"} })
	for range 10 {
		f.g.AfterFailure(ctx, conn, "x@example.com", "203.0.113.7", store.LogEvent{})
	}
	if err := f.g.BeforeAttempt(ctx, conn, "x@example.com", "203.0.113.7"); err != nil {
		t.Errorf("allow-listed: %v", err)
	}
	f.set(func(s *store.TenantSettings) { s.AttackProtection.SuspiciousIP.Allowlist = nil })
	if err := f.g.BeforeAttempt(ctx, conn, "x@example.com", "203.0.113.7"); err != nil {
		t.Errorf("the failures while allow-listed were counted: %v", err)
	}
}

// TestAttackProtectionFailsClosed: when the counters cannot be reached,
// code attempts and signups are refused with ErrUnavailable (not blamed on
// the user: no event, no refusal counted), behind Resilient or not.
func TestAttackProtectionFailsClosed(t *testing.T) {
	for _, tt := range downLimiters {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, tt.lim)
			if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("BeforeAttempt: %v, want ErrUnavailable", err)
			}
			if err := f.g.BeforeSignup(ctx, "203.0.113.7", store.LogEvent{}); !errors.Is(err, ErrUnavailable) {
				t.Errorf("BeforeSignup: %v, want ErrUnavailable", err)
			}
			f.g.AfterFailure(ctx, emailConn, "ana@example.com", "203.0.113.7", store.LogEvent{}) // must not panic or log a block
			// Brute-force protection alone fails closed too.
			f.set(func(s *store.TenantSettings) { s.AttackProtection.SuspiciousIP = &store.SuspiciousIPThrottling{} })
			if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("BeforeAttempt without suspicious IP throttling: %v, want ErrUnavailable", err)
			}
			if len(f.rec.events) != 0 || len(f.rec.refusals()) != 0 {
				t.Errorf("an outage was logged as an attack: %v %v", f.rec.types(), f.rec.refusals())
			}
			// Allow-listed IPs do not need the counters.
			f.set(func(s *store.TenantSettings) {
				bf, sit := store.DefaultBruteForce(), store.DefaultSuspiciousIP()
				bf.Allowlist, sit.Allowlist = []string{"203.0.113.7"}, []string{"203.0.113.7"}
				s.AttackProtection.BruteForce, s.AttackProtection.SuspiciousIP = &bf, &sit
			})
			if err := f.g.BeforeAttempt(ctx, emailConn, "ana@example.com", "203.0.113.7"); err != nil {
				t.Errorf("allow-listed BeforeAttempt: %v", err)
			}
			if err := f.g.BeforeSignup(ctx, "203.0.113.7", store.LogEvent{}); err != nil {
				t.Errorf("allow-listed BeforeSignup: %v", err)
			}
		})
	}
}

// TestWithoutBlockRecords: a Guard without a Blocks store still blocks
// (on the counter) but lists nothing.
func TestWithoutBlockRecords(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.g.blocks = nil
	f.block(t, "203.0.113.7", 3)
	if got, err := f.g.Blocks(ctx, "ana@example.com"); err != nil || got != nil {
		t.Errorf("Blocks: %v %v", got, err)
	}
	if err := f.g.Unblock(ctx, "ana@example.com"); err != nil {
		t.Errorf("Unblock: %v", err)
	}
}
