package delivery

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// ---- a real SMTP server (emersion/go-smtp) on 127.0.0.1 ----

type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

type smtpBackend struct {
	user, pass string          // when set, AUTH PLAIN is offered and required
	rejectMail *smtp.SMTPError // answer to MAIL FROM
	rejectRcpt *smtp.SMTPError // answer to RCPT TO
	unknownTo  string          // a recipient refused with 550
	mu         sync.Mutex
	msgs       []received
	authTries  []string // passwords the server was sent
	sessions   int      // connections opened
	// oneMailPerSession refuses (421) a session's second MAIL FROM, as a
	// server closing a connection it no longer wants does.
	oneMailPerSession bool
	discard           bool // keep no messages (benchmarks)
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.mu.Unlock()
	_, isTLS := c.TLSConnectionState()
	s := &smtpSession{b: b, r: received{tls: isTLS}}
	if b.user != "" {
		return &authSession{s}, nil
	}
	return s, nil
}

func (b *smtpBackend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type smtpSession struct {
	b      *smtpBackend
	r      received
	authed bool
	mails  int
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	if s.b.rejectMail != nil {
		return s.b.rejectMail
	}
	if s.mails++; s.b.oneMailPerSession && s.mails > 1 {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Closing: too many messages"}
	}
	s.r.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rejectRcpt != nil {
		return s.b.rejectRcpt
	}
	if to == s.b.unknownTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}
	s.r.to = append(s.r.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.data = b
	if s.b.discard {
		return nil
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.r)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.r = received{tls: s.r.tls, authUser: s.r.authUser} }
func (s *smtpSession) Logout() error { return nil }

type authSession struct{ *smtpSession }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.b.mu.Lock()
		s.b.authTries = append(s.b.authTries, pass)
		s.b.mu.Unlock()
		if user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.authed, s.r.authUser = true, user
		return nil
	}), nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "latchkey test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startSMTP serves be on 127.0.0.1; mode is "plain", "starttls" or "tls"
