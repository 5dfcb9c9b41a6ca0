// Package store holds Latchkey's record types and the storage contract that
// every backend (SQLite, PostgreSQL) implements. The conformance suite in
// storetest pins down the behaviour of the contract; backends keep their
// transactions inside and expose intention-level methods only.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors every backend returns (wrapped or not; compare with errors.Is).
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with the same unique key already exists.
	ErrConflict = errors.New("store: conflict")

	// ErrCodeWrong: a code is outstanding but the presented one does not match.
	// The failed attempt has been recorded.
	ErrCodeWrong = errors.New("store: wrong code")
	// ErrCodeExhausted: the code has used up its failed attempts (MaxCodeAttempts).
	ErrCodeExhausted = errors.New("store: code attempts exhausted")
	// ErrCodeExpired: the outstanding code has expired.
	ErrCodeExpired = errors.New("store: code expired")

	// ErrTokenReused: a refresh token that was already rotated was presented
	// again; its whole family has been revoked.
	ErrTokenReused = errors.New("store: refresh token reused")
)

// MaxCodeAttempts is how many wrong codes an outstanding code survives:
// the attempt that reaches it kills the code.
const MaxCodeAttempts = 3

// Store is the storage contract. Every method is safe for concurrent use and
// atomic on its own.
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	// Tenant logs (logs.go).
	LogStore

	// Tenant settings (a single document).
	GetSettings(ctx context.Context) (TenantSettings, error)
	PutSettings(ctx context.Context, s TenantSettings) error

	// Applications.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, clientID string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	UpdateClient(ctx context.Context, c Client) error
	// ModifyClient reads the client, lets f change it and stores the result,
	// all in one transaction, so that concurrent modifications (a credential
	// added while another is deleted, a secret rotated during a PATCH) do not
	// undo each other. An error from f is returned as is and nothing
	// changes. f may run more than once (a transaction retried after a
	// serialisation failure) and must not have other effects.
	ModifyClient(ctx context.Context, clientID string, f func(*Client) error) (Client, error)
	DeleteClient(ctx context.Context, clientID string) error

	// Connections; names are unique.
	CreateConnection(ctx context.Context, c Connection) error
	GetConnection(ctx context.Context, id string) (Connection, error)
	GetConnectionByName(ctx context.Context, name string) (Connection, error)
	ListConnections(ctx context.Context) ([]Connection, error)
	UpdateConnection(ctx context.Context, c Connection) error
	DeleteConnection(ctx context.Context, id string) error

	// Resource servers (APIs); identifiers are unique.
	CreateResourceServer(ctx context.Context, r ResourceServer) error
	GetResourceServer(ctx context.Context, id string) (ResourceServer, error)
	GetResourceServerByIdentifier(ctx context.Context, identifier string) (ResourceServer, error)
	ListResourceServers(ctx context.Context) ([]ResourceServer, error)
	UpdateResourceServer(ctx context.Context, r ResourceServer) error
	DeleteResourceServer(ctx context.Context, id string) error

	// Client grants; (client_id, audience) is unique.
	CreateClientGrant(ctx context.Context, g ClientGrant) error
	GetClientGrant(ctx context.Context, id string) (ClientGrant, error)
	ListClientGrants(ctx context.Context) ([]ClientGrant, error)
	UpdateClientGrant(ctx context.Context, g ClientGrant) error
	DeleteClientGrant(ctx context.Context, id string) error

	// ApplyTenant upserts everything in t in one transaction, by natural key
	// (client_id; connection name; resource-server identifier; client grant
	// client_id+audience). Records already present keep their ID and
	// CreatedAt. Either all of it is applied or none of it: the records and
	// t.FileState are written in the same transaction.
	ApplyTenant(ctx context.Context, t TenantConfig) error
	// TenantFileState returns the last-applied state that ApplyTenant
	// recorded (TenantConfig.FileState of every apply, merged): field path →
	// keyed hash. It is empty, not nil, when none was recorded.
	TenantFileState(ctx context.Context) (map[string][]byte, error)

	// Users.
	GetUser(ctx context.Context, userID string) (User, error)
	FindUser(ctx context.Context, connection, identifier string) (User, error)
	ListUsers(ctx context.Context, offset, limit int) ([]User, error)
	CreateUser(ctx context.Context, u User) error
	// DeleteUser deletes the user, their refresh tokens and their ephemeral
	// records of every kind (those whose Subject is the user id).
	DeleteUser(ctx context.Context, userID string) error
	// SetUserBlocked sets Blocked and UpdatedAt (to the wall clock).
	SetUserBlocked(ctx context.Context, userID string, blocked bool) error
	// CountUsers returns how many users there are.
	CountUsers(ctx context.Context) (int, error)
	// UpdateUserFlags sets the flags of the user with userID that f gives
	// (nil leaves a flag alone) and UpdatedAt to f.At, and returns the
	// updated user; ErrNotFound when there is no such user.
	UpdateUserFlags(ctx context.Context, userID string, f UserFlags) (User, error)
	// RecordLogin records a successful login of l.Connection/l.Identifier:
	// it bumps LoginsCount, sets LastLogin/LastIP and marks the identifier
	// verified. When no user exists yet and allowSignup is true it creates one
	// with l.UserID (created=true); when allowSignup is false it returns
	// ErrNotFound. A blocked user is not updated: the stored user comes back
	// with Blocked set and no error.
	RecordLogin(ctx context.Context, l Login, allowSignup bool) (u User, created bool, err error)
	// RedeemCode is ConsumeCode and RecordLogin in one write transaction:
	// the outstanding code of (connection, identifier) is judged as
	// ConsumeCode judges it (a wrong code counted, its verdict returned);
	// on a match it is deleted and the login that login(code) describes is
	// recorded as RecordLogin records it. A signup refused (ErrNotFound,
	// with the spent code returned) still consumes the code; any other
	// failure (ErrConflict included) leaves everything as it was.
	RedeemCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time,
		login func(Code) Login, allowSignup bool) (c Code, u User, created bool, err error)

	// One-time codes. PutCode replaces any outstanding code for the same
	// (Connection, Identifier): only the newest code works. With msg set it
	// also queues msg in the outbox, in the same transaction: the code and
	// its message are stored together or not at all (a message whose ID is
	// taken fails the whole call with ErrConflict).
	PutCode(ctx context.Context, c Code, msg *OutboxMessage) error
	// ConsumeCode checks hash against the outstanding code for
	// (connection, identifier). On a match it deletes the code and returns it:
	// of N concurrent callers with the right code exactly one succeeds.
	// Otherwise it returns ErrNotFound (no code), ErrCodeExhausted,
	// ErrCodeExpired, or ErrCodeWrong after counting the failed attempt.
	ConsumeCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (Code, error)
	// CheckCode is ConsumeCode without the consuming: the same verdict and
	// errors, and a wrong code counts the failed attempt just the same, but
	// on a match the code stays outstanding and unchanged and is returned
	// (POST /passwordless/verify checks a code that the browser redeems
	// afterwards).
	CheckCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (Code, error)

	// Refresh tokens.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns the stored token with this hash, whatever its
	// state (rotated, revoked, expired); ErrNotFound when there is none.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	// RotateRefreshToken exchanges the live token whose hash is oldHash for
	// next. next.FamilyID, UserID, Audience and Scope are copied from the old
	// token; next.ClientID must equal the old token's, otherwise nothing
	// changes and the result is ErrNotFound. A token already rotated less
	// than leeway before now is exchanged again (its RotatedAt unchanged);
	// one rotated longer ago revokes its family and gives ErrTokenReused. An
	// unknown, revoked or expired (ExpiresAt or IdleExpiresAt reached) one
	// gives ErrNotFound.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time, leeway time.Duration) (old RefreshToken, err error)
	// UseRefreshToken records a use of a non-rotating token: it sets the
	// live token's IdleExpiresAt to idleExpiresAt (zero: none) and returns
	// the token as updated. A token of another client, or unknown, revoked
	// or expired, gives ErrNotFound; a rotated one revokes its family and
	// gives ErrTokenReused, as RotateRefreshToken does outside the leeway.
	UseRefreshToken(ctx context.Context, hash []byte, clientID string, now, idleExpiresAt time.Time) (RefreshToken, error)
	// RevokeRefreshTokens revokes every token of the family f.FamilyID, or
	// when that is empty every token of f.UserID (narrowed to f.ClientID
	// when not empty, and to *f.Audience when not nil). It returns how many
	// tokens it revoked.
	RevokeRefreshTokens(ctx context.Context, f RefreshTokenFilter) (int, error)
	// ListRefreshTokens returns the live tokens (RefreshToken.Live at now)
	// of f.UserID, narrowed to f.ClientID when not empty, oldest first; one
	// per family (a family's newest when a reuse within the leeway left two).
	ListRefreshTokens(ctx context.Context, f RefreshTokenFilter, now time.Time) ([]RefreshToken, error)

	// Ephemeral records, named by (Kind, Hash). PutEphemeral stores e; a
	// live record with the same (Kind, Hash) makes it ErrConflict, one that
	// has expired by e.CreatedAt is replaced.
	PutEphemeral(ctx context.Context, e Ephemeral) error
	// GetEphemeral returns the record; ErrNotFound when there is none or it
	// has expired (ExpiresAt <= now).
	GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (Ephemeral, error)
	// TakeEphemeral deletes the record and returns it: of N concurrent
	// callers exactly one gets it, the others ErrNotFound. An expired record
	// is ErrNotFound (and is deleted).
	TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (Ephemeral, error)
	// DeleteEphemeral deletes the record; nil when there is none.
	DeleteEphemeral(ctx context.Context, kind string, hash []byte) error
	// DeleteEphemeralsBySubject deletes every record of kind whose Subject
	// is subject (e.g. all sessions of a user) and says how many went. An
	// empty subject matches nothing.
	DeleteEphemeralsBySubject(ctx context.Context, kind, subject string) (int64, error)
	// ListEphemeralsBySubject lists the live records of kind whose subject
	// is subject, oldest first (at most 1,000); an empty subject matches
	// nothing.
	ListEphemeralsBySubject(ctx context.Context, kind, subject string, now time.Time) ([]Ephemeral, error)

	// The outbox: messages queued by PutCode, delivered by workers on any
	// node. A worker claims due messages for a lease, then completes each
	// (sent, or given up) or schedules a retry. Complete and Retry act only
	// on a message the node still holds: ErrNotFound when it is gone or
	// another node has claimed it since (the lease was lost). A node id is
	// never empty (an empty one holds nothing).
	//
	// ClaimOutbox claims up to limit messages that are due (NextAttemptAt <=
	// now) and not held (unclaimed, or their lease ended: ClaimedUntil <=
	// now), longest due first (NextAttemptAt, then ID), setting ClaimedBy to
	// node and ClaimedUntil to now+lease in the same transaction: of
	// concurrent claimers no two get the same message while its lease is
	// live. It returns the claimed messages in that order (none when limit
	// is not positive).
	ClaimOutbox(ctx context.Context, node string, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// CompleteOutbox deletes the message id that node holds.
	CompleteOutbox(ctx context.Context, id, node string) error
	// CompleteOutboxMany deletes, in one write transaction, those of the
	// messages ids that node holds, and says how many it deleted.
	CompleteOutboxMany(ctx context.Context, node string, ids []string) (int64, error)
	// RetryOutbox releases the message id that node holds for another
	// attempt at next: Attempts+1, LastError set (cut to
	// MaxOutboxErrorBytes), NextAttemptAt = next, unclaimed.
	RetryOutbox(ctx context.Context, id, node string, next time.Time, lastError string) error
	// RenewOutbox extends every claim node holds to until (never shortening
	// one), so that a node keeps the messages it is still sending, and says
	// how many it holds.
	RenewOutbox(ctx context.Context, node string, until time.Time) (int64, error)
	// ReleaseOutbox makes every message node holds claimable again at once
	// (unclaimed; Attempts and NextAttemptAt unchanged), and says how many:
	// a node that restarts after a crash takes back what it was sending.
	ReleaseOutbox(ctx context.Context, node string) (int64, error)
	// NextOutboxDue returns the earliest time a message becomes claimable:
	// the NextAttemptAt of an unclaimed message, the ClaimedUntil of a
	// claimed one (a time already past when one is claimable now). ok is
	// false when the outbox is empty.
	NextOutboxDue(ctx context.Context) (due time.Time, ok bool, err error)
	// OutboxStats returns how many messages the outbox holds (claimed or
	// not) and the CreatedAt of the oldest (zero when it is empty).
	OutboxStats(ctx context.Context) (messages int64, oldest time.Time, err error)

	// PurgeExpired deletes codes, refresh tokens, ephemeral records and
	// outbox messages that expired before before (refresh tokens also past
	// their IdleExpiresAt, and revoked ones issued before before), in short
	// batches, and says how many rows went.
	PurgeExpired(ctx context.Context, before time.Time) (int64, error)

	// Signing keys. At most one key is current (it signs) and at most one
	// is next (published, waiting to sign): CreateSigningKey of a second
	// one is ErrConflict, as is a taken KID.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every signing key, oldest first (CreatedAt,
	// then KID).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey makes the next key current and the current one
	// previous (RetiredAt = now), and stores newNext as the next key
	// (Status is set to next), in one transaction — provided current is
	// still the current key and next the next one; otherwise nothing
	// changes and the result is ErrConflict. Of concurrent rotations from
	// the same keys exactly one succeeds. It returns the key that became
	// current.
	RotateSigningKey(ctx context.Context, current, next string, newNext SigningKey, now time.Time) (SigningKey, error)
	// RevokeSigningKey revokes the previous key kid (Status revoked,
	// RevokedAt = now) and returns it. A key already revoked comes back as
	// it is; the current or the next key is ErrConflict (only a key rotated
	// out can be revoked); an unknown kid is ErrNotFound.
	RevokeSigningKey(ctx context.Context, kid string, now time.Time) (SigningKey, error)
}

