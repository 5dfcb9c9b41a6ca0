package authapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/loginpage"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// startFields are the top-level properties /passwordless/start accepts.
var startFields = []string{"client_id", "client_secret", "client_assertion", "client_assertion_type",
	"connection", "email", "phone_number", "send", "authParams", "captcha"}

const (
	maxAuthParams     = 50
	maxAuthParamValue = 2048
)

func badRequest(code, format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, code, format, args...)
}

// startBody is a schema-checked /passwordless/start body.
type startBody struct {
	ClientID, ClientSecret, Assertion, AssertionType string
	Connection, Email, PhoneNumber, Send             string
	AuthParams                                       map[string]string
}

// decodeStart applies Auth0's schema checks in Auth0's order.
func decodeStart(b httpx.Body) (startBody, error) {
	var unknown []string
	for k := range b {
		if !slices.Contains(startFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return startBody{}, badRequest("bad.request", "the following properties are not allowed: %s", strings.Join(unknown, ", "))
	}
	var s startBody
	for _, f := range []struct {
		key string
		dst *string
	}{{"client_id", &s.ClientID}, {"client_secret", &s.ClientSecret}, {"client_assertion", &s.Assertion},
		{"client_assertion_type", &s.AssertionType}, {"connection", &s.Connection}, {"email", &s.Email},
		{"phone_number", &s.PhoneNumber}, {"send", &s.Send}, {"captcha", new(string)}} {
		v, err := b.String(f.key)
		if err != nil {
			return s, badRequest("bad."+f.key, "%s", err.Error())
		}
		*f.dst = v
	}
	if s.ClientID == "" {
		return s, badRequest("bad.client_id", "Missing required property: client_id")
	}
	if s.Connection == "" {
		return s, badRequest("bad.connection", "Missing required property: connection")
	}
	if raw, ok := b["authParams"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return s, badRequest("bad.authParams", "error in authParams - invalid type: %s (expected object)", httpx.JSONType(raw))
		}
		if len(m) > maxAuthParams {
			return s, badRequest("bad.authParams", "error in authParams - too many properties (at most %d)", maxAuthParams)
		}
		s.AuthParams = make(map[string]string, len(m))
		for k, v := range m {
			var str string
			switch v := v.(type) {
			case string:
				str = v
			case json.Number:
				str = v.String()
			case bool:
				str = fmt.Sprint(v)
			case nil:
				continue
			default:
				return s, badRequest("bad.authParams", "error in authParams.%s - invalid type: %s (expected string)", k, httpx.JSONType(v))
			}
			if len(str) > maxAuthParamValue || len(k) > 128 {
				return s, badRequest("bad.authParams", "error in authParams.%s - value too long", k)
			}
			s.AuthParams[k] = str
		}
	}
	if s.Assertion != "" && s.AssertionType != oauth.ClientAssertionType {
		return s, badRequest("bad.client_assertion_type", "client_assertion_type must be %s", oauth.ClientAssertionType)
	}
	return s, nil
}

var errConsoleStart = &httpx.Error{Status: http.StatusUnauthorized, Code: "unauthorized_client",
	Description: "The console's application starts logins only from the hosted login page"}

var errClientAuthRequired = &httpx.Error{Status: http.StatusForbidden, Code: "unauthorized_client", Description: "Client authentication is required"}

