package passwordless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// The fakes below stand in for the consumer interfaces the service
// declares (Directory, Store, Queue, Guard); the rules under test are the
// service's own.

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	appID   = "app1"
	otherID = "app2"
	ip      = "203.0.113.7"
)

type fakeDir struct {
	conns    map[string]store.Connection
	settings store.TenantSettings
}

func (d *fakeDir) Connection(_ context.Context, name string) (store.Connection, error) {
	c, ok := d.conns[name]
	if !ok {
		return store.Connection{}, store.ErrNotFound
	}
	return c, nil
}

func (d *fakeDir) Settings(context.Context) (store.TenantSettings, error) { return d.settings, nil }

// fakeStore keeps users and codes in maps and judges codes as every
// backend does (store.JudgeCode, attempts counted up to the cap).
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]store.User
	codes    map[string]store.Code
	messages []*store.OutboxMessage
	logins   []store.Login
	putErr   error
	consumed int // ConsumeCode and CheckCode calls
}

func newFakeStore() *fakeStore {
	return &fakeStore{users: map[string]store.User{}, codes: map[string]store.Code{}}
}

func key(connection, ident string) string { return connection + "\x00" + ident }

func (s *fakeStore) FindUser(_ context.Context, connection, ident string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[key(connection, ident)]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

// queued is how many messages PutCode queued.
// queued counts the messages queued to be sent; withheld those queued to
// be settled unsent (enumeration-safe mode).
func (s *fakeStore) queued() int { return s.countMessages(false) }

func (s *fakeStore) withheld() int { return s.countMessages(true) }

func (s *fakeStore) countMessages(withheld bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.messages {
		if m != nil && strings.HasPrefix(m.ID, "withheld_") == withheld {
			n++
		}
	}
	return n
}

func (s *fakeStore) PutCode(_ context.Context, c store.Code, msg *store.OutboxMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.codes[key(c.Connection, c.Identifier)] = c // a new code replaces the outstanding one
	s.messages = append(s.messages, msg)
	return nil
}

func (s *fakeStore) judge(connection, ident string, hash []byte, now time.Time, consume bool) (store.Code, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumed++
	k := key(connection, ident)
	c, ok := s.codes[k]
	if !ok {
		return store.Code{}, store.ErrNotFound
	}
	verdict := store.JudgeCode(c, bytes.Equal(hash, c.Hash), now)
	switch {
	case verdict == nil && consume:
		delete(s.codes, k)
	case errors.Is(verdict, store.ErrCodeWrong), errors.Is(verdict, store.ErrCodeExhausted) && c.Attempts < store.MaxCodeAttempts:
		c.Attempts++
		s.codes[k] = c
	}
	if verdict != nil {
		return store.Code{}, verdict
	}
	return c, nil
}

func (s *fakeStore) ConsumeCode(_ context.Context, connection, ident string, hash []byte, now time.Time) (store.Code, error) {
	return s.judge(connection, ident, hash, now, true)
}

func (s *fakeStore) CheckCode(_ context.Context, connection, ident string, hash []byte, now time.Time) (store.Code, error) {
	return s.judge(connection, ident, hash, now, false)
}

func (s *fakeStore) RedeemCode(ctx context.Context, connection, ident string, hash []byte, now time.Time,
	login func(store.Code) store.Login, allowSignup bool) (store.Code, store.User, bool, error) {
	c, err := s.judge(connection, ident, hash, now, true)
	if err != nil {
		return c, store.User{}, false, err
	}
	u, created, err := s.RecordLogin(ctx, login(c), allowSignup)
	return c, u, created, err
}

func (s *fakeStore) RecordLogin(_ context.Context, l store.Login, allowSignup bool) (store.User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(l.Connection, l.Identifier)
	u, ok := s.users[k]
	switch {
	case ok && u.Blocked:
		return u, false, nil
	case ok:
		u.LoginsCount++
		u.LastIP, u.LastLogin = l.IP, l.At
		s.users[k] = u
		s.logins = append(s.logins, l)
		return u, false, nil
	case !allowSignup:
		return store.User{}, false, store.ErrNotFound
	}
	u = store.User{UserID: l.UserID, Connection: l.Connection, Identifier: l.Identifier, Email: l.Email, PhoneNumber: l.PhoneNumber,
		EmailVerified: l.EmailVerified, PhoneVerified: l.PhoneVerified, LoginsCount: 1, LastIP: l.IP, CreatedAt: l.At, LastLogin: l.At}
	s.users[k] = u
	s.logins = append(s.logins, l)
	return u, true, nil
}

// fakeQueue records the notifications it is asked to turn into messages.
type fakeQueue struct {
	mu        sync.Mutex
	sent      []delivery.Notification
	conns     []store.Connection
	err       error
	wakes     int
	abandoned int
}

func (q *fakeQueue) Message(_ context.Context, n delivery.Notification, conn store.Connection, expires time.Time) (*store.OutboxMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return nil, q.err
	}
	q.sent = append(q.sent, n)
	q.conns = append(q.conns, conn)
	id := fmt.Sprintf("msg_%d", len(q.sent))
	if n.Withheld {
		id = fmt.Sprintf("withheld_%d", len(q.sent))
	}
	return &store.OutboxMessage{ID: id, Channel: n.Channel, Recipient: n.To, ClientID: n.ClientID,
		Connection: conn.Name, ExpiresAt: expires}, nil
}

