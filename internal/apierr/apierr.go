// Package apierr is Latchkey's one error vocabulary on the wire: the table
// that maps the errors the domain packages return (passwordless, oauth,
// protect, eventlog/query: sentinels, and the small typed errors that carry
// the facts an answer quotes) to the status, error code, text and headers
// Auth0 answers them with. The handlers of both APIs (authapi, mgmtapi)
// return Answer(surface, err): an *httpx.Error whose Cause is the domain
// error (logged with the request id, never sent), which httpx renders in
// the API's shape.
//
// It is a package of its own because both APIs read it and it must import
// the domain packages it maps: httpx cannot (the domain packages import
// httpx), and neither can a domain package (they never speak the wire).
//
// Auth0 answers one domain error differently on different endpoints (a
// wrong code is invalid_grant at /oauth/token but access_denied at
// /co/authenticate), so each row says on which surfaces it applies.
package apierr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
)

// Surface is where an error is answered. Surfaces are bits: a row applies
// to a set of them.
type Surface uint16

// Surfaces.
const (
	// Start is POST /passwordless/start, and the hosted page's form that
	// sends a code.
	Start Surface = 1 << iota
	// Token is POST /oauth/token, and POST /passwordless/verify (which
	// answers a code as the passwordless grant does).
	Token
	// CrossOrigin is POST /co/authenticate.
	CrossOrigin
	// Browser is the hosted login page and magic links: the text shown on
	// a page or sent to the callback.
	Browser
	// Authorize is an error /authorize sends to the application's callback.
	Authorize
	// Userinfo is /userinfo.
	Userinfo
	// Management is the Management API (/api/v2).
	Management
)

// Auth is every surface of the Authentication API (for answers that do not
// depend on the endpoint, such as rate limits).
const Auth = Start | Token | CrossOrigin | Browser | Authorize | Userinfo

// Answer is the client's answer to err on surface s: an *httpx.Error with
// Auth0's status, code, text and headers, whose Cause is err. An err that
// already is (or wraps) an *httpx.Error, and an err the table does not know
// (an internal failure, which Handle answers with an opaque 500), are
// returned as they are; nil is nil.
func Answer(s Surface, err error) error {
	if e, ok := Lookup(s, err); ok {
		return e
	}
	return err
}

// Lookup is Answer for handlers that word the answer themselves (a page,
// a redirect to the callback, a tenant-log description): the *httpx.Error,
// and whether err has one.
func Lookup(s Surface, err error) (*httpx.Error, bool) {
	if err == nil {
		return nil, false
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he, true
	}
	for i := range table {
		r := &table[i]
		if r.on&s == 0 || !r.matches(err) {
			continue
		}
		e := &httpx.Error{Status: r.status, Code: r.code, Description: r.text(factsOf(err)), Cause: err}
		if r.header[0] != "" {
			e.Header = http.Header{r.header[0]: {r.header[1]}}
		}
		if r.extra[0] != "" {
			e.Extra = map[string]any{r.extra[0]: r.extra[1]}
		}
		return e, true
	}
	return nil, false
}

// row is one answer: to the errors it matches, on the surfaces on.
type row struct {
	on     Surface
	err    error            // a domain error, matched with errors.Is
	as     func(error) bool // or a typed one, when err is nil
	status int
	code   string
	text   func(facts) string
	header [2]string // a response header (name, value), if any
	extra  [2]string // a field added to the Authentication API body, if any
}

func (r *row) matches(err error) bool {
	if r.err != nil {
		return errors.Is(err, r.err)
	}
	return r.as(err)
}

// facts are what a text may quote, from the domain's typed errors.
type facts struct {
	strategy   string // the connection's strategy
	connection string // the connection named
	value      string // the refused value
}

func factsOf(err error) facts {
	var f facts
	var pr *passwordless.Refusal
	if errors.As(err, &pr) {
		f = facts{strategy: pr.Strategy, connection: pr.Connection, value: pr.Value}
	}
	var or *oauth.Refusal
	if errors.As(err, &or) {
		f.value = or.Value
	}
	var se *query.SyntaxError
	if errors.As(err, &se) {
		f.value = se.Error()
	}
	return f
}

