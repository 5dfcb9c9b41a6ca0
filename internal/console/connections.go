package console

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// connectionView is a connection as the Management API shows it (provider
// credentials redacted).
type connectionView struct {
	ID             string                  `json:"id"`
	Name           string                  `json:"name"`
	Strategy       string                  `json:"strategy"`
	Options        store.ConnectionOptions `json:"options"`
	EnabledClients []string                `json:"enabled_clients"`
}

// Stored reports whether a write-only credential holds a value.
func (connectionView) Stored(v string) bool { return v != "" }

// clientRef is an application as the pages name it.
type clientRef struct {
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
}

// allClients lists every application (a page of MaxPerPage at a time).
func (c *Console) allClients(r *http.Request, s *session) ([]clientRef, error) {
	const per = 100
	var all []clientRef
	for p := 0; ; p++ {
		var list []clientRef
		v := url.Values{"page": {strconv.Itoa(p)}, "per_page": {strconv.Itoa(per)}}
		if err := c.call(r, s, http.MethodGet, "/api/v2/clients?"+v.Encode(), nil, &list); err != nil {
			return nil, err
		}
		all = append(all, list...)
		if len(list) < per {
			return all, nil
		}
	}
}

// connectionsData is the connections page's.
type connectionsData struct {
	Connections []connectionView
	Names       map[string]string // client id → name
}

// connections lists the passwordless connections.
func (c *Console) connections(w http.ResponseWriter, r *http.Request, s *session) {
	p := page{Title: "Connections", Nav: "connections"}
	var d connectionsData
	if err := c.call(r, s, http.MethodGet, "/api/v2/connections?per_page=100", nil, &d.Connections); err != nil {
		c.pageError(w, r, s, "connections.html", p, err)
		return
	}
	p.Data = d
	c.render(w, r, s, "connections.html", p)
}

// templateForm is the template editor's fields, and the sample values the
// preview renders them with.
type templateForm struct {
	From, Subject, Body string // email
	Template            string // sms
	Send                string // code or link
	Language            string
	ClientID            string // the sample application
	Phone               string // where an SMS test goes
}

func templateFormOf(o store.ConnectionOptions) templateForm {
	f := templateForm{Template: o.Template, Send: "code"}
	if e := o.Email; e != nil {
		f.From, f.Subject, f.Body = e.From, e.Subject, e.Body
	}
	return f
}

// readTemplateForm reads the editor's fields from a POST.
func readTemplateForm(r *http.Request) templateForm {
	f := templateForm{From: r.PostFormValue("from"), Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body"),
		Template: r.PostFormValue("template"), Send: r.PostFormValue("send"), Language: strings.TrimSpace(r.PostFormValue("language")),
		ClientID: r.PostFormValue("sample_client"), Phone: strings.TrimSpace(r.PostFormValue("phone"))}
	if f.Send != "link" {
		f.Send = "code"
	}
	// Browsers send textareas with CRLF line ends.
	for _, v := range []*string{&f.Body, &f.Template} {
		*v = strings.ReplaceAll(*v, "\r\n", "\n")
	}
	return f
}

// emailTemplate is the email template the form holds: nil (the built-in
// message) when its fields are all empty.
func (f templateForm) emailTemplate() *store.EmailTemplate {
	if f.From == "" && f.Subject == "" && f.Body == "" {
		return nil
	}
	return &store.EmailTemplate{From: f.From, Subject: f.Subject, Body: f.Body, Syntax: "liquid"}
}

// preview is a message rendered by delivery.Compose, as it would be sent.
type preview struct {
	Channel             string
	To                  string
	From                string
	Subject, Text, HTML string
	Err                 string
}

// sampleCode is a code of the connection's length.
func sampleCode(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(byte('1' + i%9))
	}
	return b.String()
}