func (q *fakeQueue) Committed(*store.OutboxMessage) {
	q.mu.Lock()
	q.wakes++
	q.mu.Unlock()
}

func (q *fakeQueue) Abandoned(*store.OutboxMessage) {
	q.mu.Lock()
	q.abandoned++
	q.mu.Unlock()
}

// last is the last notification.
func (q *fakeQueue) last(t *testing.T) delivery.Notification {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.sent) == 0 {
		t.Fatal("nothing was sent")
	}
	return q.sent[len(q.sent)-1]
}

// fakeGuard records its calls and answers with the errors it is given.
type fakeGuard struct {
	mu                                  sync.Mutex
	calls                               []string
	attemptErr, signupErr, recipientErr error
	failures                            []store.LogEvent
	signupEvents, recipientEvents       []store.LogEvent
}

func (g *fakeGuard) call(format string, args ...any) {
	g.mu.Lock()
	g.calls = append(g.calls, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

func (g *fakeGuard) BeforeAttempt(_ context.Context, conn store.Connection, ident, ip string) error {
	g.call("BeforeAttempt %s %s %s", conn.Name, ident, ip)
	return g.attemptErr
}

func (g *fakeGuard) AfterFailure(_ context.Context, conn store.Connection, ident, ip string, ev store.LogEvent) {
	g.call("AfterFailure %s %s %s", conn.Name, ident, ip)
	g.mu.Lock()
	g.failures = append(g.failures, ev)
	g.mu.Unlock()
}

func (g *fakeGuard) AfterSuccess(_ context.Context, conn store.Connection, ident, ip string) {
	g.call("AfterSuccess %s %s %s", conn.Name, ident, ip)
}

// BeforeStart records a signup (when counted) and the recipient's caps as
// two calls, and answers with signupErr for a counted signup, then
// recipientErr.
func (g *fakeGuard) BeforeStart(_ context.Context, conn store.Connection, ident, ip string, signup bool, ev store.LogEvent) error {
	if signup {
		g.call("BeforeSignup %s", ip)
	}
	g.call("AllowRecipient %s %s", conn.Name, ident)
	g.mu.Lock()
	defer g.mu.Unlock()
	if signup {
		g.signupEvents = append(g.signupEvents, ev)
		if g.signupErr != nil {
			return g.signupErr
		}
	}
	g.recipientEvents = append(g.recipientEvents, ev)
	return g.recipientErr
}

// callsOf returns the calls whose name is one of names, in order.
func (g *fakeGuard) callsOf(names ...string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.calls {
		for _, n := range names {
			if strings.HasPrefix(c, n+" ") {
				out = append(out, c)
			}
		}
	}
	return out
}

// fixture is a service over the fakes with an email and an sms connection
// enabled for appID and otherID, and a settable clock.
type fixture struct {
	svc   *Service
	dir   *fakeDir
	st    *fakeStore
	queue *fakeQueue
	guard *fakeGuard
	keys  *secret.Keys
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := secret.New(bytes.Repeat([]byte{7}, secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		dir: &fakeDir{conns: map[string]store.Connection{
			"email": {Name: "email", Strategy: "email", EnabledClients: []string{appID, otherID},
				Options: store.ConnectionOptions{TOTP: store.TOTP{Length: 6, TimeStep: 300}, BruteForceProtection: true,
					AuthParams: map[string]string{"scope": "openid", "response_type": "code"}}},
			"sms": {Name: "sms", Strategy: "sms", EnabledClients: []string{appID, otherID},
				Options: store.ConnectionOptions{TOTP: store.TOTP{Length: 4, TimeStep: 180}, BruteForceProtection: true}},
			"elsewhere": {Name: "elsewhere", Strategy: "email", EnabledClients: []string{otherID},
				Options: store.ConnectionOptions{TOTP: store.TOTP{Length: 6, TimeStep: 300}}},
			"database": {Name: "database", Strategy: "auth0", EnabledClients: []string{appID}},
		}},
		st: newFakeStore(), queue: &fakeQueue{}, guard: &fakeGuard{}, keys: keys, now: t0,
	}
	f.svc = New(Deps{Directory: f.dir, Store: f.st, Queue: f.queue, Guard: f.guard, Keys: keys,
		Issuer: "https://login.example.com/", Now: func() time.Time { return f.now }})
	return f
}

// option changes a connection's options.
func (f *fixture) option(name string, set func(*store.ConnectionOptions)) {
	c := f.dir.conns[name]
	set(&c.Options)
	f.dir.conns[name] = c
}

func (f *fixture) addUser(connection, ident string, set func(*store.User)) store.User {
	strategy := f.dir.conns[connection].Strategy
	u := store.User{UserID: strategy + "|" + fmt.Sprintf("%024x", len(f.st.users)+1), Connection: connection, Identifier: ident}
	if strategy == "email" {
		u.Email, u.EmailVerified = ident, true
	} else {
		u.PhoneNumber, u.PhoneVerified = ident, true
	}
	if set != nil {
		set(&u)
	}
	f.st.users[key(connection, ident)] = u
	return u
}

func emailStart(email string) StartRequest {
	return StartRequest{Client: store.Client{ClientID: appID, Name: "App"}, Connection: "email", Email: email, Send: "code", IP: ip}
}

func smsStart(number string) StartRequest {
	return StartRequest{Client: store.Client{ClientID: appID, Name: "App"}, Connection: "sms", PhoneNumber: number, IP: ip}
}

// refused checks that err is a *Refusal of want and, when value is not
// empty, that it names value (Auth0's status, code and text for each
// refusal are pinned in internal/apierr).
func refused(t *testing.T, err error, want error, value string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || !errors.Is(err, want) {
		t.Fatalf("err = %v, want a refusal: %v", err, want)
	}
	if value != "" && r.Value != value {
		t.Fatalf("refusal value %q, want %q", r.Value, value)
	}
}

// TestStartRefusesBadRequests: each malformed or misdirected start is
// Auth0's 400 and issues nothing.
func TestStartRefusesBadRequests(t *testing.T) {
	tests := []struct {
		name  string
		req   func(*StartRequest)
		want  error
		value string
	}{
		{"unknown connection", func(r *StartRequest) { r.Connection = "nope" }, ErrUnknownConnection, ""},
		{"not a passwordless connection", func(r *StartRequest) { r.Connection = "database" }, ErrUnknownConnection, ""},
		{"connection not enabled for the client", func(r *StartRequest) { r.Connection = "elsewhere" }, ErrConnectionDisabled, ""},
		{"email missing", func(r *StartRequest) { r.Email = "" }, ErrMissingEmail, ""},
		{"email malformed", func(r *StartRequest) { r.Email = "Ana <ana@example.com>" }, ErrMalformedEmail, "Ana <ana@example.com>"},
		{"phone missing", func(r *StartRequest) { r.Connection, r.Email = "sms", "" }, ErrMissingPhoneNumber, ""},
		{"phone not E.164", func(r *StartRequest) { r.Connection, r.PhoneNumber = "sms", "+1 415 555 2671" }, ErrMalformedPhoneNumber, ""},
		{"send unknown", func(r *StartRequest) { r.Send = "carrier_pigeon" }, ErrInvalidSend, "carrier_pigeon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			req := emailStart("ana@example.com")
			tt.req(&req)
			_, err := f.svc.Start(context.Background(), req)
			refused(t, err, tt.want, tt.value)
			if len(f.st.codes) != 0 || len(f.queue.sent) != 0 || len(f.guard.calls) != 0 {
				t.Errorf("a refused start issued something: codes %v, sent %v, guard %v", f.st.codes, f.queue.sent, f.guard.calls)
			}
		})
	}
}

// TestStartIssuesCode: a start stores a code (by its keyed hash, bound to
// the identifier, the client and the code's lifetime) with its outbox
// message in one PutCode, then wakes the queue; the notification carries
// the code, and a link only when a link was asked for (never by SMS).
func TestStartIssuesCode(t *testing.T) {
	tests := []struct {
		name       string
		req        StartRequest
		send       string
		wantLink   bool
		codeLength int
		lifetime   time.Duration
	}{
		{"email code", emailStart("Ana@Example.com"), "code", false, 6, 300 * time.Second},
		{"email default is a link", func() StartRequest { r := emailStart("ana@example.com"); r.Send = ""; return r }(), "link", true, 6, 300 * time.Second},
		{"email link_ios", func() StartRequest { r := emailStart("ana@example.com"); r.Send = "link_ios"; return r }(), "link_ios", true, 6, 300 * time.Second},
		{"sms default is a code", smsStart("+14155552671"), "code", false, 4, 180 * time.Second},
		{"sms never sends a link", func() StartRequest { r := smsStart("+14155552671"); r.Send = "link"; return r }(), "code", false, 4, 180 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res, err := f.svc.Start(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			conn := f.dir.conns[tt.req.Connection]
			ident := strings.ToLower(tt.req.Email) + tt.req.PhoneNumber
			if !res.Sent || res.NotSent != "" || res.Send != tt.send || res.Strategy != conn.Strategy || res.Connection.Name != conn.Name {
				t.Errorf("result %+v", res)
			}
			if want := IdentityID(f.keys, conn.Name, ident); res.IdentityID != want {
				t.Errorf("identity id %q, want %q (derived from the identifier)", res.IdentityID, want)
			}
			n := f.queue.last(t)
			if n.To != ident || n.Channel != conn.Strategy || n.Send != tt.send || len(n.Code) != tt.codeLength || n.ExpiresIn != tt.lifetime ||
				n.ClientID != appID || n.AppName != "App" || n.IP != ip {
				t.Errorf("notification %+v", n)
			}
			if (n.Link != "") != tt.wantLink {
				t.Errorf("link %q, want a link: %v", n.Link, tt.wantLink)
			}
			c, ok := f.st.codes[key(conn.Name, ident)]
			if !ok {
				t.Fatalf("no code stored for %s", ident)
			}
			if !bytes.Equal(c.Hash, f.svc.codeHash(conn.Name, ident, appID, n.Code)) || bytes.Contains(c.Hash, []byte(n.Code)) {
				t.Errorf("the stored hash is not the keyed hash of the code")
			}
			if c.ClientID != appID || c.UserIDHint != res.IdentityID || c.Send != tt.send || !c.CreatedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(tt.lifetime)) {
				t.Errorf("code %+v", c)
			}
			if len(f.st.messages) != 1 || f.st.messages[0] == nil || f.st.messages[0].Recipient != ident || !f.st.messages[0].ExpiresAt.Equal(c.ExpiresAt) {
				t.Errorf("the outbox message did not go with the code: %+v", f.st.messages)
			}
			if f.queue.wakes != 1 {
				t.Errorf("queue woken %d times, want 1", f.queue.wakes)
			}
		})
	}
}

// TestStartLink: the magic link is verify_redirect on the issuer with the
// code, the client, the connection, the identifier and the authorization
// parameters (the request's over the connection's).
func TestStartLink(t *testing.T) {
	f := newFixture(t)
	req := emailStart("ana@example.com")
	req.Send = "link"
	req.AuthParams = map[string]string{"scope": "openid profile", "state": "xyz"}
	if _, err := f.svc.Start(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	n := f.queue.last(t)
	u, err := url.Parse(n.Link)
	if err != nil || u.Scheme != "https" || u.Host != "login.example.com" || u.Path != "/passwordless/verify_redirect" {
		t.Fatalf("link %q", n.Link)
	}
	want := url.Values{"client_id": {appID}, "connection": {"email"}, "email": {"ana@example.com"}, "verification_code": {n.Code},
		"scope": {"openid profile"}, "state": {"xyz"}, "response_type": {"code"}}
	if got := u.Query(); got.Encode() != want.Encode() {
		t.Errorf("link query\n got %v\nwant %v", got, want)
	}
	c := f.st.codes[key("email", "ana@example.com")]
	if c.AuthParams["scope"] != "openid profile" || c.AuthParams["response_type"] != "code" || c.AuthParams["state"] != "xyz" {
		t.Errorf("stored auth params %v", c.AuthParams)
	}
}

// TestStartExistingUsers: an existing user's start answers with the user's
// own identity id, "verified" unless the tenant is enumeration-safe, and a
// blocked user gets a 200 with nothing sent (as Auth0).
func TestStartExistingUsers(t *testing.T) {
	tests := []struct {
		name         string
		safe         bool
		blocked      bool
		wantVerified bool
		wantSent     bool
	}{
		{"verified user", false, false, true, true},
		{"enumeration-safe hides verified", true, false, false, true},
		{"blocked user: nothing sent", false, true, true, false},
		{"blocked user, enumeration-safe", true, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.dir.settings.Latchkey.EnumerationSafeSignup = tt.safe
			u := f.addUser("email", "ana@example.com", func(u *store.User) { u.Blocked = tt.blocked })
			res, err := f.svc.Start(context.Background(), emailStart("ana@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			if res.IdentityID != strings.TrimPrefix(u.UserID, "email|") || res.Verified != tt.wantVerified || res.Sent != tt.wantSent {
				t.Errorf("result %+v", res)
			}
			if got := f.st.queued(); got != map[bool]int{true: 1, false: 0}[tt.wantSent] {
				t.Errorf("%d messages queued", got)
			}
			// Enumeration-safe, a blocked user's start does the work of
			// one that sends (a code nobody holds is stored with a message
			// the worker settles unsent); otherwise nothing.
			if got, want := f.st.withheld(), map[bool]int{true: 1}[!tt.wantSent && tt.safe]; got != want {
				t.Errorf("%d messages withheld, want %d", got, want)
			}
			if !tt.wantSent && (res.NotSent != "user is blocked" || len(f.st.codes) != map[bool]int{true: 1}[tt.safe]) {
				t.Errorf("blocked: NotSent %q, codes %v", res.NotSent, f.st.codes)
			}
			// Enumeration-safe, every start counts as a signup.
			if got := f.guard.callsOf("BeforeSignup"); len(got) != map[bool]int{true: 1}[tt.safe] {
				t.Errorf("signup counted %v, want it counted only when enumeration-safe", got)
			}
		})
	}
}

// TestStartSignup: a new identifier is a signup, counted by the guard;
// with signup disabled it is Auth0's invalid_signup, or, enumeration-safe,
// a 200 that sends nothing and says why for the tenant log.
func TestStartSignup(t *testing.T) {
	tests := []struct {
		name        string
		disable     bool
		safe        bool
		wantErr     error
		wantNotSent string
	}{
		{"signup allowed", false, false, nil, ""},
		{"signup disabled", true, false, ErrSignupDisabled, ""},
		{"signup disabled, enumeration-safe", true, true, nil, "Public signup is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.dir.settings.Latchkey.EnumerationSafeSignup = tt.safe
			f.option("email", func(o *store.ConnectionOptions) { o.DisableSignup = tt.disable })
			res, err := f.svc.Start(context.Background(), emailStart("new@example.com"))
			if tt.wantErr != nil {
				refused(t, err, tt.wantErr, "")
			} else if err != nil {
				t.Fatal(err)
			}
			sent := tt.wantErr == nil && tt.wantNotSent == ""
			if res.Sent != sent || res.NotSent != tt.wantNotSent || f.st.queued() != map[bool]int{true: 1}[sent] ||
				f.st.withheld() != map[bool]int{true: 1}[tt.wantNotSent != ""] {
				t.Errorf("result %+v, %d queued, %d withheld", res, f.st.queued(), f.st.withheld())
			}
			if res.Verified {
				t.Errorf("a new identifier is verified")
			}
			// The signup is counted only when it may happen, or,
			// enumeration-safe, always.
			wantSignup := map[bool]int{true: 0, false: 1}[tt.disable && !tt.safe]
			if got := f.guard.callsOf("BeforeSignup"); len(got) != wantSignup {
				t.Errorf("BeforeSignup calls %v, want %d", got, wantSignup)
			}
			if wantSignup == 1 {
				ev := f.guard.signupEvents[0]
				if ev.ClientID != appID || ev.Connection != "email" || ev.UserName != "new@example.com" || ev.IP != ip {
					t.Errorf("signup event %+v", ev)
				}
			}
		})
	}
}

// TestStartProtection: the guard's refusals of a signup or of a
// recipient's budget are 429s with Auth0's texts and send nothing; an
// unavailable limiter is a 503, not the user's fault.
func TestStartProtection(t *testing.T) {
	tests := []struct {
		name                    string
		existing                bool
		signupErr, recipientErr error
		want                    error
	}{
		{"signup throttled", false, protect.ErrSuspiciousIP, nil, ErrSuspiciousIP},
		{"signup check unavailable", false, fmt.Errorf("%w: redis down", protect.ErrUnavailable), nil, ErrProtectionUnavailable},
		{"recipient limited", true, nil, protect.ErrLimited, ErrRecipientLimited},
		{"recipient budget unavailable", true, nil, protect.ErrUnavailable, ErrProtectionUnavailable},
		{"new recipient limited", false, nil, protect.ErrLimited, ErrRecipientLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.existing {
				f.addUser("email", "ana@example.com", nil)
			}
			f.guard.signupErr, f.guard.recipientErr = tt.signupErr, tt.recipientErr
			_, err := f.svc.Start(context.Background(), emailStart("ana@example.com"))
			refused(t, err, tt.want, "")
			if len(f.queue.sent) != 0 || len(f.st.codes) != 0 {
				t.Errorf("a refused start sent %d messages, stored %d codes", len(f.queue.sent), len(f.st.codes))
			}
		})
	}
}