// TenantSettings is the tenant-wide settings document.
type TenantSettings struct {
	FriendlyName    string `json:"friendly_name,omitempty"`
	SupportEmail    string `json:"support_email,omitempty"`
	DefaultAudience string `json:"default_audience,omitempty"`
	// AllowedLogoutURLs are the returnTo URLs /v2/logout accepts without a
	// client_id.
	AllowedLogoutURLs []string    `json:"allowed_logout_urls,omitempty"`
	Flags             TenantFlags `json:"flags"`
	// AttackProtection is what /api/v2/attack-protection/* shows and sets.
	AttackProtection AttackProtection `json:"attack_protection"`
	// Branding is what /api/v2/branding shows and sets: the hosted login
	// page's colours, logo, favicon and font.
	Branding Branding `json:"branding,omitzero"`
	// Latchkey holds settings that Auth0 does not have.
	Latchkey LatchkeySettings `json:"latchkey"`
}

// AttackProtection holds the attack-protection settings in Auth0's shapes;
// a nil part means Auth0's defaults (DefaultBruteForce, DefaultSuspiciousIP).
type AttackProtection struct {
	BruteForce   *BruteForceProtection   `json:"brute_force_protection,omitempty"`
	SuspiciousIP *SuspiciousIPThrottling `json:"suspicious_ip_throttling,omitempty"`
}

