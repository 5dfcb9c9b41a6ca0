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
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

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
	CheckCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error)
	RedeemCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time,
		login func(store.Code) store.Login, allowSignup bool) (store.Code, store.User, bool, error)
}

// Queue prepares durable messages: Message renders and seals n as an
// outbox message, committed in the same transaction as its code;
// Committed starts its delivery once committed, Abandoned gives back
// what Message took when the commit failed.
type Queue interface {
	Message(ctx context.Context, n delivery.Notification, conn store.Connection, expires time.Time) (*store.OutboxMessage, error)
	Committed(m *store.OutboxMessage)
	Abandoned(m *store.OutboxMessage)
}

// Errors. Start, Redeem and Check refuse a request with one of these, in a
// *Refusal that carries the facts Auth0's answer quotes; errors.Is finds
// them. The words (status, error code, text) are the API packages' (package
// apierr), not this package's.
var (
	// Redemption and start.
	ErrUnknownConnection  = errors.New("connection does not exist")
	ErrConnectionDisabled = errors.New("connection is not enabled for the client")
	ErrSignupDisabled     = errors.New("public signup is disabled")
	// Redemption.
	ErrWrongCode     = errors.New("wrong identifier or code")
	ErrCodeExhausted = errors.New("maximum attempts reached")
	ErrCodeExpired   = errors.New("code expired")
	ErrUserBlocked   = errors.New("user is blocked")
	// ErrTooManyAttempts: brute-force protection blocks this IP for the
	// identifier; ErrSuspiciousIP: suspicious IP throttling blocks the IP
	// (at redemption, or at a start that would sign a user up).
	ErrTooManyAttempts = errors.New("too many failed attempts")
	ErrSuspiciousIP    = errors.New("suspicious IP throttled")
	// ErrProtectionUnavailable: attack protection could not be checked (its
	// shared counters did not answer) and fails closed.
	ErrProtectionUnavailable = protect.ErrUnavailable

	// Start: the identifier and delivery asked for.
	ErrMissingEmail         = errors.New("email missing")
	ErrMalformedEmail       = errors.New("email malformed")
	ErrMissingPhoneNumber   = errors.New("phone number missing")
	ErrMalformedPhoneNumber = errors.New("phone number not in E.164")
	ErrInvalidSend          = errors.New("unknown send option")
	// ErrRecipientLimited: too many codes were sent to this recipient.
	ErrRecipientLimited = errors.New("too many codes sent to this recipient")
	// SMS pumping defences: the number is not a real one (libphonenumber),
	// or its country is not allowed for the connection.
	ErrInvalidPhoneNumber = errors.New("not a valid phone number")
	ErrCountryNotAllowed  = errors.New("phone number's country not allowed")
)

// A Refusal is a start or redemption the service refuses: Err says why
// (one of the errors above) and the other fields are the facts an answer
// may quote.
type Refusal struct {
	Err error
	// Connection is the connection the request named; Strategy its
	// strategy (email, sms) when it exists.
	Connection, Strategy string
	// Value is the refused value as presented, for the errors whose answer
	// quotes it: the email (ErrMalformedEmail), the number
	// (ErrInvalidPhoneNumber), the send option (ErrInvalidSend) or the
	// number's country (ErrCountryNotAllowed). It can be personal data, so
	// Error leaves it out (errors are logged).
	Value string
}

func (e *Refusal) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Refusal) Unwrap() error { return e.Err }

// refusals are the errors a Refusal carries: the refusals of Start,
// Redeem and Check, as opposed to their internal failures.
var refusals = []error{ErrUnknownConnection, ErrConnectionDisabled, ErrSignupDisabled, ErrWrongCode, ErrCodeExhausted,
	ErrCodeExpired, ErrUserBlocked, ErrTooManyAttempts, ErrSuspiciousIP, ErrProtectionUnavailable, ErrMissingEmail,
	ErrMalformedEmail, ErrMissingPhoneNumber, ErrMalformedPhoneNumber, ErrInvalidSend, ErrRecipientLimited,
	ErrInvalidPhoneNumber, ErrCountryNotAllowed}

// refuse returns err in a Refusal with the connection's facts when it is a
// refusal (the error as it is otherwise, and nil for nil).
func refuse(err error, connection, strategy string) error {
	var r *Refusal
	if err == nil || errors.As(err, &r) {
		if r != nil && r.Connection == "" {
			r.Connection, r.Strategy = connection, strategy
		}
		return err
	}
	for _, e := range refusals {
		if errors.Is(err, e) {
			return &Refusal{Err: err, Connection: connection, Strategy: strategy}
		}
	}
	return err
}

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
	// BeforeStart applies the limits of a start about to send a code, at
	// once: the signup throttle (when signup is set) and the recipient's
	// caps.
	BeforeStart(ctx context.Context, conn store.Connection, ident, ip string, signup bool, ev store.LogEvent) error
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