func (a *API) passwordlessStart(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := httpx.ReadBody(r, "bad.request")
	if err != nil {
		return err
	}
	if js, ok := raw["authParams"].(string); ok && httpx.MediaType(r) == "application/x-www-form-urlencoded" {
		// A form may carry authParams as a JSON string (as well as authParams[key]=…).
		if obj, err := httpx.DecodeBody("application/json", []byte(js), "bad.authParams"); err == nil {
			raw["authParams"] = map[string]any(obj)
		}
	}
	body, err := decodeStart(raw)
	if err != nil {
		return err
	}
	client, err := a.Dir.Client(ctx, body.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusUnauthorized, "invalid_client", "Unknown client: %s", body.ClientID)
	}
	if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	a.cors(w, r, client)
	peer := httpx.PeerIP(ctx)
	authenticated, err := a.authenticateStart(r, client, body)
	if errors.Is(err, oauth.ErrClientUnauthorized) {
		// Wrong credentials count against the caller's address too.
		if lerr := a.limit(w, r, protect.PasswordlessStart, peer, client, false); lerr != nil {
			err = lerr
		}
	}
	if err != nil {
		err = apierr.Answer(apierr.Start, err)
		var he *httpx.Error
		if errors.As(err, &he) {
			ev := eventlog.WithClient(eventlog.FromRequest(r, eventlog.TypeFailedLogin, peer, peer, a.Hostname), client)
			ev.Connection, ev.Description = body.Connection, he.Description
			ev.Details = eventlog.Details(map[string]any{"error": map[string]string{"message": he.Description, "oauthError": he.Code}})
			a.record(ctx, ev)
		}
		return err
	}
	ip := oauth.EffectiveIP(client, authenticated, peer, r.Header.Get("Auth0-Forwarded-For"))
	// Limits before anything is sent: a refused start (and the SDKs'
	// retries of it) sends nothing.
	if err := a.limit(w, r, protect.PasswordlessStart, ip, client, authenticated); err != nil {
		return err
	}
	lang := requestLanguage(r)
	res, err := a.Start.Start(ctx, passwordless.StartRequest{
		Client: client, Connection: body.Connection, Email: body.Email, PhoneNumber: body.PhoneNumber,
		Send: body.Send, AuthParams: body.AuthParams, UserAgent: r.UserAgent(), Language: lang, IP: ip,
	})
	if err != nil {
		he, ok := apierr.Lookup(apierr.Start, err)
		if !ok {
			return err
		}
		if errors.Is(err, passwordless.ErrInvalidPhoneNumber) || errors.Is(err, passwordless.ErrCountryNotAllowed) ||
			errors.Is(err, passwordless.ErrRecipientLimited) {
			// The pumping defences refused: the operator should see it.
			ev := eventlog.WithClient(eventlog.FromRequest(r, eventlog.TypeFailedLogin, ip, peer, a.Hostname), client)
			ev.Connection, ev.UserName, ev.Description = body.Connection, body.PhoneNumber, he.Description
			ev.Details = eventlog.Details(map[string]any{"error": map[string]string{"message": he.Description, "oauthError": he.Code}})
			a.record(ctx, ev)
		}
		return he
	}
	a.recordStart(r, client, body, res, ip, peer, lang)
	if res.Strategy == "sms" {
		var lang any
		if res.Language != "" {
			lang = res.Language
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"_id": res.IdentityID, "phone_number": res.PhoneNumber,
			"phone_verified": res.Verified, "request_language": lang})
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"_id": res.IdentityID, "email": res.Email, "email_verified": res.Verified})
	return nil
}

// authenticateStart applies the client-authentication rule of
// /passwordless/start (spec §3.2). It reports whether the client proved
// itself with a credential (which lets auth0-forwarded-for count).
func (a *API) authenticateStart(r *http.Request, c store.Client, b startBody) (bool, error) {
	if c.ClientID == tenant.ConsoleClientID {
		// The console's built-in application is public, but not a way for
		// anyone to send codes: it starts logins only from its own
		// hosted-login transaction (a Classic page forwarding its state).
		st := b.AuthParams["state"]
		if st == "" || a.SSO == nil || !a.SSO.LiveTransaction(r.Context(), c.ClientID, st, b.AuthParams["_csrf"]) {
			return false, errConsoleStart
		}
		return false, nil
	}
	if !tenant.IsConfidential(c) {
		return false, nil
	}
	creds := oauth.ClientCredentials{ClientID: c.ClientID, Secret: b.ClientSecret, HasSecret: b.ClientSecret != ""}
	if id, sec, raw, ok := basicAuth(r); ok && !creds.HasSecret && id == c.ClientID && sec != "" {
		creds.Secret, creds.RawSecret, creds.HasSecret, creds.ViaBasic = sec, raw, true, true
	}
	creds.Assertion, creds.AssertionType = b.Assertion, b.AssertionType
	res, why := oauth.CheckClient(r.Context(), a.Seal, a.Assertions, c, creds)
	switch {
	case res == oauth.AuthValid:
		return true, nil
	case res == oauth.AuthInvalid && why != nil:
		// The reason is the answer's cause: logged with the request id.
		return false, fmt.Errorf("%w: client %s: %w", oauth.ErrClientUnauthorized, c.ClientID, why)
	case res == oauth.AuthInvalid:
		return false, fmt.Errorf("%w: client %s: wrong client secret", oauth.ErrClientUnauthorized, c.ClientID)
	}
	if st := b.AuthParams["state"]; st != "" && a.SSO != nil && a.SSO.LiveTransaction(r.Context(), c.ClientID, st, b.AuthParams["_csrf"]) {
		return false, nil
	}
	settings, err := a.Dir.Settings(r.Context())
	if err != nil {
		return false, fmt.Errorf("read settings: %w", err)
	}
	if settings.Flags.EnforceClientAuthOnPasswordlessStart {
		return false, errClientAuthRequired
	}
	a.recordDepnote(r, c, b)
	return false, nil
}

