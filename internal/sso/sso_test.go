package sso

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeStore keeps ephemeral records as the storage contract describes
// them: by kind and hash, live until their expiry, taken at most once.
type fakeStore struct {
	mu    sync.Mutex
	recs  map[string]store.Ephemeral
	reads int
	err   error // every call fails with it when set
}

func newFakeStore() *fakeStore { return &fakeStore{recs: map[string]store.Ephemeral{}} }

func recKey(kind string, hash []byte) string { return kind + "/" + hex.EncodeToString(hash) }

func (s *fakeStore) PutEphemeral(_ context.Context, e store.Ephemeral) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.recs[recKey(e.Kind, e.Hash)]; ok {
		return store.ErrConflict
	}
	s.recs[recKey(e.Kind, e.Hash)] = e
	return nil
}

func (s *fakeStore) read(kind string, hash []byte, now time.Time, take bool) (store.Ephemeral, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return store.Ephemeral{}, s.err
	}
	e, ok := s.recs[recKey(kind, hash)]
	if !ok || !now.Before(e.ExpiresAt) {
		return store.Ephemeral{}, store.ErrNotFound
	}
	if take {
		delete(s.recs, recKey(kind, hash))
	}
	return e, nil
}

func (s *fakeStore) GetEphemeral(_ context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	return s.read(kind, hash, now, false)
}

func (s *fakeStore) TakeEphemeral(_ context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	return s.read(kind, hash, now, true)
}

func (s *fakeStore) DeleteEphemeral(_ context.Context, kind string, hash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	delete(s.recs, recKey(kind, hash))
	return nil
}

// only returns the one record of kind.
func (s *fakeStore) only(t *testing.T, kind string) store.Ephemeral {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Ephemeral
	for _, e := range s.recs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d records of kind %s, want 1", len(out), kind)
	}
	return out[0]
}

