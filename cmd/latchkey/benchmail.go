package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// defaultCodePattern finds the code in Latchkey's built-in message ("Your
// verification code for … is: 123456") and in most templates.
const defaultCodePattern = `(?i)code[^0-9]{0,60}([0-9]{4,10})`

// mailbox is the load driver's own SMTP server (bench --smtp-listen): the
// server under test delivers to it, as to a real mail server, and each
// login waits for its message and reads the code from it, as a user would.
type mailbox struct {
	pattern *regexp.Regexp
	srv     *smtp.Server
	ln      *cutListener

	mu      sync.Mutex
	waiting map[string]chan arrival
}

// arrival is a code read from a message, and when the message arrived.
type arrival struct {
	code string
	at   time.Time
	err  error
}

// startMailbox listens on addr and serves SMTP until close.
func startMailbox(addr string, pattern *regexp.Regexp) (*mailbox, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--smtp-listen: %w", err)
	}
	m := &mailbox{pattern: pattern, ln: &cutListener{Listener: ln, conns: map[net.Conn]bool{}}, waiting: map[string]chan arrival{}}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }))
	m.srv.Domain = "bench.latchkey.invalid"
	m.srv.MaxMessageBytes = 1 << 20
	m.srv.MaxRecipients = 10
	m.srv.ReadTimeout, m.srv.WriteTimeout = time.Minute, time.Minute
	m.srv.AllowInsecureAuth = true
	go func() { _ = m.srv.Serve(m.ln) }()
	return m, nil
}

// close stops accepting connections and cuts those open, which the server
// under test keeps for its next messages. (go-smtp's own Close clears each
// session while its connection may still be handling a command, which
// then panics; a cut connection ends its handler with a read error.)
func (m *mailbox) close() { m.ln.cut() }

// cutListener remembers the connections it accepted and still open, so
// as to cut them.
type cutListener struct {
	net.Listener
	mu    sync.Mutex
	cuts  bool // cut: any connection accepted since is closed at once
	conns map[net.Conn]bool
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cuts {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = true
	return tc, nil
}

// cut closes the listener and every connection it accepted.
func (l *cutListener) cut() {
	_ = l.Listener.Close()
	l.mu.Lock()
	l.cuts = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// trackedConn leaves its listener's set when closed.
type trackedConn struct {
	net.Conn
	l *cutListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// expect registers a login waiting for a message to email.
func (m *mailbox) expect(email string) chan arrival {
	ch := make(chan arrival, 1)
	m.mu.Lock()
	m.waiting[strings.ToLower(email)] = ch
	m.mu.Unlock()
	return ch
}

// forget drops a registration (the login gave up).
func (m *mailbox) forget(email string) {
	m.mu.Lock()
	delete(m.waiting, strings.ToLower(email))
	m.mu.Unlock()
}

// deliver hands a message's code to the login waiting for rcpt.
func (m *mailbox) deliver(rcpt string, a arrival) {
	m.mu.Lock()
	ch, ok := m.waiting[strings.ToLower(rcpt)]
	delete(m.waiting, strings.ToLower(rcpt))
	m.mu.Unlock()
	if ok {
		ch <- a
	}
}

// mailSession is one SMTP session.
type mailSession struct {
	m    *mailbox
	rcpt []string
}

func (s *mailSession) Reset()                                    { s.rcpt = nil }
func (s *mailSession) Logout() error                             { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailSession) AuthPlain(username, password string) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	at := time.Now()
	if err != nil {
		return err
	}
	code, cerr := messageCode(raw, s.m.pattern)
	for _, to := range s.rcpt {
		s.m.deliver(to, arrival{code: code, at: at, err: cerr})
	}
	return nil
}

// messageCode reads the text of a message (its text/plain part, else its
// HTML, decoded) and returns the first match of pattern's first group.
func messageCode(raw []byte, pattern *regexp.Regexp) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("message: %w", err)
	}
	texts, err := partTexts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	if err != nil {
		return "", err
	}
	for _, t := range texts {
		if m := pattern.FindStringSubmatch(t); len(m) > 1 {
			return m[1], nil
		}
	}
	return "", errors.New("message: no code found (see --code-pattern)")
}

// partTexts decodes the text parts of a MIME body, text/plain first.
func partTexts(ctype, cte string, body io.Reader, depth int) ([]string, error) {
	if depth > 5 {
		return nil, errors.New("message: MIME parts nested too deep")
	}
	media, params, err := mime.ParseMediaType(ctype)
	if ctype == "" {
		media, err = "text/plain", nil
	}
	if err != nil {
		return nil, fmt.Errorf("message: Content-Type: %w", err)
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var plain, other []string
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("message: %w", err)
			}
			ts, err := partTexts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				plain = append(plain, ts...)
			} else {
				other = append(other, ts...)
			}
		}
		return append(plain, other...), nil
	}
	if !strings.HasPrefix(media, "text/") {
		return nil, nil
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return []string{string(b)}, nil
}