// (implicit). It returns host:port.
func startSMTP(t *testing.T, be smtp.Backend, mode string, insecureAuth bool) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.AllowInsecureAuth = insecureAuth
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "starttls":
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	case "tls":
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func newSMTP(t *testing.T, rawURL string) *SMTP {
	t.Helper()
	s, err := NewSMTP(rawURL, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEmail() Email {
	return Email{
		From:    "Acme Café <login@example.com>",
		To:      "ana@example.org",
		Subject: "Votre code — 123456 ✓",
		Text:    "Your code is 123456.\nIt expires in 3 minutes. Ünïcödé.\n",
		HTML:    "<!doctype html><p>Your code is <b>123456</b>. Ünïcödé.</p>\n",
	}
}

// checkMessage parses what the server received and compares it with m.
func checkMessage(t *testing.T, r received, m Email) {
	t.Helper()
	if r.from != "login@example.com" || len(r.to) != 1 || r.to[0] != "ana@example.org" {
		t.Errorf("envelope from %q to %q", r.from, r.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("Subject %q (raw %q): %v", subj, msg.Header.Get("Subject"), err)
	}
	for _, c := range msg.Header.Get("Subject") {
		if c > 127 {
			t.Errorf("Subject header is not MIME-encoded: %q", msg.Header.Get("Subject"))
			break
		}
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Acme Café" || from[0].Address != "login@example.com" {
		t.Errorf("From %v (raw %q): %v", from, msg.Header.Get("From"), err)
	}
	if to, err := msg.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ana@example.org" {
		t.Errorf("To %v: %v", to, err)
	}
	if d, err := msg.Header.Date(); err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date %q: %v", msg.Header.Get("Date"), err)
	}
	if id := msg.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if msg.Header.Get("Mime-Version") != "1.0" {
		t.Errorf("MIME-Version %q", msg.Header.Get("Mime-Version"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	want := []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}}
	for i, w := range want {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt != w.typ || !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %d Content-Type %q", i, p.Header.Get("Content-Type"))
		}
		b, err := io.ReadAll(p) // multipart undoes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(b), "\r\n", "\n"); got != w.body {
			t.Errorf("part %d body %q, want %q", i, got, w.body)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

func TestSMTPPlain(t *testing.T) {
	be := &smtpBackend{}
	addr := startSMTP(t, be, "plain", false)
	s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
	m := testEmail()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || msgs[0].tls {
		t.Fatalf("received %d messages (tls %v)", len(msgs), len(msgs) == 1 && msgs[0].tls)
	}
	checkMessage(t, msgs[0], m)

	// From falls back to the URL's; a text-only message is not multipart.
	if err := s.Send(t.Context(), Email{To: "ana@example.org", Subject: "Hi", Text: "plain only"}); err != nil {
		t.Fatal(err)
	}
	msgs = be.messages()
	msg, err := mail.ReadMessage(bytes.NewReader(msgs[1].data))
	if err != nil {
		t.Fatal(err)
	}
	if msgs[1].from != "login@example.com" || !strings.HasPrefix(msg.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("fallback from %q, Content-Type %q", msgs[1].from, msg.Header.Get("Content-Type"))
	}
}

func TestSMTPStartTLSWithAuth(t *testing.T) {
	be := &smtpBackend{user: "mailer", pass: "s3cr3t/pa:ss@word"}
	addr := startSMTP(t, be, "starttls", false)
	pass := url.QueryEscape(be.pass)
	s := newSMTP(t, "smtp://mailer:"+pass+"@"+addr+"?from=login@example.com&tls=required,skip-verify")
	m := testEmail()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || !msgs[0].tls || msgs[0].authUser != "mailer" {
		t.Fatalf("received %+v", msgs)
	}
	checkMessage(t, msgs[0], m)

	// Wrong password: the server's 535 is permanent, and never shows the password.
	bad := newSMTP(t, "smtp://mailer:Wr0ngPassw0rd@"+addr+"?from=login@example.com&tls=skip-verify")
	err := bad.Send(t.Context(), m)
	se := asSendError(t, err)
	if se.Temporary || se.Status != 535 || !strings.HasPrefix(err.Error(), "535 ") || strings.Contains(err.Error(), "Wr0ngPassw0rd") {
		t.Errorf("bad credentials: %+v", se)
	}

	// The certificate is self-signed: without skip-verify it does not verify (permanent).
	strict := newSMTP(t, "smtp://mailer:"+pass+"@"+addr+"?from=login@example.com")
	se = asSendError(t, strict.Send(t.Context(), m))
	if se.Temporary || !strings.Contains(se.Message, "certificate") {
		t.Errorf("unverified certificate: %+v", se)
	}
	if got := len(be.messages()); got != 1 {
		t.Errorf("%d messages after the failures", got)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	be := &smtpBackend{user: "mailer", pass: "hunter22"}
	addr := startSMTP(t, be, "tls", false)
	s := newSMTP(t, "smtps://mailer:hunter22@"+addr+"?from=login@example.com&tls=skip-verify")
	m := testEmail()
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || !msgs[0].tls || msgs[0].authUser != "mailer" {
		t.Fatalf("received %+v", msgs)
	}
	checkMessage(t, msgs[0], m)
}

func TestSMTPNoPasswordInClear(t *testing.T) {
	// A server without TLS that offers only PLAIN: the password is not sent.
	be := &smtpBackend{user: "mailer", pass: "hunter22"}
	addr := startSMTP(t, be, "plain", true)
	s := newSMTP(t, "smtp://mailer:hunter22@"+addr+"?from=login@example.com")
	se := asSendError(t, s.Send(t.Context(), testEmail()))
	if se.Temporary || strings.Contains(se.Error(), "hunter22") || !strings.Contains(se.Message, "need TLS") {
		t.Errorf("%+v", se)
	}
	if len(be.authTries) != 0 {
		t.Errorf("the password went over plain text: %q", be.authTries)
	}
	// tls=required against a server without STARTTLS: permanent, nothing sent.
	plain := startSMTP(t, &smtpBackend{}, "plain", false)
	s = newSMTP(t, "smtp://"+plain+"?from=login@example.com&tls=required")
	if se := asSendError(t, s.Send(t.Context(), testEmail())); se.Temporary || !strings.Contains(se.Message, "STARTTLS") {
		t.Errorf("tls=required: %+v", se)
	}
}

func TestSMTPReplies(t *testing.T) {
	cases := []struct {
		name      string
		be        *smtpBackend
		temporary bool
		status    int
		text      string
	}{
		{"451 on MAIL", &smtpBackend{rejectMail: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}},
			true, 451, "451 4.3.0 Try again later"},
		{"550 on RCPT", &smtpBackend{rejectRcpt: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}},
			false, 550, "550 5.1.1 No such user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := startSMTP(t, c.be, "plain", false)
			s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
			err := s.Send(t.Context(), testEmail())
			se := asSendError(t, err)
			if se.Temporary != c.temporary || se.Status != c.status || err.Error() != c.text {
				t.Errorf("got %+v %q", se, err.Error())
			}
			if n := len(c.be.messages()); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
}

func TestSMTPNetworkFailures(t *testing.T) {
	// Nobody listening: temporary.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	s := newSMTP(t, "smtp://"+closed+"?from=login@example.com")
	if se := asSendError(t, s.Send(t.Context(), testEmail())); !se.Temporary {
		t.Errorf("refused: %+v", se)
	}

	// A server that accepts and never greets: the context's deadline ends it.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	s = newSMTP(t, "smtp://"+silent.Addr().String()+"?from=login@example.com")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	se := asSendError(t, s.Send(ctx, testEmail()))
	if !se.Temporary || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %+v after %v", se, time.Since(start))
	}
	// Cancelling (no deadline) ends it too.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	se = asSendError(t, s.Send(ctx, testEmail()))
	if !se.Temporary || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled: %+v after %v", se, time.Since(start))
	}
}

func TestSMTPBadAddresses(t *testing.T) {
	s := newSMTP(t, "smtp://127.0.0.1:1")
	for _, m := range []Email{
		{To: "ana@example.org", Text: "no from anywhere"},
		{From: "not an address", To: "ana@example.org"},
		{From: "login@example.com", To: "nobody"},
	} {
		if se := asSendError(t, s.Send(t.Context(), m)); se.Temporary {
			t.Errorf("%+v: %+v", m, se)
		}
	}
}

func asSendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("want a *SendError, got %T %v", err, err)
	}
	return se
}