func fixed(s string) func(facts) string { return func(facts) string { return s } }

// quote is a text with the refused value in place of format's one verb.
func quote(format string) func(facts) string {
	return func(f facts) string { return fmt.Sprintf(format, f.value) }
}

func isSyntaxError(err error) bool {
	var se *query.SyntaxError
	return errors.As(err, &se)
}

// Auth0's texts that more than one row uses.
const (
	suspiciousText = "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."
	unavailable    = "Login is temporarily unavailable. Try again in a moment."
	userBlocked    = "user is blocked"
	signupDisabled = "Public signup is disabled"
	codeExhausted  = "You've reached the maximum number of attempts. Please try to login again."
	codeExpired    = "The verification code has expired. Please try to login again."
	// connectionNotEnabled is the pages' text for an unknown or disabled
	// connection.
	connectionNotEnabled = "The connection is not enabled for this application."
)

// Retry-After of the 429s whose wait the answer does not know (the
// handler sets a rate limit's own, to the second): every 429 carries one.
const (
	retryBlocked   = "900" // attack protection's blocks: a quarter of an hour
	retryRecipient = "360" // a recipient's cap: Auth0's default refills one code every 6 minutes
	retryDefault   = "1"   // a rate limit whose handler did not say
)

// unknownRealm is /co/authenticate's text for an unknown or disabled
// connection.
func unknownRealm(f facts) string { return "Unknown realm " + clip(f.connection, 128) + "." }

// wrongCode is Auth0's text for a wrong code, by the connection's strategy.
func wrongCode(f facts) string {
	if f.strategy == "sms" {
		return "Wrong phone number or verification code."
	}
	return "Wrong email or verification code."
}

// The redemption surfaces: the token endpoint's words also show on pages.
const redeem = Token | Browser

