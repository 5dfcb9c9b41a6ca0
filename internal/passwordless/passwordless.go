// Package passwordless issues, delivers and redeems one-time codes (and the
// magic links that carry them), and finds or creates the user at the first
// correct code. It knows nothing of HTTP.
package passwordless

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Directory is the configuration the service reads.
type Directory interface {
	Connection(ctx context.Context, name string) (store.Connection, error)
	Settings(ctx context.Context) (store.TenantSettings, error)
}

// Store is the storage the service uses.
type Store interface {
	FindUser(ctx context.Context, connection, identifier string) (store.User, error)
	PutCode(ctx context.Context, c store.Code, msg *store.OutboxMessage) error
	ConsumeCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error)
	CheckCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error)
	RecordLogin(ctx context.Context, l store.Login, allowSignup bool) (store.User, bool, error)
}

// Queue prepares durable messages: Message renders and seals n as an
// outbox message, committed in the same transaction as its code; Wake
// starts its delivery once committed.
type Queue interface {
	Message(ctx context.Context, n delivery.Notification, conn store.Connection, expires time.Time) (*store.OutboxMessage, error)
	Wake()
}

// InputError is a rejected start request: Code is Auth0's error code
// (bad.connection, bad.email, …) and Description its text.
type InputError struct {
	Status      int // 400 when zero
	Code        string
	Description string
}

func (e *InputError) Error() string { return e.Code + ": " + e.Description }

// Redeem errors.
var (
	ErrUnknownConnection  = errors.New("connection does not exist")
	ErrConnectionDisabled = errors.New("connection is not enabled for the client")
	ErrWrongCode          = errors.New("wrong identifier or code")
	ErrCodeExhausted      = errors.New("maximum attempts reached")
	ErrCodeExpired        = errors.New("code expired")
	ErrSignupDisabled     = errors.New("public signup is disabled")
	ErrUserBlocked        = errors.New("user is blocked")
	// ErrTooManyAttempts: brute-force protection blocks this IP for the
	// identifier; ErrSuspiciousIP: suspicious IP throttling blocks the IP.
	ErrTooManyAttempts = errors.New("too many failed attempts")
	ErrSuspiciousIP    = errors.New("suspicious IP throttled")
	// ErrRecipientLimited: too many codes were sent to this recipient.
	ErrRecipientLimited = errors.New("too many codes sent to this recipient")
	// ErrProtectionUnavailable: attack protection could not be checked (its
	// shared counters did not answer) and fails closed.
	ErrProtectionUnavailable = protect.ErrUnavailable
)

// UnavailableText is the description of a request refused because attack
// protection could not be checked.
const UnavailableText = "Login is temporarily unavailable. Try again in a moment."

// errUnavailable answers a start that attack protection could not check:
// the operator's outage, not the user's fault, so not a 429.
var errUnavailable = &InputError{Status: 503, Code: "temporarily_unavailable", Description: UnavailableText}

// Service runs passwordless logins.
type Service struct {
	dir    Directory
	st     Store
	queue  Queue
	guard  Guard
	keys   *secret.Keys
	issuer string
	now    func() time.Time
}

// Deps are what a Service works with.
type Deps struct {
	Directory Directory
	Store     Store
	// Queue turns notifications into outbox messages: the one delivery
	// path, whether the outbox's transport is SMTP and the SMS providers
	// or the dev capture.
	Queue Queue
	// Guard applies attack protection; nil applies none.
	Guard  Guard
	Keys   *secret.Keys
	Issuer string // magic links start with it
	Now    func() time.Time
}

// New returns a Service.
func New(d Deps) *Service {
	return &Service{dir: d.Directory, st: d.Store, queue: d.Queue, guard: d.Guard, keys: d.Keys, issuer: d.Issuer, now: d.Now}
}

// Guard is the attack protection around code attempts, signups and the
// codes sent to one recipient (package protect).
type Guard interface {
	BeforeAttempt(ctx context.Context, conn store.Connection, ident, ip string) error
	AfterFailure(ctx context.Context, conn store.Connection, ident, ip string, ev store.LogEvent)
	AfterSuccess(ctx context.Context, conn store.Connection, ident, ip string)
	BeforeSignup(ctx context.Context, ip string, ev store.LogEvent) error
	AllowRecipient(ctx context.Context, conn store.Connection, ident string, ev store.LogEvent) error
}

// StartRequest is a validated /passwordless/start call from an
// authenticated (or public) client.
type StartRequest struct {
	Client      store.Client
	Connection  string
	Email       string
	PhoneNumber string
	Send        string // code, link, link_ios, link_android; "" for the default
	AuthParams  map[string]string
	IP          string
	UserAgent   string
	Language    string
}

