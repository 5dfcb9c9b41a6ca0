package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Authorizer answers authorization requests for logged-in users.
type Authorizer interface {
	Authorized(ctx context.Context, c store.Client, r oauth.AuthorizeRequest, u store.User, authTime time.Time) (url.Values, error)
}

// Cookie names.
const (
	sessionCookie = "latchkey_session"
	browserCookie = "latchkey_browser"
	coCookie      = "latchkey_co"       // binds a login ticket to the browser that got it
	coCheckCookie = "latchkey_co_check" // the cross-origin verification page's double-submit token
)

// secureCookies reports whether cookies get the Secure attribute: whenever
// the issuer is https (always in production).
func (a *API) secureCookies() bool { return strings.HasPrefix(a.Minter.Issuer(), "https://") }

func (a *API) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, crossSite bool) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: a.secureCookies(), SameSite: http.SameSiteLaxMode}
	if crossSite && c.Secure {
		// The session must reach silent authentication in an application's
		// iframe (response_mode=web_message), a cross-site context.
		c.SameSite = http.SameSiteNoneMode
	}
	switch {
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	case maxAge < 0:
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// browserID returns the browser's cookie value, setting a new one if the
// browser has none. Transactions are bound to it.
func (a *API) browserID(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, browserCookie); len(v) >= 24 && len(v) <= 64 {
		return v
	}
	v := secret.Token(24)
	a.setCookie(w, browserCookie, v, 0, false)
	return v
}

// pageHeaders are the headers of every HTML page: no caching, no framing
// (except the web_message document), a strict CSP with a nonce for the
// page's inline style and script. Forms may post only to Latchkey itself
// and, when the page answers an application, to the origin of its
// callback (a form post there, or a redirect there after a post here).
// A branded page may also load its logo and favicon (img-src) and its font
// (font-src) from their https origins, and nothing else from them.
func pageHeaders(w http.ResponseWriter, nonce string, frameable bool, callback string, b store.Branding) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	img := "'self' data:"
	for _, u := range []string{b.LogoURL, b.FaviconURL} {
		if o := brandSource(u); o != "" && !strings.Contains(img, " "+o) {
			img += " " + o
		}
	}
	csp := "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce + "'; img-src " + img
	if o := brandSource(b.Font.URL); o != "" {
		csp += "; font-src " + o
	}
	csp += "; form-action 'self'" + cspSource(callback) + "; base-uri 'none'"
	if frameable {
		csp += "; frame-ancestors *"
	} else {
		csp += "; frame-ancestors 'none'"
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Content-Security-Policy", csp)
}

// cspSource is " " and the CSP source expression allowing a callback URI's
// origin (a scheme source for custom schemes such as native apps'), or ""
// when there is none or it holds anything a source expression cannot.
func cspSource(callback string) string {
	u, err := url.Parse(callback)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return ""
	}
	src := strings.ToLower(u.Scheme) + ":"
	if u.Scheme == "http" || u.Scheme == "https" {
		if u.Host == "" {
			return ""
		}
		src = strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
	}
	for _, r := range src {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("+-.:/[]", r)) {
			return ""
		}
	}
	return " " + src
}

// brandSource is the CSP source of a branding URL's origin, or "" when the
// URL is not one that branding accepts (tenant.CheckHTTPSURL): a value that
// slipped past the checks adds nothing to the policy.
func brandSource(u string) string {
	if u == "" || tenant.CheckHTTPSURL(u) != nil {
		return ""
	}
	return strings.TrimPrefix(cspSource(tenant.Origin(u)), " ")
}

// errorPage renders a message page (never a redirect): for requests whose
// redirect target cannot be trusted. detail is the error code the page
// shows ("" for none); it and cause explain the page in the access log.
func (a *API) errorPage(w http.ResponseWriter, r *http.Request, status int, title, text, detail string, cause error) error {
	httpx.Explain(r.Context(), detail, cause)
	nonce := secret.Token(12)
	b := a.branding(r)
	pageHeaders(w, nonce, false, "", b)
	w.WriteHeader(status)
	return loginpage.RenderMessage(w, loginpage.Message{Lang: pageLang(r), Nonce: nonce, Title: title, Text: text, Detail: detail, Brand: brand(b)})
}