// Start issues a code for the identifier and delivers it. A refused start
// is a *Refusal: ErrUnknownConnection, ErrConnectionDisabled,
// ErrMissingEmail, ErrMalformedEmail, ErrMissingPhoneNumber,
// ErrMalformedPhoneNumber, ErrInvalidSend, ErrSuspiciousIP,
// ErrProtectionUnavailable, ErrSignupDisabled, ErrInvalidPhoneNumber,
// ErrCountryNotAllowed or ErrRecipientLimited.
func (s *Service) Start(ctx context.Context, req StartRequest) (StartResult, error) {
	res, err := s.start(ctx, req)
	return res, refuse(err, req.Connection, res.Strategy)
}

func (s *Service) start(ctx context.Context, req StartRequest) (StartResult, error) {
	conn, err := s.connectionFor(ctx, req.Connection, req.Client.ClientID)
	if err != nil {
		return StartResult{}, err
	}
	res := StartResult{Strategy: conn.Strategy, Language: req.Language, Connection: conn}
	var ident string
	switch conn.Strategy {
	case "email":
		if req.Email == "" {
			return res, ErrMissingEmail
		}
		if ident, err = NormalizeEmail(req.Email); err != nil {
			return res, &Refusal{Err: ErrMalformedEmail, Value: req.Email}
		}
		res.Email = ident
	case "sms":
		if req.PhoneNumber == "" {
			return res, ErrMissingPhoneNumber
		}
		if !phonePattern.MatchString(req.PhoneNumber) {
			return res, ErrMalformedPhoneNumber
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
		return res, &Refusal{Err: ErrInvalidSend, Value: send}
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
	exists, blocked := false, false
	u, err := s.st.FindUser(ctx, conn.Name, ident)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return res, fmt.Errorf("find user: %w", err)
	default:
		exists, blocked = true, u.Blocked
		_, res.IdentityID, _ = strings.Cut(u.UserID, "|")
		// In enumeration-safe mode the answer does not reveal the account.
		res.Verified = !safe && (u.EmailVerified || u.PhoneVerified)
	}
	signupOff := !exists && conn.Options.DisableSignup
	switch {
	case signupOff && safe:
		res.NotSent = "Public signup is disabled"
	case blocked:
		res.NotSent = "user is blocked"
	}
	if !safe {
		if signupOff {
			return res, ErrSignupDisabled
		}
		if blocked {
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
		// Every limit in one call. The signup throttle counts the starts
		// for unknown identifiers; in enumeration-safe mode it counts every
		// start, and the recipient's caps apply to every address, so that
		// limits answer an existing and an unknown address alike.
		ev := store.LogEvent{ClientID: req.Client.ClientID, ClientName: req.Client.Name, Connection: conn.Name, UserName: ident, IP: req.IP}
		if err := s.guard.BeforeStart(ctx, conn, ident, req.IP, safe || !exists, ev); err != nil {
			if errors.Is(err, protect.ErrSuspiciousIP) {
				return res, ErrSuspiciousIP
			}
			return res, guardRefusal(err, ErrRecipientLimited)
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
	// Enumeration-safe mode, and nothing may go out (an unknown address
	// with signup disabled, a blocked user): the same work as a start that
	// sends — the message is rendered, sealed, queued with its code and the
	// worker woken — but the worker settles it without sending. The code
	// is stored, so that a wrong guess at it costs what a wrong guess at
	// any live code costs; nobody holds it, and redeeming it could not
	// sign up or log in a blocked user anyway.
	n.Withheld = res.NotSent != ""
	msg, err := s.queue.Message(ctx, n, conn, c.ExpiresAt)
	if err != nil {
		return res, fmt.Errorf("compose message: %w", err)
	}
	if err := s.st.PutCode(ctx, c, msg); err != nil {
		s.queue.Abandoned(msg)
		return res, fmt.Errorf("store code: %w", err)
	}
	s.queue.Committed(msg)
	res.Sent = !n.Withheld
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
// A refusal is a *Refusal naming the connection and its strategy:
// ErrUnknownConnection, ErrConnectionDisabled, ErrWrongCode,
// ErrCodeExhausted, ErrCodeExpired, ErrSignupDisabled, ErrUserBlocked,
// ErrTooManyAttempts, ErrSuspiciousIP or ErrProtectionUnavailable.
func (s *Service) Redeem(ctx context.Context, r Redemption) (Redeemed, error) {
	out, err := s.redeem(ctx, r)
	return out, refuse(err, r.Connection, out.Strategy)
}

func (s *Service) redeem(ctx context.Context, r Redemption) (Redeemed, error) {
	conn, ident, err := s.locate(ctx, r)
	out := Redeemed{Strategy: conn.Strategy}
	if err != nil {
		return out, err
	}
	if err := s.beforeAttempt(ctx, conn, ident, r); err != nil {
		return out, err
	}
	now := s.now()
	login := func(c store.Code) store.Login {
		l := store.Login{UserID: conn.Strategy + "|" + c.UserIDHint, Connection: conn.Name, Identifier: ident, IP: r.IP, At: now}
		if conn.Strategy == "email" {
			l.Email, l.EmailVerified = ident, true
		} else {
			l.PhoneNumber, l.PhoneVerified = ident, true
		}
		return l
	}
	// The code is spent and the login recorded in one write transaction,
	// done whatever the request's fate: a client that hangs up meanwhile
	// leaves neither a spent code without its login nor half a login.
	c, u, created, err := s.st.RedeemCode(context.WithoutCancel(ctx), conn.Name, ident,
		s.codeHash(conn.Name, ident, r.ClientID, r.Code), now, login, !conn.Options.DisableSignup)
	if err != nil && c.ID == "" {
		// Nothing was spent: the code's verdict (none, wrong, expired,
		// exhausted), or the store's failure.
		if isCodeVerdict(err) {
			s.afterFailure(ctx, conn, ident, r, err)
			return out, codeError(err)
		}
		return out, fmt.Errorf("redeem code: %w", err)
	}
	out.AuthParams = c.AuthParams
	if s.guard != nil && err == nil {
		s.guard.AfterSuccess(ctx, conn, ident, r.IP)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return out, ErrSignupDisabled
	case err != nil:
		return out, fmt.Errorf("record login: %w", err) // nothing spent (see above)
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
// returns the connection's strategy and the authorization parameters
// stored with the code at start; its refusals are Redeem's.
func (s *Service) Check(ctx context.Context, r Redemption) (Checked, error) {
	out, err := s.check(ctx, r)
	return out, refuse(err, r.Connection, out.Strategy)
}

func (s *Service) check(ctx context.Context, r Redemption) (Checked, error) {
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
	}
	return guardRefusal(err, ErrTooManyAttempts)
}

// guardRefusal is the refusal of a request that attack protection refused
// with err: err itself when protection could not be checked
// (ErrProtectionUnavailable), refused otherwise. Protection that fails for
// another reason (its settings could not be read) refuses all the same,
// with that reason kept in the chain for the log.
func guardRefusal(err, refused error) error {
	switch {
	case errors.Is(err, protect.ErrUnavailable):
		return err
	case errors.Is(err, protect.ErrLimited), errors.Is(err, protect.ErrBlocked), errors.Is(err, protect.ErrSuspiciousIP):
		return refused
	}
	return fmt.Errorf("%w (%w)", refused, err)
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
// isCodeVerdict reports whether err is a code's verdict rather than a
// failure of the store.
func isCodeVerdict(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCodeWrong) ||
		errors.Is(err, store.ErrCodeExhausted) || errors.Is(err, store.ErrCodeExpired)
}

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

// NormalizeEmail validates an email address and returns the form it is
// known by: the domain mapped and checked by IDNA (UTS #46, the lookup
// profile browsers use) and given in Unicode, the local part lower-cased.
// Addresses that could look like a different address are refused rather
// than folded: invisible and format characters (zero-width spaces, joiners,
// bidi controls, soft hyphens, variation selectors), controls, private use,
// and any character NFKC would replace (the Kelvin sign, fullwidth and
// compatibility forms), so that the address mailed to is the address typed.
func NormalizeEmail(s string) (string, error) {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>()\",;") {
		return "", errInvalidEmail
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Z,
			unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point) {
			return "", errInvalidEmail
		}
	}
	if !norm.NFKC.IsNormalString(s) {
		return "", errInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errInvalidEmail
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", errInvalidEmail
	}
	ascii, err := emailDomain.ToASCII(domain)
	if err != nil {
		return "", errInvalidEmail
	}
	// The Unicode form must come back to the same A-labels (an A-label
	// that decodes to nothing, or to what the mapping would change, is
	// not a domain anyone can type).
	domain, err = emailDomain.ToUnicode(ascii)
	if back, err2 := emailDomain.ToASCII(domain); err != nil || err2 != nil || back != ascii || !norm.NFKC.IsNormalString(domain) {
		return "", errInvalidEmail
	}
	return strings.ToLower(local) + "@" + domain, nil
}

var (
	errInvalidEmail = errors.New("invalid email")
	// emailDomain is UTS #46 as for lookup, non-transitional, with the
	// DNS length limits (63 bytes a label, 253 in all).
	emailDomain = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.VerifyDNSLength(true))
)