type fixture struct {
	m   *Manager
	st  *fakeStore
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := secret.New(bytes.Repeat([]byte{3}, secret.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: newFakeStore(), now: t0}
	f.m = New(f.st, keys, func() time.Time { return f.now })
	return f
}

// checkRecord: a record is named by the keyed hash of its token, never the
// token, and the token is nowhere in what is stored.
func checkRecord(t *testing.T, e store.Ephemeral, token string, lifetime time.Duration) {
	t.Helper()
	if len(token) < 32 {
		t.Errorf("token %q is short", token)
	}
	if bytes.Contains(e.Hash, []byte(token)) || bytes.Contains(e.Data, []byte(token)) || len(e.Hash) < 32 {
		t.Errorf("the token is stored in the clear, or the hash is short: %+v", e)
	}
	if !e.CreatedAt.Equal(t0) || !e.ExpiresAt.Equal(t0.Add(lifetime)) {
		t.Errorf("record lives %v..%v, want %v..%v", e.CreatedAt, e.ExpiresAt, t0, t0.Add(lifetime))
	}
}

// TestSessions: a session is found by its cookie value until it expires or
// ends; malformed values find nothing without reaching the store.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := Session{UserID: "email|0123456789abcdef01234567", Connection: "email", AuthTime: t0.Add(-time.Minute)}
	tok, err := f.m.NewSession(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	e := f.st.only(t, KindSession)
	checkRecord(t, e, tok, SessionLifetime)
	if e.Subject != s.UserID || e.ClientID != "" {
		t.Errorf("session record %+v", e)
	}
	other, err := f.m.NewSession(ctx, s)
	if err != nil || other == tok {
		t.Fatalf("a second session: %q %v (first %q)", other, err, tok)
	}

	steps := []struct {
		name    string
		advance time.Duration
		token   string
		want    error
	}{
		{"live", 0, tok, nil},
		{"again (sessions are not single use)", 0, tok, nil},
		{"unknown token", 0, otherToken(tok), ErrNotFound},
		{"just before expiry", SessionLifetime - time.Second, tok, nil},
		{"expired", time.Second, tok, ErrNotFound},
	}
	for _, st := range steps {
		f.now = f.now.Add(st.advance)
		got, err := f.m.Session(ctx, st.token)
		if !errors.Is(err, st.want) || (st.want == nil && (got.UserID != s.UserID || got.Connection != "email" || !got.AuthTime.Equal(s.AuthTime))) {
			t.Fatalf("%s: %+v %v, want %v", st.name, got, err, st.want)
		}
	}

	// Ending one session leaves the other.
	f.now = t0
	if err := f.m.EndSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Session(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("ended session: %v", err)
	}
	if _, err := f.m.Session(ctx, other); err != nil {
		t.Errorf("the other session: %v", err)
	}

	reads := f.st.reads
	for _, bad := range []string{"", strings.Repeat("a", 257)} {
		if _, err := f.m.Session(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Session(%d bytes): %v", len(bad), err)
		}
		if err := f.m.EndSession(ctx, bad); err != nil {
			t.Errorf("EndSession(%d bytes): %v", len(bad), err)
		}
	}
	if f.st.reads != reads {
		t.Errorf("malformed tokens reached the store")
	}
}

// TestTransactions: a hosted-login transaction is found by its state until
// it expires, bound to the browser that opened it and to its client and
// CSRF token, and completed once.
func TestTransactions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	req := oauth.AuthorizeRequest{ClientID: "app1", RedirectURI: "https://app.example.com/cb", State: "app-state"}
	state, tx, err := f.m.NewTransaction(ctx, req, "de fr", "browser-cookie-1")
	if err != nil {
		t.Fatal(err)
	}
	e := f.st.only(t, KindTransaction)
	checkRecord(t, e, state, TransactionLifetime)
	if e.ClientID != "app1" || len(tx.CSRF) < 20 || bytes.Contains(e.Data, []byte("browser-cookie-1")) {
		t.Errorf("transaction %+v record %+v", tx, e)
	}

	got, err := f.m.Transaction(ctx, state)
	if err != nil || got.Request.ClientID != "app1" || got.Request.RedirectURI != req.RedirectURI || got.Request.State != "app-state" || got.CSRF != tx.CSRF ||
		got.UILocales != "de fr" {
		t.Fatalf("Transaction: %+v %v", got, err)
	}
	for browser, want := range map[string]bool{"browser-cookie-1": true, "browser-cookie-2": false, "": false} {
		if f.m.FromBrowser(got, browser) != want {
			t.Errorf("FromBrowser(%q) = %v", browser, !want)
		}
	}
	// A transaction opened without a browser cookie is no browser's: an
	// empty cookie does not match its empty one.
	_, cookieless, err := f.m.NewTransaction(ctx, req, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.m.FromBrowser(cookieless, "") {
		t.Errorf("FromBrowser(\"\") of a transaction opened without a cookie = true")
	}
	// A ticket's browser binding is another key's: it does not pass for the transaction's.
	if f.m.TicketFromBrowser(Ticket{Browser: got.Browser}, "browser-cookie-1") {
		t.Errorf("the transaction's browser hash passes as a ticket's")
	}

	live := []struct {
		name             string
		client, st, csrf string
		advance          time.Duration
		want             bool
	}{
		{"right client, no csrf", "app1", state, "", 0, true},
		{"right client and csrf", "app1", state, tx.CSRF, 0, true},
		{"wrong csrf", "app1", state, tx.CSRF + "x", 0, false},
		{"other client", "app2", state, "", 0, false},
		{"unknown state", "app1", "nope", "", 0, false},
		{"before expiry", "app1", state, tx.CSRF, TransactionLifetime - time.Second, true},
		{"expired", "app1", state, tx.CSRF, time.Second, false},
	}
	for _, l := range live {
		f.now = f.now.Add(l.advance)
		if got := f.m.LiveTransaction(ctx, l.client, l.st, l.csrf); got != l.want {
			t.Errorf("LiveTransaction %s = %v", l.name, got)
		}
	}
	if _, err := f.m.EndTransaction(ctx, state); !errors.Is(err, ErrNotFound) {
		t.Errorf("EndTransaction after expiry: %v", err)
	}
}

// TestEndTransactionOnce: of concurrent completions of one transaction
// exactly one gets it.
func TestEndTransactionOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	state, _, err := f.m.NewTransaction(ctx, oauth.AuthorizeRequest{ClientID: "app1"}, "", "b")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			tx, err := f.m.EndTransaction(ctx, state)
			if err == nil && tx.Request.ClientID != "app1" {
				err = errors.New("wrong transaction")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("EndTransaction: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d completions won, want 1", won)
	}
	if _, err := f.m.Transaction(ctx, state); !errors.Is(err, ErrNotFound) {
		t.Errorf("completed transaction still found: %v", err)
	}
}

