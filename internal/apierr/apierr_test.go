package apierr

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
)

// sentinels are the exported Err* variables of the domain packages, by
// name (the package's directory under internal/, a dot, the variable).
// TestEverySentinelAnswered finds them in the sources: a new one must be
// added here, and answered by the table or listed in unanswered.
var sentinels = map[string]error{
	"eventlog/query.ErrTooLong":             query.ErrTooLong,
	"oauth.ErrBadParameter":                 oauth.ErrBadParameter,
	"oauth.ErrMissingParameter":             oauth.ErrMissingParameter,
	"oauth.ErrUnsupportedGrant":             oauth.ErrUnsupportedGrant,
	"oauth.ErrGrantNotAllowed":              oauth.ErrGrantNotAllowed,
	"oauth.ErrClientUnauthorized":           oauth.ErrClientUnauthorized,
	"oauth.ErrCallbackNotAllowed":           oauth.ErrCallbackNotAllowed,
	"oauth.ErrUnknownAudience":              oauth.ErrUnknownAudience,
	"oauth.ErrNoAudience":                   oauth.ErrNoAudience,
	"oauth.ErrNoClientGrant":                oauth.ErrNoClientGrant,
	"oauth.ErrScopeNotGranted":              oauth.ErrScopeNotGranted,
	"oauth.ErrBadRefreshToken":              oauth.ErrBadRefreshToken,
	"oauth.ErrBadAuthzCode":                 oauth.ErrBadAuthzCode,
	"oauth.ErrRedirectMismatch":             oauth.ErrRedirectMismatch,
	"oauth.ErrPKCEFailed":                   oauth.ErrPKCEFailed,
	"oauth.ErrPKCERequired":                 oauth.ErrPKCERequired,
	"oauth.ErrUserBlocked":                  oauth.ErrUserBlocked,
	"oauth.ErrInvalidAssertion":             oauth.ErrInvalidAssertion,
	"oauth.ErrInvalidToken":                 oauth.ErrInvalidToken,
	"oauth.ErrKeysChanged":                  oauth.ErrKeysChanged,
	"passwordless.ErrUnknownConnection":     passwordless.ErrUnknownConnection,
	"passwordless.ErrConnectionDisabled":    passwordless.ErrConnectionDisabled,
	"passwordless.ErrSignupDisabled":        passwordless.ErrSignupDisabled,
	"passwordless.ErrWrongCode":             passwordless.ErrWrongCode,
	"passwordless.ErrCodeExhausted":         passwordless.ErrCodeExhausted,
	"passwordless.ErrCodeExpired":           passwordless.ErrCodeExpired,
	"passwordless.ErrUserBlocked":           passwordless.ErrUserBlocked,
	"passwordless.ErrTooManyAttempts":       passwordless.ErrTooManyAttempts,
	"passwordless.ErrSuspiciousIP":          passwordless.ErrSuspiciousIP,
	"passwordless.ErrProtectionUnavailable": passwordless.ErrProtectionUnavailable,
	"passwordless.ErrMissingEmail":          passwordless.ErrMissingEmail,
	"passwordless.ErrMalformedEmail":        passwordless.ErrMalformedEmail,
	"passwordless.ErrMissingPhoneNumber":    passwordless.ErrMissingPhoneNumber,
	"passwordless.ErrMalformedPhoneNumber":  passwordless.ErrMalformedPhoneNumber,
	"passwordless.ErrInvalidSend":           passwordless.ErrInvalidSend,
	"passwordless.ErrRecipientLimited":      passwordless.ErrRecipientLimited,
	"passwordless.ErrInvalidPhoneNumber":    passwordless.ErrInvalidPhoneNumber,
	"passwordless.ErrCountryNotAllowed":     passwordless.ErrCountryNotAllowed,
	"protect.ErrLimited":                    protect.ErrLimited,
	"protect.ErrBlocked":                    protect.ErrBlocked,
	"protect.ErrSuspiciousIP":               protect.ErrSuspiciousIP,
	"protect.ErrUnavailable":                protect.ErrUnavailable,
	"ratelimit.ErrUnavailable":              ratelimit.ErrUnavailable,
	"ratelimit.ErrInvalid":                  ratelimit.ErrInvalid,
	"sso.ErrNotFound":                       sso.ErrNotFound,
	"store.ErrNotFound":                     store.ErrNotFound,
	"store.ErrConflict":                     store.ErrConflict,
	"store.ErrCodeWrong":                    store.ErrCodeWrong,
	"store.ErrCodeExhausted":                store.ErrCodeExhausted,
	"store.ErrCodeExpired":                  store.ErrCodeExpired,
	"store.ErrTokenReused":                  store.ErrTokenReused,
}

