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
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
)

// passwordlessVerify is POST /passwordless/verify in the shape auth0.js
// sends from the hosted page: it checks the code without consuming it
// (the browser then follows /passwordless/verify_redirect with the same
// code). A wrong code counts against the code's attempts.
func (a *API) passwordlessVerify(w http.ResponseWriter, r *http.Request) error {
	b, err := httpx.ReadBody(r, "invalid_request")
	if err != nil {
		return err
	}
	var f struct{ clientID, connection, email, phone, code string }
	for _, x := range []struct {
		k   string
		dst *string
	}{{"client_id", &f.clientID}, {"connection", &f.connection}, {"email", &f.email}, {"phone_number", &f.phone},
		{"verification_code", &f.code}} {
		if *x.dst, err = b.String(x.k); err != nil {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
		}
	}
	for _, req := range []struct{ name, v string }{{"client_id", f.clientID}, {"connection", f.connection}, {"verification_code", f.code}} {
		if req.v == "" {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Missing required property: %s", req.name)
		}
	}
	if f.email == "" && f.phone == "" {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "Missing required property: email or phone_number")
	}
	c, err := a.Dir.Client(r.Context(), f.clientID)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusUnauthorized, "invalid_client", "Unknown client: %s", clip(f.clientID, 64))
	}
	if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	a.cors(w, r, c)
	_, err = a.Codes.Check(r.Context(), passwordless.Redemption{ClientID: c.ClientID, Connection: f.connection,
		Username: f.email + f.phone, Code: f.code, IP: httpx.PeerIP(r.Context())})
	if err != nil {
		return apierr.Answer(apierr.Token, err)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// passwordlessChallenge is POST /passwordless/challenge: no bot detection
// yet, so no challenge is ever required.
func (a *API) passwordlessChallenge(w http.ResponseWriter, r *http.Request) error {
	a.corsAnyClient(w, r)
	httpx.WriteJSON(w, http.StatusOK, map[string]bool{"required": false})
	return nil
}

// isPrefetch reports whether a GET is a prefetch or preview rather than a
// person following a link (browsers and mail clients that say so).
func isPrefetch(r *http.Request) bool {
	for _, h := range []string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		v := strings.ToLower(r.Header.Get(h))
		if strings.Contains(v, "prefetch") || strings.Contains(v, "preview") || strings.Contains(v, "prerender") {
			return true
		}
	}
	return false
}