// table is the answers, searched in order: the first row that matches the
// error on the surface answers it.
var table = []row{
	// Rate limits and attack protection (every endpoint). The handler adds
	// the Retry-After of a rate limit.
	{on: Auth, err: protect.ErrUnavailable, status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		text: fixed(unavailable), header: [2]string{"Retry-After", "1"}},
	{on: Auth, err: protect.ErrLimited, status: http.StatusTooManyRequests, code: "too_many_requests",
		text:   fixed("Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers."),
		header: [2]string{"Retry-After", retryDefault}},
	// The blocks of attack protection last until their counter refills
	// (or an administrator lifts them); their Retry-After is a default
	// that keeps a client from hammering, not a promise.
	{on: Start | redeem | CrossOrigin, err: passwordless.ErrSuspiciousIP, status: http.StatusTooManyRequests, code: "too_many_attempts",
		text: fixed(suspiciousText), header: [2]string{"Retry-After", retryBlocked}},
	{on: redeem | CrossOrigin, err: passwordless.ErrTooManyAttempts, status: http.StatusTooManyRequests, code: "too_many_attempts",
		text: fixed("Your account has been blocked after multiple consecutive login attempts."), header: [2]string{"Retry-After", retryBlocked}},

	// POST /passwordless/start.
	{on: Start, err: passwordless.ErrUnknownConnection, status: http.StatusBadRequest, code: "bad.connection",
		text: fixed("Connection does not exist")},
	{on: Start, err: passwordless.ErrConnectionDisabled, status: http.StatusBadRequest, code: "bad.connection",
		text: fixed("Connection is disabled")},
	{on: Start, err: passwordless.ErrMissingEmail, status: http.StatusBadRequest, code: "bad.email",
		text: fixed("Missing required property: email")},
	{on: Start, err: passwordless.ErrMalformedEmail, status: http.StatusBadRequest, code: "bad.email",
		text: quote("error in email - email format validation failed: %s")},
	{on: Start, err: passwordless.ErrMissingPhoneNumber, status: http.StatusBadRequest, code: "bad.phone_number",
		text: fixed("Missing required property: phone_number")},
	{on: Start, err: passwordless.ErrMalformedPhoneNumber, status: http.StatusBadRequest, code: "bad.phone_number",
		text: fixed(`String does not match pattern: ^\+[0-9]{1,15}$`)},
	{on: Start, err: passwordless.ErrInvalidSend, status: http.StatusBadRequest, code: "bad.send",
		text: quote("error in send - invalid value: %q (expected one of code, link)")},
	{on: Start, err: passwordless.ErrSignupDisabled, status: http.StatusBadRequest, code: "invalid_signup",
		text: fixed(signupDisabled)},
	// The SMS pumping defences read like the provider's errors (Lock
	// understands code 21211).
	{on: Start, err: passwordless.ErrInvalidPhoneNumber, status: http.StatusBadRequest, code: "sms_provider_error",
		text: quote("The 'To' number %s is not a valid phone number. (Code: 21211)")},
	{on: Start, err: passwordless.ErrCountryNotAllowed, status: http.StatusBadRequest, code: "sms_provider_error",
		text: quote("Sending SMS to numbers of %s is not allowed for this connection. (Code: 21408)")},
	{on: Start, err: passwordless.ErrRecipientLimited, status: http.StatusTooManyRequests, code: "too_many_requests",
		text: fixed("Too many codes were sent to this address or number. Try again later."), header: [2]string{"Retry-After", retryRecipient}},

	// Redeeming a code (spec §5.3): the passwordless grant, /passwordless/verify,
	// the hosted page and magic links; /co/authenticate answers
	// access_denied with the same texts.
	{on: redeem, err: passwordless.ErrWrongCode, status: http.StatusForbidden, code: "invalid_grant", text: wrongCode},
	{on: CrossOrigin, err: passwordless.ErrWrongCode, status: http.StatusForbidden, code: "access_denied", text: wrongCode},
	{on: redeem, err: passwordless.ErrCodeExhausted, status: http.StatusForbidden, code: "invalid_grant",
		text: fixed(codeExhausted)},
	{on: CrossOrigin, err: passwordless.ErrCodeExhausted, status: http.StatusForbidden, code: "access_denied",
		text: fixed(codeExhausted)},
	{on: redeem, err: passwordless.ErrCodeExpired, status: http.StatusForbidden, code: "invalid_grant",
		text: fixed(codeExpired)},
	{on: CrossOrigin, err: passwordless.ErrCodeExpired, status: http.StatusForbidden, code: "access_denied",
		text: fixed(codeExpired)},
	{on: redeem | CrossOrigin, err: passwordless.ErrSignupDisabled, status: http.StatusForbidden, code: "access_denied",
		text: fixed(signupDisabled)},
	{on: Token, err: passwordless.ErrUnknownConnection, status: http.StatusBadRequest, code: "invalid_request",
		text: func(f facts) string { return "Connection does not exist: " + f.connection }},
	{on: Token, err: passwordless.ErrConnectionDisabled, status: http.StatusForbidden, code: "unauthorized_client",
		text: fixed("The connection is not enabled for this client")},
	{on: CrossOrigin, err: passwordless.ErrUnknownConnection, status: http.StatusBadRequest, code: "invalid_request",
		text: unknownRealm},
	{on: CrossOrigin, err: passwordless.ErrConnectionDisabled, status: http.StatusBadRequest, code: "invalid_request",
		text: unknownRealm},
	{on: Browser, err: passwordless.ErrUnknownConnection, status: http.StatusForbidden, code: "unauthorized_client", text: fixed(connectionNotEnabled)},
	{on: Browser, err: passwordless.ErrConnectionDisabled, status: http.StatusForbidden, code: "unauthorized_client", text: fixed(connectionNotEnabled)},

	// A blocked user (at a redemption, a refresh, a code exchange, a login
	// ticket or /userinfo). oauth.ErrUserBlocked is this error.
	{on: redeem, err: passwordless.ErrUserBlocked, status: http.StatusUnauthorized, code: "unauthorized", text: fixed(userBlocked)},
	{on: Authorize, err: passwordless.ErrUserBlocked, status: http.StatusUnauthorized, code: "unauthorized", text: fixed(userBlocked)},
	{on: CrossOrigin, err: passwordless.ErrUserBlocked, status: http.StatusForbidden, code: "blocked_user", text: fixed("Blocked user")},
	{on: Userinfo, err: passwordless.ErrUserBlocked, status: http.StatusUnauthorized, code: "invalid_token", text: fixed(userBlocked),
		header: [2]string{"Www-Authenticate", `Bearer error="invalid_token"`}},

	// The token endpoint.
	{on: Token, err: oauth.ErrBadParameter, status: http.StatusBadRequest, code: "invalid_request", text: quote("%s")},
	{on: Token, err: oauth.ErrMissingParameter, status: http.StatusBadRequest, code: "invalid_request",
		text: quote("Missing required parameter: %s")},
	{on: Token, err: oauth.ErrUnsupportedGrant, status: http.StatusBadRequest, code: "unsupported_grant_type",
		text: quote("Unsupported grant type: %s")},
	{on: Token, err: oauth.ErrGrantNotAllowed, status: http.StatusForbidden, code: "unauthorized_client",
		text: quote("Grant type '%s' not allowed for the client."), extra: [2]string{"error_uri", "https://auth0.com/docs/clients/client-grant-types"}},
	{on: Start | Token, err: oauth.ErrClientUnauthorized, status: http.StatusUnauthorized, code: "access_denied", text: fixed("Unauthorized")},
	{on: Token, err: oauth.ErrCallbackNotAllowed, status: http.StatusBadRequest, code: "invalid_request",
		text: quote("The redirect_uri %s is not in the list of allowed callback URLs")},
	{on: Token | Authorize, err: oauth.ErrUnknownAudience, status: http.StatusForbidden, code: "access_denied",
		text: quote("Service not found: %s")},
	{on: Token, err: oauth.ErrNoAudience, status: http.StatusForbidden, code: "access_denied",
		text: fixed("No audience parameter was provided, and no default audience has been configured")},
	{on: Token, err: oauth.ErrNoClientGrant, status: http.StatusForbidden, code: "access_denied",
		text: quote(`Client is not authorized to access %q. You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`)},
	{on: Token, err: oauth.ErrScopeNotGranted, status: http.StatusForbidden, code: "access_denied",
		text: quote("Scope %s was not granted to the refresh token")},
	{on: Token, err: oauth.ErrBadRefreshToken, status: http.StatusForbidden, code: "invalid_grant", text: fixed("Unknown or invalid refresh token.")},
	{on: Token, err: oauth.ErrBadAuthzCode, status: http.StatusForbidden, code: "invalid_grant", text: fixed("Invalid authorization code")},
	{on: Token, err: oauth.ErrRedirectMismatch, status: http.StatusForbidden, code: "invalid_grant",
		text: fixed("The redirect_uri does not match the one of the authorization request")},
	{on: Token, err: oauth.ErrPKCEFailed, status: http.StatusForbidden, code: "invalid_grant", text: fixed("Failed to verify code verifier")},
	{on: Token, err: oauth.ErrPKCERequired, status: http.StatusForbidden, code: "invalid_grant",
		text: fixed("Failed to verify code verifier: the authorization request of a public client must carry a code_challenge")},

	// /userinfo.
	{on: Userinfo, err: oauth.ErrInvalidToken, status: http.StatusUnauthorized, code: "invalid_token",
		text: fixed("The access token is invalid or expired"), header: [2]string{"Www-Authenticate", `Bearer error="invalid_token"`}},

	// Management API: log search queries.
	{on: Management, err: query.ErrTooLong, status: http.StatusRequestURITooLong, code: "query_too_long",
		text: quote("The query is too long: %s")},
	{on: Management, as: isSyntaxError, status: http.StatusBadRequest, code: "invalid_query", text: quote("Invalid query %s")},
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