// unanswered are the domain errors that never reach a client as they are,
// and who answers them instead.
var unanswered = map[string]string{
	"oauth.ErrInvalidAssertion": "CheckClient refuses the assertion: the answer is oauth.ErrClientUnauthorized, whose cause it is",
	"oauth.ErrKeysChanged":      "the Management API's rotate answers 409 conflict (another rotation won)",
	"protect.ErrBlocked":        "passwordless refuses the attempt with ErrTooManyAttempts",
	"protect.ErrSuspiciousIP":   "passwordless refuses with its ErrSuspiciousIP",
	"ratelimit.ErrInvalid":      "a limit configured wrong: a 500",
	"sso.ErrNotFound":           "authapi shows the expired-login page, or sends access_denied to the callback",
	"store.ErrNotFound":         "each handler answers it for its resource (an unknown client, user, connection…)",
	"store.ErrConflict":         "each handler answers it for its resource",
	"store.ErrCodeWrong":        "passwordless refuses with ErrWrongCode",
	"store.ErrCodeExhausted":    "passwordless refuses with ErrCodeExhausted",
	"store.ErrCodeExpired":      "passwordless refuses with ErrCodeExpired",
	"store.ErrTokenReused":      "oauth refuses with ErrBadRefreshToken",
}

// surfaces lists every surface, by name.
var surfaces = []struct {
	name string
	s    Surface
}{{"Start", Start}, {"Token", Token}, {"CrossOrigin", CrossOrigin}, {"Browser", Browser}, {"Authorize", Authorize},
	{"Userinfo", Userinfo}, {"Management", Management}}

// TestEverySentinelAnswered: every exported Err* variable of a package
// under internal/ (found in the sources) is answered on some surface, or
// listed in unanswered with who answers it instead.
func TestEverySentinelAnswered(t *testing.T) {
	found := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			filepath.Dir(path) == "." || strings.Contains(path, "testdata") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../")))
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						found[pkg+"."+n.Name] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 20 {
		t.Fatalf("found only %d sentinels: %v", len(found), found)
	}
	for name := range found {
		if _, ok := sentinels[name]; !ok {
			t.Errorf("%s: a domain error this test does not know: add it to sentinels, and answer it in the table (or list it in unanswered)", name)
		}
	}
	for name, err := range sentinels {
		if !found[name] {
			t.Errorf("%s is in sentinels but not in the sources", name)
			continue
		}
		var on []string
		for _, s := range surfaces {
			if _, ok := Lookup(s.s, err); ok {
				on = append(on, s.name)
			}
		}
		why, exempt := unanswered[name]
		switch {
		case len(on) == 0 && !exempt:
			t.Errorf("%s has no answer: add a row to the table (or list it in unanswered)", name)
		case len(on) > 0 && exempt:
			t.Errorf("%s is answered on %v but listed as unanswered (%s)", name, on, why)
		}
	}
}

// answer is an answer as the client sees it.
type answer struct {
	Status      int
	Code        string
	Description string
	Header      http.Header
	Extra       map[string]any
}