// notification is the message a login by to through the sample
// application would ask for, with the form's choices.
func (c *Console) notification(conn connectionView, f templateForm, clients []clientRef, to string) delivery.Notification {
	o := tenant.WithConnectionDefaults(conn.Options)
	app := sampleClient(conn, f, clients)
	code := sampleCode(o.TOTP.Length)
	n := delivery.Notification{Channel: conn.Strategy, To: to, Code: code, Send: f.Send, Operation: "login",
		Language: f.Language, AppName: app.Name, ExpiresIn: time.Duration(o.TOTP.TimeStep) * time.Second, ClientID: app.ClientID}
	if f.Send == "link" {
		// As the passwordless service builds it.
		q := url.Values{"client_id": {app.ClientID}, "connection": {conn.Name}, "verification_code": {code}}
		if conn.Strategy == "email" {
			q.Set("email", to)
		} else {
			q.Set("phone_number", to)
		}
		n.Link = c.d.Issuer + "passwordless/verify_redirect?" + q.Encode()
	}
	return n
}

// sampleClient is the application the preview names: the one chosen, else
// the first the connection is enabled for.
func sampleClient(conn connectionView, f templateForm, clients []clientRef) clientRef {
	for _, cl := range clients {
		if cl.ClientID == f.ClientID {
			return cl
		}
	}
	for _, cl := range clients {
		if slices.Contains(conn.EnabledClients, cl.ClientID) {
			return cl
		}
	}
	return clientRef{ClientID: "YOUR_CLIENT_ID", Name: "Your application"}
}

// render renders the form's templates for n exactly as delivery does.
func (f templateForm) render(conn connectionView, n delivery.Notification) preview {
	sc := store.Connection{ID: conn.ID, Name: conn.Name, Strategy: conn.Strategy, Options: conn.Options, EnabledClients: conn.EnabledClients}
	sc.Options.Email, sc.Options.Template = f.emailTemplate(), ""
	if conn.Strategy == "sms" {
		sc.Options.Email, sc.Options.Template = nil, f.Template
	}
	p := preview{Channel: conn.Strategy, To: n.To}
	email, sms, err := delivery.Compose(n, sc, "")
	switch {
	case err != nil:
		p.Err = err.Error()
	case email != nil:
		p.From, p.Subject, p.Text, p.HTML = email.From, email.Subject, email.Text, email.HTML
	case sms != nil:
		p.Text = sms.Body
	}
	return p
}

// connectionData is the connection page's.
type connectionData struct {
	Conn      connectionView
	Clients   []clientRef
	Providers []string
	Countries string
	Form      templateForm
	Preview   preview
	CanTest   bool
}

// connection shows a connection's settings and its template editor, with
// the stored template's preview.
func (c *Console) connection(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.connectionData(r, s)
	if err != nil {
		c.pageError(w, r, s, "connection.html", page{Title: "Connection", Nav: "connections"}, err)
		return
	}
	d.Preview = d.Form.render(d.Conn, c.notification(d.Conn, d.Form, d.Clients, sampleRecipient(d.Conn, s, d.Form)))
	c.showConnection(w, r, s, d, "", http.StatusOK)
}

func (c *Console) showConnection(w http.ResponseWriter, r *http.Request, s *session, d connectionData, msg string, status int) {
	c.render(w, r, s, "connection.html", page{Title: "Connection " + d.Conn.Name, Nav: "connections", Error: msg, Data: d}, status)
}

// connectionData reads the connection and the applications.
func (c *Console) connectionData(r *http.Request, s *session) (connectionData, error) {
	d := connectionData{Providers: tenant.SMSProviders, CanTest: c.d.Sender != nil && c.can(s, "update:connections")}
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "con_") {
		// A name (/admin/connections/email): the connection of that name.
		var found []connectionView
		if err := c.call(r, s, http.MethodGet, "/api/v2/connections?"+url.Values{"name": {id}}.Encode(), nil, &found); err != nil {
			return d, err
		}
		if len(found) != 1 {
			return d, &apiError{Status: http.StatusNotFound, Message: "There is no connection " + id + "."}
		}
		id = found[0].ID
	}
	if err := c.call(r, s, http.MethodGet, connectionPath(id), nil, &d.Conn); err != nil {
		return d, err
	}
	clients, err := c.allClients(r, s)
	if err != nil {
		return d, err
	}
	d.Clients = clients
	d.Countries = strings.Join(d.Conn.Options.AllowedCountries, ", ")
	d.Form = templateFormOf(d.Conn.Options)
	d.Form.ClientID = sampleClient(d.Conn, d.Form, d.Clients).ClientID
	return d, nil
}

