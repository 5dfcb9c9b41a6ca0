package delivery

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/latchkey/latchkey/internal/secret"
)

// Email is a rendered email. From may be empty to use the SMTP URL's from;
// it may carry a display name ("Acme Café <login@example.com>").
type Email struct {
	From, To, Subject, Text, HTML string
	// Code and Link are what the message carries, for the dev capture
	// (SMTP sends the rendered parts only).
	Code, Link string `json:",omitempty"`
	// ID identifies the message across attempts (the outbox message id):
	// the Message-ID is <ID@sender-domain>, the same for every resend.
	// Set when the message is sent, not stored; random when empty.
	ID string `json:"-"`
}

// SMTP sends email through one SMTP server (--smtp-url). It is safe for
// concurrent use; sessions are kept and reused across messages (a new
// MAIL after each accepted one), up to MaxIdleSMTP idle ones.
type SMTP struct {
	pool        chan *smtpConn
	host        string
	port        int
	implicitTLS bool // smtps://
	tlsRequired bool // ?tls=required: fail rather than send in clear
	skipVerify  bool // ?tls=skip-verify: accept any certificate
	user, pass  string
	from        string
	timeout     time.Duration
	now         func() time.Time
}

// DefaultSMTPTimeout bounds one Send (connect, TLS, AUTH, the message) when
// NewSMTP is given no timeout.
const DefaultSMTPTimeout = 30 * time.Second

// NewSMTP parses an SMTP URL:
//
//	smtp://user:pass@host:587?from=login@example.com   STARTTLS when offered (default port 587)
//	smtp://host:25?tls=required                         STARTTLS or fail
//	smtp://host:2525?tls=skip-verify                    any certificate (test servers)
//	smtps://user:pass@host?from=…                       implicit TLS (default port 465)
//
// tls takes required, skip-verify or both ("required,skip-verify"). Special
// characters in the user name and password must be percent-encoded. A
// timeout <= 0 means DefaultSMTPTimeout. Errors name the problem but never
// repeat any part of the URL, so no password can leak into a log.
func NewSMTP(rawURL string, timeout time.Duration) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, smtpURLError(describeURLError(err))
	}
	s := &SMTP{timeout: timeout, now: time.Now, pool: make(chan *smtpConn, MaxIdleSMTP)}
	if s.timeout <= 0 {
		s.timeout = DefaultSMTPTimeout
	}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicitTLS = 465, true
	case "":
		return nil, smtpURLError("missing scheme: use smtp:// or smtps://")
	default:
		return nil, smtpURLError("unsupported scheme: use smtp:// or smtps://")
	}
	if u.Opaque != "" {
		return nil, smtpURLError("expected smtp://host or smtps://host")
	}
	if s.host = u.Hostname(); s.host == "" {
		return nil, smtpURLError("missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, smtpURLError("invalid port")
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, smtpURLError("unexpected path (percent-encode special characters in the user name and password)")
	}
	if u.Fragment != "" || strings.Contains(rawURL, "#") {
		return nil, smtpURLError("unexpected fragment (percent-encode special characters in the user name and password)")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" && s.pass != "" {
			return nil, smtpURLError("a password without a user name")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, smtpURLError("malformed query")
	}
	for k, vs := range q {
		switch k {
		case "from":
			if len(vs) > 1 {
				return nil, smtpURLError("from is given more than once")
			}
			if _, err := mail.ParseAddress(vs[0]); err != nil {
				return nil, smtpURLError("invalid from address")
			}
			s.from = strings.TrimSpace(vs[0])
		case "tls":
			for _, v := range strings.Split(strings.Join(vs, ","), ",") {
				switch strings.TrimSpace(v) {
				case "required":
					s.tlsRequired = true
				case "skip-verify":
					s.skipVerify = true
				default:
					return nil, smtpURLError("unknown tls value (use required, skip-verify or both)")
				}
			}
		default:
			return nil, smtpURLError("unknown query parameter (known: from, tls)")
		}
	}
	return s, nil
}

func smtpURLError(problem string) error { return errors.New("invalid SMTP URL: " + problem) }

