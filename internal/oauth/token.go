package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Directory is the configuration the token service reads.
type Directory interface {
	Client(ctx context.Context, id string) (store.Client, error)
	ResourceServer(ctx context.Context, identifier string) (store.ResourceServer, error)
	Settings(ctx context.Context) (store.TenantSettings, error)
	ClientGrant(ctx context.Context, clientID, audience string) (store.ClientGrant, error)
}

// TokenStore is the storage the token service uses.
type TokenStore interface {
	GetUser(ctx context.Context, userID string) (store.User, error)
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) error
	GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time, leeway time.Duration) (store.RefreshToken, error)
	UseRefreshToken(ctx context.Context, hash []byte, clientID string, now, idleExpiresAt time.Time) (store.RefreshToken, error)
	RevokeRefreshTokens(ctx context.Context, f store.RefreshTokenFilter) (int, error)
	PutEphemeral(ctx context.Context, e store.Ephemeral) error
	TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
}

// CodeRedeemer redeems passwordless codes.
type CodeRedeemer interface {
	Redeem(ctx context.Context, r passwordless.Redemption) (passwordless.Redeemed, error)
}

// Service implements the token endpoint's grants.
type Service struct {
	dir   Directory
	st    TokenStore
	codes CodeRedeemer
	mint  *Minter
	seal  *secret.Keys
	av    *AssertionVerifier
	now   func() time.Time
}

// Deps are what the token service works with.
type Deps struct {
	Directory Directory
	Store     TokenStore
	Codes     CodeRedeemer
	Minter    *Minter
	Seal      *secret.Keys
	// Assertions verifies client assertions; nil refuses them.
	Assertions *AssertionVerifier
	Now        func() time.Time
}

// NewService returns the token service.
func NewService(d Deps) *Service {
	return &Service{dir: d.Directory, st: d.Store, codes: d.Codes, mint: d.Minter, seal: d.Seal, av: d.Assertions, now: d.Now}
}

// ClientCredentials are the client's credentials as presented on a request.
type ClientCredentials struct {
	ClientID string
	Secret   string
	// RawSecret is the Basic password before form-decoding, tried when the
	// decoded one does not match (clients that do not escape it).
	RawSecret string
	ViaBasic  bool
	HasSecret bool
	// Assertion is a Private Key JWT (client_assertion) and AssertionType
	// its client_assertion_type.
	Assertion, AssertionType string
}

// TokenRequest is a decoded /oauth/token call.
type TokenRequest struct {
	Params       httpx.Body
	Creds        ClientCredentials
	PeerIP       string
	ForwardedFor string // the auth0-forwarded-for header
	// Audit, when set, is filled in with what the request did, whether it
	// succeeded or not, for the tenant log.
	Audit *Audit
	// Admit, when set, is asked once the client and the effective end-user
	// IP are known, before the grant runs: rate limits key on that IP.
	Admit func(ip string, authenticated bool, c store.Client) error
}

// Audit is what a token request did, as far as it got.
type Audit struct {
	Grant      string
	Client     store.Client // zero when the client is unknown
	IP         string       // the effective end-user IP
	Connection string       // the realm of a passwordless grant
	Strategy   string
	Username   string // the email or phone number presented
	User       store.User
	Created    bool // the login signed the user up
	Audience   string
	Scope      string
}

// TokenResponse is the token endpoint's success body.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// Client authentication outcomes.
const (
	AuthNone    = iota // no credentials presented
	AuthValid          // credentials presented and correct
	AuthInvalid        // credentials presented and wrong
)

// CheckSecret judges the presented secret against the client's.
func CheckSecret(seal *secret.Keys, c store.Client, creds ClientCredentials) int {
	if !creds.HasSecret {
		return AuthNone
	}
	if len(c.SecretHash) == 0 {
		return AuthInvalid
	}
	if secret.Equal(tenant.HashClientSecret(seal, c.ClientID, creds.Secret), c.SecretHash) {
		return AuthValid
	}
	if creds.RawSecret != "" && creds.RawSecret != creds.Secret &&
		secret.Equal(tenant.HashClientSecret(seal, c.ClientID, creds.RawSecret), c.SecretHash) {
		return AuthValid
	}
	return AuthInvalid
}