// TestAnswers pins Auth0's words for each domain error on each surface
// where it is answered.
func TestAnswers(t *testing.T) {
	pl := func(err error, strategy, connection, value string) error {
		return &passwordless.Refusal{Err: err, Strategy: strategy, Connection: connection, Value: value}
	}
	oa := func(err error, value string) error { return &oauth.Refusal{Err: err, Value: value} }
	retry := http.Header{"Retry-After": {"1"}}
	blockedRetry := http.Header{"Retry-After": {retryBlocked}}
	recipientRetry := http.Header{"Retry-After": {retryRecipient}}
	bearer := http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	const (
		suspicious  = "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."
		blocked     = "Your account has been blocked after multiple consecutive login attempts."
		unavailable = "Login is temporarily unavailable. Try again in a moment."
		exhausted   = "You've reached the maximum number of attempts. Please try to login again."
		expired     = "The verification code has expired. Please try to login again."
		notEnabled  = "The connection is not enabled for this application."
	)
	longRealm := strings.Repeat("r", 200)
	tests := []struct {
		on   Surface
		err  error
		want answer
	}{
		{Auth, fmt.Errorf("%w: redis down", protect.ErrUnavailable), answer{503, "temporarily_unavailable", unavailable, retry, nil}},
		{Start, pl(passwordless.ErrProtectionUnavailable, "email", "email", ""), answer{503, "temporarily_unavailable", unavailable, retry, nil}},
		{Token, pl(passwordless.ErrProtectionUnavailable, "email", "email", ""), answer{503, "temporarily_unavailable", unavailable, retry, nil}},
		{CrossOrigin, pl(passwordless.ErrProtectionUnavailable, "sms", "sms", ""), answer{503, "temporarily_unavailable", unavailable, retry, nil}},
		{Auth, protect.ErrLimited, answer{429, "too_many_requests",
			"Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.", retry, nil}},

		{Start, pl(passwordless.ErrUnknownConnection, "", "github", ""), answer{400, "bad.connection", "Connection does not exist", nil, nil}},
		{Start, pl(passwordless.ErrConnectionDisabled, "sms", "sms", ""), answer{400, "bad.connection", "Connection is disabled", nil, nil}},
		{Start, pl(passwordless.ErrMissingEmail, "email", "email", ""), answer{400, "bad.email", "Missing required property: email", nil, nil}},
		{Start, pl(passwordless.ErrMalformedEmail, "email", "email", "not-an-email"),
			answer{400, "bad.email", "error in email - email format validation failed: not-an-email", nil, nil}},
		{Start, pl(passwordless.ErrMissingPhoneNumber, "sms", "sms", ""),
			answer{400, "bad.phone_number", "Missing required property: phone_number", nil, nil}},
		{Start, pl(passwordless.ErrMalformedPhoneNumber, "sms", "sms", ""),
			answer{400, "bad.phone_number", `String does not match pattern: ^\+[0-9]{1,15}$`, nil, nil}},
		{Start, pl(passwordless.ErrInvalidSend, "email", "email", "carrier-pigeon"),
			answer{400, "bad.send", `error in send - invalid value: "carrier-pigeon" (expected one of code, link)`, nil, nil}},
		{Start, pl(passwordless.ErrSuspiciousIP, "email", "email", ""), answer{429, "too_many_attempts", suspicious, blockedRetry, nil}},
		{Start, pl(passwordless.ErrSignupDisabled, "email", "email", ""), answer{400, "invalid_signup", "Public signup is disabled", nil, nil}},
		{Start, pl(passwordless.ErrInvalidPhoneNumber, "sms", "sms", "+999123"),
			answer{400, "sms_provider_error", "The 'To' number +999123 is not a valid phone number. (Code: 21211)", nil, nil}},
		{Start, pl(passwordless.ErrCountryNotAllowed, "sms", "sms", "FR"),
			answer{400, "sms_provider_error", "Sending SMS to numbers of FR is not allowed for this connection. (Code: 21408)", nil, nil}},
		{Start, pl(passwordless.ErrRecipientLimited, "sms", "sms", ""),
			answer{429, "too_many_requests", "Too many codes were sent to this address or number. Try again later.", recipientRetry, nil}},
		{Start, fmt.Errorf("%w: wrong client secret", oauth.ErrClientUnauthorized), answer{401, "access_denied", "Unauthorized", nil, nil}},

		{Token, pl(passwordless.ErrWrongCode, "email", "email", ""), answer{403, "invalid_grant", "Wrong email or verification code.", nil, nil}},
		{Token, pl(passwordless.ErrWrongCode, "sms", "sms", ""), answer{403, "invalid_grant", "Wrong phone number or verification code.", nil, nil}},
		{Browser, pl(passwordless.ErrWrongCode, "sms", "sms", ""), answer{403, "invalid_grant", "Wrong phone number or verification code.", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrWrongCode, "email", "email", ""), answer{403, "access_denied", "Wrong email or verification code.", nil, nil}},
		{Token, pl(passwordless.ErrCodeExhausted, "email", "email", ""), answer{403, "invalid_grant", exhausted, nil, nil}},
		{CrossOrigin, pl(passwordless.ErrCodeExhausted, "email", "email", ""), answer{403, "access_denied", exhausted, nil, nil}},
		{Browser, pl(passwordless.ErrCodeExhausted, "email", "email", ""), answer{403, "invalid_grant", exhausted, nil, nil}},
		{Token, pl(passwordless.ErrCodeExpired, "sms", "sms", ""), answer{403, "invalid_grant", expired, nil, nil}},
		{CrossOrigin, pl(passwordless.ErrCodeExpired, "sms", "sms", ""), answer{403, "access_denied", expired, nil, nil}},
		{Token, pl(passwordless.ErrSignupDisabled, "email", "email", ""), answer{403, "access_denied", "Public signup is disabled", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrSignupDisabled, "email", "email", ""), answer{403, "access_denied", "Public signup is disabled", nil, nil}},
		{Token, pl(passwordless.ErrUnknownConnection, "", "github", ""), answer{400, "invalid_request", "Connection does not exist: github", nil, nil}},
		{Token, pl(passwordless.ErrConnectionDisabled, "sms", "sms", ""),
			answer{403, "unauthorized_client", "The connection is not enabled for this client", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrUnknownConnection, "", "github", ""), answer{400, "invalid_request", "Unknown realm github.", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrUnknownConnection, "", longRealm, ""),
			answer{400, "invalid_request", "Unknown realm " + longRealm[:128] + ".", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrConnectionDisabled, "sms", "sms", ""), answer{400, "invalid_request", "Unknown realm sms.", nil, nil}},
		{Browser, pl(passwordless.ErrUnknownConnection, "", "github", ""), answer{403, "unauthorized_client", notEnabled, nil, nil}},
		{Browser, pl(passwordless.ErrConnectionDisabled, "sms", "sms", ""), answer{403, "unauthorized_client", notEnabled, nil, nil}},
		{Token, pl(passwordless.ErrTooManyAttempts, "email", "email", ""), answer{429, "too_many_attempts", blocked, blockedRetry, nil}},
		{CrossOrigin, pl(passwordless.ErrTooManyAttempts, "email", "email", ""), answer{429, "too_many_attempts", blocked, blockedRetry, nil}},
		{Token, pl(passwordless.ErrSuspiciousIP, "email", "email", ""), answer{429, "too_many_attempts", suspicious, blockedRetry, nil}},
		{CrossOrigin, pl(passwordless.ErrSuspiciousIP, "email", "email", ""), answer{429, "too_many_attempts", suspicious, blockedRetry, nil}},

		{Token, pl(passwordless.ErrUserBlocked, "email", "email", ""), answer{401, "unauthorized", "user is blocked", nil, nil}},
		{Token, oauth.ErrUserBlocked, answer{401, "unauthorized", "user is blocked", nil, nil}},
		{Browser, pl(passwordless.ErrUserBlocked, "email", "email", ""), answer{401, "unauthorized", "user is blocked", nil, nil}},
		{Authorize, oauth.ErrUserBlocked, answer{401, "unauthorized", "user is blocked", nil, nil}},
		{CrossOrigin, pl(passwordless.ErrUserBlocked, "email", "email", ""), answer{403, "blocked_user", "Blocked user", nil, nil}},
		{Userinfo, oauth.ErrUserBlocked, answer{401, "invalid_token", "user is blocked", bearer, nil}},
		{Userinfo, oauth.ErrInvalidToken, answer{401, "invalid_token", "The access token is invalid or expired", bearer, nil}},

		{Token, oa(oauth.ErrBadParameter, "error in otp - invalid type: number (expected string)"),
			answer{400, "invalid_request", "error in otp - invalid type: number (expected string)", nil, nil}},
		{Token, oa(oauth.ErrMissingParameter, "grant_type"), answer{400, "invalid_request", "Missing required parameter: grant_type", nil, nil}},
		{Token, oa(oauth.ErrUnsupportedGrant, "password"), answer{400, "unsupported_grant_type", "Unsupported grant type: password", nil, nil}},
		{Token, oa(oauth.ErrGrantNotAllowed, "refresh_token"), answer{403, "unauthorized_client", "Grant type 'refresh_token' not allowed for the client.",
			nil, map[string]any{"error_uri": "https://auth0.com/docs/clients/client-grant-types"}}},
		{Token, fmt.Errorf("%w: unknown client", oauth.ErrClientUnauthorized), answer{401, "access_denied", "Unauthorized", nil, nil}},
		{Token, oa(oauth.ErrCallbackNotAllowed, "https://evil.example/cb"),
			answer{400, "invalid_request", "The redirect_uri https://evil.example/cb is not in the list of allowed callback URLs", nil, nil}},
		{Token, oa(oauth.ErrUnknownAudience, "https://api"), answer{403, "access_denied", "Service not found: https://api", nil, nil}},
		{Authorize, oa(oauth.ErrUnknownAudience, "https://api"), answer{403, "access_denied", "Service not found: https://api", nil, nil}},
		{Token, oauth.ErrNoAudience, answer{403, "access_denied",
			"No audience parameter was provided, and no default audience has been configured", nil, nil}},
		{Token, oa(oauth.ErrNoClientGrant, "https://api"), answer{403, "access_denied",
			`Client is not authorized to access "https://api". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`, nil, nil}},
		{Token, oa(oauth.ErrScopeNotGranted, "write:x"), answer{403, "access_denied", "Scope write:x was not granted to the refresh token", nil, nil}},
		{Token, fmt.Errorf("%w: %w", oauth.ErrBadRefreshToken, store.ErrTokenReused), answer{403, "invalid_grant", "Unknown or invalid refresh token.", nil, nil}},
		{Token, fmt.Errorf("%w: issued to another client", oauth.ErrBadAuthzCode), answer{403, "invalid_grant", "Invalid authorization code", nil, nil}},
		{Token, oauth.ErrRedirectMismatch, answer{403, "invalid_grant", "The redirect_uri does not match the one of the authorization request", nil, nil}},
		{Token, oauth.ErrPKCEFailed, answer{403, "invalid_grant", "Failed to verify code verifier", nil, nil}},
		{Token, oauth.ErrPKCERequired, answer{403, "invalid_grant",
			"Failed to verify code verifier: the authorization request of a public client must carry a code_challenge", nil, nil}},
	}
	if _, err := query.Parse(strings.Repeat("a", query.MaxLength+1)); err != nil {
		tests = append(tests, struct {
			on   Surface
			err  error
			want answer
		}{Management, err, answer{414, "query_too_long", "The query is too long: " + err.Error(), nil, nil}})
	}
	if _, err := query.Parse("type:s AND ("); err != nil {
		tests = append(tests, struct {
			on   Surface
			err  error
			want answer
		}{Management, err, answer{400, "invalid_query", "Invalid query " + err.Error(), nil, nil}})
	}
	for _, tt := range tests {
		e, ok := Lookup(tt.on, tt.err)
		if !ok {
			t.Errorf("%x %v: no answer", tt.on, tt.err)
			continue
		}
		got := answer{e.Status, e.Code, e.Description, e.Header, e.Extra}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%x %v (-want +got):\n%s", tt.on, tt.err, diff)
		}
		if e.Cause != tt.err {
			t.Errorf("%v: cause %v", tt.err, e.Cause)
		}
	}
}