// TestStartRecipientBudget: every start that would send asks the guard for
// the recipient's budget (with the event to log if refused); a blocked
// user's does not.
func TestStartRecipientBudget(t *testing.T) {
	f := newFixture(t)
	f.addUser("email", "blocked@example.com", func(u *store.User) { u.Blocked = true })
	for _, email := range []string{"ana@example.com", "blocked@example.com", "Ana@example.com"} {
		if _, err := f.svc.Start(context.Background(), emailStart(email)); err != nil {
			t.Fatal(err)
		}
	}
	got := f.guard.callsOf("AllowRecipient")
	want := []string{"AllowRecipient email ana@example.com", "AllowRecipient email ana@example.com"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("AllowRecipient calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ev := f.guard.recipientEvents[0]; ev.ClientID != appID || ev.ClientName != "App" || ev.Connection != "email" || ev.UserName != "ana@example.com" || ev.IP != ip {
		t.Errorf("recipient event %+v", ev)
	}
}

// TestStartSMSChecks: an SMS goes only to a real number of an allowed
// country, refused with the provider's codes otherwise, before the budget
// is spent.
func TestStartSMSChecks(t *testing.T) {
	tests := []struct {
		name    string
		number  string
		allowed []string
		want    error // nil when sent
		value   string
	}{
		{"valid US number", "+14155552671", nil, nil, ""},
		{"allowed country", "+33612345678", []string{"FR", "DE"}, nil, ""},
		{"not a real number", "+11155552671", nil, ErrInvalidPhoneNumber, "+11155552671"},
		{"country not allowed", "+447400123456", []string{"FR"}, ErrCountryNotAllowed, "GB"},
		{"+1 shared: Canada is not the US", "+16135550123", []string{"US"}, ErrCountryNotAllowed, "CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.option("sms", func(o *store.ConnectionOptions) { o.AllowedCountries = tt.allowed })
			res, err := f.svc.Start(context.Background(), smsStart(tt.number))
			if tt.want == nil {
				if err != nil || !res.Sent {
					t.Fatalf("Start: %+v %v", res, err)
				}
				return
			}
			refused(t, err, tt.want, tt.value)
			if len(f.queue.sent) != 0 || len(f.guard.callsOf("AllowRecipient")) != 0 {
				t.Errorf("refused number: %d sent, budget calls %v", len(f.queue.sent), f.guard.callsOf("AllowRecipient"))
			}
		})
	}
}

