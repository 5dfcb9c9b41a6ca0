package tenant

import (
	"slices"

	"github.com/latchkey/latchkey/internal/store"
)

// Application types.
const (
	AppNative         = "native"
	AppSPA            = "spa"
	AppRegularWeb     = "regular_web"
	AppNonInteractive = "non_interactive"
)

// Token endpoint authentication methods.
const (
	AuthNone              = "none"
	AuthClientSecretPost  = "client_secret_post"
	AuthClientSecretBasic = "client_secret_basic"
)

// Default code shape (§6.1).
const (
	DefaultCodeLength   = 6
	DefaultCodeLifetime = 180 // seconds
)

// IsConfidential reports whether the application must authenticate: regular
// web and machine-to-machine apps, unless their auth method is "none".
func IsConfidential(c store.Client) bool {
	switch c.AppType {
	case AppRegularWeb, AppNonInteractive:
		return c.TokenEndpointAuthMethod != AuthNone
	}
	return false
}

// HasGrant reports whether the application may use grant type g.
func HasGrant(c store.Client, g string) bool { return slices.Contains(c.GrantTypes, g) }

// IsEnabledFor reports whether the connection is enabled for the client.
func IsEnabledFor(conn store.Connection, clientID string) bool {
	if clientID == ConsoleClientID {
		return conn.Strategy == "email" // console members sign in with an email code
	}
	return slices.Contains(conn.EnabledClients, clientID)
}

// IsPasswordless reports whether the connection is an email or sms connection.
func IsPasswordless(conn store.Connection) bool {
	return conn.Strategy == "email" || conn.Strategy == "sms"
}

// WithConnectionDefaults fills unset options with Auth0's defaults.
func WithConnectionDefaults(o store.ConnectionOptions) store.ConnectionOptions {
	if o.TOTP.Length == 0 {
		o.TOTP.Length = DefaultCodeLength
	}
	if o.TOTP.TimeStep == 0 {
		o.TOTP.TimeStep = DefaultCodeLifetime
	}
	return o
}