// CheckClient judges the presented credentials: the client assertion when
// one is sent (a secret alongside it makes the call invalid), otherwise the
// secret. The error says why credentials were refused, for the log.
func CheckClient(ctx context.Context, seal *secret.Keys, av *AssertionVerifier, c store.Client, creds ClientCredentials) (int, error) {
	if creds.Assertion == "" {
		return CheckSecret(seal, c, creds), nil
	}
	switch {
	case creds.HasSecret:
		return AuthInvalid, errors.New("both a client secret and a client assertion were sent")
	case creds.AssertionType != ClientAssertionType:
		return AuthInvalid, fmt.Errorf("client_assertion_type %q is not %s", creds.AssertionType, ClientAssertionType)
	case av == nil:
		return AuthInvalid, errors.New("client assertions are not enabled")
	}
	if err := av.Verify(ctx, c, creds.Assertion); err != nil {
		return AuthInvalid, err
	}
	return AuthValid, nil
}

// EffectiveIP is the end user's IP: the auth0-forwarded-for value when the
// client is confidential, authenticated and trusted for it (§8), otherwise
// the peer address. A malformed header is ignored.
func EffectiveIP(c store.Client, authenticated bool, peer, forwarded string) string {
	if forwarded == "" || !authenticated || !tenant.IsConfidential(c) || !c.IsTokenEndpointIPHeaderTrusted {
		return peer
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(forwarded))
	if err != nil || ip.Zone() != "" {
		// A zone is free text; it would let one address make endless keys.
		return peer
	}
	return ip.Unmap().String()
}

// grantHandler exchanges one grant type at the token endpoint; success and
// failure are the tenant-log event types of the exchange.
type grantHandler struct {
	run              func(s *Service, ctx context.Context, call grantCall) (*TokenResponse, error)
	success, failure string
}

// grantCall is a token request as a grant handler gets it: the client
// found (and whether it proved itself), the parameters, the effective
// end-user IP and the audit to fill in.
type grantCall struct {
	client        store.Client
	authenticated bool
	params        httpx.Body
	ip            string
	audit         *Audit
}

// grantHandlers are the grant types the token endpoint exchanges, under
// the names of tenant's grant table; a test keeps them in step with it (a
// grant with a metric name has a handler here, and every handler has a
// row there).
var grantHandlers = map[string]grantHandler{
	tenant.GrantPasswordlessOTP:   {(*Service).passwordlessGrant, eventlog.TypeSuccessLogin, eventlog.TypeFailedOTPExchange},
	tenant.GrantRefreshToken:      {(*Service).refreshGrant, eventlog.TypeSuccessRefresh, eventlog.TypeFailedRefresh},
	tenant.GrantAuthorizationCode: {(*Service).authorizationCodeGrant, eventlog.TypeSuccessCodeExchange, eventlog.TypeFailedCodeExchange},
	tenant.GrantClientCredentials: {(*Service).clientCredentialsGrant, eventlog.TypeSuccessClientCreds, eventlog.TypeFailedClientCreds},
}

// TokenEvents are the tenant-log event types of a token request for grant,
// on success and on failure; ok is false for a grant type the token
// endpoint does not exchange (such requests are not logged).
func TokenEvents(grant string) (success, failure string, ok bool) {
	h, ok := grantHandlers[grant]
	return h.success, h.failure, ok
}

// Token runs a token request.
func (s *Service) Token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	au := req.Audit
	if au == nil {
		au = &Audit{}
	}
	p := req.Params
	grant, err := p.String("grant_type")
	if err != nil {
		return nil, refusal(ErrBadParameter, err.Error())
	}
	if grant == "" {
		return nil, missing("grant_type")
	}
	au.Grant = grant
	for _, k := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type", "username", "otp", "realm", "scope", "audience", "resource", "refresh_token", "redirect_uri", "code", "code_verifier"} {
		if _, err := p.String(k); err != nil {
			return nil, refusal(ErrBadParameter, err.Error())
		}
	}
	au.IP = req.PeerIP
	client, authenticated, err := s.authenticate(ctx, req.Creds)
	au.Client = client
	if au.Client.ClientID == "" {
		au.Client.ClientID = req.Creds.ClientID
	}
	if err != nil {
		return nil, err
	}
	ip := EffectiveIP(client, authenticated, req.PeerIP, req.ForwardedFor)
	au.IP = ip
	if req.Admit != nil {
		if err := req.Admit(ip, authenticated, client); err != nil {
			return nil, err
		}
	}
	h, ok := grantHandlers[grant]
	if !ok {
		return nil, refusal(ErrUnsupportedGrant, grant)
	}
	resp, err := h.run(s, ctx, grantCall{client: client, authenticated: authenticated, params: p, ip: ip, audit: au})
	if resp != nil {
		au.Scope = resp.Scope
	}
	return resp, err
}