// describeURLError names what url.Parse disliked without its text, which
// quotes the input.
func describeURLError(err error) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	switch {
	case strings.HasPrefix(msg, "invalid port"):
		return "invalid port (percent-encode special characters in the user name and password)"
	case strings.Contains(msg, "invalid userinfo"):
		return "the user name or password has characters that must be percent-encoded"
	case strings.HasPrefix(msg, "invalid URL escape"):
		return "bad percent-encoding"
	case strings.Contains(msg, "control character"):
		return "control characters are not allowed"
	case strings.Contains(msg, "missing protocol scheme"), strings.Contains(msg, "first path segment in URL cannot contain colon"):
		return "missing scheme: use smtp:// or smtps://"
	case strings.Contains(msg, "host"):
		return "invalid host"
	}
	return "malformed URL"
}

// DefaultFrom is the URL's from parameter, or "".
func (s *SMTP) DefaultFrom() string { return s.from }

// implicitTLSAuth is the order of preference among the mechanisms a server
// offers over implicit TLS (go-mail's own order for encrypted connections).
var implicitTLSAuth = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1PLUS,
	gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
}

// Send delivers m as multipart/alternative (text, then HTML) with Date,
// Message-ID and MIME-encoded non-ASCII headers. It opens a connection, uses
// STARTTLS as configured, authenticates when the URL has a user (PLAIN and
// LOGIN only over TLS), and gives up when ctx ends or the timeout passes.
// Errors are *SendError: a 4xx reply, a lost connection or a timeout is
// Temporary; a 5xx reply (bad credentials included), a certificate that does
// not verify, or missing STARTTLS under tls=required is not.
func (s *SMTP) Send(ctx context.Context, m Email) error {
	fromStr := m.From
	if fromStr == "" {
		fromStr = s.from
	}
	if fromStr == "" {
		return &SendError{Message: "SMTP: no sender address (set from in the SMTP URL)"}
	}
	from, err := mail.ParseAddress(fromStr)
	if err != nil {
		return &SendError{Message: "SMTP: invalid sender address"}
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return &SendError{Message: "SMTP: invalid recipient address"}
	}
	if strings.ContainsAny(from.Address, "\r\n") || strings.ContainsAny(to.Address, "\r\n") {
		return &SendError{Message: "SMTP: a line break in an address"} // commands are lines
	}
	msg := s.message(from, to, m)

	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		return &SendError{Temporary: true, Message: "SMTP: timeout"}
	}
	deadline := time.Now().Add(timeout)
	// A kept connection first: if the server closed it meanwhile, or
	// closes it now (421), the message goes on a new one (nothing was
	// accepted on the old one). Any other reply is the server's answer to
	// the message itself.
	if c := s.idle(); c != nil {
		sent, err := c.send(ctx, deadline, from.Address, to.Address, msg)
		if err == nil {
			s.keep(c)
			return nil
		}
		c.close()
		var reply *textproto.Error
		if sent || ctx.Err() != nil || errors.As(err, &reply) && reply.Code != 421 {
			return s.sendError(ctx, err)
		}
	}
	c, err := s.dial(ctx, timeout)
	if err != nil {
		return err
	}
	if _, err := c.send(ctx, deadline, from.Address, to.Address, msg); err != nil {
		c.close()
		return s.sendError(ctx, err)
	}
	s.keep(c)
	return nil
}

// Connections are kept between messages: up to MaxIdleSMTP per server, for
// at most IdleSMTP each (servers drop idle sessions after a minute or more).
const (
	MaxIdleSMTP = 32
	IdleSMTP    = 30 * time.Second
)

// smtpConn is an open, authenticated SMTP session.
type smtpConn struct {
	c          *gosmtp.Client
	raw        net.Conn  // the TCP connection under any TLS, for deadlines and cancellation
	used       time.Time // when it was last put back
	pipelining bool      // the server offers PIPELINING
	mailCmd    string    // MAIL FROM:<%s> and the parameters the server's extensions call for
}