// BruteForceProtection is Auth0's brute-force-protection object.
type BruteForceProtection struct {
	Enabled     bool     `json:"enabled"`
	Shields     []string `json:"shields"`   // "block", "user_notification"
	Allowlist   []string `json:"allowlist"` // IPs and CIDRs never counted
	Mode        string   `json:"mode"`      // "count_per_identifier_and_ip" or "count_per_identifier"
	MaxAttempts int      `json:"max_attempts"`
}

// SuspiciousIPThrottling is Auth0's suspicious-ip-throttling object.
type SuspiciousIPThrottling struct {
	Enabled   bool      `json:"enabled"`
	Shields   []string  `json:"shields"` // "block", "admin_notification"
	Allowlist []string  `json:"allowlist"`
	Stage     SITStages `json:"stage"`
}

// SITStages are the throttled stages.
type SITStages struct {
	PreLogin            SITStage `json:"pre-login"`
	PreUserRegistration SITStage `json:"pre-user-registration"`
}

// SITStage allows MaxAttempts, refilled one every Rate milliseconds.
type SITStage struct {
	MaxAttempts int `json:"max_attempts"`
	Rate        int `json:"rate"`
}

// DefaultBruteForce is Auth0's default brute-force protection.
func DefaultBruteForce() BruteForceProtection {
	return BruteForceProtection{Enabled: true, Shields: []string{"block"}, Allowlist: []string{},
		Mode: "count_per_identifier_and_ip", MaxAttempts: 10}
}