// authenticate finds the client and checks its credentials: a confidential
// client must present a correct secret or a valid client assertion; a
// public one needs none, but wrong credentials fail all the same. It
// reports whether the client proved itself.
func (s *Service) authenticate(ctx context.Context, creds ClientCredentials) (store.Client, bool, error) {
	if creds.ClientID == "" && creds.Assertion != "" {
		// RFC 7523: the assertion's iss names the client; Verify checks it.
		creds.ClientID = UnverifiedAssertionIssuer(creds.Assertion)
	}
	if creds.ClientID == "" {
		return store.Client{}, false, missing("client_id")
	}
	c, err := s.dir.Client(ctx, creds.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, fmt.Errorf("%w: unknown client", ErrClientUnauthorized)
	}
	if err != nil {
		return c, false, fmt.Errorf("read client: %w", err)
	}
	res, why := CheckClient(ctx, s.seal, s.av, c, creds)
	switch {
	case res == AuthInvalid && why != nil:
		return c, false, fmt.Errorf("%w: client %s: %w", ErrClientUnauthorized, c.ClientID, why)
	case res == AuthInvalid:
		return c, false, fmt.Errorf("%w: client %s: wrong client secret", ErrClientUnauthorized, c.ClientID)
	case res == AuthNone && tenant.IsConfidential(c):
		return c, false, fmt.Errorf("%w: client %s is confidential and sent no credentials", ErrClientUnauthorized, c.ClientID)
	}
	return c, res == AuthValid, nil
}

func (s *Service) passwordlessGrant(ctx context.Context, call grantCall) (*TokenResponse, error) {
	client, p, ip, au := call.client, call.params, call.ip, call.audit
	username, _ := p.String("username")
	otp, _ := p.String("otp")
	realm, _ := p.String("realm")
	au.Connection, au.Username = realm, username
	if !tenant.HasGrant(client, tenant.GrantPasswordlessOTP) {
		return nil, refusal(ErrGrantNotAllowed, tenant.GrantPasswordlessOTP)
	}
	for _, req := range []struct{ name, v string }{{"username", username}, {"otp", otp}, {"realm", realm}} {
		if req.v == "" {
			return nil, missing(req.name)
		}
	}
	if ru, _ := p.String("redirect_uri"); ru != "" && !slices.Contains(client.Callbacks, ru) {
		return nil, refusal(ErrCallbackNotAllowed, ru)
	}
	scopes := strings.Fields(str(p, "scope"))
	api, err := s.audience(ctx, p)
	if err != nil {
		return nil, err
	}
	if api != nil {
		au.Audience = api.Identifier
	}

	red, err := s.codes.Redeem(ctx, passwordless.Redemption{ClientID: client.ClientID, Connection: realm, Username: username, Code: otp, IP: ip})
	au.Strategy, au.User, au.Created = red.Strategy, red.User, red.Created
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, client, red.User, api, grantedScopes(client, scopes, api), issueOptions{})
}

func str(p httpx.Body, k string) string { s, _ := p.String(k); return s }

// audience resolves the requested API (audience, else resource, else the
// tenant's default audience); nil when none is asked for.
func (s *Service) audience(ctx context.Context, p httpx.Body) (*store.ResourceServer, error) {
	aud := str(p, "audience")
	if aud == "" {
		aud = str(p, "resource")
	}
	return s.resolveAudience(ctx, aud)
}

// resolveAudience finds the API aud names, the tenant's default audience
// when aud is empty; nil when there is none.
func (s *Service) resolveAudience(ctx context.Context, aud string) (*store.ResourceServer, error) {
	if aud == "" {
		settings, err := s.dir.Settings(ctx)
		if err != nil {
			return nil, fmt.Errorf("read settings: %w", err)
		}
		aud = settings.DefaultAudience
	}
	if aud == "" {
		return nil, nil
	}
	rs, err := s.dir.ResourceServer(ctx, aud)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusal(ErrUnknownAudience, aud)
	}
	if err != nil {
		return nil, fmt.Errorf("read resource server: %w", err)
	}
	return &rs, nil
}

var oidcScopes = []string{"openid", "profile", "email", "phone", "address", "offline_access"}

