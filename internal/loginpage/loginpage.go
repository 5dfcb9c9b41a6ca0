// Package loginpage renders Latchkey's browser pages: the hosted login page
// (email or phone, then code; plain HTML forms that work without
// JavaScript), a customised Classic page from the tenant's template, the
// magic-link confirmation page, error pages, and the documents that deliver
// an authorization response by form_post or web_message. Every string is
// in strings.go.
package loginpage

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"sort"
	"strings"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	// t is replaced per rendering with the page's language.
	"t":     func(key string, args ...string) string { return T("en", key, args...) },
	"brand": func() Brand { return Brand{} },
}).ParseFS(files, "templates/*.html"))

// render executes the named template with t bound to lang and brand to b.
func render(w io.Writer, name, lang string, b Brand, data any) error {
	tpl, err := pages.Clone()
	if err != nil {
		return fmt.Errorf("loginpage: %w", err)
	}
	tpl.Funcs(template.FuncMap{
		"t":     func(key string, args ...string) string { return T(lang, key, args...) },
		"brand": func() Brand { return b },
	})
	var buf bytes.Buffer // all or nothing: a failed template writes no half page
	if err := tpl.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("loginpage: render %s: %w", name, err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// Login is the hosted login page at one of its two steps.
type Login struct {
	Lang       string
	Nonce      string // CSP nonce of the inline style
	AppName    string
	Step       string // "identifier" or "code"
	Action     string // where the form posts
	State      string
	CSRF       string
	Connection string // "email" or "sms"
	Identifier string
	Error      string
	Restart    string // URL of the first step
	Switch     string // URL of the other connection's first step, if the app has both
	Brand      Brand
}

// Title is the page title.
func (p Login) Title() string { return T(p.Lang, "title") }

// RenderLogin writes the hosted login page.
func RenderLogin(w io.Writer, p Login) error {
	p.Lang = Language(p.Lang)
	return render(w, "login.html", p.Lang, p.Brand, p)
}

// Message is a page that only says something: an error, an expired login.
type Message struct {
	Lang, Nonce string
	Title, Text string
	Detail      string
	Brand       Brand
}

// RenderMessage writes a message page.
func RenderMessage(w io.Writer, m Message) error {
	m.Lang = Language(m.Lang)
	return render(w, "message.html", m.Lang, m.Brand, m)
}

// COVerify is the page Latchkey shows when a login ticket comes to
// /authorize without the cross-origin cookie and the application has a
// cross-origin verification page: it frames that page (Frame, on
// FrameOrigin), asks it for the verifier kept for COID by postMessage, and
// posts it with Check (the page's double-submit token) to Action.
type COVerify struct {
	Lang, Nonce string
	AppName     string
	Action      string
	Frame       string
	FrameOrigin string
	COID        string
	Check       string
	TimeoutMS   int
	Brand       Brand
}

// Title is the page title.
func (p COVerify) Title() string { return T(p.Lang, "coverify.title") }

// RenderCOVerify writes the cross-origin verification page.
func RenderCOVerify(w io.Writer, p COVerify) error {
	p.Lang = Language(p.Lang)
	return render(w, "coverify.html", p.Lang, p.Brand, p)
}

// Mismatch is the page of an authorization request whose redirect_uri is
// not one of the application's callbacks (Auth0's "Callback URL mismatch"):
// it names the URL received and the application, and tells the operator
// how to register it. It is never a redirect.
type Mismatch struct {
	Lang, Nonce string
	RedirectURI string // as received, clipped
	AppName     string
	ClientID    string
	Command     string // the CLI command that registers the URL; "" when the URL was clipped
}

// Title is the page title.
func (m Mismatch) Title() string { return T(m.Lang, "mismatch.title") }

// RenderMismatch writes the callback-mismatch page.
func RenderMismatch(w io.Writer, m Mismatch) error {
	m.Lang = Language(m.Lang)
	return render(w, "mismatch.html", m.Lang, Brand{}, m)
}

// Callback is the --dev demo application's callback page: what /authorize
// sent back (a code and state, or an error), and a curl that exchanges the
// code. The page never exchanges it.
type Callback struct {
	Lang, Nonce             string
	Code, State             string
	Error, ErrorDescription string
	Curl                    string // the exchange command, shown with a code
}

// Title is the page title.
func (c Callback) Title() string {
	switch {
	case c.Error != "":
		return T(c.Lang, "callback.error.title")
	case c.Code != "":
		return T(c.Lang, "callback.title")
	}
	return T(c.Lang, "callback.empty.title")
}

// RenderCallback writes the demo application's callback page.
func RenderCallback(w io.Writer, c Callback) error {
	c.Lang = Language(c.Lang)
	return render(w, "callback.html", c.Lang, Brand{}, c)
}

// Clip cuts s to at most n bytes, on a character boundary, and marks a cut
// with an ellipsis: for values a page (or an event) shows as received.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// ShellQuote quotes s for a POSIX shell, so that a command a page shows can
// be pasted whatever s holds.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Field is a hidden form field.
type Field struct{ Name, Value string }

// Fields turns values into hidden fields, in name order.
func Fields(v url.Values) []Field {
	var out []Field
	for k, vs := range v {
		for _, x := range vs {
			out = append(out, Field{k, x})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Confirm is the magic-link confirmation page: the link is consumed only
// when the user presses the button (a POST), never by a mail scanner's GET.
type Confirm struct {
	Lang, Nonce string
	AppName     string
	Action      string
	Fields      []Field
	Brand       Brand
}

// Title is the page title.
func (c Confirm) Title() string { return T(c.Lang, "confirm.title") }

// RenderConfirm writes the confirmation page.
func RenderConfirm(w io.Writer, c Confirm) error {
	c.Lang = Language(c.Lang)
	return render(w, "confirm.html", c.Lang, c.Brand, c)
}

// RenderFormPost writes the document of response_mode=form_post: a form
// that posts the response to action (submitted by script, or by the user
// without JavaScript).
func RenderFormPost(w io.Writer, lang, nonce, action string, response url.Values) error {
	lang = Language(lang)
	return render(w, "formpost.html", lang, Brand{}, struct {
		Lang, Nonce, Action string
		Fields              []Field
	}{lang, nonce, action, Fields(response)})
}

// RenderWebMessage writes the document of response_mode=web_message: it
// posts {type:"authorization_response", response} to its opener or parent,
// for origin only.
func RenderWebMessage(w io.Writer, nonce, origin string, response url.Values) error {
	flat := make(map[string]string, len(response))
	for k := range response {
		flat[k] = response.Get(k)
	}
	return render(w, "webmessage.html", "en", Brand{}, struct {
		Nonce, Origin string
		Response      map[string]string
	}{nonce, origin, flat})
}

// RenderCustom writes a customised Classic login page: the tenant's HTML
// template with @@config@@ replaced by the base64 of the JSON config, as
// Auth0's Classic templates decode it
// (JSON.parse(decodeURIComponent(escape(window.atob('@@config@@'))))).
func RenderCustom(w io.Writer, tmpl string, config any) error {
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("loginpage: encode config: %w", err)
	}
	page := strings.ReplaceAll(tmpl, "@@config@@", base64.StdEncoding.EncodeToString(b))
	_, err = io.WriteString(w, page)
	return err
}