// branding is the tenant's branding for a page; none when the settings
// cannot be read, so that an error page still shows.
func (a *API) branding(r *http.Request) store.Branding {
	s, err := a.Dir.Settings(r.Context())
	if err != nil {
		a.Log.WarnContext(r.Context(), "read settings for a page's branding", "err", err)
		return store.Branding{}
	}
	return s.Branding
}

func (a *API) authorizeError(w http.ResponseWriter, r *http.Request, pe *oauth.PageError) error {
	lang := pageLang(r)
	return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), pe.Description, pe.Code, pe)
}

// respond delivers an authorization response (or error) to the
// application in the request's response mode.
func (a *API) respond(w http.ResponseWriter, r *http.Request, req oauth.AuthorizeRequest, params url.Values) error {
	switch req.ResponseMode {
	case oauth.ModeFormPost:
		nonce := secret.Token(12)
		pageHeaders(w, nonce, false, req.RedirectURI, store.Branding{})
		return loginpage.RenderFormPost(w, pageLang(r), nonce, req.RedirectURI, params)
	case oauth.ModeWebMessage:
		nonce := secret.Token(12)
		pageHeaders(w, nonce, true, "", store.Branding{})
		return loginpage.RenderWebMessage(w, nonce, oauth.Origin(req.RedirectURI), params)
	case oauth.ModeFragment:
		u, _, _ := strings.Cut(req.RedirectURI, "#")
		http.Redirect(w, r, u+"#"+params.Encode(), http.StatusFound)
	default:
		sep := "?"
		if strings.Contains(req.RedirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, req.RedirectURI+sep+params.Encode(), http.StatusFound)
	}
	return nil
}

// respondError sends an OAuth error to the application; cause (the
// description when nil) explains it in the access log.
func (a *API) respondError(w http.ResponseWriter, r *http.Request, req oauth.AuthorizeRequest, code, desc string, cause error) error {
	if cause == nil {
		cause = errors.New(desc)
	}
	httpx.Explain(r.Context(), code, cause)
	p := url.Values{"error": {code}, "error_description": {desc}}
	if req.State != "" {
		p.Set("state", req.State)
	}
	if req.ResponseMode == "" {
		req.ResponseMode = oauth.ModeQuery
	}
	w.Header().Set("Cache-Control", "no-store")
	return a.respond(w, r, req, p)
}

// finish answers the authorization request for user u (code and/or
// tokens) in its response mode.
func (a *API) finish(w http.ResponseWriter, r *http.Request, c store.Client, req oauth.AuthorizeRequest, u store.User, authTime time.Time) error {
	if !oauth.MatchRedirectURI(c.Callbacks, req.RedirectURI) ||
		(req.ResponseMode == oauth.ModeWebMessage && !oauth.InWebOrigins(c, oauth.Origin(req.RedirectURI))) {
		// A stored request whose callback was removed since it was made.
		return a.authorizeError(w, r, &oauth.PageError{Code: "invalid_request", Description: "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs."})
	}
	params, err := a.Authz.Authorized(r.Context(), c, req, u, authTime)
	if he, ok := apierr.Lookup(apierr.Authorize, err); ok {
		return a.respondError(w, r, req, he.Code, he.Description, err)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return a.respond(w, r, req, params)
}

// startSession logs the browser in as u.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, u store.User, authTime time.Time) error {
	if old := cookieValue(r, sessionCookie); old != "" {
		a.SSO.EndSession(r.Context(), old) // a login replaces the browser's session
	}
	tok, err := a.SSO.NewSession(r.Context(), sso.Session{UserID: u.UserID, Connection: u.Connection, AuthTime: authTime})
	if err != nil {
		return err
	}
	a.setCookie(w, sessionCookie, tok, sso.SessionLifetime, true)
	return nil
}

// sessionUser returns the browser's logged-in user, if any.
func (a *API) sessionUser(r *http.Request) (store.User, sso.Session, bool) {
	s, err := a.SSO.Session(r.Context(), cookieValue(r, sessionCookie))
	if err != nil {
		return store.User{}, s, false
	}
	u, err := a.Users.GetUser(r.Context(), s.UserID)
	if err != nil || u.Blocked {
		return store.User{}, s, false
	}
	return u, s, true
}