// DefaultSuspiciousIP is Auth0's default suspicious IP throttling.
func DefaultSuspiciousIP() SuspiciousIPThrottling {
	return SuspiciousIPThrottling{Enabled: true, Shields: []string{"block"}, Allowlist: []string{},
		Stage: SITStages{PreLogin: SITStage{MaxAttempts: 100, Rate: 864000},
			PreUserRegistration: SITStage{MaxAttempts: 50, Rate: 1728000}}}
}

// BruteForceOrDefault returns the brute-force settings in force.
func (a AttackProtection) BruteForceOrDefault() BruteForceProtection {
	if a.BruteForce == nil {
		return DefaultBruteForce()
	}
	return *a.BruteForce
}

// SuspiciousIPOrDefault returns the suspicious IP settings in force.
func (a AttackProtection) SuspiciousIPOrDefault() SuspiciousIPThrottling {
	if a.SuspiciousIP == nil {
		return DefaultSuspiciousIP()
	}
	return *a.SuspiciousIP
}

// Branding is Auth0's branding object; an empty field means Latchkey's own
// look. URLs are https; colours are #rgb or #rrggbb (package tenant checks).
type Branding struct {
	Colors     BrandingColors `json:"colors,omitzero"`
	LogoURL    string         `json:"logo_url,omitempty"`
	FaviconURL string         `json:"favicon_url,omitempty"`
	Font       BrandingFont   `json:"font,omitzero"`
}

