package oauth

import (
	"errors"

	"github.com/latchkey/latchkey/internal/passwordless"
)

// Errors. The token endpoint's grants (Token, and Authorized for the
// audience of an authorization request) refuse with one of these; those
// that name something come in a *Refusal that carries it. errors.Is finds
// them. The words (status, error code, text) are the API packages'
// (package apierr), not this package's. A passwordless grant's refusals are
// passwordless's own (its Refusal), passed on as they are.
var (
	// ErrBadParameter: a parameter is not a string (Value: the decoder's
	// complaint, which names the parameter).
	ErrBadParameter = errors.New("malformed parameter")
	// ErrMissingParameter: Value names the required parameter.
	ErrMissingParameter = errors.New("missing required parameter")
	// ErrUnsupportedGrant: the token endpoint does not exchange the grant
	// type (Value); ErrGrantNotAllowed: the client may not use it (Value).
	ErrUnsupportedGrant = errors.New("unsupported grant type")
	ErrGrantNotAllowed  = errors.New("grant type not allowed for the client")
	// ErrClientUnauthorized: the client is unknown, or its credentials are
	// missing (for a confidential client) or wrong.
	ErrClientUnauthorized = errors.New("client authentication failed")
	// ErrCallbackNotAllowed: the redirect_uri (Value) is not one of the
	// client's callbacks.
	ErrCallbackNotAllowed = errors.New("redirect_uri is not an allowed callback")
	// ErrUnknownAudience: no API has the identifier (Value); ErrNoAudience:
	// none was asked for and the tenant has no default; ErrNoClientGrant:
	// the client has no client grant for the API (Value).
	ErrUnknownAudience = errors.New("unknown audience")
	ErrNoAudience      = errors.New("no audience and no default audience")
	ErrNoClientGrant   = errors.New("no client grant for the audience")
	// ErrScopeNotGranted: a refresh asks for a scope (Value) the refresh
	// token was not granted.
	ErrScopeNotGranted = errors.New("scope not granted to the refresh token")
	// ErrBadRefreshToken: unknown, revoked, expired, reused or another
	// client's refresh token, or its user or API is gone.
	ErrBadRefreshToken = errors.New("invalid refresh token")
	// ErrBadAuthzCode: unknown, used, expired or another client's
	// authorization code, or its user is gone.
	ErrBadAuthzCode = errors.New("invalid authorization code")
	// ErrRedirectMismatch: the redirect_uri of a code exchange is not the
	// authorization request's.
	ErrRedirectMismatch = errors.New("redirect_uri differs from the authorization request's")
	// ErrPKCEFailed: the code_verifier does not match the code_challenge
	// (or is missing); ErrPKCERequired: a public client's authorization
	// request had no code_challenge.
	ErrPKCEFailed   = errors.New("code_verifier does not match")
	ErrPKCERequired = errors.New("public client without PKCE")
	// ErrUserBlocked: the user of a refresh token or authorization code is
	// blocked (the passwordless grant's blocked user is the same error).
	ErrUserBlocked = passwordless.ErrUserBlocked
)

// A Refusal is a token request refused for Err (one of the errors above)
// about Value: the parameter, grant type, audience, scope or URL the
// answer names, as the request gave it.
type Refusal struct {
	Err   error
	Value string
}

func (e *Refusal) Error() string { return e.Err.Error() + ": " + e.Value }

// Unwrap returns Err.
func (e *Refusal) Unwrap() error { return e.Err }

func refusal(err error, value string) error { return &Refusal{Err: err, Value: value} }

func missing(param string) error { return refusal(ErrMissingParameter, param) }