// authorize is GET (or POST) /authorize.
func (a *API) authorize(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(pageLang(r), "error.title"), "The request could not be read.", "invalid_request", err)
	}
	q := r.Form
	c, req, ok, err := a.authorizeClient(w, r, q)
	if !ok {
		return err
	}

	// A login ticket from /co/authenticate finishes the login.
	if t := q.Get("login_ticket"); t != "" {
		return a.redeemTicket(w, r, c, req, t, nil)
	}
	if req.Prompt != "login" {
		if u, s, ok := a.sessionUser(r); ok && a.sessionFits(ctx, c, req, u) {
			if req.Prompt == "none" {
				a.recordBrowser(r, eventlog.TypeSuccessSilentAuth, c, u, "Successful silent authentication", nil)
			}
			return a.finish(w, r, c, req, u, s.AuthTime)
		}
	}
	if req.Prompt == "none" {
		a.recordBrowser(r, eventlog.TypeFailedSilentAuth, c, store.User{}, "Login required", nil)
		return a.respondError(w, r, req, "login_required", "Login required", nil)
	}
	if _, err := a.loginConnections(ctx, c); err != nil {
		return a.respondError(w, r, req, "access_denied", loginpage.T("en", "no.connection"), err) // the API's texts are English
	}
	state, _, err := a.SSO.NewTransaction(ctx, req, clip(q.Get("ui_locales"), 256), a.browserID(w, r))
	if err != nil {
		return err
	}
	loc := url.Values{"state": {state}, "client": {c.ClientID}, "protocol": {"oauth2"}}
	if req.Connection == "sms" {
		loc.Set("connection", "sms")
	}
	http.Redirect(w, r, "/login?"+loc.Encode(), http.StatusFound)
	return nil
}

// authorizeClient reads the client of the authorization request q and
// validates the request. On an error it answers itself and returns
// ok=false.
func (a *API) authorizeClient(w http.ResponseWriter, r *http.Request, q url.Values) (store.Client, oauth.AuthorizeRequest, bool, error) {
	clientID := q.Get("client_id")
	if clientID == "" {
		return store.Client{}, oauth.AuthorizeRequest{}, false, a.authorizeError(w, r, &oauth.PageError{Code: "invalid_request", Description: "Missing required parameter: client_id"})
	}
	c, err := a.Dir.Client(r.Context(), clientID)
	if errors.Is(err, store.ErrNotFound) {
		return c, oauth.AuthorizeRequest{}, false, a.authorizeError(w, r, &oauth.PageError{Code: "invalid_request", Description: "Unknown client: " + clip(clientID, 64)})
	}
	if err != nil {
		return c, oauth.AuthorizeRequest{}, false, fmt.Errorf("read client: %w", err)
	}
	req, ok, err := a.authorizeRequest(w, r, c, q)
	return c, req, ok, err
}

// authorizeRequest validates the authorization request q of client c. On
// an error it answers itself (an error page, or the error sent to the
// registered callback) and returns ok=false.
func (a *API) authorizeRequest(w http.ResponseWriter, r *http.Request, c store.Client, q url.Values) (oauth.AuthorizeRequest, bool, error) {
	req, err := oauth.ParseAuthorize(c, q)
	var pe *oauth.PageError
	var re *oauth.RedirectError
	switch {
	case errors.As(err, &pe) && pe.Mismatch:
		return req, false, a.callbackMismatch(w, r, c, q)
	case errors.As(err, &pe):
		return req, false, a.authorizeError(w, r, pe)
	case errors.As(err, &re):
		return req, false, a.respondError(w, r, req, re.Code, re.Description, re)
	case err != nil:
		return req, false, err
	}
	return req, true, nil
}

// Lengths to which a rejected redirect_uri is clipped: on the page and in
// the event's description, and in the event's details.
const (
	shownURILength  = 256
	loggedURILength = 1024
)