// StartResult is what start answers.
type StartResult struct {
	Strategy    string
	IdentityID  string // 24 hex
	Email       string
	PhoneNumber string
	Verified    bool
	Language    string
	Sent        bool
	// Connection is the connection the code was issued for; Send the
	// effective delivery (code or link).
	Connection store.Connection
	Send       string
	// NotSent says why nothing was sent although the answer is 200
	// (a blocked user, or signup refused in enumeration-safe mode); the
	// tenant log records it.
	NotSent string
}

var phonePattern = regexp.MustCompile(`^\+[0-9]{1,15}$`)

// Start issues a code for the identifier and delivers it.
func (s *Service) Start(ctx context.Context, req StartRequest) (StartResult, error) {
	conn, err := s.connectionFor(ctx, req.Connection, req.Client.ClientID)
	switch {
	case errors.Is(err, ErrUnknownConnection):
		return StartResult{}, &InputError{Code: "bad.connection", Description: "Connection does not exist"}
	case errors.Is(err, ErrConnectionDisabled):
		return StartResult{}, &InputError{Code: "bad.connection", Description: "Connection is disabled"}
	case err != nil:
		return StartResult{}, err
	}
	res := StartResult{Strategy: conn.Strategy, Language: req.Language, Connection: conn}
	var ident string
	switch conn.Strategy {
	case "email":
		if req.Email == "" {
			return res, &InputError{Code: "bad.email", Description: "Missing required property: email"}
		}
		if ident, err = NormalizeEmail(req.Email); err != nil {
			return res, &InputError{Code: "bad.email", Description: "error in email - email format validation failed: " + req.Email}
		}
		res.Email = ident
	case "sms":
		if req.PhoneNumber == "" {
			return res, &InputError{Code: "bad.phone_number", Description: "Missing required property: phone_number"}
		}
		if !phonePattern.MatchString(req.PhoneNumber) {
			return res, &InputError{Code: "bad.phone_number", Description: `String does not match pattern: ^\+[0-9]{1,15}$`}
		}
		ident = req.PhoneNumber
		res.PhoneNumber = ident
	}
	send := req.Send
	switch send {
	case "":
		send = "link"
		if conn.Strategy == "sms" {
			send = "code"
		}
	case "code", "link", "link_ios", "link_android":
	default:
		return res, &InputError{Code: "bad.send", Description: fmt.Sprintf("error in send - invalid value: %q (expected one of code, link)", send)}
	}
	if conn.Strategy == "sms" {
		send = "code" // SMS carries codes only
	}
	res.Send = send

	settings, err := s.dir.Settings(ctx)
	if err != nil {
		return res, fmt.Errorf("read settings: %w", err)
	}
	// The identity id of a user yet to sign up is derived from the
	// identifier, so repeated starts answer alike whether or not the
	// account exists.
	res.IdentityID = s.identityID(conn.Name, ident)
	safe := settings.Latchkey.EnumerationSafeSignup
	u, err := s.st.FindUser(ctx, conn.Name, ident)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if s.guard != nil && !conn.Options.DisableSignup {
			ev := store.LogEvent{ClientID: req.Client.ClientID, ClientName: req.Client.Name, Connection: conn.Name, UserName: ident, IP: req.IP}
			if err := s.guard.BeforeSignup(ctx, req.IP, ev); err != nil {
				if errors.Is(err, protect.ErrUnavailable) {
					return res, errUnavailable
				}
				return res, &InputError{Status: 429, Code: "too_many_attempts", Description: suspiciousText}
			}
		}
		if conn.Options.DisableSignup {
			if !safe {
				return res, &InputError{Code: "invalid_signup", Description: "Public signup is disabled"}
			}
			res.NotSent = "Public signup is disabled"
			return res, nil // answer as if sent; nothing goes out
		}
	case err != nil:
		return res, fmt.Errorf("find user: %w", err)
	default:
		_, res.IdentityID, _ = strings.Cut(u.UserID, "|")
		// In enumeration-safe mode the answer does not reveal the account.
		res.Verified = !safe && (u.EmailVerified || u.PhoneVerified)
		if u.Blocked {
			res.NotSent = "user is blocked"
			return res, nil // Auth0 sends nothing to blocked users
		}
	}

	now := s.now()
	if conn.Strategy == "sms" {
		if err := s.checkSMS(conn, ident); err != nil {
			return res, err
		}
	}
	if s.guard != nil {
		ev := store.LogEvent{ClientID: req.Client.ClientID, ClientName: req.Client.Name, Connection: conn.Name, UserName: ident, IP: req.IP}
		if err := s.guard.AllowRecipient(ctx, conn, ident, ev); err != nil {
			if errors.Is(err, protect.ErrUnavailable) {
				return res, errUnavailable
			}
			return res, &InputError{Status: 429, Code: "too_many_requests",
				Description: "Too many codes were sent to this address or number. Try again later."}
		}
	}
	lifetime := time.Duration(conn.Options.TOTP.TimeStep) * time.Second
	code := secret.Digits(conn.Options.TOTP.Length)
	params := make(map[string]string, len(conn.Options.AuthParams)+len(req.AuthParams))
	for k, v := range conn.Options.AuthParams {
		params[k] = v
	}
	for k, v := range req.AuthParams {
		params[k] = v
	}
	c := store.Code{
		ID: secret.Hex(12), Connection: conn.Name, Identifier: ident,
		Hash: s.codeHash(conn.Name, ident, req.Client.ClientID, code), ClientID: req.Client.ClientID, UserIDHint: res.IdentityID,
		Send: send, AuthParams: params, IP: req.IP, UserAgent: req.UserAgent,
		CreatedAt: now, ExpiresAt: now.Add(lifetime),
	}
	n := delivery.Notification{Channel: conn.Strategy, To: ident, Code: code, Send: send, Operation: "login",
		Language: req.Language, AppName: req.Client.Name, ExpiresIn: lifetime, IP: req.IP, UserAgent: req.UserAgent,
		ClientID: req.Client.ClientID}
	if send != "code" {
		n.Link = s.link(req.Client.ClientID, conn, ident, code, params)
	}
	msg, err := s.queue.Message(ctx, n, conn, c.ExpiresAt)
	if err != nil {
		return res, fmt.Errorf("compose message: %w", err)
	}
	if err := s.st.PutCode(ctx, c, msg); err != nil {
		return res, fmt.Errorf("store code: %w", err)
	}
	s.queue.Wake()
	res.Sent = true
	return res, nil
}