// BrandingColors are the branding colours.
type BrandingColors struct {
	Primary        string `json:"primary,omitempty"`
	PageBackground string `json:"page_background,omitempty"`
}

// BrandingFont is the branding font: the URL of a font file.
type BrandingFont struct {
	URL string `json:"url,omitempty"`
}

// TenantFlags mirrors Auth0's tenant flags that Latchkey implements.
type TenantFlags struct {
	EnforceClientAuthOnPasswordlessStart bool `json:"enforce_client_authentication_on_passwordless_start"`
}

// LatchkeySettings are tenant options beyond Auth0's.
type LatchkeySettings struct {
	// EnumerationSafeSignup: when a connection has disable_signup, answer
	// /passwordless/start for an unknown identifier with 200 and send nothing,
	// instead of Auth0's error.
	EnumerationSafeSignup bool `json:"enumeration_safe_signup"`
	// CustomLoginPage is a Classic login page template (HTML with
	// @@config@@) shown instead of Latchkey's own page.
	CustomLoginPage string `json:"custom_login_page,omitempty"`
	// MagicLinkConfirmation: a magic link opens a page whose button logs in
	// (a POST), so a mail scanner's GET cannot use the link up.
	MagicLinkConfirmation bool `json:"magic_link_confirmation"`
	// RateLimits overrides the endpoint limits (nil parts: the defaults).
	RateLimits RateLimits `json:"rate_limits"`
	// Members are the people who may sign in to the operator console.
	Members []Member `json:"members,omitempty"`
}

// Member is a console member: an email address and a role ("owner",
// "editor" or "viewer").
type Member struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// RateLimits are the Authentication API's limits (token buckets).
type RateLimits struct {
	PasswordlessStart *RateLimit `json:"passwordless_start,omitempty"` // per end-user IP
	Token             *RateLimit `json:"token,omitempty"`              // per end-user IP
	CoAuthenticate    *RateLimit `json:"co_authenticate,omitempty"`    // per end-user IP
	Userinfo          *RateLimit `json:"userinfo,omitempty"`           // per user
	Global            *RateLimit `json:"global,omitempty"`             // the whole tenant (0: none)
	PerRecipient      *RateLimit `json:"per_recipient,omitempty"`      // codes per email address or phone number
}

// RateLimit is a token bucket: Burst tokens, Rate of them refilled every
// IntervalSeconds. A zero Burst turns the limit off.
type RateLimit struct {
	Burst           int `json:"burst"`
	Rate            int `json:"rate"`
	IntervalSeconds int `json:"interval_seconds"`
}

