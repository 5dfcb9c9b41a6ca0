// Package sso keeps the browser side of logins: login sessions (the cookie
// that lets a second /authorize finish without a new code), hosted-login
// transactions (an authorization request waiting on the login page) and
// login tickets (the single-use proof /co/authenticate hands to
// /authorize). Each is a short-lived store record named by the keyed hash
// of a random token, so a node keeps nothing a sibling needs. No net/http.
package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Record kinds.
const (
	KindSession     = "session"
	KindTransaction = "transaction"
	KindTicket      = "login_ticket"
)

// Lifetimes.
const (
	SessionLifetime     = 3 * 24 * time.Hour
	TransactionLifetime = time.Hour
	TicketLifetime      = 2 * time.Minute
)

// ErrNotFound: no live record of that token.
var ErrNotFound = errors.New("sso: not found or expired")

// Store is the storage sso uses.
type Store interface {
	PutEphemeral(ctx context.Context, e store.Ephemeral) error
	GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
	TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
	DeleteEphemeral(ctx context.Context, kind string, hash []byte) error
}

// Manager creates and finds sessions, transactions and tickets.
type Manager struct {
	st   Store
	keys *secret.Keys
	now  func() time.Time
}

// New returns a Manager.
func New(st Store, keys *secret.Keys, now func() time.Time) *Manager {
	return &Manager{st: st, keys: keys, now: now}
}

func (m *Manager) hash(kind, token string) []byte { return m.keys.Hash("sso", kind, token) }

// put stores v under a new random token and returns the token.
func (m *Manager) put(ctx context.Context, kind, clientID, subject string, lifetime time.Duration, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sso: encode %s: %w", kind, err)
	}
	tok := secret.Token(24)
	now := m.now()
	if err := m.st.PutEphemeral(ctx, store.Ephemeral{Kind: kind, Hash: m.hash(kind, tok), ClientID: clientID, Subject: subject,
		Data: data, CreatedAt: now, ExpiresAt: now.Add(lifetime)}); err != nil {
		return "", fmt.Errorf("sso: store %s: %w", kind, err)
	}
	return tok, nil
}

// get reads (or, with take, consumes) the record of token into v.
func (m *Manager) get(ctx context.Context, kind, token string, take bool, v any) (store.Ephemeral, error) {
	if token == "" || len(token) > 256 {
		return store.Ephemeral{}, ErrNotFound
	}
	read := m.st.GetEphemeral
	if take {
		read = m.st.TakeEphemeral
	}
	e, err := read(ctx, kind, m.hash(kind, token), m.now())
	if errors.Is(err, store.ErrNotFound) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("sso: read %s: %w", kind, err)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return e, fmt.Errorf("sso: decode %s: %w", kind, err)
	}
	return e, nil
}

// Session is a logged-in browser.
type Session struct {
	UserID     string    `json:"user_id"`
	Connection string    `json:"connection"`
	AuthTime   time.Time `json:"auth_time"`
}

// NewSession starts a session and returns the cookie value naming it.
func (m *Manager) NewSession(ctx context.Context, s Session) (string, error) {
	return m.put(ctx, KindSession, "", s.UserID, SessionLifetime, s)
}

// Session returns the live session the cookie value names.
func (m *Manager) Session(ctx context.Context, token string) (Session, error) {
	var s Session
	_, err := m.get(ctx, KindSession, token, false, &s)
	return s, err
}

// EndSession ends the session the cookie value names (nil if there is none).
func (m *Manager) EndSession(ctx context.Context, token string) error {
	if token == "" || len(token) > 256 {
		return nil
	}
	return m.st.DeleteEphemeral(ctx, KindSession, m.hash(KindSession, token))
}

// Transaction is an authorization request waiting on the hosted login page.
// Its token is the state the page forwards (config.internalOptions.state).
type Transaction struct {
	Request oauth.AuthorizeRequest `json:"request"`
	// CSRF is the page's _csrf; Browser the keyed hash of the browser
	// cookie of the browser that opened it.
	CSRF    string `json:"csrf"`
	Browser []byte `json:"browser"`
	// UILocales is the request's ui_locales: the languages the hosted
	// page should speak, in order of preference.
	UILocales string `json:"ui_locales,omitempty"`
}