// verifyRedirect is /passwordless/verify_redirect, the magic link (and the
// hosted page's second step in auth0.js). The authorization request it
// answers is the one stored with the code at start — never the link's own
// query, which whoever holds the link could edit — or the hosted-login
// transaction the stored state names, which only the browser that opened
// it may resume. Everything is checked before the code is used: HEAD and
// prefetches never use it; with the tenant's confirmation setting a GET
// shows a page whose button POSTs, and only the POST uses it. Errors go to
// a registered callback with error=unauthorized, or to an error page.
func (a *API) verifyRedirect(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lang := pageLang(r)
	if err := r.ParseForm(); err != nil {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), "The link is malformed.", "invalid_request", err)
	}
	q := r.Form
	if r.Method == http.MethodHead || (r.Method == http.MethodGet && isPrefetch(r)) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if r.Method == http.MethodPost && !a.sameOrigin(r) {
		// Only our own confirmation page posts here: a cross-site form would
		// log its victim in as whoever started the login.
		return a.errorPage(w, r, http.StatusForbidden, loginpage.T(lang, "error.title"), "The confirmation did not come from this site.", "access_denied",
			errors.New("the confirmation was posted from another site"))
	}
	c, err := a.Dir.Client(ctx, q.Get("client_id"))
	if errors.Is(err, store.ErrNotFound) {
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), "Unknown client: "+clip(q.Get("client_id"), 64), "invalid_request", err)
	}
	if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	username := q.Get("email")
	if username == "" {
		username = q.Get("phone_number")
	}
	red := passwordless.Redemption{ClientID: c.ClientID, Connection: q.Get("connection"),
		Username: username, Code: q.Get("verification_code"), IP: httpx.PeerIP(ctx)}

	chk, err := a.Codes.Check(ctx, red)
	if err != nil {
		return a.linkFailed(w, r, c, q, username, err)
	}
	// The request the code was started for.
	var req oauth.AuthorizeRequest
	var txState string
	if st := chk.AuthParams["state"]; st != "" {
		if t, err := a.SSO.Transaction(ctx, st); err == nil && t.Request.ClientID == c.ClientID {
			if !a.SSO.FromBrowser(t, cookieValue(r, browserCookie)) {
				return a.errorPage(w, r, http.StatusForbidden, loginpage.T(lang, "browser.title"), loginpage.T(lang, "browser.text"), "", errOtherBrowser)
			}
			req, txState = t.Request, st
		} else if err != nil && !errors.Is(err, sso.ErrNotFound) {
			return err
		}
	}
	if txState == "" {
		stored := url.Values{}
		for k, v := range chk.AuthParams {
			stored.Set(k, v)
		}
		var ok bool
		if req, ok, err = a.authorizeRequest(w, r, c, stored); !ok {
			return err
		}
	}
	req.NoRefresh = true // no refresh tokens through magic links (spec §4.1)

	settings, err := a.Dir.Settings(ctx)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if r.Method == http.MethodGet && settings.Latchkey.MagicLinkConfirmation && txState == "" {
		nonce := secret.Token(12)
		pageHeaders(w, nonce, false, req.RedirectURI, settings.Branding)
		return loginpage.RenderConfirm(w, loginpage.Confirm{Lang: lang, Nonce: nonce, AppName: c.Name, Brand: brand(settings.Branding),
			Action: "/passwordless/verify_redirect", Fields: loginpage.Fields(q)})
	}

	done, err := a.Codes.Redeem(ctx, red)
	if err != nil {
		return a.linkFailed(w, r, c, q, username, err)
	}
	if txState != "" {
		if _, err := a.SSO.EndTransaction(ctx, txState); errors.Is(err, sso.ErrNotFound) {
			return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "expired.title"), loginpage.T(lang, "expired.text"), "",
				fmt.Errorf("login transaction: %w", err))
		} else if err != nil {
			return err
		}
	}
	now := a.Now()
	a.recordLogin(r, eventlog.TypeSuccessLogin, c, done.User, done.Created, "magic_link")
	if err := a.startSession(w, r, done.User, now); err != nil {
		return err
	}
	return a.finish(w, r, c, req, done.User, now)
}

// linkFailed answers a link whose code is wrong, used, superseded or
// expired: error=unauthorized with the §5.3 text, sent to the callback the
// link names when it is registered (in the fragment for token responses,
// the query for code), otherwise an error page.
func (a *API) linkFailed(w http.ResponseWriter, r *http.Request, c store.Client, q url.Values, username string, err error) error {
	desc := browserAnswer(err).Description
	a.recordBrowser(r, eventlog.TypeFailedLogin, c, attempted(store.User{}, username), desc,
		map[string]any{"method": "magic_link", "connection": clip(q.Get("connection"), 64)})
	a.observeLogin(q.Get("connection"), "magic_link", false)
	er := oauth.AuthorizeRequest{RedirectURI: q.Get("redirect_uri"), State: q.Get("state"), ResponseMode: oauth.ModeQuery}
	if !oauth.MatchRedirectURI(c.Callbacks, er.RedirectURI) {
		lang := pageLang(r)
		return a.errorPage(w, r, http.StatusBadRequest, loginpage.T(lang, "error.title"), desc, "unauthorized", err)
	}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		er.ResponseMode = oauth.ModeFragment
	}
	return a.respondError(w, r, er, "unauthorized", desc, err)
}

// sameOrigin reports whether a POST comes from a page of this server: its
// Origin (or, without one, Sec-Fetch-Site) says so.
func (a *API) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return strings.EqualFold(o, oauth.Origin(a.Minter.Issuer()))
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin"
}
