// Package authapi holds the Authentication API handlers: thin adapters that
// decode a request, call a domain package and encode its answer.
package authapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Directory is the configuration the handlers read.
type Directory interface {
	Client(ctx context.Context, id string) (store.Client, error)
	Clients(ctx context.Context) ([]store.Client, error)
	Connection(ctx context.Context, name string) (store.Connection, error)
	Settings(ctx context.Context) (store.TenantSettings, error)
}

// Starter starts passwordless logins.
type Starter interface {
	Start(ctx context.Context, req passwordless.StartRequest) (passwordless.StartResult, error)
}

// Tokens runs the token endpoint.
type Tokens interface {
	Token(ctx context.Context, req oauth.TokenRequest) (*oauth.TokenResponse, error)
	Revoke(ctx context.Context, creds oauth.ClientCredentials, token string) (oauth.Revocation, error)
}

// Users reads users for /userinfo.
type Users interface {
	GetUser(ctx context.Context, userID string) (store.User, error)
}

// CodeService redeems codes (consuming them) and checks them without
// consuming them.
type CodeService interface {
	Redeem(ctx context.Context, r passwordless.Redemption) (passwordless.Redeemed, error)
	Check(ctx context.Context, r passwordless.Redemption) (passwordless.Checked, error)
}

// Events records tenant log events (without waiting for the store).
type Events interface {
	Record(ctx context.Context, ev store.LogEvent)
}

// API is the Authentication API.
type API struct {
	Log    *slog.Logger
	Dir    Directory
	Start  Starter
	Tokens Tokens
	Users  Users
	Minter *oauth.Minter
	Keys   *oauth.KeyManager
	Seal   *secret.Keys
	// Assertions verifies Private Key JWT client assertions; nil refuses them.
	Assertions *oauth.AssertionVerifier
	// Authz answers authorization requests; SSO keeps sessions,
	// hosted-login transactions and login tickets; Codes checks codes
	// without consuming them (/passwordless/verify).
	Authz Authorizer
	SSO   *sso.Manager
	Codes CodeService
	// Limits applies the endpoint rate limits; nil applies none.
	Limits Limits
	Events Events
	// Metrics counts logins and codes; nil counts nothing.
	Metrics  Observer
	Hostname string // the tenant's host name, for log events
	Now      func() time.Time
	discover atomic.Pointer[discoveryDoc]
}

// discoveryDoc is the discovery document as served, for the algorithms
// the tenant's keys signed with when it was made.
type discoveryDoc struct {
	algs string
	body []byte
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	h := func(methods string, f httpx.HandlerFunc) http.Handler {
		return httpx.Handle(a.Log, httpx.RenderAuth, allow(methods, f))
	}
	mux.Handle("/passwordless/start", h("POST OPTIONS", a.withCORS("POST", a.passwordlessStart)))
	mux.Handle("/oauth/token", h("POST OPTIONS", a.withCORS("POST", a.token)))
	mux.Handle("/oauth/revoke", h("POST OPTIONS", a.withCORS("POST", a.revoke)))
	mux.Handle("/userinfo", h("GET POST OPTIONS", a.withCORS("GET, POST", a.userinfo)))
	mux.Handle("/passwordless/verify", h("POST OPTIONS", a.withCORS("POST", a.passwordlessVerify)))
	mux.Handle("/passwordless/verify_redirect", h("GET POST", a.verifyRedirect))
	mux.Handle("/passwordless/challenge", h("POST OPTIONS", a.withCORS("POST", a.passwordlessChallenge)))
	mux.Handle("/co/authenticate", h("POST OPTIONS", a.withCORS("POST", a.coAuthenticate)))
	mux.Handle("/co/verify", h("POST", a.coVerify))
	mux.Handle("/authorize", h("GET POST", a.authorize))
	mux.Handle("GET /login", h("GET", a.loginPage))
	mux.Handle("POST /login", h("POST", a.loginSubmit))
	mux.Handle("/v2/logout", h("GET", a.logout))
	mux.Handle("GET /client/{file}", h("GET", a.clientScript))
	mux.Handle("/user/geoloc/country", h("GET OPTIONS", a.withCORS("GET", a.geolocCountry)))
	mux.Handle("/.well-known/openid-configuration", h("GET", a.openidConfiguration))
	mux.Handle("/.well-known/jwks.json", h("GET", a.jwks))
	mux.Handle("/", h("GET POST PUT PATCH DELETE", func(w http.ResponseWriter, r *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "not_found", "Not found: %s", r.URL.Path)
	}))
}

