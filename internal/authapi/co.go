package authapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// corsHeaders are the request headers browser SDKs send cross-origin.
const corsHeaders = "Auth0-Client, Content-Type, X-Request-Language, Authorization"

// cors lets the request's Origin read the response when it is one of the
// client's allowed origins (with credentials, as /co/authenticate needs);
// other origins get no CORS headers, so the browser keeps the answer from
// them. It reports whether the origin was allowed.
func (a *API) cors(w http.ResponseWriter, r *http.Request, c store.Client) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	varyOrigin(h)
	if origin == "" || !oauth.AllowedOrigin(c, origin) {
		// Undo corsAnyClient's answer for errors found before the client.
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Allow-Credentials")
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	return true
}

// varyOrigin tells caches that the answer depends on the request's Origin
// (the CORS headers do), once, keeping any other Vary already set.
func varyOrigin(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return
			}
		}
	}
	h.Add("Vary", "Origin")
}

// corsAnyClient is cors for requests that name no client: the origin must
// be allowed for some application of the tenant.
func (a *API) corsAnyClient(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	varyOrigin(w.Header())
	if origin == "" {
		return false
	}
	clients, err := a.Dir.Clients(r.Context())
	if err != nil {
		return false
	}
	for _, c := range clients {
		if oauth.AllowedOrigin(c, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			return true
		}
	}
	return false
}

// preflight answers a CORS preflight: allowed for origins some application
// allows (the request itself is then checked against its own client).
func (a *API) preflight(methods string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.corsAnyClient(w, r) {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// withCORS answers OPTIONS as a preflight and passes other methods on.
func (a *API) withCORS(methods string, f httpx.HandlerFunc) httpx.HandlerFunc {
	pre := a.preflight(methods + ", OPTIONS")
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodOptions {
			return pre(w, r)
		}
		return f(w, r)
	}
}

var coFields = []string{"client_id", "credential_type", "username", "otp", "realm"}

const coBadBody = "Invalid request body. All and only of client_id, credential_type, username, otp, realm are required."

// coAuthenticate is POST /co/authenticate with the passwordless credential
// type (auth0.js passwordlessLogin from an application's own origin): the
// code is redeemed and a single-use login ticket, bound to the client and
// the calling origin, is returned for /authorize?login_ticket=….
func (a *API) coAuthenticate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a.corsAnyClient(w, r) // so that auth0.js can read errors found before the client
	b, err := httpx.ReadBody(r, "invalid_request")
	if err != nil {
		return err
	}
	vals := map[string]string{}
	for k := range b {
		if !slices.Contains(coFields, k) {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", coBadBody)
		}
	}
	for _, k := range coFields {
		v, err := b.String(k)
		if err != nil || v == "" {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", coBadBody)
		}
		vals[k] = v
	}
	c, err := a.Dir.Client(ctx, vals["client_id"])
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusUnauthorized, "invalid_client", "Unknown client: %s", clip(vals["client_id"], 64))
	}
	if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	origin := r.Header.Get("Origin")
	if !a.cors(w, r, c) {
		desc := "Origin " + clip(origin, 256) + " is not allowed."
		if origin == "" {
			desc = "An Origin header is required."
		}
		a.recordBrowser(r, eventlog.TypeFailedCORS, c, store.User{}, desc, map[string]any{"origin": clip(origin, 256)})
		return httpx.Errorf(http.StatusForbidden, "access_denied", "%s", desc)
	}
	if err := a.limit(w, r, protect.CoAuthenticate, httpx.PeerIP(ctx), c, false); err != nil {
		return err
	}
	if !c.CrossOriginAuthentication {
		a.recordBrowser(r, eventlog.TypeFailedCrossOrigin, c, store.User{}, "Cross origin login not allowed.", nil)
		return httpx.Errorf(http.StatusUnauthorized, "unauthorized_client", "Cross origin login not allowed.")
	}
	if vals["credential_type"] != tenant.GrantPasswordlessOTP {
		return httpx.Errorf(http.StatusBadRequest, "unsupported_credential_type", "Unknown credential type parameter.")
	}
	red, err := a.Codes.Redeem(ctx, passwordless.Redemption{ClientID: c.ClientID, Connection: vals["realm"],
		Username: vals["username"], Code: strings.TrimSpace(vals["otp"]), IP: httpx.PeerIP(ctx)})
	if err != nil {
		// The tenant log words the failure as the token endpoint does.
		desc := somethingWrong
		if he, ok := apierr.Lookup(apierr.Token, err); ok {
			desc = he.Description
		}
		a.recordBrowser(r, eventlog.TypeFailedCrossOrigin, c, attempted(red.User, vals["username"]), desc, map[string]any{"realm": vals["realm"]})
		a.observeLogin(vals["realm"], "cross_origin", false)
		if he, ok := apierr.Lookup(apierr.CrossOrigin, err); ok {
			return he
		}
		return &httpx.Error{Status: http.StatusForbidden, Code: "access_denied", Description: desc, Cause: err}
	}
	now := a.Now()
	browser, verifier, coID := secret.Token(24), secret.Token(24), secret.Token(9)
	ticket, err := a.SSO.NewTicket(ctx, sso.Ticket{ClientID: c.ClientID, Origin: oauth.Origin(origin), UserID: red.User.UserID,
		Connection: red.User.Connection, AuthTime: now, COID: coID}, browser, verifier)
	if err != nil {
		return err
	}
	// The ticket works only in the browser that holds this cookie (sent with
	// credentials), so nobody can hand a victim a ticket of their own; where
	// the browser drops it, the application's verification page
	// (cross_origin_loc) can prove it with the verifier auth0.js keeps.
	a.setCookie(w, coCookie, browser, sso.TicketLifetime, true)
	a.recordLogin(r, eventlog.TypeSuccessCrossOrigin, c, red.User, red.Created, "cross_origin")
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"login_ticket": ticket, "co_verifier": verifier, "co_id": coID})
	return nil
}