// grantedScopes keeps the OIDC scopes and, with an API, the API's own
// scopes; offline_access only when the client may use refresh tokens and,
// with an API, the API allows them (as Auth0: without an audience the
// refresh token renews the ID token and the /userinfo access token).
func grantedScopes(client store.Client, requested []string, api *store.ResourceServer) []string {
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if slices.Contains(out, sc) {
			continue
		}
		switch {
		case sc == "offline_access":
			if tenant.HasGrant(client, tenant.GrantRefreshToken) && (api == nil || api.AllowOfflineAccess) {
				out = append(out, sc)
			}
		case slices.Contains(oidcScopes, sc):
			out = append(out, sc)
		case api != nil && slices.ContainsFunc(api.Scopes, func(x store.Scope) bool { return x.Value == sc }):
			out = append(out, sc)
		}
	}
	return out
}

// issueOptions are the extras of a token response: a refresh token the
// caller already rotated, and the nonce and auth_time of the authorization
// request a code stands for.
type issueOptions struct {
	refresh  string
	nonce    string
	authTime time.Time
}

// accessToken mints the access token for user u: a JWT for an API, an
// opaque (sealed) token for /userinfo otherwise.
func (s *Service) accessToken(ctx context.Context, client store.Client, u store.User, api *store.ResourceServer, scopes []string, now time.Time) (*TokenResponse, error) {
	resp := &TokenResponse{TokenType: "Bearer", Scope: strings.Join(scopes, " ")}
	if api == nil {
		resp.ExpiresIn = int(OpaqueTokenLifetime / time.Second)
		resp.AccessToken = s.mint.OpaqueAccessToken(u.UserID, client.ClientID, scopes, now)
		return resp, nil
	}
	resp.ExpiresIn = api.TokenLifetime
	var err error
	resp.AccessToken, err = s.mint.JWTAccessToken(ctx, u.UserID, client.ClientID, api.Identifier, scopes, "", time.Duration(api.TokenLifetime)*time.Second, now)
	return resp, err
}

// issue mints the token response for user u.
func (s *Service) issue(ctx context.Context, client store.Client, u store.User, api *store.ResourceServer, scopes []string, o issueOptions) (*TokenResponse, error) {
	now := s.now()
	resp, err := s.accessToken(ctx, client, u, api, scopes, now)
	if err != nil {
		return nil, err
	}
	if slices.Contains(scopes, "openid") {
		if resp.IDToken, err = s.mint.IDToken(ctx, u, client, scopes, IDExtras{Nonce: o.nonce, AuthTime: o.authTime}, now); err != nil {
			return nil, err
		}
	}
	switch {
	case o.refresh != "":
		resp.RefreshToken = o.refresh
	case slices.Contains(scopes, "offline_access") && tenant.HasGrant(client, tenant.GrantRefreshToken) && (api == nil || api.AllowOfflineAccess):
		tok, hash := NewRefreshToken(s.seal)
		policy := tenant.RefreshPolicy(client)
		rt := store.RefreshToken{ID: secret.Hex(12), Hash: hash, ClientID: client.ClientID, UserID: u.UserID,
			Scope: resp.Scope, CreatedAt: now, ExpiresAt: refreshExpiry(policy, now), IdleExpiresAt: tenant.RefreshIdleExpiry(policy, now)}
		if api != nil {
			rt.Audience = api.Identifier
		}
		rt.FamilyID = rt.ID
		if err := s.st.CreateRefreshToken(ctx, rt); err != nil {
			return nil, fmt.Errorf("store refresh token: %w", err)
		}
		resp.RefreshToken = tok
	}
	return resp, nil
}

// neverExpires stands for "no absolute expiry" in the store, whose
// refresh tokens always carry one (and are purged after it).
var neverExpires = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// refreshExpiry is the absolute expiry of a refresh-token family first
// issued at now under p.
func refreshExpiry(p store.ClientRefreshToken, now time.Time) time.Time {
	if t := tenant.RefreshExpiry(p, now); !t.IsZero() {
		return t
	}
	return neverExpires
}

