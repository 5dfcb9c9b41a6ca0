package eventlog

import (
	"encoding/json"
	"net/http"

	"github.com/latchkey/latchkey/internal/eventlog/clientinfo"
	"github.com/latchkey/latchkey/internal/store"
)

// Log event types (Auth0's codes, auth0-compat.md §9.1) that Latchkey writes.
const (
	TypeCodeLinkSent          = "cls"      // passwordless email code or link sent
	TypeCodeSent              = "cs"       // passwordless SMS code sent
	TypeSuccessLogin          = "s"        // successful login
	TypeFailedLogin           = "f"        // failed login (other causes)
	TypeSuccessSignup         = "ss"       // successful signup
	TypeFailedOTPExchange     = "fepotpft" // failed exchange of passwordless OTP for tokens
	TypeSuccessRefresh        = "sertft"   // refresh token exchanged
	TypeFailedRefresh         = "fertft"   // refresh token exchange failed
	TypeRefreshRevoked        = "srrt"     // refresh token revoked (POST /oauth/revoke)
	TypeSuccessClientCreds    = "seccft"   // client credentials exchanged for an access token
	TypeFailedClientCreds     = "feccft"   // client credentials exchange failed
	TypeDeprecationNotice     = "depnote"  // a deprecated behaviour was used
	TypeSuccessManagementCall = "sapi"     // Management API write succeeded
	TypeFailedManagementCall  = "fapi"     // Management API write failed
	TypeSuccessCrossOrigin    = "scoa"     // cross-origin authentication (/co/authenticate) succeeded
	TypeFailedCrossOrigin     = "fcoa"     // cross-origin authentication failed
	TypeFailedCORS            = "fco"      // origin not in the application's allowed origins
	TypeSuccessCodeExchange   = "seacft"   // authorization code exchanged for tokens
	TypeFailedCodeExchange    = "feacft"   // authorization code exchange failed
	TypeSuccessSilentAuth     = "ssa"      // silent authentication (prompt=none) succeeded
	TypeFailedSilentAuth      = "fsa"      // silent authentication failed (no session)
	TypeSuccessLogout         = "slo"      // logout
	TypeFailedNotification    = "fn"       // a message (email/SMS) could not be delivered and was given up
	TypeWarningNotification   = "wn"       // a message delivery failed and will be retried
)

// Descriptions written with the events, where Auth0 writes a fixed one.
const (
	DescSuccessLogin = "Successful login"
	DescSignup       = "Successful signup"
	// DescPasswordlessDepnote is the description of the depnote written
	// when a confidential application starts a passwordless login without
	// authenticating; operators search for it with
	// type:depnote AND description:*passwordless*.
	DescPasswordlessDepnote = "Enforce client authentication for passwordless connections: " +
		"This feature is being deprecated. Please see details.feature of this log for more information."
)

// PasswordlessFeature is the details.feature of the passwordless depnote.
var PasswordlessFeature = map[string]string{
	"id":            "passwordless_start_client_authentication",
	"name":          "Enforce client authentication for passwordless connections",
	"description":   "Confidential applications must authenticate (client secret, Private Key JWT, or the hosted login page's state) when they call /passwordless/start.",
	"documentation": "https://auth0.com/docs/product-lifecycle/deprecations-and-migrations/migrate-to-passwordless",
}

// FromRequest starts an event with what the request says about the caller:
// ip is the effective end-user IP (auth0-forwarded-for when honoured),
// client_ip the TCP peer, the parsed User-Agent and the decoded
// Auth0-Client header. hostname is the tenant's host name.
func FromRequest(r *http.Request, typ, ip, peer, hostname string) store.LogEvent {
	ua := r.UserAgent()
	ev := store.LogEvent{
		Type:      typ,
		IP:        ip,
		ClientIP:  peer,
		Hostname:  hostname,
		UserAgent: clientinfo.ParseUserAgent(ua),
		IsMobile:  clientinfo.IsMobile(ua),
	}
	if h := r.Header.Get("Auth0-Client"); h != "" {
		if c, ok := clientinfo.DecodeAuth0Client(h); ok {
			ev.Auth0Client, _ = json.Marshal(c)
		}
	}
	return ev
}

// WithClient fills the client fields of ev.
func WithClient(ev store.LogEvent, c store.Client) store.LogEvent {
	ev.ClientID, ev.ClientName = c.ClientID, c.Name
	return ev
}

// WithConnection fills the connection fields of ev.
func WithConnection(ev store.LogEvent, c store.Connection) store.LogEvent {
	ev.Connection, ev.ConnectionID, ev.Strategy = c.Name, c.ID, c.Strategy
	ev.StrategyType = "passwordless"
	return ev
}

// Details encodes v as an event's details; nil on failure (details are
// best effort, the event is not).
func Details(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