// link builds the magic link: the verify_redirect URL carrying the same code
// and the stored authorization parameters.
func (s *Service) link(clientID string, conn store.Connection, ident, code string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	q.Set("client_id", clientID)
	q.Set("connection", conn.Name)
	if conn.Strategy == "email" {
		q.Set("email", ident)
	} else {
		q.Set("phone_number", ident)
	}
	q.Set("verification_code", code)
	return s.issuer + "passwordless/verify_redirect?" + q.Encode()
}

// codeHash binds a code to its connection, identifier and client: a code
// presented by another application counts as a wrong code.
func (s *Service) codeHash(connection, ident, clientID, code string) []byte {
	return s.keys.Hash("code", connection, ident, clientID, code)
}

// identityID is the 24-hex id a new user of (connection, ident) gets.
func (s *Service) identityID(connection, ident string) string {
	return IdentityID(s.keys, connection, ident)
}

// IdentityID is the 24-hex identity id that the user of the connection
// named connection with the normalised identifier ident gets, whether the
// user signs up with a code or is created by an administrator.
func IdentityID(keys *secret.Keys, connection, ident string) string {
	return hex.EncodeToString(keys.Hash("identity", connection, ident)[:12])
}

// UserID is the user_id ("<strategy>|<identity id>") of a new user of conn
// with the normalised identifier ident.
func UserID(keys *secret.Keys, conn store.Connection, ident string) string {
	return conn.Strategy + "|" + IdentityID(keys, conn.Name, ident)
}

// ValidPhoneNumber reports whether s is a phone number as the sms
// connection takes it (E.164: a plus and up to 15 digits).
func ValidPhoneNumber(s string) bool { return phonePattern.MatchString(s) }

func (s *Service) connectionFor(ctx context.Context, name, clientID string) (store.Connection, error) {
	conn, err := s.dir.Connection(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tenant.IsPasswordless(conn)) {
		return conn, ErrUnknownConnection
	}
	if err != nil {
		return conn, fmt.Errorf("read connection: %w", err)
	}
	if !tenant.IsEnabledFor(conn, clientID) {
		return conn, ErrConnectionDisabled
	}
	return conn, nil
}

// Redemption is an attempt to log in with a code.
type Redemption struct {
	ClientID   string
	Connection string // realm
	Username   string // email or phone number
	Code       string
	IP         string
}

// Redeemed is a successful redemption.
type Redeemed struct {
	User       store.User
	Created    bool
	Strategy   string
	AuthParams map[string]string
}