// callbackMismatch answers an authorization request (parameters q) whose
// redirect_uri is not one of client c's callbacks, as Auth0 does: a page
// (never a redirect) that names the URL received and the application, and
// one f (Failed Login) event whose description and details follow Auth0's
// (details.error.type "callback-url-mismatch", details.qs.redirect_uri).
func (a *API) callbackMismatch(w http.ResponseWriter, r *http.Request, c store.Client, q url.Values) error {
	uri := q.Get("redirect_uri")
	shown := loginpage.Clip(uri, shownURILength)
	desc := "Callback URL mismatch. " + shown + " is not in the list of allowed callback URLs"
	qs := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state"} {
		if v := q.Get(k); v != "" {
			qs[k] = loginpage.Clip(v, loggedURILength)
		}
	}
	a.recordBrowser(r, eventlog.TypeFailedLogin, c, store.User{}, desc, map[string]any{
		"qs": qs,
		"error": map[string]any{"type": "callback-url-mismatch", "message": desc, "payload": map[string]any{
			"name": "CallbackMismatchError", "code": "unauthorized_client", "message": desc,
			"attempt": loginpage.Clip(uri, loggedURILength), "client": map[string]string{"clientID": c.ClientID}}},
	})
	var cmd string
	if shown == uri {
		cmd = "latchkey client get " + loginpage.ShellQuote(c.ClientID) + "\n" +
			"latchkey client update " + loginpage.ShellQuote(c.ClientID) + " --callbacks " + loginpage.ShellQuote("CURRENT_CALLBACKS,"+uri)
	}
	httpx.Explain(r.Context(), "invalid_request", errors.New("redirect_uri is not one of the client's callbacks"))
	nonce := secret.Token(12)
	pageHeaders(w, nonce, false, "", store.Branding{})
	w.WriteHeader(http.StatusBadRequest)
	return loginpage.RenderMismatch(w, loginpage.Mismatch{Lang: pageLang(r), Nonce: nonce, RedirectURI: shown,
		AppName: c.Name, ClientID: c.ClientID, Command: cmd})
}

// sessionFits reports whether the session's user may be answered for this
// request without a new login: the user's connection is enabled for the
// client (and is the one the request names, if it names one).
func (a *API) sessionFits(ctx context.Context, c store.Client, req oauth.AuthorizeRequest, u store.User) bool {
	if req.Connection != "" && req.Connection != u.Connection {
		return false
	}
	conns, err := a.loginConnections(ctx, c)
	if err != nil {
		return false
	}
	for _, cn := range conns {
		if cn.Name == u.Connection {
			return true
		}
	}
	return false
}

// cookielessProof says what an authorization request that redeems a login
// ticket without the browser's cross-origin cookie lacks ("" when
// nothing): the proof that the answer goes back to the transaction the
// application itself started — a state it checks, a nonce in any ID token,
// PKCE for a public application's code (a confidential one redeems its code
// with its secret, from the transaction its state names). A ticket planted by someone else comes with a state and
// a nonce the victim's application never issued, so its answer is refused
// there, as any forged authorization response is.
func cookielessProof(req oauth.AuthorizeRequest, public bool) string {
	switch {
	case req.State == "":
		return "a state"
	case req.Has("id_token") && req.Nonce == "":
		return "a nonce"
	case public && req.Has("code") && req.CodeChallenge == "":
		return "a PKCE code_challenge"
	}
	return ""
}

// coVerification is what /co/verify brings to a ticket's redemption: the
// verifier the application's cross-origin verification page gave back
// ("" when it had none).
type coVerification struct {
	verifier string
}