func (s *Service) refreshGrant(ctx context.Context, call grantCall) (*TokenResponse, error) {
	client, p, au := call.client, call.params, call.audit
	if !tenant.HasGrant(client, tenant.GrantRefreshToken) {
		return nil, refusal(ErrGrantNotAllowed, tenant.GrantRefreshToken)
	}
	tok := str(p, "refresh_token")
	if tok == "" {
		return nil, missing("refresh_token")
	}
	now := s.now()
	hash := HashRefreshToken(s.seal, tok)
	// Check everything the request can get wrong before rotating, so that a
	// refused request does not use the token up (and its retry does not look
	// like a reuse). The rotation re-checks the token's state atomically.
	old, err := s.st.GetRefreshToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown", ErrBadRefreshToken)
	}
	if err != nil {
		return nil, fmt.Errorf("read refresh token: %w", err)
	}
	if old.ClientID != client.ClientID {
		return nil, fmt.Errorf("%w: issued to another client", ErrBadRefreshToken)
	}
	// The user first: a blocked user's tokens were revoked with the block,
	// and the application is told why ("user is blocked"), as before.
	au.Audience = old.Audience
	u, err := s.st.GetUser(ctx, old.UserID)
	au.User = u
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: its user is gone", ErrBadRefreshToken)
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if u.Blocked {
		return nil, ErrUserBlocked
	}
	switch {
	case old.Revoked:
		return nil, fmt.Errorf("%w: revoked", ErrBadRefreshToken)
	case !now.Before(old.ExpiresAt):
		return nil, fmt.Errorf("%w: expired", ErrBadRefreshToken)
	case !old.IdleExpiresAt.IsZero() && !now.Before(old.IdleExpiresAt):
		return nil, fmt.Errorf("%w: idle too long", ErrBadRefreshToken)
	}
	scopes := strings.Fields(old.Scope)
	if req := strings.Fields(str(p, "scope")); len(req) > 0 {
		for _, sc := range req {
			if !slices.Contains(scopes, sc) {
				return nil, refusal(ErrScopeNotGranted, sc)
			}
		}
		scopes = req
	}
	// A token issued without an audience renews the ID token and the
	// /userinfo access token.
	var api *store.ResourceServer
	if old.Audience != "" {
		rs, err := s.dir.ResourceServer(ctx, old.Audience)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: its API is gone", ErrBadRefreshToken)
		}
		if err != nil {
			return nil, fmt.Errorf("read resource server: %w", err)
		}
		api = &rs
	}
	// The client's settings as they are now decide how this exchange goes;
	// the family's absolute expiry was fixed when it was first issued.
	policy := tenant.RefreshPolicy(client)
	idle := tenant.RefreshIdleExpiry(policy, now)
	next := tok
	if policy.RotationType == tenant.RotationNonRotating {
		_, err = s.st.UseRefreshToken(ctx, hash, client.ClientID, now, idle)
	} else {
		var nextHash []byte
		next, nextHash = NewRefreshToken(s.seal)
		nrt := store.RefreshToken{ID: secret.Hex(12), Hash: nextHash, ClientID: client.ClientID, CreatedAt: now,
			ExpiresAt: old.ExpiresAt, IdleExpiresAt: idle}
		// The store copies user, audience, scope and family from the old token.
		_, err = s.st.RotateRefreshToken(ctx, hash, nrt, now, time.Duration(policy.Leeway)*time.Second)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenReused) {
		return nil, fmt.Errorf("%w: %w", ErrBadRefreshToken, err)
	} else if err != nil {
		return nil, fmt.Errorf("exchange refresh token: %w", err)
	}
	return s.issue(ctx, client, u, api, scopes, issueOptions{refresh: next})
}

// Revocation is what a revocation request did: the client found, and the
// user and audience of the token revoked (empty when nothing was).
type Revocation struct {
	Client   store.Client
	UserID   string
	Audience string
	Revoked  int // refresh tokens revoked
}

// Revoke is POST /oauth/revoke: the client (authenticated as at the token
// endpoint) revokes the refresh token tok and, as Auth0 does, every other
// refresh token of the same user, application and audience (the grant it
// belongs to). A token that is unknown, already revoked or expired, or
// issued to another application, is no error and changes nothing (RFC 7009
// §2.2: the answer reveals nothing about it).
func (s *Service) Revoke(ctx context.Context, creds ClientCredentials, tok string) (Revocation, error) {
	client, _, err := s.authenticate(ctx, creds)
	rv := Revocation{Client: client}
	if err != nil {
		return rv, err
	}
	if tok == "" {
		return rv, missing("token")
	}
	rt, err := s.st.GetRefreshToken(ctx, HashRefreshToken(s.seal, tok))
	if errors.Is(err, store.ErrNotFound) || (err == nil && rt.ClientID != client.ClientID) {
		return rv, nil
	}
	if err != nil {
		return rv, fmt.Errorf("read refresh token: %w", err)
	}
	aud := rt.Audience
	n, err := s.st.RevokeRefreshTokens(ctx, store.RefreshTokenFilter{UserID: rt.UserID, ClientID: client.ClientID, Audience: &aud})
	if err != nil {
		return rv, fmt.Errorf("revoke refresh tokens: %w", err)
	}
	rv.UserID, rv.Audience, rv.Revoked = rt.UserID, rt.Audience, n
	return rv, nil
}