// Redeem checks the code and, when it is right, consumes it and records the
// login (creating the user on first success unless signup is disabled).
// Errors: ErrUnknownConnection, ErrConnectionDisabled, ErrWrongCode,
// ErrCodeExhausted, ErrCodeExpired, ErrSignupDisabled, ErrUserBlocked.
func (s *Service) Redeem(ctx context.Context, r Redemption) (Redeemed, error) {
	conn, ident, err := s.locate(ctx, r)
	out := Redeemed{Strategy: conn.Strategy}
	if err != nil {
		return out, err
	}
	if err := s.beforeAttempt(ctx, conn, ident, r); err != nil {
		return out, err
	}
	now := s.now()
	c, err := s.st.ConsumeCode(ctx, conn.Name, ident, s.codeHash(conn.Name, ident, r.ClientID, r.Code), now)
	if err != nil {
		s.afterFailure(ctx, conn, ident, r, err)
		return out, codeError(err)
	}
	out.AuthParams = c.AuthParams
	l := store.Login{UserID: conn.Strategy + "|" + c.UserIDHint, Connection: conn.Name, Identifier: ident, IP: r.IP, At: now}
	if conn.Strategy == "email" {
		l.Email, l.EmailVerified = ident, true
	} else {
		l.PhoneNumber, l.PhoneVerified = ident, true
	}
	u, created, err := s.st.RecordLogin(ctx, l, !conn.Options.DisableSignup)
	if s.guard != nil && err == nil {
		s.guard.AfterSuccess(ctx, conn, ident, r.IP)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return out, ErrSignupDisabled
	case err != nil:
		return out, fmt.Errorf("record login: %w", err)
	case u.Blocked:
		out.User = u
		return out, ErrUserBlocked
	}
	out.User, out.Created = u, created
	return out, nil
}

// Check checks a code without consuming it (POST /passwordless/verify, which
// the browser follows with the magic link's redemption of the same code): a
// right code stays usable, a wrong one counts against its attempts. It
// returns the connection's strategy (for the error texts) and the
// authorization parameters stored with the code at start.
func (s *Service) Check(ctx context.Context, r Redemption) (Checked, error) {
	conn, ident, err := s.locate(ctx, r)
	if err != nil {
		return Checked{Strategy: conn.Strategy}, err
	}
	if err := s.beforeAttempt(ctx, conn, ident, r); err != nil {
		return Checked{Strategy: conn.Strategy}, err
	}
	c, err := s.st.CheckCode(ctx, conn.Name, ident, s.codeHash(conn.Name, ident, r.ClientID, r.Code), s.now())
	if err != nil {
		s.afterFailure(ctx, conn, ident, r, err)
	}
	return Checked{Strategy: conn.Strategy, AuthParams: c.AuthParams}, codeError(err)
}

// suspiciousText is Auth0's answer to a throttled IP.
const suspiciousText = "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."

// beforeAttempt refuses an attempt that attack protection blocks.
func (s *Service) beforeAttempt(ctx context.Context, conn store.Connection, ident string, r Redemption) error {
	if s.guard == nil {
		return nil
	}
	err := s.guard.BeforeAttempt(ctx, conn, ident, r.IP)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, protect.ErrSuspiciousIP):
		return ErrSuspiciousIP
	case errors.Is(err, protect.ErrUnavailable):
		return ErrProtectionUnavailable
	}
	return ErrTooManyAttempts
}

// afterFailure counts a wrong guess at a live code (not at a code already
// used, used up, missing or expired: nothing was there to guess; the guess
// that uses a code up is not counted either, as the store reports it like
// the later ones).
func (s *Service) afterFailure(ctx context.Context, conn store.Connection, ident string, r Redemption, err error) {
	if s.guard == nil || !errors.Is(err, store.ErrCodeWrong) {
		return
	}
	s.guard.AfterFailure(ctx, conn, ident, r.IP, store.LogEvent{ClientID: r.ClientID, Connection: conn.Name, UserName: ident, IP: r.IP})
}

// Checked is a code found right by Check.
type Checked struct {
	Strategy   string
	AuthParams map[string]string
}

// locate finds the connection of a redemption and normalises its
// identifier; a malformed identifier or code is a wrong code.
func (s *Service) locate(ctx context.Context, r Redemption) (store.Connection, string, error) {
	conn, err := s.connectionFor(ctx, r.Connection, r.ClientID)
	if err != nil {
		return conn, "", err
	}
	ident := r.Username
	if conn.Strategy == "email" {
		if ident, err = NormalizeEmail(r.Username); err != nil {
			return conn, "", ErrWrongCode
		}
	} else if !phonePattern.MatchString(ident) {
		return conn, "", ErrWrongCode
	}
	if r.Code == "" || len(r.Code) > 64 {
		return conn, "", ErrWrongCode
	}
	return conn, ident, nil
}

// codeError maps the store's code verdicts to the service's errors.
func codeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCodeWrong):
		return ErrWrongCode
	case errors.Is(err, store.ErrCodeExhausted):
		return ErrCodeExhausted
	case errors.Is(err, store.ErrCodeExpired):
		return ErrCodeExpired
	}
	return fmt.Errorf("check code: %w", err)
}

// NormalizeEmail validates an email address and lower-cases it.
func NormalizeEmail(s string) (string, error) {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>()\",;") {
		return "", errors.New("invalid email")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errors.New("invalid email")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", errors.New("invalid email")
	}
	return strings.ToLower(s), nil
}