// TestStartFailures: a message that cannot be composed stores no code; a
// code that cannot be stored wakes no worker.
func TestStartFailures(t *testing.T) {
	f := newFixture(t)
	f.queue.err = errors.New("template exploded")
	if _, err := f.svc.Start(context.Background(), emailStart("ana@example.com")); err == nil || len(f.st.codes) != 0 {
		t.Errorf("compose failure: err %v, codes %v", err, f.st.codes)
	}
	var ie *Refusal
	f = newFixture(t)
	f.st.putErr = errors.New("disk full")
	if _, err := f.svc.Start(context.Background(), emailStart("ana@example.com")); err == nil || errors.As(err, &ie) || f.queue.wakes != 0 || f.queue.abandoned != 1 {
		t.Errorf("store failure: err %v, wakes %d, abandoned %d", err, f.queue.wakes, f.queue.abandoned)
	}
}

// start issues a code for req and returns it.
func (f *fixture) start(t *testing.T, req StartRequest) string {
	t.Helper()
	if _, err := f.svc.Start(context.Background(), req); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return f.queue.last(t).Code
}

func redemption(code string) Redemption {
	return Redemption{ClientID: appID, Connection: "email", Username: "ana@example.com", Code: code, IP: ip}
}

// wrong returns a code of the same shape that is not code.
func wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// TestRedeemCreatesUser: the right code logs in once, creating the user
// with the identity id start announced, verified, with the authorization
// parameters stored at start; the guard's counter is reset.
func TestRedeemCreatesUser(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.Start(context.Background(), emailStart("ana@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	code := f.queue.last(t).Code
	f.now = f.now.Add(time.Minute)
	r := redemption(code)
	r.Username = "ANA@example.com" // normalised as at start
	got, err := f.svc.Redeem(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	u := got.User
	if !got.Created || got.Strategy != "email" || u.UserID != "email|"+res.IdentityID || u.Email != "ana@example.com" || !u.EmailVerified ||
		u.LastIP != ip || !u.LastLogin.Equal(t0.Add(time.Minute)) {
		t.Errorf("redeemed %+v", got)
	}
	if got.AuthParams["scope"] != "openid" {
		t.Errorf("auth params %v", got.AuthParams)
	}
	if calls := f.guard.callsOf("BeforeAttempt", "AfterFailure", "AfterSuccess"); strings.Join(calls, ";") !=
		"BeforeAttempt email ana@example.com "+ip+";AfterSuccess email ana@example.com "+ip {
		t.Errorf("guard calls %v", calls)
	}
	// Single use.
	if _, err := f.svc.Redeem(context.Background(), r); !errors.Is(err, ErrWrongCode) {
		t.Errorf("second redemption: %v, want ErrWrongCode", err)
	}
	// An existing user logs in without being created again.
	code = f.start(t, emailStart("ana@example.com"))
	got, err = f.svc.Redeem(context.Background(), redemption(code))
	if err != nil || got.Created || got.User.LoginsCount != 2 {
		t.Errorf("second login: %+v %v", got, err)
	}
}

// TestRedeemSMS: an sms login creates a user with a verified phone number.
func TestRedeemSMS(t *testing.T) {
	f := newFixture(t)
	code := f.start(t, smsStart("+14155552671"))
	got, err := f.svc.Redeem(context.Background(), Redemption{ClientID: appID, Connection: "sms", Username: "+14155552671", Code: code, IP: ip})
	if err != nil || !got.Created || got.Strategy != "sms" || got.User.PhoneNumber != "+14155552671" || !got.User.PhoneVerified ||
		!strings.HasPrefix(got.User.UserID, "sms|") || got.User.Email != "" {
		t.Errorf("sms login: %+v %v", got, err)
	}
}

// TestRedeemWrongCodes: each wrong guess at a live code is counted by the
// guard; the third kills the code (store.MaxCodeAttempts), after which
// even the right code is refused; a guess at nothing, or at an expired
// code, is not a brute-force attempt.
func TestRedeemWrongCodes(t *testing.T) {
	type step struct {
		code        func(right string) string
		advance     time.Duration
		want        error
		wantFailure bool // AfterFailure called
	}
	right := func(c string) string { return c }
	tests := []struct {
		name  string
		start bool
		steps []step
	}{
		{"wrong then right", true, []step{
			{wrong, 0, ErrWrongCode, true},
			{right, 0, nil, false},
		}},
		{"exhausted", true, []step{
			{wrong, 0, ErrWrongCode, true},
			{wrong, 0, ErrWrongCode, true},
			{wrong, 0, ErrCodeExhausted, false}, // uses the code up: reported like the later ones, not counted
			{right, 0, ErrCodeExhausted, false},
		}},
		{"expired", true, []step{
			{right, 300 * time.Second, ErrCodeExpired, false},
		}},
		{"just before expiry", true, []step{
			{right, 300*time.Second - time.Millisecond, nil, false},
		}},
		{"wrong guess at an expired code", true, []step{
			{wrong, 301 * time.Second, ErrCodeExpired, false},
		}},
		{"no code issued", false, []step{
			{func(string) string { return "123456" }, 0, ErrWrongCode, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			code := ""
			if tt.start {
				code = f.start(t, emailStart("ana@example.com"))
			}
			for i, s := range tt.steps {
				f.now = f.now.Add(s.advance)
				before := len(f.guard.callsOf("AfterFailure"))
				_, err := f.svc.Redeem(context.Background(), redemption(s.code(code)))
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: %v, want %v", i, err, s.want)
				}
				if counted := len(f.guard.callsOf("AfterFailure")) > before; counted != s.wantFailure {
					t.Fatalf("step %d: AfterFailure called %v, want %v", i, counted, s.wantFailure)
				}
			}
			if failures := f.guard.failures; len(failures) > 0 {
				if ev := failures[0]; ev.ClientID != appID || ev.Connection != "email" || ev.UserName != "ana@example.com" || ev.IP != ip {
					t.Errorf("failure event %+v", ev)
				}
			}
			if len(f.st.users) > 0 && tt.steps[len(tt.steps)-1].want != nil {
				t.Errorf("a failed login created a user")
			}
		})
	}
}

// TestRedeemBoundToClient: a code is bound to the client it was issued
// for: another application presenting it presents a wrong code.
func TestRedeemBoundToClient(t *testing.T) {
	f := newFixture(t)
	code := f.start(t, emailStart("ana@example.com"))
	r := redemption(code)
	r.ClientID = otherID
	if _, err := f.svc.Redeem(context.Background(), r); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("another client: %v, want ErrWrongCode", err)
	}
	if _, err := f.svc.Redeem(context.Background(), redemption(code)); err != nil {
		t.Fatalf("the issuing client after one wrong attempt: %v", err)
	}
}

// TestRedeemRefusals: what is refused before any code is looked at.
func TestRedeemRefusals(t *testing.T) {
	tests := []struct {
		name       string
		r          func(*Redemption)
		attemptErr error
		want       error
	}{
		{"unknown connection", func(r *Redemption) { r.Connection = "nope" }, nil, ErrUnknownConnection},
		{"not passwordless", func(r *Redemption) { r.Connection = "database" }, nil, ErrUnknownConnection},
		{"connection disabled for the client", func(r *Redemption) { r.Connection = "elsewhere" }, nil, ErrConnectionDisabled},
		{"malformed email", func(r *Redemption) { r.Username = "ana at example.com" }, nil, ErrWrongCode},
		{"malformed phone", func(r *Redemption) { r.Connection, r.Username = "sms", "4155552671" }, nil, ErrWrongCode},
		{"empty code", func(r *Redemption) { r.Code = "" }, nil, ErrWrongCode},
		{"oversized code", func(r *Redemption) { r.Code = strings.Repeat("1", 65) }, nil, ErrWrongCode},
		{"brute-force block", nil, protect.ErrBlocked, ErrTooManyAttempts},
		{"suspicious IP", nil, protect.ErrSuspiciousIP, ErrSuspiciousIP},
		{"protection unavailable", nil, fmt.Errorf("%w: redis down", protect.ErrUnavailable), ErrProtectionUnavailable},
	}
	for _, tt := range tests {
		for _, check := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/check=%v", tt.name, check), func(t *testing.T) {
				f := newFixture(t)
				code := f.start(t, emailStart("ana@example.com"))
				f.guard.attemptErr = tt.attemptErr
				r := redemption(code)
				if tt.r != nil {
					tt.r(&r)
				}
				var err error
				if check {
					_, err = f.svc.Check(context.Background(), r)
				} else {
					_, err = f.svc.Redeem(context.Background(), r)
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if f.st.consumed != 0 || len(f.guard.callsOf("AfterFailure")) != 0 {
					t.Errorf("a refused attempt reached the code (%d) or counted (%v)", f.st.consumed, f.guard.callsOf("AfterFailure"))
				}
				// The code is intact for a proper attempt.
				f.guard.attemptErr = nil
				if _, err := f.svc.Redeem(context.Background(), redemption(code)); err != nil {
					t.Errorf("the right code after the refusal: %v", err)
				}
			})
		}
	}
}

