package authapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// loginTx finds the hosted-login transaction a /login request names and
// checks that it belongs to this browser. It renders the error page itself
// and returns ok=false when there is none.
func (a *API) loginTx(w http.ResponseWriter, r *http.Request, state string) (sso.Transaction, store.Client, bool, error) {
	lang := pageLang(r)
	t, err := a.SSO.Transaction(r.Context(), state)
	if errors.Is(err, sso.ErrNotFound) {
		return t, store.Client{}, false, a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "expired.title"), loginpage.T(lang, "expired.text"), "",
			fmt.Errorf("login transaction: %w", err))
	}
	if err != nil {
		return t, store.Client{}, false, err
	}
	r = withUILocales(r, t.UILocales)
	lang = pageLang(r)
	if !a.SSO.FromBrowser(t, cookieValue(r, browserCookie)) {
		return t, store.Client{}, false, a.errorPage(w, r, http.StatusForbidden, loginpage.T(lang, "expired.title"), loginpage.T(lang, "expired.text"), "",
			errOtherBrowser)
	}
	c, err := a.Dir.Client(r.Context(), t.Request.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return t, c, false, a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), loginpage.T(lang, "error.back"), "",
			fmt.Errorf("login transaction's client: %w", err))
	}
	return t, c, err == nil, err
}

// loginPage is GET /login: the hosted login page of a transaction, the
// tenant's customised Classic page when it has one.
func (a *API) loginPage(w http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	t, c, ok, err := a.loginTx(w, r, state)
	if !ok {
		return err
	}
	r = withUILocales(r, t.UILocales)
	conns, err := a.loginConnections(r.Context(), c)
	if err != nil {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(pageLang(r), "error.title"), loginpage.T(pageLang(r), "no.connection"), "", err)
	}
	settings, err := a.Dir.Settings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if tpl := settings.Latchkey.CustomLoginPage; tpl != "" {
		// The tenant's own page loads its own scripts: only framing is restricted.
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		return loginpage.RenderCustom(w, tpl, a.classicConfig(c, t, state))
	}
	conn := r.URL.Query().Get("connection")
	return a.renderLogin(w, r, c, t, state, conns, loginpage.Login{Step: "identifier", Connection: conn})
}

// renderLogin fills in and writes our own hosted page.
func (a *API) renderLogin(w http.ResponseWriter, r *http.Request, c store.Client, t sso.Transaction, state string, conns []store.Connection, p loginpage.Login) error {
	has := map[string]bool{}
	for _, cn := range conns {
		has[cn.Name] = true
	}
	if !has[p.Connection] {
		p.Connection = conns[0].Name
	}
	first := url.Values{"state": {state}}
	p.Restart = "/login?" + first.Encode() + "&connection=" + p.Connection
	if len(conns) > 1 {
		other := "sms"
		if p.Connection == "sms" {
			other = "email"
		}
		p.Switch = "/login?" + first.Encode() + "&connection=" + other
	}
	settings, err := a.Dir.Settings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	p.Lang, p.Nonce, p.Brand = pageLang(r), secret.Token(12), brand(settings.Branding)
	p.AppName, p.Action, p.State, p.CSRF = c.Name, "/login", state, t.CSRF
	pageHeaders(w, p.Nonce, false, t.Request.RedirectURI, settings.Branding)
	if p.Error != "" {
		w.WriteHeader(http.StatusBadRequest)
	}
	return loginpage.RenderLogin(w, p)
}

// brand is the page branding of the tenant's branding settings.
func brand(b store.Branding) loginpage.Brand {
	return loginpage.Brand{Primary: b.Colors.Primary, Background: b.Colors.PageBackground,
		LogoURL: b.LogoURL, FaviconURL: b.FaviconURL, FontURL: b.Font.URL}
}