// TestTickets: a login ticket works once, within its two minutes, from the
// browser it was issued to; it is not a session or a transaction.
func TestTickets(t *testing.T) {
	ctx := context.Background()
	tk := Ticket{ClientID: "app1", Origin: "https://app.example.com", UserID: "email|0123456789abcdef01234567", Connection: "email", AuthTime: t0}
	issue := func(t *testing.T, f *fixture) string {
		t.Helper()
		tok, err := f.m.NewTicket(ctx, tk, "co-cookie", "co-verifier")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("single use", func(t *testing.T) {
		f := newFixture(t)
		tok := issue(t, f)
		e := f.st.only(t, KindTicket)
		checkRecord(t, e, tok, TicketLifetime)
		if e.ClientID != "app1" || e.Subject != tk.UserID || bytes.Contains(e.Data, []byte("co-cookie")) || bytes.Contains(e.Data, []byte("co-verifier")) {
			t.Errorf("ticket record %+v", e)
		}
		got, err := f.m.TakeTicket(ctx, tok)
		if err != nil || got.ClientID != "app1" || got.Origin != tk.Origin || got.UserID != tk.UserID || got.Connection != "email" || !got.AuthTime.Equal(t0) {
			t.Fatalf("TakeTicket: %+v %v", got, err)
		}
		if _, err := f.m.TakeTicket(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("second use: %v", err)
		}
	})
	t.Run("bound to the browser", func(t *testing.T) {
		f := newFixture(t)
		cookieless, err := f.m.NewTicket(ctx, tk, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.m.TakeTicket(ctx, cookieless); err != nil || f.m.TicketFromBrowser(got, "") {
			t.Errorf("a ticket issued without a cookie passes for a browser without one (%v)", err)
		}
		got, err := f.m.TakeTicket(ctx, issue(t, f))
		if err != nil {
			t.Fatal(err)
		}
		for browser, want := range map[string]bool{"co-cookie": true, "another": false, "": false} {
			if f.m.TicketFromBrowser(got, browser) != want {
				t.Errorf("TicketFromBrowser(%q) = %v", browser, !want)
			}
		}
		if f.m.FromBrowser(Transaction{Browser: got.Browser}, "co-cookie") {
			t.Errorf("the ticket's browser hash passes as a transaction's")
		}
	})
	t.Run("co_verifier", func(t *testing.T) {
		f := newFixture(t)
		tok := issue(t, f)
		peeked, err := f.m.PeekTicket(ctx, tok)
		if err != nil || peeked.UserID != tk.UserID {
			t.Fatalf("PeekTicket: %+v %v", peeked, err)
		}
		got, err := f.m.TakeTicket(ctx, tok) // a peek leaves the ticket
		if err != nil {
			t.Fatalf("TakeTicket after a peek: %v", err)
		}
		for verifier, want := range map[string]bool{"co-verifier": true, "co-cookie": false, "another": false, "": false} {
			if f.m.TicketVerified(got, verifier) != want {
				t.Errorf("TicketVerified(%q) = %v", verifier, !want)
			}
		}
		if f.m.TicketVerified(Ticket{}, "co-verifier") {
			t.Errorf("a ticket without a verifier passes")
		}
		if _, err := f.m.PeekTicket(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("peek at a used ticket: %v", err)
		}
	})
	for _, tt := range []struct {
		name    string
		advance time.Duration
		want    error
	}{
		{"just before expiry", TicketLifetime - time.Millisecond, nil},
		{"expired", TicketLifetime, ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tok := issue(t, f)
			f.now = f.now.Add(tt.advance)
			if _, err := f.m.TakeTicket(ctx, tok); !errors.Is(err, tt.want) {
				t.Errorf("TakeTicket: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("kinds do not mix", func(t *testing.T) {
		f := newFixture(t)
		tok := issue(t, f)
		if _, err := f.m.Session(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("a ticket as a session: %v", err)
		}
		if _, err := f.m.Transaction(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("a ticket as a transaction: %v", err)
		}
		sess, err := f.m.NewSession(ctx, Session{UserID: tk.UserID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.TakeTicket(ctx, sess); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session as a ticket: %v", err)
		}
		if _, err := f.m.TakeTicket(ctx, tok); err != nil {
			t.Errorf("the ticket after the mix-ups: %v", err)
		}
	})
}

// TestStoreErrors: a failing store is an error of its own, never
// ErrNotFound (which would read as "log in again").
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tok, err := f.m.NewSession(ctx, Session{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	f.st.err = errors.New("database is locked")
	if _, err := f.m.Session(ctx, tok); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Session with the store down: %v", err)
	}
	if _, err := f.m.NewSession(ctx, Session{UserID: "u"}); err == nil {
		t.Errorf("NewSession with the store down: no error")
	}
	if _, err := f.m.TakeTicket(ctx, tok); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("TakeTicket with the store down: %v", err)
	}
	if f.m.LiveTransaction(ctx, "app1", tok, "") {
		t.Errorf("LiveTransaction with the store down: true")
	}
}

// otherToken is tok with its first character changed: a token that is
// surely not tok ("x"+tok[1:] was tok itself when tok began with x).
func otherToken(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