func connectionPath(id string) string { return "/api/v2/connections/" + url.PathEscape(id) }

func consoleConnectionPath(id string) string { return "/admin/connections/" + url.PathEscape(id) }

// sampleRecipient is who the preview addresses: the member's email, or
// the test phone number (a sample one when none is given).
func sampleRecipient(conn connectionView, s *session, f templateForm) string {
	if conn.Strategy == "email" {
		return s.Email
	}
	if f.Phone != "" {
		return f.Phone
	}
	return "+14155550100"
}

// saveConnection changes the connection's settings: applications, signup,
// brute force, the code, and the SMS provider. Provider credentials are
// write-only: an empty field keeps the stored value.
func (c *Console) saveConnection(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.connectionData(r, s)
	if err != nil {
		c.pageError(w, r, s, "connection.html", page{Title: "Connection", Nav: "connections"}, err)
		return
	}
	o := d.Conn.Options
	f := r.PostForm
	o.DisableSignup = f.Get("disable_signup") == "on"
	o.BruteForceProtection = f.Get("brute_force_protection") == "on"
	var bad []string
	num := func(name string, dst *int) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			*dst = 0
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = append(bad, name)
			return
		}
		*dst = n
	}
	num("totp_length", &o.TOTP.Length)
	num("totp_time_step", &o.TOTP.TimeStep)
	if d.Conn.Strategy == "sms" {
		o.Provider = f.Get("provider")
		o.From = strings.TrimSpace(f.Get("sms_from"))
		o.MessagingServiceSID = strings.TrimSpace(f.Get("messaging_service_sid"))
		o.TwilioSID = strings.TrimSpace(f.Get("twilio_sid"))
		if v := f.Get("twilio_token"); v != "" {
			o.TwilioToken = v // else the stored one (shown redacted, kept by the API)
		}
		o.GatewayURL = strings.TrimSpace(f.Get("gateway_url"))
		o.ForwardReqInfo = f.Get("forward_req_info") == "on"
		if aud := strings.TrimSpace(f.Get("gateway_audience")); aud != "" {
			ga := store.GatewayAuthentication{Method: "bearer", Audience: aud, Subject: strings.TrimSpace(f.Get("gateway_subject")),
				SecretBase64Encoded: f.Get("gateway_secret_base64") == "on"}
			if v := f.Get("gateway_secret"); v != "" {
				ga.Secret = v
			} else if old := o.GatewayAuthentication; old != nil {
				ga.Secret = old.Secret // the stored one (redacted here, kept by the API)
			}
			o.GatewayAuthentication = &ga
		} else {
			o.GatewayAuthentication = nil
		}
		o.AllowedCountries = nil
		for _, cc := range strings.FieldsFunc(f.Get("allowed_countries"), func(r rune) bool { return r == ',' || r == ' ' }) {
			o.AllowedCountries = append(o.AllowedCountries, strings.ToUpper(cc))
		}
		var b store.SMSBudget
		num("sms_per_number", &b.PerNumberPerHour)
		num("sms_per_block", &b.PerBlockPerHour)
		o.SMSBudget = nil
		if b != (store.SMSBudget{}) {
			o.SMSBudget = &b
		}
	}
	if len(bad) > 0 {
		c.showConnection(w, r, s, d, "Not a whole number: "+strings.Join(bad, ", ")+".", http.StatusBadRequest)
		return
	}
	enabled := f["enabled_clients"]
	if enabled == nil {
		enabled = []string{}
	}
	c.patchConnection(w, r, s, d, map[string]any{"options": o, "enabled_clients": enabled}, "saved")
}