// recordDepnote writes the deprecation notice of an unauthenticated start
// by a confidential application (the enforcement setting is off).
func (a *API) recordDepnote(r *http.Request, c store.Client, b startBody) {
	peer := httpx.PeerIP(r.Context())
	ev := eventlog.WithClient(eventlog.FromRequest(r, eventlog.TypeDeprecationNotice, peer, peer, a.Hostname), c)
	ev.Connection = b.Connection
	ev.Description = eventlog.DescPasswordlessDepnote
	ev.Details = eventlog.Details(map[string]any{"feature": eventlog.PasswordlessFeature,
		"method": r.Method, "path": r.URL.Path})
	a.record(r.Context(), ev)
}

// recordStart writes cls (email) or cs (SMS) for a sent code or link, or f
// when nothing was sent although the answer is 200.
func (a *API) recordStart(r *http.Request, c store.Client, b startBody, res passwordless.StartResult, ip, peer, lang string) {
	typ := eventlog.TypeCodeLinkSent
	if res.Strategy == "sms" {
		typ = eventlog.TypeCodeSent
	}
	if res.NotSent != "" {
		typ = eventlog.TypeFailedLogin
	} else if a.Metrics != nil {
		a.Metrics.CodeSent(res.Strategy)
	}
	ev := eventlog.WithConnection(eventlog.WithClient(eventlog.FromRequest(r, typ, ip, peer, a.Hostname), c), res.Connection)
	ev.UserID = res.Strategy + "|" + res.IdentityID
	ev.UserName = res.Email + res.PhoneNumber
	ev.Description = res.NotSent
	body := map[string]any{"client_id": c.ClientID, "connection": res.Connection.Name, "send": res.Send}
	if res.Strategy == "sms" {
		body["phone_number"] = res.PhoneNumber
	} else {
		body["email"] = res.Email
	}
	if lang != "" {
		body["request_language"] = lang
	}
	if len(b.AuthParams) > 0 {
		body["authParams"] = b.AuthParams
	}
	// The link itself is not logged: it carries the code.
	ev.Details = eventlog.Details(map[string]any{"body": body})
	a.record(r.Context(), ev)
}

// basicAuth returns the HTTP Basic credentials, form-decoded as RFC 6749
// §2.3.1 requires (x/oauth2 escapes them).
// The secret is also returned as sent, for clients that do not escape it.
func basicAuth(r *http.Request) (id, sec, rawSec string, ok bool) {
	id, rawSec, ok = r.BasicAuth()
	if !ok {
		return "", "", "", false
	}
	if u, err := url.QueryUnescape(id); err == nil {
		id = u
	}
	sec = rawSec
	if u, err := url.QueryUnescape(rawSec); err == nil {
		sec = u
	}
	return id, sec, rawSec, true
}

// uiLocalesKey is the context key of the ui_locales a page request's login
// transaction carries.
type uiLocalesKey struct{}

// withUILocales is r carrying the ui_locales of its login transaction, for
// pageLang.
func withUILocales(r *http.Request, uiLocales string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), uiLocalesKey{}, uiLocales))
}

// pageLang is the language of the page answering r: the login
// transaction's ui_locales (or the request's own, on /authorize), then
// x-request-language, then Accept-Language, among the languages the pages
// have (English otherwise).
func pageLang(r *http.Request) string {
	ui, _ := r.Context().Value(uiLocalesKey{}).(string)
	if ui == "" && r.Form != nil {
		ui = r.Form.Get("ui_locales")
	}
	if x := strings.TrimSpace(r.Header.Get("X-Request-Language")); x != "" {
		ui += " " + clip(x, 35)
	}
	return loginpage.Negotiate(clip(ui, 256), r.Header.Get("Accept-Language"))
}

// requestLanguage is x-request-language, else the first accept-language tag.
func requestLanguage(r *http.Request) string {
	if l := strings.TrimSpace(r.Header.Get("X-Request-Language")); l != "" {
		return clip(l, 35)
	}
	al := r.Header.Get("Accept-Language")
	if al == "" {
		return ""
	}
	first, _, _ := strings.Cut(al, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.TrimSpace(first)
	if first == "*" {
		return ""
	}
	return clip(first, 35)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