// send sends one message; sent reports whether the server may have taken
// it (DATA begun), after which it must not be sent again on another
// connection.
func (c *smtpConn) send(ctx context.Context, deadline time.Time, from, to string, msg *gomail.Msg) (sent bool, err error) {
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer stop()
	_ = c.raw.SetDeadline(deadline)
	// A kept session is only one whose last transaction ended with its
	// data accepted, which ends the transaction (RFC 5321 §4.1.1.4): MAIL
	// starts the next one, no RSET needed. MAIL is also what finds a
	// session the server dropped, before any data.
	if c.pipelining {
		sent, err = c.sendPipelined(from, to, msg)
	} else {
		sent, err = c.sendInTurn(from, to, msg)
	}
	if err != nil {
		return sent, err
	}
	_ = c.raw.SetDeadline(time.Time{})
	return true, nil
}

// sendInTurn waits for each command's reply before the next.
func (c *smtpConn) sendInTurn(from, to string, msg *gomail.Msg) (sent bool, err error) {
	if err := c.c.Mail("<" + from + ">"); err != nil {
		return false, err
	}
	if err := c.c.Rcpt("<" + to + ">"); err != nil {
		return false, err
	}
	w, err := c.c.Data()
	if err != nil {
		return false, err
	}
	if _, err := msg.WriteTo(w); err != nil {
		w.Close()
		return true, err
	}
	return true, w.Close()
}

// sendPipelined sends MAIL, RCPT and DATA in one write to a server that
// offers PIPELINING (RFC 2920), then reads their three replies in order:
// two round trips a message instead of four.
func (c *smtpConn) sendPipelined(from, to string, msg *gomail.Msg) (sent bool, err error) {
	t := c.c.Text
	fmt.Fprintf(t.W, c.mailCmd+"\r\nRCPT TO:<%s>\r\nDATA\r\n", from, to)
	if err := t.W.Flush(); err != nil {
		return false, err
	}
	var errs [3]error
	for i, code := range []int{250, 25, 354} {
		if _, _, errs[i] = t.ReadResponse(code); errs[i] != nil {
			var reply *textproto.Error
			if !errors.As(errs[i], &reply) {
				// The connection failed: the replies still due will not come.
				return false, cmp.Or(errs[0], errs[1], errs[2])
			}
		}
	}
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		if errs[2] == nil {
			// DATA was accepted without a valid recipient: end it empty
			// (RFC 2920 §3.1); the session is not kept.
			if _, err := t.W.WriteString(".\r\n"); err == nil && t.W.Flush() == nil {
				_, _, _ = t.ReadResponse(250)
			}
		}
		return false, err
	}
	if errs[2] != nil {
		return false, errs[2]
	}
	w := t.DotWriter()
	if _, err := msg.WriteTo(w); err != nil {
		w.Close()
		return true, err
	}
	if err := w.Close(); err != nil {
		return true, err
	}
	_, _, err = t.ReadResponse(250)
	return true, err
}

func (c *smtpConn) close() { c.c.Close() }

// idle takes a kept connection that has not idled too long.
func (s *SMTP) idle() *smtpConn {
	for {
		select {
		case c := <-s.pool:
			if s.now().Sub(c.used) < IdleSMTP {
				return c
			}
			go func() { _ = c.c.Quit(); c.close() }()
		default:
			return nil
		}
	}
}

// keep puts a connection back for the next message, or ends it when
// enough are kept.
func (s *SMTP) keep(c *smtpConn) {
	c.used = s.now()
	select {
	case s.pool <- c:
	default:
		go func() { _ = c.c.Quit(); c.close() }()
	}
}

// Close ends the kept connections (QUIT).
func (s *SMTP) Close() {
	for {
		select {
		case c := <-s.pool:
			_ = c.c.Quit()
			c.close()
		default:
			return
		}
	}
}

