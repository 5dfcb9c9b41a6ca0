// Package protect applies Latchkey's rate limits and attack protection,
// keyed on the end user (the effective IP, and the identifier a login is
// for), on counters kept by a ratelimit.Limiter (memory, or Redis shared by
// every node):
//
//   - endpoint limits (token buckets with Auth0's defaults, configurable in
//     the tenant settings), and a cap on codes sent to one recipient;
//   - brute-force protection: failed code attempts per identifier and IP
//     (or per identifier); at the threshold that IP is blocked for that
//     identifier until the count refills over 30 days or an administrator
//     lifts it;
//   - suspicious IP throttling: failed logins and signups per IP.
//
// Traffic-shaping limits fail open when the shared counters cannot be
// reached; the attack-protection ones fail closed (ratelimit.Resilient).
package protect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Limiter keeps the counters.
type Limiter interface {
	Take(ctx context.Context, key string, l ratelimit.Limit, n int) (ratelimit.Decision, error)
	Peek(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Decision, error)
	Reset(ctx context.Context, key string) error
	TakeAll(ctx context.Context, ops []ratelimit.Op) ([]ratelimit.Decision, error)
}

// Settings reads the tenant settings (cached).
type Settings interface {
	Settings(ctx context.Context) (store.TenantSettings, error)
}

// Blocks keeps a record of each brute-force block, so that administrators
// can list and lift them (the counters alone cannot be enumerated).
type Blocks interface {
	PutEphemeral(ctx context.Context, e store.Ephemeral) error
	GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
	ListEphemeralsBySubject(ctx context.Context, kind, subject string, now time.Time) ([]store.Ephemeral, error)
	DeleteEphemeralsBySubject(ctx context.Context, kind, subject string) (int64, error)
}

// Events records tenant log events.
type Events interface {
	Record(ctx context.Context, ev store.LogEvent)
}

// Errors.
var (
	// ErrLimited: an endpoint or recipient limit refused the request.
	ErrLimited = errors.New("rate limit exceeded")
	// ErrBlocked: brute-force protection blocks this IP for the identifier.
	ErrBlocked = errors.New("too many failed attempts")
	// ErrSuspiciousIP: suspicious IP throttling blocks this IP.
	ErrSuspiciousIP = errors.New("suspicious IP throttled")
	// ErrUnavailable (ratelimit.ErrUnavailable): a limit that fails closed
	// could not be checked because the shared counters did not answer; the
	// request is refused without blaming the user.
	ErrUnavailable = ratelimit.ErrUnavailable
)

// Metrics counts refusals by limit name.
type Metrics interface {
	Refused(limit string)
}

// BlockLifetime is how long a brute-force block lasts without a new
// failure (Auth0: 30 days).
const BlockLifetime = 30 * 24 * time.Hour

// KindBlock is the ephemeral-record kind of brute-force blocks.
const KindBlock = "bfp_block"

// Guard applies the limits.
type Guard struct {
	lim      Limiter
	settings Settings
	blocks   Blocks
	keys     *secret.Keys
	events   Events
	metrics  Metrics
	log      *slog.Logger
	hostname string
	now      func() time.Time
}

// Deps are what a Guard works with.
type Deps struct {
	Limiter  Limiter
	Settings Settings
	// Blocks records brute-force blocks; nil keeps no records (they cannot
	// be listed then).
	Blocks Blocks
	Keys   *secret.Keys
	// Events records api_limit, limit_wc and limit_mu; Metrics counts
	// refusals. Either may be nil.
	Events   Events
	Metrics  Metrics
	Log      *slog.Logger
	Hostname string // the tenant's host name, for log events
	Now      func() time.Time
}

// New returns a Guard.
func New(d Deps) *Guard {
	return &Guard{lim: d.Limiter, settings: d.Settings, blocks: d.Blocks, keys: d.Keys, events: d.Events, metrics: d.Metrics,
		log: d.Log, hostname: d.Hostname, now: d.Now}
}

// refused counts a refusal by the named limit.
func (g *Guard) refused(limit string) {
	if g.metrics != nil {
		g.metrics.Refused(limit)
	}
}

// Limit names of the attack protections, as refusals are counted.
const (
	BruteForce         = "brute_force"
	SuspiciousIPLogin  = "suspicious_ip_login"
	SuspiciousIPSignup = "suspicious_ip_signup"
)