// TestRedeemUserRules: with signup disabled, only existing users log in;
// a blocked user's right code is consumed but the login is refused.
func TestRedeemUserRules(t *testing.T) {
	f := newFixture(t)
	code := f.start(t, emailStart("ana@example.com"))
	f.option("email", func(o *store.ConnectionOptions) { o.DisableSignup = true })
	if _, err := f.svc.Redeem(context.Background(), redemption(code)); !errors.Is(err, ErrSignupDisabled) {
		t.Errorf("signup disabled after start: %v, want ErrSignupDisabled", err)
	}
	if len(f.st.users) != 0 {
		t.Errorf("a user was created with signup disabled")
	}

	f = newFixture(t)
	f.addUser("email", "ana@example.com", nil)
	code = f.start(t, emailStart("ana@example.com"))
	f.st.users[key("email", "ana@example.com")] = func() store.User {
		u := f.st.users[key("email", "ana@example.com")]
		u.Blocked = true
		return u
	}()
	got, err := f.svc.Redeem(context.Background(), redemption(code))
	if !errors.Is(err, ErrUserBlocked) || !got.User.Blocked || got.Created {
		t.Errorf("blocked user: %+v %v, want ErrUserBlocked with the user", got, err)
	}
	if len(f.st.codes) != 0 {
		t.Errorf("the blocked user's code is still outstanding")
	}
}