// ---- URL parsing ----

func TestNewSMTPURL(t *testing.T) {
	const pw = "Sup3rS3cret"
	good := []struct {
		url                 string
		host                string
		port                int
		implicit, req, skip bool
		user, pass, from    string
	}{
		{"smtp://mailer:" + pw + "@mail.example.com:587?from=login@example.com", "mail.example.com", 587, false, false, false, "mailer", pw, "login@example.com"},
		{"smtp://mail.example.com", "mail.example.com", 587, false, false, false, "", "", ""},
		{"smtp://mail.example.com:25/?tls=required", "mail.example.com", 25, false, true, false, "", "", ""},
		{"smtp://127.0.0.1:2525?tls=skip-verify", "127.0.0.1", 2525, false, false, true, "", "", ""},
		{"smtp://[::1]:2525?tls=required,skip-verify", "::1", 2525, false, true, true, "", "", ""},
		{"smtps://u%40x.com:p%2Fw%3Ad%23@smtp.example.com?from=Acme+%3Clogin@example.com%3E", "smtp.example.com", 465, true, false, false, "u@x.com", "p/w:d#", "Acme <login@example.com>"},
		{"SMTPS://mail.example.com:2465", "mail.example.com", 2465, true, false, false, "", "", ""},
		{"smtp://apikey@mail.example.com", "mail.example.com", 587, false, false, false, "apikey", "", ""},
	}
	for _, g := range good {
		s, err := NewSMTP(g.url, 0)
		if err != nil {
			t.Errorf("%s: %v", g.url, err)
			continue
		}
		if s.host != g.host || s.port != g.port || s.implicitTLS != g.implicit || s.tlsRequired != g.req || s.skipVerify != g.skip ||
			s.user != g.user || s.pass != g.pass || s.DefaultFrom() != g.from || s.timeout != DefaultSMTPTimeout {
			t.Errorf("%s: %+v", g.url, s)
		}
	}
	bad := []struct{ url, problem string }{
		{"", "missing scheme"},
		{"mail.example.com:587", "scheme"},
		{"http://mail.example.com", "unsupported scheme"},
		{"smtp:mail.example.com", "expected smtp://host"},
		{"smtp://", "missing host"},
		{"smtp://user:" + pw + "@", "missing host"},
		{"smtp://mail.example.com:0", "invalid port"},
		{"smtp://mail.example.com:70000", "invalid port"},
		{"smtp://user:" + pw + "@mail.example.com:x", "invalid port"},
		{"smtp://user:" + pw + "/x@mail.example.com", "invalid port"},        // '/' not encoded
		{"smtp://user:123/" + pw + "@mail.example.com", "unexpected path"},   // parses as host "user"
		{"smtp://user:1#" + pw + "@mail.example.com", "unexpected fragment"}, // '#' not encoded
		{"smtp://user:" + pw + "%zz@mail.example.com", "percent-encoding"},
		{"smtp://:" + pw + "@mail.example.com", "password without a user name"},
		{"smtp://user:" + pw + "@mail.example.com?from=nope", "invalid from address"},
		{"smtp://user:" + pw + "@mail.example.com?from=a@example.com&from=b@example.com", "more than once"},
		{"smtp://user:" + pw + "@mail.example.com?tls=maybe", "unknown tls value"},
		{"smtp://user:" + pw + "@mail.example.com?" + pw + "=1", "unknown query parameter"},
		{"smtp://user:" + pw + "@mail.example.com?from=%zz", "malformed query"},
		{"smtp://user:" + pw + "\n@mail.example.com", "control characters"},
		{"smtp://user:" + pw + "@mail example.com", "invalid host"},
	}
	for _, b := range bad {
		_, err := NewSMTP(b.url, time.Second)
		if err == nil {
			t.Errorf("%q: no error", b.url)
			continue
		}
		if !strings.Contains(err.Error(), b.problem) {
			t.Errorf("%q: error %q does not name %q", b.url, err, b.problem)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "mail.example.com") {
			t.Errorf("%q: error repeats the URL: %q", b.url, err)
		}
	}
}