// dial opens and authenticates a session (STARTTLS as the URL asks).
func (s *SMTP) dial(ctx context.Context, timeout time.Duration) (*smtpConn, error) {
	tlsConf := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.skipVerify}
	// go-mail bounds the session with its timeout but does not watch the
	// context once connected: the socket is closed when ctx ends, until
	// the session is set up.
	var raw net.Conn
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		raw, stop = c, context.AfterFunc(ctx, func() { c.Close() })
		if !s.implicitTLS {
			return c, nil
		}
		tc := tls.Client(c, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port), gomail.WithTimeout(timeout), gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(tlsConf),
	}
	switch {
	case s.implicitTLS:
		// The dialer already speaks TLS; STARTTLS inside it makes no sense.
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case s.tlsRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
		if s.implicitTLS {
			// go-mail only knows a connection is encrypted when it dialled
			// TLS itself or ran STARTTLS; with our dialer it would refuse
			// PLAIN and LOGIN over implicit TLS. (smtp.PlainAuth still checks
			// that the connection is TLS.)
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(implicitTLSAuth...))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	gc, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, &SendError{Message: "SMTP: " + redact(err.Error(), s.secrets()...)}
	}
	sc, err := gc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, s.sendError(ctx, err)
	}
	c := &smtpConn{c: sc, raw: raw, mailCmd: "MAIL FROM:<%s>"}
	c.pipelining, _ = sc.Extension("PIPELINING")
	// The parameters go-mail's Mail adds, for the pipelined MAIL, with the
	// options this client uses: no DSN (RET=, NOTIFY=) and SMTPUTF8 not
	// skipped. Enabling either in dial means adding it here too.
	if ok, _ := sc.Extension("8BITMIME"); ok {
		c.mailCmd += " BODY=8BITMIME"
	}
	if ok, _ := sc.Extension("SMTPUTF8"); ok {
		c.mailCmd += " SMTPUTF8"
	}
	return c, nil
}

// message builds the MIME message.
func (s *SMTP) message(from, to *mail.Address, m Email) *gomail.Msg {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	msg.Subject(strings.Join(strings.Fields(m.Subject), " ")) // one line: no header injection
	msg.SetDateWithValue(s.now())
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	// One message, one Message-ID however often it is sent: a resend after
	// a crash can be recognised as a duplicate.
	id := m.ID
	if id == "" || !messageIDPart(id) {
		id = secret.Hex(16)
	}
	msg.SetMessageIDWithValue(id + "@" + domain)
	switch {
	case m.HTML == "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	case m.Text == "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg
}

// messageIDPart reports whether s can be the left part of a Message-ID
// (letters, digits and -_.).
func messageIDPart(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return len(s) <= 128
}

// secrets are the strings no error may show: the password, and the AUTH
// PLAIN and LOGIN encodings a server might echo.
func (s *SMTP) secrets() []string {
	if s.pass == "" {
		return nil
	}
	return []string{
		s.pass,
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.pass)),
		base64.StdEncoding.EncodeToString([]byte(s.pass)),
	}
}

// printable turns control characters into spaces.
func printable(r rune) rune {
	if unicode.IsPrint(r) {
		return r
	}
	return ' '
}

// sendError classifies an SMTP failure.
func (s *SMTP) sendError(ctx context.Context, err error) *SendError {
	sec := s.secrets()
	var reply *textproto.Error
	if errors.As(err, &reply) {
		// "<code> <text>", multi-line replies on one line. (textproto's
		// Error() quotes the text since Go 1.26.)
		text := strings.Join(strings.Fields(strings.Map(printable, reply.Msg)), " ")
		return &SendError{
			Temporary: reply.Code >= 400 && reply.Code < 500,
			Status:    reply.Code,
			Message:   redact(fmt.Sprintf("%03d %s", reply.Code, text), sec...),
		}
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	switch {
	case errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		return &SendError{Message: "SMTP: the server offers no authentication mechanism fit for this connection (PLAIN and LOGIN need TLS)"}
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invalidErr):
		return &SendError{Message: "SMTP: " + redact(err.Error(), sec...)}
	case ctx.Err() != nil:
		return &SendError{Temporary: true, Message: "SMTP: " + ctx.Err().Error()}
	case isTimeout(err):
		return &SendError{Temporary: true, Message: "SMTP: timeout"}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) {
		return &SendError{Temporary: true, Message: "SMTP: " + redact(err.Error(), sec...)}
	}
	// What is left is configuration: STARTTLS required but not offered, no
	// mechanism fit to authenticate with, a bad address.
	return &SendError{Message: "SMTP: " + redact(err.Error(), sec...)}
}