// TestCheck: Check judges a code without consuming it: a right code stays
// usable (the magic link's redemption follows), a wrong one counts.
func TestCheck(t *testing.T) {
	f := newFixture(t)
	req := emailStart("ana@example.com")
	req.AuthParams = map[string]string{"state": "s1"}
	code := f.start(t, req)
	got, err := f.svc.Check(context.Background(), redemption(code))
	if err != nil || got.Strategy != "email" || got.AuthParams["state"] != "s1" {
		t.Fatalf("Check: %+v %v", got, err)
	}
	if _, err := f.svc.Check(context.Background(), redemption(wrong(code))); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if calls := f.guard.callsOf("AfterFailure", "AfterSuccess"); len(calls) != 1 || !strings.HasPrefix(calls[0], "AfterFailure") {
		t.Errorf("guard calls after a right and a wrong check: %v", calls)
	}
	if _, err := f.svc.Redeem(context.Background(), redemption(code)); err != nil {
		t.Fatalf("redeem after check: %v", err)
	}
	if _, err := f.svc.Check(context.Background(), redemption(code)); !errors.Is(err, ErrWrongCode) {
		t.Errorf("check after redemption: %v, want ErrWrongCode", err)
	}
}

// TestNewCodeReplacesOld: a second start replaces the outstanding code.
func TestNewCodeReplacesOld(t *testing.T) {
	f := newFixture(t)
	first := f.start(t, emailStart("ana@example.com"))
	second := f.start(t, emailStart("ana@example.com"))
	for second == first { // one chance in a million
		second = f.start(t, emailStart("ana@example.com"))
	}
	if _, err := f.svc.Redeem(context.Background(), redemption(first)); !errors.Is(err, ErrWrongCode) {
		t.Errorf("the replaced code: %v, want ErrWrongCode", err)
	}
	if _, err := f.svc.Redeem(context.Background(), redemption(second)); err != nil {
		t.Errorf("the new code: %v", err)
	}
}