// Client is an application.
type Client struct {
	ClientID string `json:"client_id"`
	// SecretHash is the keyed hash of the client secret; empty when the
	// client has none.
	SecretHash                     []byte   `json:"secret_hash,omitempty"`
	Name                           string   `json:"name"`
	Description                    string   `json:"description,omitempty"`
	AppType                        string   `json:"app_type"`
	TokenEndpointAuthMethod        string   `json:"token_endpoint_auth_method"`
	GrantTypes                     []string `json:"grant_types"`
	Callbacks                      []string `json:"callbacks"`
	AllowedLogoutURLs              []string `json:"allowed_logout_urls"`
	WebOrigins                     []string `json:"web_origins"`
	AllowedOrigins                 []string `json:"allowed_origins"`
	CrossOriginAuthentication      bool     `json:"cross_origin_authentication"`
	CrossOriginLoc                 string   `json:"cross_origin_loc,omitempty"`
	IsTokenEndpointIPHeaderTrusted bool     `json:"is_token_endpoint_ip_header_trusted"`
	IsFirstParty                   bool     `json:"is_first_party"`
	OIDCConformant                 bool     `json:"oidc_conformant"`
	// Credentials are the public keys registered for Private Key JWT
	// (client_assertion) authentication.
	Credentials []ClientCredential `json:"credentials,omitempty"`
	// RefreshToken is the application's refresh-token settings; nil:
	// Latchkey's defaults (tenant.RefreshPolicy).
	RefreshToken *ClientRefreshToken `json:"refresh_token,omitempty"`
	// JWTConfiguration is how the application's ID tokens are signed and
	// how long they live; nil: RS256 for 36,000 seconds.
	JWTConfiguration *JWTConfiguration `json:"jwt_configuration,omitempty"`
	// SecretSealed is the client secret sealed under the master key. It is
	// kept only while the application's ID tokens are signed with its
	// secret (HS256), the one case where the secret must be read back.
	SecretSealed []byte    `json:"secret_sealed,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ClientRefreshToken is an application's refresh-token settings, Auth0's
// client refresh_token object. Lifetimes and leeway are in seconds.
type ClientRefreshToken struct {
	RotationType              string `json:"rotation_type"`   // rotating, non-rotating
	ExpirationType            string `json:"expiration_type"` // expiring, non-expiring
	Leeway                    int    `json:"leeway"`
	TokenLifetime             int    `json:"token_lifetime"`
	InfiniteTokenLifetime     bool   `json:"infinite_token_lifetime"`
	IdleTokenLifetime         int    `json:"idle_token_lifetime"`
	InfiniteIdleTokenLifetime bool   `json:"infinite_idle_token_lifetime"`
}

// JWTConfiguration is an application's ID-token settings, Auth0's client
// jwt_configuration object.
type JWTConfiguration struct {
	Alg               string `json:"alg"`                 // RS256, PS256, RS512, HS256, or ES256 (beyond Auth0)
	LifetimeInSeconds int    `json:"lifetime_in_seconds"` // 0: 36,000
	SecretEncoded     bool   `json:"secret_encoded"`      // HS256: the secret is base64url, its bytes the key
}

// ClientCredential is a public key a client signs its client assertions
// with (Auth0's credential_type "public_key").
type ClientCredential struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	CredentialType string    `json:"credential_type"`
	KID            string    `json:"kid"`
	Alg            string    `json:"alg"`
	PEM            string    `json:"pem"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
}

// Connection is a passwordless (or other) connection.
type Connection struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Strategy       string            `json:"strategy"`
	Options        ConnectionOptions `json:"options"`
	EnabledClients []string          `json:"enabled_clients"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// ConnectionOptions holds the options of email and sms connections (§6.1).
type ConnectionOptions struct {
	Name                 string            `json:"name,omitempty"`
	TOTP                 TOTP              `json:"totp"`
	DisableSignup        bool              `json:"disable_signup"`
	BruteForceProtection bool              `json:"brute_force_protection"`
	AuthParams           map[string]string `json:"authParams,omitempty"`
	Email                *EmailTemplate    `json:"email,omitempty"`

	// SMS.
	From                string `json:"from,omitempty"`
	Template            string `json:"template,omitempty"`
	Syntax              string `json:"syntax,omitempty"`
	Provider            string `json:"provider,omitempty"`
	TwilioSID           string `json:"twilio_sid,omitempty"`
	TwilioToken         string `json:"twilio_token,omitempty"`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	GatewayURL          string `json:"gateway_url,omitempty"`
	ForwardReqInfo      bool   `json:"forward_req_info,omitempty"`
	// GatewayAuthentication signs the SMS gateway calls (a bearer JWT).
	GatewayAuthentication *GatewayAuthentication `json:"gateway_authentication,omitempty"`

	// SMS pumping defences (beyond Auth0): the countries (ISO 3166 alpha-2
	// regions) numbers may belong to (empty: all), and how many codes one
	// number and one number block may get per hour (0: the defaults).
	AllowedCountries []string   `json:"allowed_countries,omitempty"`
	SMSBudget        *SMSBudget `json:"sms_budget,omitempty"`
}

// GatewayAuthentication is Auth0's gateway_authentication option.
type GatewayAuthentication struct {
	Method              string `json:"method"`
	Subject             string `json:"subject"`
	Audience            string `json:"audience"`
	Secret              string `json:"secret"`
	SecretBase64Encoded bool   `json:"secret_base64_encoded"`
}

// SMSBudget caps the codes sent per hour to one number and to one number
// block (the number without its last four digits, where pumping attacks
// cycle).
type SMSBudget struct {
	PerNumberPerHour int `json:"per_number_per_hour"`
	PerBlockPerHour  int `json:"per_block_per_hour"`
}

// TOTP is a connection's code shape.
type TOTP struct {
	Length   int `json:"length"`
	TimeStep int `json:"time_step"`
}

// EmailTemplate is the email connection's message template (Liquid).
type EmailTemplate struct {
	From    string `json:"from"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	Syntax  string `json:"syntax"`
}