// Endpoint limits.
const (
	PasswordlessStart = "passwordless_start"
	Token             = "token"
	CoAuthenticate    = "co_authenticate"
	Userinfo          = "userinfo"
	Global            = "global"
	PerRecipient      = "per_recipient"
)

// Defaults: Auth0's (§10.1), per end-user IP rather than per tenant for
// the endpoints Auth0 limits per tenant on its free plan, since a
// self-hosted tenant's capacity is its operator's to size; the global
// limit is off unless configured.
var defaults = map[string]store.RateLimit{
	PasswordlessStart: {Burst: 50, Rate: 50, IntervalSeconds: 3600},
	Token:             {Burst: 30, Rate: 30, IntervalSeconds: 1},
	CoAuthenticate:    {Burst: 5, Rate: 5, IntervalSeconds: 1},
	Userinfo:          {Burst: 10, Rate: 5, IntervalSeconds: 60},
	PerRecipient:      {Burst: 10, Rate: 10, IntervalSeconds: 3600},
}

// Limit is the endpoint limit name (PasswordlessStart, Token, …) in force
// under rl: the configured one, else the default (a zero Burst: off).
func Limit(rl store.RateLimits, name string) store.RateLimit { return configured(rl, name) }

func configured(rl store.RateLimits, name string) store.RateLimit {
	var p *store.RateLimit
	switch name {
	case PasswordlessStart:
		p = rl.PasswordlessStart
	case Token:
		p = rl.Token
	case CoAuthenticate:
		p = rl.CoAuthenticate
	case Userinfo:
		p = rl.Userinfo
	case Global:
		p = rl.Global
	case PerRecipient:
		p = rl.PerRecipient
	}
	if p != nil {
		return *p
	}
	return defaults[name]
}

// Decision is a limit's answer, for the X-RateLimit-* headers.
type Decision = ratelimit.Decision

// Endpoint names an endpoint limit and the key it counts (an IP, a user,
// "tenant" for the global limit).
type Endpoint struct {
	Name, Key string
}

// Allow takes one token of each named endpoint limit for its key, in one
// call to the limiter (one round trip on Redis), all or nothing: a refusal
// by one limit spends nothing of the others. limited is false when every
// limit is off; d is the refusing limit's Decision, or the first limit's.
// A refusal is ErrLimited and writes an api_limit event; an unreachable
// limiter lets the request through (these limits shape traffic).
func (g *Guard) Allow(ctx context.Context, ev store.LogEvent, limits ...Endpoint) (d Decision, limited bool, err error) {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return d, false, fmt.Errorf("read settings: %w", err)
	}
	var b batch
	for _, e := range limits {
		b.add(e.Name, e.Key, configured(s.Latchkey.RateLimits, e.Name), false, 1)
	}
	return g.run(ctx, &b, ev)
}

// batch is the limits of one decision, taken in one TakeAll.
type batch struct {
	ops   []ratelimit.Op
	names []string
	sizes []int
}

// add adds one limit, unless rl is off (zero); n = 0 only checks that a
// token is there.
func (b *batch) add(name, key string, rl store.RateLimit, failClosed bool, n int) {
	if rl.Burst <= 0 || rl.Rate <= 0 || rl.IntervalSeconds <= 0 {
		return
	}
	l := ratelimit.Limit{Burst: rl.Burst, Rate: rl.Rate, Per: time.Duration(rl.IntervalSeconds) * time.Second, FailClosed: failClosed}
	b.addLimit(name, "lim:"+name+":"+key, l, n)
}

func (b *batch) addLimit(name, key string, l ratelimit.Limit, n int) {
	b.ops = append(b.ops, ratelimit.Op{Key: key, Limit: l, N: n})
	b.names = append(b.names, name)
	b.sizes = append(b.sizes, l.Burst)
}

// run takes b. A refusal is ErrLimited (with an api_limit event for the
// refusing limit) and its Decision; a fail-closed limit the limiter could
// not check is ErrUnavailable; an unreachable limiter with only fail-open
// limits allows (the error is logged and dropped).
func (g *Guard) run(ctx context.Context, b *batch, ev store.LogEvent) (d Decision, limited bool, err error) {
	if len(b.ops) == 0 {
		return d, false, nil
	}
	ds, err := g.lim.TakeAll(ctx, b.ops)
	return g.runDecided(ctx, b, ds, err, ev)
}