// coVerifyTimeout is how long the cross-origin verification page waits
// for the application's page before it posts without a verifier.
const coVerifyTimeout = 5 * time.Second

// coVerifyPage answers /authorize?login_ticket=… that came without the
// cross-origin cookie for an application with a cross-origin verification
// page (cross_origin_loc): Auth0's fallback. Latchkey's page frames the
// application's page (auth0.js crossOriginVerification), asks it by
// postMessage for the verifier auth0.js kept for the ticket's co_id, and
// posts it to /co/verify with this request's parameters. The post carries
// a double-submit token whose cookie is SameSite=Strict, so only this page,
// not a form on another site, can post a verifier for this browser.
func (a *API) coVerifyPage(w http.ResponseWriter, r *http.Request, c store.Client, req oauth.AuthorizeRequest, coID string) error {
	frame, frameOrigin := verificationFrame(c.CrossOriginLoc, oauth.Origin(a.Minter.Issuer()))
	if frame == "" {
		// Not a page a browser can frame: go on without a verifier.
		return a.redeemTicket(w, r, c, req, r.Form.Get("login_ticket"), &coVerification{})
	}
	check := secret.Token(24)
	http.SetCookie(w, &http.Cookie{Name: coCheckCookie, Value: check, Path: "/co/verify", MaxAge: int(sso.TicketLifetime / time.Second),
		HttpOnly: true, Secure: a.secureCookies(), SameSite: http.SameSiteStrictMode})
	nonce := secret.Token(12)
	b := a.branding(r)
	pageHeaders(w, nonce, false, req.RedirectURI, b)
	w.Header().Set("Content-Security-Policy", w.Header().Get("Content-Security-Policy")+"; frame-src "+frameOrigin)
	return loginpage.RenderCOVerify(w, loginpage.COVerify{Lang: pageLang(r), Nonce: nonce, AppName: c.Name,
		Action: "/co/verify?" + r.Form.Encode(), Frame: frame, FrameOrigin: frameOrigin, COID: coID, Check: check,
		TimeoutMS: int(coVerifyTimeout / time.Millisecond), Brand: brand(b)})
}

// verificationFrame is the URL that frames the application's cross-origin
// verification page loc for Latchkey's origin self (auth0.js reads it from
// the fragment's origin parameter) and the page's origin as the browser
// names it; "" when loc is not an http(s) URL.
func verificationFrame(loc, self string) (frame, origin string) {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || self == "" {
		return "", ""
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	origin = u.Scheme + "://" + u.Host
	if cspSource(origin) != " "+origin {
		return "", ""
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String() + "#origin=" + url.QueryEscape(self), origin
}

// coVerify is POST /co/verify?<the authorization request>: the
// verification page's answer. The ticket is then redeemed on the verifier
// the application's page gave back or, with none, as a cookieless request.
func (a *API) coVerify(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(pageLang(r), "error.title"), "The request could not be read.", "invalid_request", err)
	}
	q := r.URL.Query()
	c, req, ok, err := a.authorizeClient(w, r, q)
	if !ok {
		return err
	}
	ticket := q.Get("login_ticket")
	if ticket == "" {
		return a.authorizeError(w, r, &oauth.PageError{Code: "invalid_request", Description: "Missing required parameter: login_ticket"})
	}
	check := cookieValue(r, coCheckCookie)
	http.SetCookie(w, &http.Cookie{Name: coCheckCookie, Path: "/co/verify", MaxAge: -1, HttpOnly: true, Secure: a.secureCookies(), SameSite: http.SameSiteStrictMode})
	if check == "" || !secret.Equal([]byte(check), []byte(r.PostForm.Get("co_check"))) {
		return a.respondError(w, r, req, "access_denied", "The cross-origin verification was not posted by Latchkey's verification page in this browser", nil)
	}
	return a.redeemTicket(w, r, c, req, ticket, &coVerification{verifier: r.PostForm.Get("co_verifier")})
}