// ResourceServer is an API that access tokens can be issued for.
type ResourceServer struct {
	ID                 string    `json:"id"`
	Identifier         string    `json:"identifier"`
	Name               string    `json:"name"`
	Scopes             []Scope   `json:"scopes"`
	SigningAlg         string    `json:"signing_alg"`
	AllowOfflineAccess bool      `json:"allow_offline_access"`
	TokenLifetime      int       `json:"token_lifetime"`
	SkipConsent        bool      `json:"skip_consent_for_verifiable_first_party_clients"`
	IsSystem           bool      `json:"is_system,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// Scope is one permission a resource server defines.
type Scope struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

// ClientGrant lets a client obtain client_credentials tokens for an audience.
type ClientGrant struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Audience  string    `json:"audience"`
	Scope     []string  `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
}

// Block is one brute-force block, in Auth0's blocked_for shape: IP is
// blocked for Identifier on Connection; IP is empty when the block holds
// for every IP (mode count_per_identifier).
type Block struct {
	Identifier string `json:"identifier"`
	IP         string `json:"ip,omitempty"`
	Connection string `json:"connection"`
}

// TenantConfig is a set of records applied together (the tenant file).
// A nil Settings leaves the settings alone.
type TenantConfig struct {
	Settings        *TenantSettings
	Clients         []Client
	Connections     []Connection
	ResourceServers []ResourceServer
	ClientGrants    []ClientGrant
	// FileState is what the tenant file said, field by field: field path →
	// keyed hash of the value it gave (never the value: a file carries
	// secrets). Each entry replaces the stored entry of its path (a nil
	// hash deletes it: the file no longer states that field); entries of
	// other paths stay. It is written in the transaction of the records, so
	// that the state never claims a value the records do not reflect.
	FileState map[string][]byte
}

// User is an end user of a passwordless connection.
type User struct {
	UserID        string // "email|<24 hex>" or "sms|<24 hex>"
	Connection    string // connection name
	Identifier    string // the normalised email or phone number
	Email         string
	PhoneNumber   string
	EmailVerified bool
	PhoneVerified bool
	Blocked       bool
	LoginsCount   int
	LastIP        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastLogin     time.Time // zero when never logged in
}

// UserFlags are the administrative changes UpdateUserFlags applies.
type UserFlags struct {
	Blocked       *bool
	EmailVerified *bool
	PhoneVerified *bool
	At            time.Time // the new UpdatedAt
}

// Login describes a successful login for RecordLogin.
type Login struct {
	UserID        string // used only when the user is created
	Connection    string
	Identifier    string
	Email         string
	PhoneNumber   string
	EmailVerified bool
	PhoneVerified bool
	IP            string
	At            time.Time
}