func FuzzNewSMTP(f *testing.F) {
	for _, s := range [][3]string{
		{"mailer", "x", "mail.example.com:587?from=login@example.com"},
		{"u", "a/b", "h"},
		{"u", "1?x=", "h?tls=required"},
		{"u@h:1?", "y", "rest"},
		{"", "", "h:99999#f"},
		{"u", "%zz", "h"},
		{"u", "pw=1&from", "h?from=a@b.c"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		// "Pw" is in no error text, so any "Pw…" found came from the input.
		pass = "Pw" + pass
		for _, scheme := range []string{"smtp://", "smtps://"} {
			s, err := NewSMTP(scheme+user+":"+pass+"@"+rest, time.Second)
			if err != nil {
				if strings.Contains(err.Error(), pass) {
					t.Fatalf("error shows the password: %q", err)
				}
				if !strings.HasPrefix(err.Error(), "invalid SMTP URL: ") {
					t.Fatalf("unexpected error text %q", err)
				}
				continue
			}
			if s.host == "" || s.port < 1 || s.port > 65535 {
				t.Fatalf("accepted without a host or port: %+v", s)
			}
			if s.from != "" {
				if _, err := mail.ParseAddress(s.from); err != nil {
					t.Fatalf("accepted from %q", s.from)
				}
			}
		}
	})
}

func (b *smtpBackend) sessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions
}