// NewTransaction stores the authorization request r (with its ui_locales)
// for the browser whose cookie value is browser, and returns the state
// naming it.
func (m *Manager) NewTransaction(ctx context.Context, r oauth.AuthorizeRequest, uiLocales, browser string) (string, Transaction, error) {
	t := Transaction{Request: r, CSRF: secret.Token(18), Browser: m.hash("browser", browser), UILocales: uiLocales}
	state, err := m.put(ctx, KindTransaction, r.ClientID, "", TransactionLifetime, t)
	return state, t, err
}

// Transaction returns the live transaction state names.
func (m *Manager) Transaction(ctx context.Context, state string) (Transaction, error) {
	var t Transaction
	_, err := m.get(ctx, KindTransaction, state, false, &t)
	return t, err
}

// EndTransaction consumes the transaction: of concurrent completions of one
// transaction exactly one gets it.
func (m *Manager) EndTransaction(ctx context.Context, state string) (Transaction, error) {
	var t Transaction
	_, err := m.get(ctx, KindTransaction, state, true, &t)
	return t, err
}

// FromBrowser reports whether the browser cookie value is the one that
// opened the transaction.
func (m *Manager) FromBrowser(t Transaction, browser string) bool {
	return browser != "" && secret.Equal(t.Browser, m.hash("browser", browser))
}

// LiveTransaction reports whether state names a live transaction of the
// client (the hosted page's proof on /passwordless/start, §3.1), and, when
// csrf is given, whether it is the transaction's.
func (m *Manager) LiveTransaction(ctx context.Context, clientID, state, csrf string) bool {
	t, err := m.Transaction(ctx, state)
	if err != nil || t.Request.ClientID != clientID {
		return false
	}
	return csrf == "" || secret.Equal([]byte(csrf), []byte(t.CSRF))
}

// Ticket is what a login ticket proves: this user logged in with a code,
// through this client, from this origin.
type Ticket struct {
	ClientID   string    `json:"client_id"`
	Origin     string    `json:"origin"`
	UserID     string    `json:"user_id"`
	Connection string    `json:"connection"`
	AuthTime   time.Time `json:"auth_time"`
	// Browser is the keyed hash of the cookie /co/authenticate set in the
	// browser that called it: only that browser can use the ticket.
	Browser []byte `json:"browser"`
	// COID names the ticket to the application's cross-origin verification
	// page, which keeps the verifier (auth0.js, under co/verifier/<domain>/
	// <co_id>); Verifier is the verifier's keyed hash.
	COID     string `json:"co_id,omitempty"`
	Verifier []byte `json:"co_verifier,omitempty"`
}

// NewTicket issues a login ticket for the browser whose cookie value is
// browser and whose application keeps verifier.
func (m *Manager) NewTicket(ctx context.Context, t Ticket, browser, verifier string) (string, error) {
	t.Browser = m.hash("ticket-browser", browser)
	t.Verifier = m.hash("ticket-verifier", verifier)
	return m.put(ctx, KindTicket, t.ClientID, t.UserID, TicketLifetime, t)
}

// TicketFromBrowser reports whether the cookie value is the one of the
// browser the ticket was issued to.
func (m *Manager) TicketFromBrowser(t Ticket, browser string) bool {
	return browser != "" && secret.Equal(t.Browser, m.hash("ticket-browser", browser))
}

// TicketVerified reports whether verifier is the co_verifier issued with
// the ticket.
func (m *Manager) TicketVerified(t Ticket, verifier string) bool {
	return verifier != "" && len(t.Verifier) > 0 && secret.Equal(t.Verifier, m.hash("ticket-verifier", verifier))
}

// PeekTicket reads a login ticket without consuming it.
func (m *Manager) PeekTicket(ctx context.Context, ticket string) (Ticket, error) {
	var t Ticket
	_, err := m.get(ctx, KindTicket, ticket, false, &t)
	return t, err
}

// TakeTicket consumes a login ticket: it works once.
func (m *Manager) TakeTicket(ctx context.Context, ticket string) (Ticket, error) {
	var t Ticket
	_, err := m.get(ctx, KindTicket, ticket, true, &t)
	return t, err
}