// loginSubmit is POST /login: the page's two forms (action=start sends a
// code, action=verify checks it and finishes the authorization request).
func (a *API) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "The form could not be read")
	}
	f := r.PostForm
	state := f.Get("state")
	t, c, ok, err := a.loginTx(w, r, state)
	if !ok {
		return err
	}
	r = withUILocales(r, t.UILocales)
	lang := pageLang(r)
	if !secret.Equal([]byte(f.Get("_csrf")), []byte(t.CSRF)) {
		return a.errorPage(w, r, http.StatusForbidden, loginpage.T(lang, "expired.title"), loginpage.T(lang, "expired.text"), "",
			errors.New("the login form's CSRF token does not match the transaction's"))
	}
	conns, err := a.loginConnections(r.Context(), c)
	if err != nil {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), loginpage.T(lang, "no.connection"), "", err)
	}
	connName := f.Get("connection")
	var conn store.Connection
	for _, cn := range conns {
		if cn.Name == connName {
			conn = cn
		}
	}
	if conn.Name == "" {
		conn = conns[0]
	}
	username := strings.TrimSpace(f.Get("username"))
	page := loginpage.Login{Step: "identifier", Connection: conn.Name, Identifier: username}
	switch f.Get("action") {
	case "start":
		ctx := r.Context()
		peer := httpx.PeerIP(ctx)
		if err := a.limit(w, r, protect.PasswordlessStart, peer, c, false); err != nil {
			var he *httpx.Error
			if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
				httpx.Explain(ctx, he.Code, he.Cause)
				page.Error = loginpage.T(lang, "error.too.many")
				w.Header().Set("Retry-After", he.Header.Get("Retry-After"))
				return a.renderLogin(w, r, c, t, state, conns, page)
			}
			return err
		}
		sr := passwordless.StartRequest{Client: c, Connection: conn.Name, Send: "code",
			AuthParams: map[string]string{"state": state}, UserAgent: r.UserAgent(), Language: messageLang(r, t), IP: peer}
		if conn.Strategy == "sms" {
			sr.PhoneNumber = username
		} else {
			sr.Email = username
		}
		res, err := a.Start.Start(ctx, sr)
		if he, ok := apierr.Lookup(apierr.Start, err); ok {
			httpx.Explain(ctx, he.Code, err)
			page.Error = he.Description
			if errors.Is(err, passwordless.ErrMissingEmail) || errors.Is(err, passwordless.ErrMalformedEmail) ||
				errors.Is(err, passwordless.ErrMissingPhoneNumber) || errors.Is(err, passwordless.ErrMalformedPhoneNumber) {
				page.Error = inputProblem(lang, conn.Strategy)
			}
			return a.renderLogin(w, r, c, t, state, conns, page)
		}
		if err != nil {
			return err
		}
		a.recordStart(r, c, startBody{Connection: conn.Name, AuthParams: sr.AuthParams}, res, peer, peer, sr.Language)
		page.Step, page.Identifier = "code", res.Email+res.PhoneNumber
		return a.renderLogin(w, r, c, t, state, conns, page)
	case "verify":
		return a.loginVerify(w, r, c, t, state, conns, conn, username, f.Get("code"))
	}
	return a.renderLogin(w, r, c, t, state, conns, page)
}

// messageLang is the language of a code requested on the hosted page (the
// message templates' request_language): the first of the transaction's
// ui_locales, else the browser's language.
func messageLang(r *http.Request, t sso.Transaction) string {
	if f := strings.Fields(t.UILocales); len(f) > 0 {
		return clip(f[0], 35)
	}
	return requestLanguage(r)
}

func inputProblem(lang, strategy string) string {
	if strategy == "sms" {
		return loginpage.T(lang, "phone.invalid")
	}
	return loginpage.T(lang, "email.invalid")
}

// loginVerify redeems the code typed on the hosted page and finishes the
// transaction.
func (a *API) loginVerify(w http.ResponseWriter, r *http.Request, c store.Client, t sso.Transaction, state string,
	conns []store.Connection, conn store.Connection, username, code string) error {
	ctx := r.Context()
	red, err := a.Codes.Redeem(ctx, passwordless.Redemption{ClientID: c.ClientID, Connection: conn.Name,
		Username: username, Code: strings.TrimSpace(code), IP: httpx.PeerIP(ctx)})
	if err != nil {
		ans := browserAnswer(err)
		httpx.Explain(ctx, ans.Code, err)
		desc := ans.Description
		a.recordBrowser(r, eventlog.TypeFailedLogin, c, attempted(red.User, username), desc, map[string]any{"method": "hosted_page", "connection": conn.Name})
		a.observeLogin(conn.Name, "hosted_page", false)
		page := loginpage.Login{Step: "code", Connection: conn.Name, Identifier: username, Error: redeemProblem(pageLang(r), conn.Strategy, err, desc)}
		if errors.Is(err, passwordless.ErrCodeExhausted) || errors.Is(err, passwordless.ErrCodeExpired) {
			page.Step = "identifier" // a new code is needed
		}
		return a.renderLogin(w, r, c, t, state, conns, page)
	}
	if _, err := a.SSO.EndTransaction(ctx, state); errors.Is(err, sso.ErrNotFound) {
		lang := pageLang(r)
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "expired.title"), loginpage.T(lang, "expired.text"), "",
			fmt.Errorf("login transaction: %w", err))
	} else if err != nil {
		return err
	}
	now := a.Now()
	a.recordLogin(r, eventlog.TypeSuccessLogin, c, red.User, red.Created, "hosted_page")
	if err := a.startSession(w, r, red.User, now); err != nil {
		return err
	}
	return a.finish(w, r, c, t.Request, red.User, now)
}