// Code is an outstanding one-time code (and magic link) for an identifier.
type Code struct {
	ID         string // random id of this issuance
	Connection string
	Identifier string
	Hash       []byte // keyed hash of the code
	ClientID   string
	// UserIDHint is the identity id ("<24 hex>") returned by start and used
	// if the first login creates the user.
	UserIDHint string
	Send       string // code, link
	AuthParams map[string]string
	IP         string
	UserAgent  string
	Attempts   int
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// RefreshToken is a stored refresh token (by hash only).
type RefreshToken struct {
	ID        string
	FamilyID  string
	Hash      []byte
	ClientID  string
	UserID    string
	Audience  string
	Scope     string
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt time.Time // zero while live
	Revoked   bool
	// IdleExpiresAt is when the token expires unless used (the client's
	// idle_token_lifetime after its last use); zero: never. ExpiresAt is the
	// absolute expiry, shared by the whole family.
	IdleExpiresAt time.Time
}

// RefreshTokenFilter names the refresh tokens to revoke: a family, or a
// user's tokens (optionally of one client, and of one audience, only).
type RefreshTokenFilter struct {
	FamilyID string
	UserID   string
	ClientID string
	Audience *string // nil: any audience ("" is the tokens without one)
}

// LatestPerFamily keeps the live tokens of ts (oldest first) at now, one
// per family: the newest. Backends share it for ListRefreshTokens.
func LatestPerFamily(ts []RefreshToken, now time.Time) []RefreshToken {
	at := map[string]int{}
	out := make([]RefreshToken, 0, len(ts))
	for _, t := range ts {
		if !t.Live(now) {
			continue
		}
		if i, ok := at[t.FamilyID]; ok {
			out[i] = t
			continue
		}
		at[t.FamilyID] = len(out)
		out = append(out, t)
	}
	return out
}

// Live reports whether the token can be exchanged at now: not revoked, not
// rotated, and neither of its expiries reached.
func (t RefreshToken) Live(now time.Time) bool {
	return !t.Revoked && t.RotatedAt.IsZero() && now.Before(t.ExpiresAt) &&
		(t.IdleExpiresAt.IsZero() || now.Before(t.IdleExpiresAt))
}

// Ephemeral is a short-lived record named by the keyed hash of a random
// token: an authorization code, a login ticket, a hosted-login transaction,
// a login session. Data is the owner's JSON; the store does not read it.
type Ephemeral struct {
	Kind      string // e.g. "authz_code", "login_ticket", "transaction", "session"
	Hash      []byte
	ClientID  string
	Subject   string // the user id, when there is one ("" otherwise)
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// OutboxMessage is a message waiting to be delivered. Payload is sealed by
// the caller (it holds the code); the store never reads it.
type OutboxMessage struct {
	ID            string
	Channel       string // "email" or "sms"
	Recipient     string // the email address or phone number (for budgets and logs)
	ClientID      string
	Connection    string
	Payload       []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time // not sent after this (the code's expiry): the worker gives it up
	NextAttemptAt time.Time
	Attempts      int
	LastError     string
	ClaimedBy     string    // node id while claimed
	ClaimedUntil  time.Time // lease end
}

// MaxOutboxErrorBytes bounds an outbox message's LastError: RetryOutbox
// keeps the first MaxOutboxErrorBytes bytes (whole UTF-8 characters) of a
// longer one, so that a chatty mail server cannot grow the rows.
const MaxOutboxErrorBytes = 512

// TrimOutboxError is lastError as RetryOutbox stores it: valid UTF-8
// without NUL (all a PostgreSQL text column takes; anything else becomes
// U+FFFD), at most MaxOutboxErrorBytes long, cut before a whole character.
func TrimOutboxError(lastError string) string {
	lastError = strings.ReplaceAll(strings.ToValidUTF8(lastError, "\uFFFD"), "\x00", "\uFFFD")
	if len(lastError) <= MaxOutboxErrorBytes {
		return lastError
	}
	cut := MaxOutboxErrorBytes
	for !utf8.RuneStart(lastError[cut]) {
		cut--
	}
	return lastError[:cut]
}

// SigningKey is a token-signing key; the private half is sealed under the
// master key.
type SigningKey struct {
	KID           string
	Alg           string
	PublicJWK     []byte // JSON
	PrivateSealed []byte
	Status        SigningKeyStatus
	CreatedAt     time.Time
	CurrentSince  time.Time // when it became current; zero while next
	RetiredAt     time.Time // when it stopped being current (Auth0's current_until); zero until then
	RevokedAt     time.Time // zero unless revoked
}

// SigningKeyStatus is where a signing key is in its life: next → current →
// previous → (revoked).
type SigningKeyStatus string

// The signing key statuses.
const (
	// KeyNext is published (in the JWKS) but signs nothing yet: the key
	// the next rotation makes current.
	KeyNext SigningKeyStatus = "next"
	// KeyCurrent signs every token.
	KeyCurrent SigningKeyStatus = "current"
	// KeyPrevious was current; tokens it signed keep verifying for a grace
	// period.
	KeyPrevious SigningKeyStatus = "previous"
	// KeyRevoked verifies nothing any more.
	KeyRevoked SigningKeyStatus = "revoked"
)

// JudgeCode decides a ConsumeCode (or CheckCode) attempt on an outstanding code c. Backends
// call it inside their transaction so that every backend applies the same
// rules. match reports whether the presented hash equals c.Hash (compared in
// constant time by the caller).
func JudgeCode(c Code, match bool, now time.Time) error {
	switch {
	case c.Attempts >= MaxCodeAttempts:
		return ErrCodeExhausted
	case !now.Before(c.ExpiresAt):
		return ErrCodeExpired
	case match:
		return nil
	case c.Attempts+1 >= MaxCodeAttempts:
		return ErrCodeExhausted
	default:
		return ErrCodeWrong
	}
}