// redeemTicket finishes an authorization request with a login ticket. The
// ticket must come from the browser it was issued to: its cookie, else the
// verifier the application's cross-origin verification page keeps (the
// page is asked first when the application has one: v is nil until then),
// else the application's own proof (cookielessProof). Only the first two
// prove the browser, so only they start a Latchkey session
// (docs/browser-flows.md).
func (a *API) redeemTicket(w http.ResponseWriter, r *http.Request, c store.Client, req oauth.AuthorizeRequest, ticket string, v *coVerification) error {
	browser := cookieValue(r, coCookie)
	if browser == "" && v == nil && c.CrossOriginLoc != "" {
		if t, err := a.SSO.PeekTicket(r.Context(), ticket); err == nil && t.COID != "" &&
			t.ClientID == c.ClientID && t.Origin == oauth.Origin(req.RedirectURI) {
			return a.coVerifyPage(w, r, c, req, t.COID)
		}
	}
	t, err := a.SSO.TakeTicket(r.Context(), ticket)
	switch {
	case errors.Is(err, sso.ErrNotFound):
		return a.respondError(w, r, req, "access_denied", "Invalid or expired login_ticket", err)
	case err != nil:
		return err
	case t.ClientID != c.ClientID:
		return a.respondError(w, r, req, "access_denied", "The login_ticket was issued to another application", nil)
	case t.Origin != oauth.Origin(req.RedirectURI):
		return a.respondError(w, r, req, "access_denied", "The login_ticket was issued to another origin", nil)
	}
	proven := true
	switch {
	case browser != "":
		// A browser that kept the cookie /co/authenticate set must be the
		// one the ticket was issued to.
		if !a.SSO.TicketFromBrowser(t, browser) {
			return a.respondError(w, r, req, "access_denied", "The login_ticket was issued to another browser", nil)
		}
	case v != nil && v.verifier != "":
		// The application's verification page found the verifier its
		// auth0.js stored in this browser when it got the ticket.
		if !a.SSO.TicketVerified(t, v.verifier) {
			return a.respondError(w, r, req, "access_denied", "The co_verifier does not match the login_ticket", nil)
		}
	default:
		// The browser dropped the cookie (third-party cookies blocked) and
		// the application's page, if any, had no verifier (blocked in the
		// same browsers): the ticket is taken on the application's own
		// proof instead — a state it will check, and a nonce or PKCE
		// binding the answer to the transaction it started.
		if why := cookielessProof(req, !tenant.IsConfidential(c)); why != "" {
			return a.respondError(w, r, req, "access_denied", "The login_ticket needs the browser's cross-origin cookie, or "+why, nil)
		}
		proven = false
	}
	a.setCookie(w, coCookie, "", -1, true)
	u, err := a.Users.GetUser(r.Context(), t.UserID)
	switch {
	case err != nil:
		// A user gone since the ticket is answered as a blocked one.
		err = fmt.Errorf("%w (the ticket's user could not be read: %w)", oauth.ErrUserBlocked, err)
	case u.Blocked:
		err = oauth.ErrUserBlocked
	}
	if he, ok := apierr.Lookup(apierr.Authorize, err); ok {
		return a.respondError(w, r, req, he.Code, he.Description, err)
	}
	if proven {
		// Without proof that this browser logged in, a session here could
		// be an attacker's, planted to log the victim in as them later.
		if err := a.startSession(w, r, u, t.AuthTime); err != nil {
			return err
		}
	}
	return a.finish(w, r, c, req, u, t.AuthTime)
}

// recordBrowser writes an event of a browser flow.
func (a *API) recordBrowser(r *http.Request, typ string, c store.Client, u store.User, desc string, details map[string]any) {
	peer := httpx.PeerIP(r.Context())
	ev := eventlog.WithClient(eventlog.FromRequest(r, typ, peer, peer, a.Hostname), c)
	ev.Description = desc
	if u.UserID != "" {
		ev.UserID, ev.UserName, ev.Connection = u.UserID, u.Identifier, u.Connection
		ev.Strategy, _, _ = strings.Cut(u.UserID, "|")
		ev.StrategyType = "passwordless"
	} else {
		ev.UserName = clip(u.Identifier, 320) // what a failed attempt presented
	}
	if details != nil {
		ev.Details = eventlog.Details(details)
	}
	a.record(r.Context(), ev)
}

// recordLogin writes ss (for a signup) and s for a login through a browser
// flow (hosted page, magic link, cross-origin authentication).
func (a *API) recordLogin(r *http.Request, typ string, c store.Client, u store.User, created bool, how string) {
	if created {
		a.recordBrowser(r, eventlog.TypeSuccessSignup, c, u, eventlog.DescSignup, map[string]any{"method": how})
	}
	desc := eventlog.DescSuccessLogin
	if typ != eventlog.TypeSuccessLogin {
		desc = "Successful cross-origin authentication"
	}
	a.recordBrowser(r, typ, c, u, desc, map[string]any{"method": how})
	a.observeLogin(u.Connection, how, true)
}

// loginConnections are the passwordless connections (email, then sms) the
// hosted page can offer the client.
func (a *API) loginConnections(ctx context.Context, c store.Client) ([]store.Connection, error) {
	var out []store.Connection
	for _, name := range []string{"email", "sms"} {
		conn, err := a.Dir.Connection(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read connection: %w", err)
		}
		if tenant.IsEnabledFor(conn, c.ClientID) {
			out = append(out, conn)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no passwordless connection is enabled for the client")
	}
	return out, nil
}