// patchConnection sends the change; a refusal is shown on the page with
// the form as it was.
func (c *Console) patchConnection(w http.ResponseWriter, r *http.Request, s *session, d connectionData, body any, flash string) {
	if err := c.call(r, s, http.MethodPatch, connectionPath(d.Conn.ID), body, nil); err != nil {
		msg, ok := refusal(err)
		if !ok {
			c.fail(w, r, err)
			return
		}
		d.Preview = d.Form.render(d.Conn, c.notification(d.Conn, d.Form, d.Clients, sampleRecipient(d.Conn, s, d.Form)))
		c.showConnection(w, r, s, d, msg, refusalStatus(err))
		return
	}
	redirectFlash(w, r, consoleConnectionPath(d.Conn.ID), flash)
}

// connectionTemplate is the template editor's POST: preview (any member),
// save, or send a test message.
func (c *Console) connectionTemplate(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.connectionData(r, s)
	if err != nil {
		c.pageError(w, r, s, "connection.html", page{Title: "Connection", Nav: "connections"}, err)
		return
	}
	d.Form = readTemplateForm(r)
	n := c.notification(d.Conn, d.Form, d.Clients, sampleRecipient(d.Conn, s, d.Form))
	d.Preview = d.Form.render(d.Conn, n)
	switch r.PostFormValue("action") {
	case "save":
		o := d.Conn.Options
		if d.Conn.Strategy == "email" {
			o.Email = d.Form.emailTemplate()
		} else {
			o.Template = d.Form.Template
		}
		c.patchConnection(w, r, s, d, map[string]any{"options": o}, "saved")
	case "test":
		c.sendTest(w, r, s, d, n)
	default:
		c.showConnection(w, r, s, d, "", http.StatusOK)
	}
}

// sendTest sends the form's message, rendered with sample values, to the
// member's own email address (or the phone number they gave).
func (c *Console) sendTest(w http.ResponseWriter, r *http.Request, s *session, d connectionData, n delivery.Notification) {
	switch {
	case !c.can(s, "update:connections"):
		c.showConnection(w, r, s, d, "Your role does not allow this (sending a test message needs update:connections).", http.StatusForbidden)
		return
	case c.d.Sender == nil:
		c.showConnection(w, r, s, d, "This server cannot send test messages.", http.StatusNotImplemented)
		return
	case d.Preview.Err != "":
		c.showConnection(w, r, s, d, "The template does not render, so nothing was sent: "+d.Preview.Err, http.StatusBadRequest)
		return
	case d.Conn.Strategy == "sms" && !passwordless.ValidPhoneNumber(d.Form.Phone):
		c.showConnection(w, r, s, d, "Give the phone number to send the test SMS to, with its country code (+14155550100).", http.StatusBadRequest)
		return
	}
	var email *store.EmailTemplate
	sms := ""
	if d.Conn.Strategy == "email" {
		email = d.Form.emailTemplate()
	} else {
		sms = d.Form.Template
	}
	if err := c.d.Sender.SendTest(r.Context(), n, d.Conn.Name, email, sms); err != nil {
		c.d.Log.Warn("console: test message", "member", s.Email, "connection", d.Conn.Name, "err", err)
		c.showConnection(w, r, s, d, "The test message could not be sent: "+err.Error(), http.StatusBadGateway)
		return
	}
	c.d.Log.Info("console: test message sent", "member", s.Email, "connection", d.Conn.Name, "to", n.To)
	redirectFlash(w, r, consoleConnectionPath(d.Conn.ID), "sent")
}

// connectionPreview answers the live preview's request (console.js) with
// the preview fragment alone.
func (c *Console) connectionPreview(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.connectionData(r, s)
	if err != nil {
		msg, ok := refusal(err)
		if !ok {
			c.fail(w, r, err)
			return
		}
		http.Error(w, msg, refusalStatus(err))
		return
	}
	d.Form = readTemplateForm(r)
	d.Preview = d.Form.render(d.Conn, c.notification(d.Conn, d.Form, d.Clients, sampleRecipient(d.Conn, s, d.Form)))
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, "connection-preview", d.Preview); err != nil {
		c.fail(w, r, fmt.Errorf("console: render the preview: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