// redeemProblem is the hosted page's text for a failed redemption, in
// lang: the common failures are translated, the rest keep Auth0's text
// (auth0).
func redeemProblem(lang, strategy string, err error, auth0 string) string {
	switch {
	case errors.Is(err, passwordless.ErrWrongCode) && strategy == "sms":
		return loginpage.T(lang, "error.code.wrong.sms")
	case errors.Is(err, passwordless.ErrWrongCode):
		return loginpage.T(lang, "error.code.wrong.email")
	case errors.Is(err, passwordless.ErrCodeExhausted), errors.Is(err, passwordless.ErrCodeExpired):
		return loginpage.T(lang, "error.code.expired")
	case errors.Is(err, passwordless.ErrTooManyAttempts):
		return loginpage.T(lang, "error.blocked")
	}
	return auth0
}

// browserAnswer is the answer a page (or a callback) gets for a failed
// redemption: its text is the §5.3 one.
func browserAnswer(err error) *httpx.Error {
	if he, ok := apierr.Lookup(apierr.Browser, err); ok {
		return he
	}
	return &httpx.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: somethingWrong, Cause: err}
}

// somethingWrong is the text of a redemption that failed for a reason of
// ours.
const somethingWrong = "Something went wrong, please try again."

// errOtherBrowser explains a page refusing a login transaction opened in
// another browser.
var errOtherBrowser = errors.New("the login transaction belongs to another browser")

// classicConfig is the config a customised Classic login page receives in
// @@config@@: the fields Auth0's templates read, with the transaction in
// internalOptions (state, _csrf, scope) so that auth0.js or Lock forward
// the state on /passwordless/start (which authenticates a confidential
// application, §3.1) and on /passwordless/verify_redirect.
func (a *API) classicConfig(c store.Client, t sso.Transaction, state string) map[string]any {
	iss := a.Minter.Issuer()
	req := t.Request
	internal := map[string]any{"protocol": "oauth2", "state": state, "_csrf": t.CSRF, "scope": req.Scope,
		"response_type": req.ResponseType, "_intstate": "deprecated"}
	if req.Nonce != "" {
		internal["nonce"] = req.Nonce
	}
	if req.Audience != "" {
		internal["audience"] = req.Audience
	}
	extra := map[string]any{}
	for k, v := range internal {
		extra[k] = v
	}
	if req.LoginHint != "" {
		extra["login_hint"] = req.LoginHint
	}
	cfg := map[string]any{
		"auth0Domain":                tenant.Hostname(iss),
		"auth0Tenant":                tenant.Hostname(iss),
		"clientConfigurationBaseUrl": iss,
		"cdn":                        iss,
		"assetsUrl":                  iss,
		"callbackOnLocationHash":     req.ResponseType != "code",
		"callbackURL":                req.RedirectURI,
		"clientID":                   c.ClientID,
		"dict":                       map[string]any{"signin": map[string]string{"title": c.Name}},
		"extraParams":                extra,
		"internalOptions":            internal,
		"widgetUrl":                  "",
		"isThirdPartyClient":         false,
		"authorizationServer":        map[string]string{"url": strings.TrimSuffix(iss, "/"), "issuer": iss},
		"icon":                       "",
		"colors":                     map[string]string{},
	}
	if req.Prompt != "" {
		cfg["prompt"] = req.Prompt
	}
	if req.Connection != "" {
		cfg["connection"] = req.Connection
	}
	return cfg
}

// attempted is the user a failed attempt is logged for: the stored user
// when known, else just the identifier presented.
func attempted(u store.User, username string) store.User {
	if u.UserID == "" {
		u.Identifier = username
	}
	return u
}
