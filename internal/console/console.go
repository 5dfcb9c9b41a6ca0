// Package console is the operator console at /admin/: server-rendered
// pages (html/template, embedded assets, a little progressive-enhancement
// JavaScript) for the tenant's migration, logs, applications, connections,
// users, attack protection, settings and signing keys. Members sign in with
// Latchkey's own hosted page through the built-in console application;
// every change goes through the Management API's handlers in process, as the
// member, so it is checked and logged (sapi/fapi) as any API call is.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Timeouts of a console session.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	// FreshFor is how long a sign-in counts as fresh for dangerous
	// actions (enforcement on, rotations, revocations, deletions).
	FreshFor = 10 * time.Minute
)

// SessionStore keeps console sessions and sign-in transactions.
type SessionStore interface {
	PutEphemeral(ctx context.Context, e store.Ephemeral) error
	GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
	TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error)
	DeleteEphemeral(ctx context.Context, kind string, hash []byte) error
}

// Settings reads the tenant settings (the member list).
type Settings interface {
	Settings(ctx context.Context) (store.TenantSettings, error)
}

// Deps are what the console works with.
type Deps struct {
	Log    *slog.Logger
	Issuer string // with its trailing slash
	// Mgmt is the Management API's handler; Auth the Authentication API's
	// (the sign-in's code exchange is made on it in process).
	Mgmt http.Handler
	Auth http.Handler
	// Verify checks a token signed by this server and returns its payload.
	Verify   func(token string) ([]byte, error)
	Store    SessionStore
	Settings Settings
	// Scopes are every Management API scope (an owner's).
	Scopes []string
	Keys   *secret.Keys
	Now    func() time.Time
	// Sender sends the connections page's test messages; nil: the page
	// offers none.
	Sender Sender
}

// Sender sends a test message at once through the server's delivery
// transport (SMTP and the SMS providers, or the dev capture), rendered as
// the outbox renders a login's message: with the stored connection's
// settings (its provider credentials, which the console never sees) and
// the templates given (email nil: the built-in message; sms "": the
// built-in text). An error is the transport's, for the member to see.
type Sender interface {
	SendTest(ctx context.Context, n delivery.Notification, connection string, email *store.EmailTemplate, sms string) error
}

// Console serves /admin/.
type Console struct {
	d     Deps
	pages *template.Template
	mux   *http.ServeMux
	done  chan struct{} // closed by Close: long-lived streams end
	close sync.Once
}

// Close ends the console's long-lived streams (the logs' live tail), so
// that a graceful shutdown need not wait for them.
func (c *Console) Close() { c.close.Do(func() { close(c.done) }) }

// New returns the console.
func New(d Deps) *Console {
	c := &Console{d: d, done: make(chan struct{}), pages: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))}
	c.mux = http.NewServeMux()
	c.routes()
	return c
}

// ServeHTTP serves everything under /admin/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin: the console's own form posts carry their Origin (which
	// checkCSRF compares), and nothing leaks to other sites.
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func assetsFS() fs.FS {
	sub, err := fs.Sub(assetFiles, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