// TestAnswer: an answer's cause is the domain error (errors.Is sees it
// through the answer); an error that already is an answer, or that the
// table does not know, is returned as it is.
func TestAnswer(t *testing.T) {
	err := &passwordless.Refusal{Err: passwordless.ErrWrongCode, Strategy: "email", Connection: "email"}
	got := Answer(Token, err)
	var he *httpx.Error
	if !errors.As(got, &he) || !errors.Is(got, passwordless.ErrWrongCode) || he.Cause != err {
		t.Errorf("Answer(wrong code) = %#v", got)
	}
	if strings.Contains(he.Error(), "wrong identifier") {
		t.Errorf("the cause is in the answer's text: %q", he.Error())
	}
	limited := &httpx.Error{Status: 429, Code: "too_many_requests", Description: "x", Header: http.Header{"Retry-After": {"7"}},
		Cause: protect.ErrLimited}
	if got := Answer(Token, fmt.Errorf("admit: %w", limited)); !errors.As(got, &he) || he != limited {
		t.Errorf("an answer was answered again: %#v", got)
	}
	internal := errors.New("disk on fire")
	if got := Answer(Token, internal); got != internal {
		t.Errorf("an internal error became %#v", got)
	}
	if got := Answer(Token, nil); got != nil {
		t.Errorf("Answer(nil) = %v", got)
	}
	if _, ok := Lookup(Token, passwordless.ErrMissingEmail); ok {
		t.Error("a start refusal is answered at the token endpoint")
	}
	// Each answer gets headers of its own.
	a, _ := Lookup(Auth, protect.ErrUnavailable)
	a.Header.Set("Retry-After", "9")
	if b, _ := Lookup(Auth, protect.ErrUnavailable); b.Header.Get("Retry-After") != "1" {
		t.Error("an answer's header changed the table")
	}
}