// runDecided is run's verdict on the limiter's answer (ds, err) to b.
func (g *Guard) runDecided(ctx context.Context, b *batch, ds []Decision, err error, ev store.LogEvent) (d Decision, limited bool, _ error) {
	if err != nil {
		for _, op := range b.ops {
			if op.Limit.FailClosed {
				return d, true, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		g.log.Warn("rate limit unavailable; allowing", "limits", b.names, "err", err)
		return d, false, nil
	}
	for _, x := range ds {
		if x.Unavailable {
			return x, true, ErrUnavailable
		}
	}
	for i, x := range ds {
		if x.Allowed {
			continue
		}
		name := b.names[i]
		g.refused(name)
		if name == SuspiciousIPSignup {
			return x, true, ErrSuspiciousIP
		}
		ev.Type, ev.Description = "api_limit", "Rate limit exceeded"
		switch name {
		case PerRecipient:
			ev.Description = "Too many codes sent to one recipient"
		case smsBlock:
			ev.Description = "Too many codes sent to one range of phone numbers"
		}
		ev.Details = detailsOf(map[string]any{"limit": map[string]any{"bucket": name, "global": name == Global, "size": b.sizes[i]}})
		g.record(ctx, ev)
		return x, true, ErrLimited
	}
	return ds[0], true, nil
}

// Default SMS budgets (per hour) of an sms connection that sets none.
const (
	DefaultSMSPerNumber = 10
	DefaultSMSPerBlock  = 100
	smsBlock            = "sms_block"
)

// AllowRecipient takes one of the codes one recipient (email address or
// phone number) may get per window (the tenant's per_recipient limit);
// ErrLimited beyond it. For a phone number the sms connection's
// sms_budget applies instead (SMS pumping, beyond Auth0): per number and
// per number block (the number without its last four digits, where
// pumping attacks cycle), both failing closed.
func (g *Guard) AllowRecipient(ctx context.Context, conn store.Connection, ident string, ev store.LogEvent) error {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	var b batch
	g.recipientLimits(&b, s, conn, ident)
	_, _, err = g.run(ctx, &b, ev)
	return err
}

// BeforeStart applies every limit of a start that is about to send a code,
// in one call to the limiter (one round trip on Redis), all or nothing: the
// signup throttle of suspicious IP throttling when signup is set (its
// refusal is ErrSuspiciousIP, with limit_mu when the IP's budget runs out),
// and the recipient's caps (AllowRecipient's; their refusal is
// ErrLimited). A refusal by one spends nothing of the others.
//
// In enumeration-safe mode the caller sets signup for every start, for an
// existing account as for an unknown address, so that the throttle answers
// both alike.
func (g *Guard) BeforeStart(ctx context.Context, conn store.Connection, ident, ip string, signup bool, ev store.LogEvent) error {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	var b batch
	signupAt := -1
	if sit := s.AttackProtection.SuspiciousIPOrDefault(); signup && sit.Enabled && slices.Contains(sit.Shields, "block") && !allowlisted(sit.Allowlist, ip) {
		signupAt = len(b.ops)
		b.addLimit(SuspiciousIPSignup, "sit:signup:"+IPKey(ip), sitLimit(sit.Stage.PreUserRegistration), 1)
	}
	g.recipientLimits(&b, s, conn, ident)
	ds, err := g.takeAll(ctx, &b, ev)
	if err != nil {
		return err
	}
	if signupAt >= 0 && ds[signupAt].Remaining == 0 {
		e := ev
		e.Type, e.Description = "limit_mu", "An IP was blocked for too many signups"
		e.Details = detailsOf(map[string]any{"ip": ip, "stage": "pre-user-registration"})
		g.record(ctx, e)
	}
	return nil
}

// takeAll is run for callers that read every Decision: nil Decisions when
// nothing was checked (every limit off, or an unreachable limiter with only
// fail-open limits).
func (g *Guard) takeAll(ctx context.Context, b *batch, ev store.LogEvent) ([]Decision, error) {
	if len(b.ops) == 0 {
		return nil, nil
	}
	ds, err := g.lim.TakeAll(ctx, b.ops)
	if err != nil || !ratelimit.Allowed(ds) {
		// the refusal (or the outage) is run's to answer: ask again for
		// its verdict; nothing was charged
		_, _, rerr := g.runDecided(ctx, b, ds, err, ev)
		return nil, rerr
	}
	return ds, nil
}

// recipientLimits adds the caps on codes sent to one recipient: the
// tenant's per_recipient limit for an email address (failing open); for a
// phone number the sms connection's sms_budget, per number and per number
// block (the number without its last four digits, where pumping attacks
// cycle), both failing closed.
func (g *Guard) recipientLimits(b *batch, s store.TenantSettings, conn store.Connection, ident string) {
	if conn.Strategy != "sms" {
		b.add(PerRecipient, conn.Name+":"+ident, configured(s.Latchkey.RateLimits, PerRecipient), false, 1)
		return
	}
	perNumber, perBlock := DefaultSMSPerNumber, DefaultSMSPerBlock
	if bu := conn.Options.SMSBudget; bu != nil {
		if bu.PerNumberPerHour > 0 {
			perNumber = bu.PerNumberPerHour
		}
		if bu.PerBlockPerHour > 0 {
			perBlock = bu.PerBlockPerHour
		}
	}
	block := ident
	if len(block) > 8 {
		block = block[:len(block)-4]
	}
	b.add(PerRecipient, conn.Name+":"+ident, store.RateLimit{Burst: perNumber, Rate: perNumber, IntervalSeconds: 3600}, true, 1)
	b.add(smsBlock, conn.Name+":"+block, store.RateLimit{Burst: perBlock, Rate: perBlock, IntervalSeconds: 3600}, true, 1)
}

// IPKey is the key of an end-user IP: an IPv4 address as is, an IPv6
// address by its /64 (one subscriber's network: otherwise every address of
// it would get fresh buckets).
func IPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// attemptKey is the brute-force counter of a login attempt.
func attemptKey(bf store.BruteForceProtection, connection, ident, ip string) string {
	if bf.Mode == "count_per_identifier" {
		return "bfp:" + connection + "|" + ident
	}
	return "bfp:" + connection + "|" + ident + "|" + IPKey(ip)
}

func bfLimit(bf store.BruteForceProtection) ratelimit.Limit {
	n := bf.MaxAttempts
	if n <= 0 {
		n = 10
	}
	return ratelimit.Limit{Burst: n, Rate: n, Per: BlockLifetime, FailClosed: true}
}

func sitLimit(st store.SITStage) ratelimit.Limit {
	n, rate := st.MaxAttempts, st.Rate
	if n <= 0 {
		n = 1
	}
	if rate <= 0 {
		rate = 1000
	}
	return ratelimit.Limit{Burst: n, Rate: 1, Per: time.Duration(rate) * time.Millisecond, FailClosed: true}
}

// allowlisted reports whether ip is in an allow-list of IPs and CIDRs.
func allowlisted(list []string, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, e := range list {
		if p, err := netip.ParsePrefix(e); err == nil && p.Contains(addr) {
			return true
		}
		if a, err := netip.ParseAddr(e); err == nil && a.Unmap() == addr {
			return true
		}
	}
	return false
}

// BeforeAttempt refuses a code attempt from ip for the identifier when
// brute-force protection has blocked it (ErrBlocked) or suspicious IP
// throttling has blocked the IP (ErrSuspiciousIP).
func (g *Guard) BeforeAttempt(ctx context.Context, conn store.Connection, ident, ip string) error {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	// Both counters in one call to the limiter (one round trip on Redis).
	var ops []ratelimit.Op
	sitAt, bfAt := -1, -1
	if sit := s.AttackProtection.SuspiciousIPOrDefault(); sit.Enabled && slices.Contains(sit.Shields, "block") && !allowlisted(sit.Allowlist, ip) {
		sitAt = len(ops)
		ops = append(ops, ratelimit.Op{Key: "sit:login:" + IPKey(ip), Limit: sitLimit(sit.Stage.PreLogin)})
	}
	bf := s.AttackProtection.BruteForceOrDefault()
	if bf.Enabled && slices.Contains(bf.Shields, "block") && conn.Options.BruteForceProtection && !allowlisted(bf.Allowlist, ip) {
		bfAt = len(ops)
		ops = append(ops, ratelimit.Op{Key: attemptKey(bf, conn.Name, ident, ip), Limit: bfLimit(bf)})
	}
	if len(ops) == 0 {
		return nil
	}
	ds, err := g.lim.TakeAll(ctx, ops)
	if err != nil {
		return ErrUnavailable
	}
	for _, d := range ds {
		if d.Unavailable {
			return ErrUnavailable
		}
	}
	if sitAt >= 0 && !ds[sitAt].Allowed {
		g.refused(SuspiciousIPLogin)
		return ErrSuspiciousIP
	}
	if bfAt >= 0 {
		d := ds[bfAt]
		if !d.Allowed {
			g.refused(BruteForce)
			return ErrBlocked
		}
		// The counter refills a guess at a time; the block itself lasts
		// BlockLifetime from when it began (its record), whatever refilled.
		if d.Remaining < d.Limit && g.blocks != nil {
			if _, err := g.blocks.GetEphemeral(ctx, KindBlock, g.blockHash(conn.Name, ident, ip), g.now()); err == nil {
				g.refused(BruteForce)
				return ErrBlocked
			}
		}
	}
	return nil
}

func (g *Guard) blockHash(connection, ident, ip string) []byte {
	return g.keys.Hash(KindBlock, connection, ident, IPKey(ip))
}

// AfterFailure counts a failed attempt against the identifier (and IP) and
// against the IP; reaching a threshold blocks and writes limit_wc or
// limit_mu.
func (g *Guard) AfterFailure(ctx context.Context, conn store.Connection, ident, ip string, ev store.LogEvent) {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return
	}
	var ops []ratelimit.Op
	bfAt, sitAt := -1, -1
	bf := s.AttackProtection.BruteForceOrDefault()
	if bf.Enabled && conn.Options.BruteForceProtection && !allowlisted(bf.Allowlist, ip) {
		bfAt = len(ops)
		ops = append(ops, ratelimit.Op{Key: attemptKey(bf, conn.Name, ident, ip), Limit: bfLimit(bf), N: 1})
	}
	sit := s.AttackProtection.SuspiciousIPOrDefault()
	if sit.Enabled && !allowlisted(sit.Allowlist, ip) {
		sitAt = len(ops)
		ops = append(ops, ratelimit.Op{Key: "sit:login:" + IPKey(ip), Limit: sitLimit(sit.Stage.PreLogin), N: 1})
	}
	if len(ops) == 0 {
		return
	}
	// Both counters in one call. Each failure counts on each counter by
	// itself: when one is empty already (failures racing one another past
	// BeforeAttempt), the batch is refused whole, and the others are
	// counted again alone (the rare case's second round trip).
	ds, err := g.lim.TakeAll(ctx, ops)
	if err == nil && !ratelimit.Allowed(ds) {
		for i, d := range ds {
			if d.Allowed {
				one, err := g.lim.TakeAll(ctx, ops[i:i+1])
				if err == nil {
					ds[i] = one[0]
				}
			}
		}
	}
	if err != nil {
		return
	}
	if d := ds[max(bfAt, 0)]; bfAt >= 0 && d.Allowed && d.Remaining == 0 && slices.Contains(bf.Shields, "block") {
		g.recordBlock(ctx, conn, ident, ip)
		e := ev
		e.Type = "limit_wc"
		e.Description = fmt.Sprintf("An IP was blocked for %d failed login attempts to one account", bfLimit(bf).Burst)
		e.Details = detailsOf(map[string]any{"ip": ip, "identifier": ident, "connection": conn.Name, "max_attempts": bfLimit(bf).Burst})
		g.record(ctx, e)
	}
	if d := ds[max(sitAt, 0)]; sitAt >= 0 && d.Allowed && d.Remaining == 0 {
		e := ev
		e.Type = "limit_mu"
		e.Description = "An IP was blocked for too many failed logins"
		e.Details = detailsOf(map[string]any{"ip": ip, "stage": "pre-login", "max_attempts": sit.Stage.PreLogin.MaxAttempts})
		g.record(ctx, e)
	}
}

// AfterSuccess forgets the identifier's failed attempts from ip (Auth0
// resets the count on a successful login).
func (g *Guard) AfterSuccess(ctx context.Context, conn store.Connection, ident, ip string) {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return
	}
	bf := s.AttackProtection.BruteForceOrDefault()
	if err := g.lim.Reset(ctx, attemptKey(bf, conn.Name, ident, ip)); err != nil {
		g.log.Warn("brute-force counter reset failed", "err", err)
	}
}