// sendOnOneSession sends n test messages and checks that they arrived
// whole, all on one session.
func sendOnOneSession(t *testing.T, s *SMTP, be *smtpBackend, n int) {
	t.Helper()
	for range n {
		if err := s.Send(t.Context(), testEmail()); err != nil {
			t.Fatal(err)
		}
	}
	if sessions, got := be.sessionCount(), len(be.messages()); sessions != 1 || got != n {
		t.Fatalf("%d sessions for %d messages, want 1 for %d", sessions, got, n)
	}
	for _, m := range be.messages() {
		checkMessage(t, m, testEmail())
	}
}

// TestSMTPKeepsConnections: messages share a kept session (a new MAIL
// after each accepted message); one idle too long is ended and a new one opened; a session the
// server no longer wants (421 before DATA) is replaced and the message
// sent once on the new one; a message the server refuses is not tried
// again on a new session.
func TestSMTPKeepsConnections(t *testing.T) {
	t.Run("reuse", func(t *testing.T) {
		be := &smtpBackend{}
		addr := startSMTP(t, be, "plain", false)
		s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
		sendOnOneSession(t, s, be, 5)
		s.Close()
	})
	t.Run("idle too long", func(t *testing.T) {
		be := &smtpBackend{}
		addr := startSMTP(t, be, "plain", false)
		s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
		now := time.Now()
		s.now = func() time.Time { return now }
		for _, wait := range []time.Duration{0, IdleSMTP - time.Second, IdleSMTP} {
			now = now.Add(wait)
			if err := s.Send(t.Context(), testEmail()); err != nil {
				t.Fatal(err)
			}
		}
		if n := be.sessionCount(); n != 2 {
			t.Fatalf("%d sessions, want 2 (the third message after %v idle)", n, IdleSMTP)
		}
	})
	t.Run("server refuses the kept session", func(t *testing.T) {
		be := &smtpBackend{oneMailPerSession: true}
		addr := startSMTP(t, be, "plain", false)
		s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
		for range 3 {
			if err := s.Send(t.Context(), testEmail()); err != nil {
				t.Fatal(err)
			}
		}
		if n, got := be.sessionCount(), len(be.messages()); n != 3 || got != 3 {
			t.Fatalf("%d sessions for %d messages, want 3 for 3", n, got)
		}
	})
	t.Run("the server refuses a message on the kept session", func(t *testing.T) {
		// Its answer is about the message, not the session: the message
		// is not tried again on a new connection.
		be := &smtpBackend{unknownTo: "nobody@example.org"}
		addr := startSMTP(t, be, "plain", false)
		s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
		if err := s.Send(t.Context(), testEmail()); err != nil {
			t.Fatal(err)
		}
		m := testEmail()
		m.To = be.unknownTo
		var se *SendError
		if err := s.Send(t.Context(), m); !errors.As(err, &se) || se.Status != 550 || se.Temporary {
			t.Fatalf("to an unknown recipient: %v", err)
		}
		if n := be.sessionCount(); n != 1 {
			t.Fatalf("%d sessions: the refused message was tried again on a new one", n)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		be := &smtpBackend{}
		addr := startSMTP(t, be, "plain", false)
		s := newSMTP(t, "smtp://"+addr+"?from=login@example.com")
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					if err := s.Send(t.Context(), testEmail()); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if n, got := be.sessionCount(), len(be.messages()); got != 100 || n > 4 {
			t.Fatalf("%d sessions for %d messages, want at most 4 for 100", n, got)
		}
	})
}

// tapListener hands out connections that record what the client sends,
// one entry per read, and can hide PIPELINING from the server's EHLO or
// turn its acceptance of a recipient into a refusal.
type tapListener struct {
	net.Listener
	hidePipelining bool
	refuseRcpt     atomic.Bool // answer 550 to RCPT although the server took the recipient
	discard        bool        // record nothing (benchmarks)
	mu             sync.Mutex
	reads          []string
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, l: l}, nil
}

func (l *tapListener) chunks() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reads...)
}