// TestRows: every row is an error answer with a code and a text, and no
// row is hidden by an earlier one on any of its surfaces.
func TestRows(t *testing.T) {
	for i, r := range table {
		if r.status < 400 || r.code == "" || r.on == 0 || (r.err == nil) == (r.as == nil) || r.text == nil {
			t.Errorf("row %d: %+v", i, r)
			continue
		}
		if r.err == nil {
			continue
		}
		for _, s := range surfaces {
			if r.on&s.s == 0 {
				continue
			}
			e, _ := Lookup(s.s, r.err)
			if first := slices.IndexFunc(table, func(x row) bool { return x.on&s.s != 0 && x.matches(r.err) }); first != i {
				t.Errorf("row %d (%v on %s) is hidden by row %d (%d %s)", i, r.err, s.name, first, e.Status, e.Code)
			}
		}
	}
}

// TestEvery429HasRetryAfter: every 429 the table answers carries a
// Retry-After in whole seconds (a rate limit's handler replaces it with its
// bucket's own wait).
func TestEvery429HasRetryAfter(t *testing.T) {
	for _, r := range table {
		if r.status != http.StatusTooManyRequests {
			continue
		}
		t.Run(r.code+"/"+fmt.Sprint(r.err), func(t *testing.T) {
			e, ok := Lookup(r.on, r.err)
			if !ok {
				t.Fatalf("%v is not answered", r.err)
			}
			if n, err := strconv.Atoi(e.Header.Get("Retry-After")); e.Status != http.StatusTooManyRequests || err != nil || n < 1 {
				t.Errorf("%d with Retry-After %q, want a number of seconds", e.Status, e.Header.Get("Retry-After"))
			}
		})
	}
}