// Observer counts what the API does, for the metrics.
type Observer interface {
	// Login counts a login or token grant that succeeded or failed; grant
	// is the grant type's short name or the browser flow (hosted_page,
	// magic_link, cross_origin).
	Login(connection, grant string, ok bool)
	// CodeSent counts a code or link issued for delivery on channel.
	CodeSent(channel string)
}

func (a *API) observeLogin(connection, grant string, ok bool) {
	if a.Metrics != nil {
		a.Metrics.Login(connection, grant, ok)
	}
}

// record writes a tenant log event, if the API records any.
func (a *API) record(ctx context.Context, ev store.LogEvent) {
	if a.Events != nil {
		a.Events.Record(ctx, ev)
	}
}

// allow answers a method outside methods with a 405 in the API's shape.
func allow(methods string, f httpx.HandlerFunc) httpx.HandlerFunc {
	list := strings.Fields(methods)
	return func(w http.ResponseWriter, r *http.Request) error {
		for _, m := range list {
			if r.Method == m || (r.Method == http.MethodHead && m == http.MethodGet) {
				return f(w, r)
			}
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", strings.Join(list, ", "))
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		e := httpx.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "Method %s is not allowed here", r.Method)
		e.Header = http.Header{"Allow": {strings.Join(list, ", ")}}
		return e
	}
}

func (a *API) openidConfiguration(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=900")
	h.Set("Access-Control-Allow-Origin", "*")
	algs := a.Keys.Algs()
	key := strings.Join(algs, " ")
	d := a.discover.Load()
	if d == nil || d.algs != key {
		d = &discoveryDoc{algs: key, body: a.discovery(algs)}
		a.discover.Store(d)
	}
	w.Write(d.body)
	return nil
}

// discovery is the OpenID Provider metadata. The ID-token algorithms are
// those the tenant's keys sign with now (ES256 only once an application
// chose it) and HS256, which signs with an application's secret.
func (a *API) discovery(algs []string) []byte {
	iss := a.Minter.Issuer()
	b, _ := json.Marshal(map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "authorize",
		"token_endpoint":                                   iss + "oauth/token",
		"userinfo_endpoint":                                iss + "userinfo",
		"revocation_endpoint":                              iss + "oauth/revoke",
		"jwks_uri":                                         iss + ".well-known/jwks.json",
		"scopes_supported":                                 []string{"openid", "profile", "email", "phone", "offline_access"},
		"response_types_supported":                         []string{"code", "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"},
		"response_modes_supported":                         []string{"query", "fragment", "form_post", "web_message"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"end_session_endpoint":                             iss + "v2/logout",
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            append(slices.Clone(algs), oauth.AlgHS256),
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": oauth.AssertionAlgs,
		"grant_types_supported":                            tenant.GrantNames(),
		"claims_supported": []string{"aud", "exp", "iat", "iss", "sub", "name", "nickname", "updated_at",
			"email", "email_verified", "phone_number", "phone_number_verified"},
		"request_uri_parameter_supported": false,
	})
	return b
}

func (a *API) jwks(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(a.Keys.JWKS())
	return nil
}

func (a *API) userinfo(w http.ResponseWriter, r *http.Request) error {
	a.corsAnyClient(w, r)
	unauthorized := func(desc string) *httpx.Error {
		e := httpx.Errorf(http.StatusUnauthorized, "invalid_token", "%s", desc)
		e.Header = http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
		return e
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return unauthorized("Missing bearer access token")
	}
	g, err := a.Minter.CheckUserinfoToken(strings.TrimSpace(tok), a.Now())
	if err != nil {
		return apierr.Answer(apierr.Userinfo, err)
	}
	if err := a.limit(w, r, protect.Userinfo, g.Sub, store.Client{}, false); err != nil {
		return err
	}
	u, err := a.Users.GetUser(r.Context(), g.Sub)
	if err != nil {
		e := unauthorized("The access token's user no longer exists")
		e.Cause = err
		return e
	}
	if u.Blocked {
		return apierr.Answer(apierr.Userinfo, oauth.ErrUserBlocked)
	}
	b, err := oauth.UserinfoJSON(u, g.Scopes)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(b)
	return nil
}