// BeforeSignup counts a signup attempt from ip (a code sent to an
// identifier with no account yet) and refuses it when suspicious IP
// throttling's pre-registration stage is exhausted (limit_mu when it
// becomes so).
func (g *Guard) BeforeSignup(ctx context.Context, ip string, ev store.LogEvent) error {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	sit := s.AttackProtection.SuspiciousIPOrDefault()
	if !sit.Enabled || !slices.Contains(sit.Shields, "block") || allowlisted(sit.Allowlist, ip) {
		return nil
	}
	d, err := g.lim.Take(ctx, "sit:signup:"+IPKey(ip), sitLimit(sit.Stage.PreUserRegistration), 1)
	if err != nil || d.Unavailable {
		return ErrUnavailable
	}
	if !d.Allowed {
		g.refused(SuspiciousIPSignup)
		return ErrSuspiciousIP
	}
	if d.Remaining == 0 {
		ev.Type, ev.Description = "limit_mu", "An IP was blocked for too many signups"
		ev.Details = detailsOf(map[string]any{"ip": ip, "stage": "pre-user-registration"})
		g.record(ctx, ev)
	}
	return nil
}

type blockRecord struct {
	Identifier string `json:"identifier"`
	IP         string `json:"ip"`
	Connection string `json:"connection"`
}