type tapConn struct {
	net.Conn
	l *tapListener
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.l.discard {
		c.l.mu.Lock()
		c.l.reads = append(c.l.reads, string(p[:n]))
		c.l.mu.Unlock()
	}
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	out := p
	if c.l.hidePipelining {
		out = bytes.Replace(out, []byte("250-PIPELINING\r\n"), nil, 1)
	}
	if c.l.refuseRcpt.Load() && bytes.HasPrefix(out, []byte("250 2.0.0 I'll make sure <")) {
		// go-smtp's answer to an accepted RCPT, one reply a write.
		out = []byte("550 5.1.1 No such user\r\n")
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// tappedSMTP serves be on a new listener through tap (whose Listener it
// sets) and returns the address.
func tappedSMTP(tb testing.TB, be *smtpBackend, tap *tapListener) string {
	tb.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tap.Listener = ln
	go srv.Serve(tap)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestSMTPPipelining: to a server that offers PIPELINING, MAIL, RCPT and
// DATA go in one write, with the envelope addresses in angle brackets
// (RFC 5321); to one that does not, each command waits for its reply. The
// messages arrive whole either way, several on one session.
func TestSMTPPipelining(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprintf("hidden=%v", hide), func(t *testing.T) {
			be := &smtpBackend{}
			tap := &tapListener{hidePipelining: hide}
			s := newSMTP(t, "smtp://"+tappedSMTP(t, be, tap)+"?from=login@example.com")
			defer s.Close()
			sendOnOneSession(t, s, be, 3)
			together, mails := 0, 0
			for _, c := range tap.chunks() {
				if !strings.Contains(c, "MAIL FROM:") {
					continue
				}
				mails++
				if !strings.HasPrefix(c, "MAIL FROM:<login@example.com>") {
					t.Errorf("MAIL: %q", c)
				}
				if strings.Contains(c, "\r\nRCPT TO:<ana@example.org>\r\nDATA\r\n") {
					together++
				}
			}
			if want := map[bool]int{false: 3, true: 0}[hide]; mails != 3 || together != want {
				t.Errorf("%d MAIL commands, %d sent with RCPT and DATA; want 3, %d", mails, together, want)
			}
		})
	}
}

// TestSMTPDataWithoutRecipient: a server that refuses the recipient of a
// pipelined message but still accepts its DATA (RFC 2920 §3.1) gets the
// data ended at once, empty; the send fails with the refusal, and the
// session is not used again.
func TestSMTPDataWithoutRecipient(t *testing.T) {
	be := &smtpBackend{}
	tap := &tapListener{}
	tap.refuseRcpt.Store(true)
	s := newSMTP(t, "smtp://"+tappedSMTP(t, be, tap)+"?from=login@example.com")
	defer s.Close()
	var se *SendError
	if err := s.Send(t.Context(), testEmail()); !errors.As(err, &se) || se.Status != 550 || se.Temporary {
		t.Fatalf("a refused recipient: %v", err)
	}
	if got := be.messages(); len(got) != 1 || len(got[0].data) != 0 {
		t.Fatalf("the server took %d messages, want one, empty: %+v", len(got), got)
	}
	for _, c := range tap.chunks() {
		if strings.Contains(c, "Subject:") {
			t.Fatalf("the message was sent after its recipient was refused: %q", c)
		}
	}
	tap.refuseRcpt.Store(false)
	if err := s.Send(t.Context(), testEmail()); err != nil {
		t.Fatal(err)
	}
	if n := be.sessionCount(); n != 2 {
		t.Fatalf("%d sessions, want 2: the one that took an empty message is not kept", n)
	}
}

// BenchmarkSMTPSend: one message on a kept session to a real SMTP server
// in this process, with and without PIPELINING offered (the time of both
// sides: with PIPELINING, two round trips a message instead of four).
func BenchmarkSMTPSend(b *testing.B) {
	for _, hide := range []bool{false, true} {
		b.Run(map[bool]string{false: "pipelined", true: "in-turn"}[hide], func(b *testing.B) {
			addr := tappedSMTP(b, &smtpBackend{discard: true}, &tapListener{hidePipelining: hide, discard: true})
			s, err := NewSMTP("smtp://"+addr+"?from=login@example.com", 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m := testEmail()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(b.Context(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