// TestWithoutGuard: a service without attack protection still applies the
// code rules.
func TestWithoutGuard(t *testing.T) {
	f := newFixture(t)
	f.svc.guard = nil
	code := f.start(t, emailStart("ana@example.com"))
	if _, err := f.svc.Redeem(context.Background(), redemption(wrong(code))); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong: %v", err)
	}
	if _, err := f.svc.Redeem(context.Background(), redemption(code)); err != nil {
		t.Fatalf("right: %v", err)
	}
}

func TestValidPhoneNumber(t *testing.T) {
	for in, want := range map[string]bool{"+14155552671": true, "+1": true, "+1234567890123456": false, "14155552671": false, "+1 415": false, "": false} {
		if got := ValidPhoneNumber(in); got != want {
			t.Errorf("ValidPhoneNumber(%q) = %v", in, got)
		}
	}
}

// TestUserID: the user id of a new user is the strategy and the identity
// id, which depends on the connection and the identifier only.
func TestUserID(t *testing.T) {
	f := newFixture(t)
	a := UserID(f.keys, f.dir.conns["email"], "ana@example.com")
	if !strings.HasPrefix(a, "email|") || len(a) != len("email|")+24 || a != "email|"+IdentityID(f.keys, "email", "ana@example.com") {
		t.Errorf("UserID = %q", a)
	}
	if IdentityID(f.keys, "email", "bob@example.com") == IdentityID(f.keys, "email", "ana@example.com") ||
		IdentityID(f.keys, "other", "ana@example.com") == IdentityID(f.keys, "email", "ana@example.com") {
		t.Errorf("identity ids collide across identifiers or connections")
	}
}