func (g *Guard) recordBlock(ctx context.Context, conn store.Connection, ident, ip string) {
	if g.blocks == nil {
		return
	}
	now := g.now()
	data, _ := json.Marshal(blockRecord{Identifier: ident, IP: ip, Connection: conn.Name})
	err := g.blocks.PutEphemeral(ctx, store.Ephemeral{Kind: KindBlock, Hash: g.blockHash(conn.Name, ident, ip),
		Subject: strings.ToLower(ident), Data: data, CreatedAt: now, ExpiresAt: now.Add(BlockLifetime)})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		g.log.Warn("record brute-force block", "err", err)
	}
}

// Blocks lists the brute-force blocks of an identifier.
func (g *Guard) Blocks(ctx context.Context, identifier string) ([]store.Block, error) {
	if g.blocks == nil {
		return nil, nil
	}
	recs, err := g.blocks.ListEphemeralsBySubject(ctx, KindBlock, strings.ToLower(identifier), g.now())
	if err != nil {
		return nil, err
	}
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	bf := s.AttackProtection.BruteForceOrDefault()
	var out []store.Block
	for _, e := range recs {
		var b blockRecord
		if json.Unmarshal(e.Data, &b) != nil {
			continue
		}
		// Still blocked? The counter may have refilled or been reset.
		d, err := g.lim.Peek(ctx, attemptKey(bf, b.Connection, b.Identifier, b.IP), bfLimit(bf))
		if err == nil && d.Allowed {
			continue
		}
		out = append(out, store.Block(b))
	}
	return out, nil
}

