package server_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
)

// smtpSink is a real SMTP server that keeps what it receives; fail, when
// set, decides the answer to each DATA (nil accepts).
type smtpSink struct {
	addr string
	mu   sync.Mutex
	got  []*mail.Message
	raw  []string
	n    int
	fail func(n int) error
	in   chan struct{}
	// arrived, when not nil, records when each recipient's message arrived.
	arrived map[string]time.Time
}

func newSMTPSink(t testing.TB) *smtpSink {
	t.Helper()
	s := &smtpSink{in: make(chan struct{}, 64)}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *smtpSink }

func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := x.s
	s.mu.Lock()
	s.n++
	n, fail := s.n, s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.got, s.raw = append(s.got, m), append(s.raw, string(b))
	if s.arrived != nil {
		s.arrived[m.Header.Get("To")] = time.Now()
	}
	s.mu.Unlock()
	select {
	case s.in <- struct{}{}:
	default:
	}
	return nil
}

// wait returns the i-th accepted message (0-based), waiting up to 5 s.
func (s *smtpSink) wait(t *testing.T, i int) *mail.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.got) > i {
			m := s.got[i]
			s.mu.Unlock()
			return m
		}
		s.mu.Unlock()
		select {
		case <-s.in:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no message %d arrived at the SMTP server", i)
		}
	}
}

func (s *smtpSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

// parts returns the text and HTML parts of a multipart/alternative message.
func parts(t *testing.T, m *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // the multipart reader decodes quoted-printable
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
}

// withDelivery runs the node with real delivery: the SMTP sink, and
// Twilio calls to twilioURL.
func withDelivery(smtpAddr, twilioURL string) envOpt {
	return func(c *config.Config) {
		c.Dev = false
		c.MasterKey = hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
		c.SMTPURL = "smtp://" + smtpAddr + "?from=" + url.QueryEscape("Latchkey <login@latchkey.test>")
		c.TwilioAPIURL = twilioURL
	}
}

func (e *env) setConnection(name string, f func(*store.Connection)) {
	e.t.Helper()
	c, err := e.srv.Store.GetConnectionByName(e.t.Context(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	f(&c)
	if err := e.srv.Store.UpdateConnection(e.t.Context(), c); err != nil {
		e.t.Fatal(err)
	}
	e.srv.Dir.Invalidate()
}

var codeRe = func(s string) string {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		if len(f) == 6 {
			return f
		}
	}
	return ""
}

// TestEmailOverSMTP: a start answers at once; the worker delivers a proper
// MIME message (text and HTML) to the SMTP server; its code logs in; a
// connection's Liquid templates and the request language are used.
func TestEmailOverSMTP(t *testing.T) {
	t.Parallel()
	sink := newSMTPSink(t)
	e := newEnv(t, withDelivery(sink.addr, "http://127.0.0.1:1"))
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "code", "email": "mime@example.com"}, nil)
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	m := sink.wait(t, 0)
	if from := m.Header.Get("From"); !strings.Contains(from, "login@latchkey.test") {
		t.Errorf("From %q", from)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, "mime@example.com") {
		t.Errorf("To %q", to)
	}
	if m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Errorf("headers %v", m.Header)
	}
	text, html := parts(t, m)
	code := codeRe(text)
	if code == "" || !strings.Contains(html, code) {
		t.Fatalf("parts: text %q html %q", text, html)
	}
	if tok := e.otpGrant(webID, webSecret, "email", "mime@example.com", code, nil); tok.status != 200 {
		t.Fatalf("the delivered code: %d %s", tok.status, tok.raw)
	}

	e.setConnection("email", func(c *store.Connection) {
		c.Options.Email = &store.EmailTemplate{Syntax: "liquid",
			From:    "{{ application.name }} <codes@acme.test>",
			Subject: "Ihr Code für {{ application.name }}",
			Body: `<p>{% if send == 'link' or send == 'link_ios' %}<a href="{{ link }}">Log in</a> or use {{ code }}` +
				`{% else %}Code: <b>{{ code }}</b>{% endif %} ({{ request_language | default: "none" }})</p>`}
	})
	r = e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "link", "email": "tpl@example.com", "authParams": map[string]any{"redirect_uri": webCallback, "response_type": "code"}},
		map[string]string{"X-Request-Language": "de"})
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	m = sink.wait(t, 1)
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	from, _ := dec.DecodeHeader(m.Header.Get("From"))
	if subject != "Ihr Code für Web" || !strings.Contains(from, "Web") || !strings.Contains(from, "codes@acme.test") {
		t.Errorf("subject %q from %q", subject, from)
	}
	text, html = parts(t, m)
	if !strings.Contains(html, "/passwordless/verify_redirect?") || !strings.Contains(html, "(de)") || !strings.Contains(text, "Log in (") {
		t.Errorf("templated parts: text %q html %q", text, html)
	}
}

// TestSMSProviders: Twilio (form, Basic auth, From or MessagingServiceSid)
// and an SMS gateway (JSON, bearer JWT, req) get the exact calls; invalid,
// disallowed and over-budget numbers are refused before anything is sent.
func TestSMSProviders(t *testing.T) {
	t.Parallel()
	type call struct {
		path, user, pass string
		form             url.Values
		body             map[string]any
		auth             string
	}
	calls := make(chan call, 16)
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		r.ParseForm()
		calls <- call{path: r.URL.Path, user: u, pass: p, form: r.PostForm}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"sid":"SM00000000000000000000000000000000","status":"queued"}`))
	}))
	defer twilio.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		calls <- call{path: r.URL.Path, body: b, auth: r.Header.Get("Authorization")}
	}))
	defer gateway.Close()
	sink := newSMTPSink(t)
	e := newEnv(t, withDelivery(sink.addr, twilio.URL))
	sid := "AC" + strings.Repeat("0123456789abcdef", 2)
	token := strings.Repeat("t", 32)
	e.setConnection("sms", func(c *store.Connection) {
		c.Options.Provider, c.Options.TwilioSID, c.Options.TwilioToken, c.Options.From = "twilio", sid, token, "+15005550006"
		c.Options.Template = "Your code is @@password@@"
		c.Options.AllowedCountries = []string{"US", "GB"}
		c.Options.SMSBudget = &store.SMSBudget{PerNumberPerHour: 2}
	})
	start := func(phone string) response {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "sms", "phone_number": phone}, nil)
	}
	if r := start("+14155550123"); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	var c call
	select {
	case c = <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("Twilio was not called")
	}
	if c.path != "/2010-04-01/Accounts/"+sid+"/Messages.json" || c.user != sid || c.pass != token ||
		c.form.Get("To") != "+14155550123" || c.form.Get("From") != "+15005550006" || !strings.HasPrefix(c.form.Get("Body"), "Your code is ") {
		t.Fatalf("Twilio call: %+v", c)
	}
	code := strings.TrimPrefix(c.form.Get("Body"), "Your code is ")
	if tok := e.otpGrant(webID, webSecret, "sms", "+14155550123", code, nil); tok.status != 200 {
		t.Fatalf("the texted code: %d %s", tok.status, tok.raw)
	}

	for _, tc := range []struct {
		phone, code string
		status      int
	}{
		{"+1415555", "sms_provider_error", 400},     // not a real number
		{"+33612345678", "sms_provider_error", 400}, // France is not allowed
		{"+14155550123", "", 200},                   // second of two this hour
		{"+14155550123", "too_many_requests", 429},  // over the number's budget
	} {
		r := start(tc.phone)
		if r.status != tc.status || (tc.code != "" && r.str("error") != tc.code) {
			t.Errorf("%s: %d %s", tc.phone, r.status, r.raw)
		}
	}
	<-calls // the second code
	if n := e.countLogs("type:f AND connection:sms"); n != 3 {
		t.Errorf("f events for refused numbers: %d", n)
	}

	// An SMS gateway with a bearer token and the request's details.
	e.setConnection("sms", func(c *store.Connection) {
		c.Options.Provider, c.Options.GatewayURL, c.Options.ForwardReqInfo = "sms_gateway", gateway.URL+"/send", true
		c.Options.GatewayAuthentication = &store.GatewayAuthentication{Method: "bearer", Subject: "latchkey", Audience: "https://gw.test", Secret: "gateway-secret"}
		c.Options.AllowedCountries, c.Options.SMSBudget = nil, nil
	})
	if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "sms", "phone_number": "+447400123456"}, map[string]string{"User-Agent": "gw-test"}); r.status != 200 {
		t.Fatalf("gateway start: %d %s", r.status, r.raw)
	}
	select {
	case c = <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway was not called")
	}
	req, _ := c.body["req"].(map[string]any)
	if c.path != "/send" || c.body["recipient"] != "+447400123456" || c.body["sender"] != "+15005550006" ||
		!strings.HasPrefix(c.body["body"].(string), "Your code is ") || req["user-agent"] != "gw-test" || req["ip"] == "" ||
		!strings.HasPrefix(c.auth, "Bearer ") {
		t.Fatalf("gateway call: %+v", c)
	}
	_ = context.Background
}

// TestDeliveryRetriesAndGivesUp: a temporary SMTP refusal is retried and
// the message delivered once (a wn event); a permanent one is given up (an
// fn event); a message whose code expired is never sent.
func TestDeliveryRetriesAndGivesUp(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		deliveryRetries(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := postgresURL(t)
		deliveryRetries(t, func(c *config.Config) { c.DatabaseURL = pg })
	})
}

func deliveryRetries(t *testing.T, backend envOpt) {
	sink := newSMTPSink(t)
	sink.fail = func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	opts := []envOpt{withDelivery(sink.addr, "http://127.0.0.1:1")}
	if backend != nil {
		opts = append(opts, backend)
	}
	e := newEnv(t, opts...)
	start := func(email string) {
		t.Helper()
		if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
			"connection": "email", "send": "code", "email": email}, nil); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
	}
	start("retry@example.com")
	e.waitLogs("type:wn AND user_name:retry@example.com", 1)
	e.clock.Advance(2 * time.Second) // past the back-off (the node's clock is the test's)
	m := sink.wait(t, 0)
	if to := m.Header.Get("To"); !strings.Contains(to, "retry@example.com") {
		t.Fatalf("delivered %q", to)
	}
	e.delivered() // settled: nothing left to send again
	if n := sink.count(); n != 1 {
		t.Fatalf("delivered %d times", n)
	}
	if n := e.countLogs("type:wn AND user_name:retry@example.com"); n != 1 {
		t.Errorf("wn events: %d", n)
	}

	sink.mu.Lock()
	sink.fail = func(int) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	sink.mu.Unlock()
	start("nobody@example.com")
	e.waitLogs("type:fn AND user_name:nobody@example.com", 1)
	if n := sink.count(); n != 1 {
		t.Fatalf("a refused message was counted as delivered: %d", n)
	}

	// Temporary failures until the code expires: given up, never sent late.
	sink.mu.Lock()
	sink.fail = func(int) error {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "busy"}
	}
	sink.mu.Unlock()
	start("late@example.com")
	e.waitLogs("type:wn AND user_name:late@example.com", 1)
	e.clock.Advance(4 * time.Minute) // the code lives 3
	e.waitLogs("type:fn AND user_name:late@example.com", 1)
	sink.mu.Lock()
	sink.fail = nil
	sink.mu.Unlock()
	e.delivered() // given up: nothing left to send late
	if n := sink.count(); n != 1 {
		t.Fatalf("an expired message was sent: %d", n)
	}
}

// waitLogs waits up to 5 s for n events matching q.
func (e *env) waitLogs(q string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.countLogs(q) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("no %d events for %q", n, q)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSMSProviderRecovers: Twilio answering 503 (and then not answering
// in time) is retried; the message is delivered once when it recovers.
func TestSMSProviderRecovers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls, delivered := 0, 0
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(503)
			w.Write([]byte(`{"code":20500,"message":"Internal Server Error","status":503}`))
			return
		}
		mu.Lock()
		delivered++
		mu.Unlock()
		w.WriteHeader(201)
		w.Write([]byte(`{"sid":"SM1","status":"queued"}`))
	}))
	defer twilio.Close()
	sink := newSMTPSink(t)
	e := newEnv(t, withDelivery(sink.addr, twilio.URL))
	e.setConnection("sms", func(c *store.Connection) {
		c.Options.Provider, c.Options.TwilioSID, c.Options.TwilioToken, c.Options.From = "twilio",
			"AC"+strings.Repeat("0123456789abcdef", 2), strings.Repeat("t", 32), "+15005550006"
	})
	if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "sms", "phone_number": "+14155550142"}, nil); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	e.waitLogs("type:wn AND user_name:\"+14155550142\"", 1)
	e.clock.Advance(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		d := delivered
		mu.Unlock()
		if d == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not delivered after the provider recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.delivered() // settled: nothing left to send again
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || delivered != 1 {
		t.Fatalf("calls %d, delivered %d", calls, delivered)
	}
}

// TestDevCaptureRendersTemplates: --dev delivers through the outbox like
// production, so the capture shows the connection's own Liquid templates
// (the preview an operator needs), for email and SMS.
func TestDevCaptureRendersTemplates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setConnection("email", func(c *store.Connection) {
		c.Options.Email = &store.EmailTemplate{Syntax: "liquid", From: "{{ application.name }} <codes@acme.test>",
			Subject: "Your {{ application.name }} passcode", Body: `<p>Code: <b>{{ code }}</b> ({{ request_language | default: "none" }})</p>`}
	})
	e.setConnection("sms", func(c *store.Connection) { c.Options.Template = "@@password@@ is your {{ application.name }} code" })
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "email", "send": "code", "email": "preview@example.com"}, map[string]string{"X-Request-Language": "fr"})
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	m := e.lastMessage("preview@example.com")
	if m.Subject != "Your Web passcode" || !strings.Contains(m.HTML, "<b>"+m.Code+"</b> (fr)") || !strings.Contains(m.Text, m.Code) {
		t.Errorf("captured email %+v", m)
	}
	r = e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret,
		"connection": "sms", "send": "code", "phone_number": "+14155550123"}, nil)
	if r.status != 200 {
		t.Fatalf("sms start: %d %s", r.status, r.raw)
	}
	if s := e.lastMessage("+14155550123"); s.Text != s.Code+" is your Web code" || s.Channel != "sms" {
		t.Errorf("captured sms %+v", s)
	}
	if tok := e.otpGrant(webID, webSecret, "email", "preview@example.com", m.Code, nil); tok.status != 200 {
		t.Fatalf("the captured code: %d %s", tok.status, tok.raw)
	}
}