// Unblock lifts every brute-force block of the identifier.
func (g *Guard) Unblock(ctx context.Context, identifier string) error {
	if g.blocks == nil {
		return nil
	}
	recs, err := g.blocks.ListEphemeralsBySubject(ctx, KindBlock, strings.ToLower(identifier), g.now())
	if err != nil {
		return err
	}
	for _, e := range recs {
		var b blockRecord
		if json.Unmarshal(e.Data, &b) != nil {
			continue
		}
		for _, mode := range []string{"count_per_identifier_and_ip", "count_per_identifier"} {
			if err := g.lim.Reset(ctx, attemptKey(store.BruteForceProtection{Mode: mode}, b.Connection, b.Identifier, b.IP)); err != nil {
				return err
			}
		}
	}
	_, err = g.blocks.DeleteEphemeralsBySubject(ctx, KindBlock, strings.ToLower(identifier))
	return err
}

// IPBlocked reports whether suspicious IP throttling blocks ip.
func (g *Guard) IPBlocked(ctx context.Context, ip string) (bool, error) {
	s, err := g.settings.Settings(ctx)
	if err != nil {
		return false, fmt.Errorf("read settings: %w", err)
	}
	sit := s.AttackProtection.SuspiciousIPOrDefault()
	for _, k := range []struct {
		key string
		l   ratelimit.Limit
	}{{"sit:login:" + IPKey(ip), sitLimit(sit.Stage.PreLogin)}, {"sit:signup:" + IPKey(ip), sitLimit(sit.Stage.PreUserRegistration)}} {
		d, err := g.lim.Peek(ctx, k.key, k.l)
		if err != nil {
			return false, err
		}
		if !d.Allowed {
			return true, nil
		}
	}
	return false, nil
}

// UnblockIP lifts suspicious IP throttling of ip.
func (g *Guard) UnblockIP(ctx context.Context, ip string) error {
	for _, k := range []string{"sit:login:" + IPKey(ip), "sit:signup:" + IPKey(ip)} {
		if err := g.lim.Reset(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (g *Guard) record(ctx context.Context, ev store.LogEvent) {
	if g.events != nil {
		ev.Hostname = g.hostname
		g.events.Record(ctx, ev)
	}
}

func detailsOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
