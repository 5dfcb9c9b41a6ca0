// Package server is the composition root: it opens the store, derives the
// keys, builds the services and handlers, and runs the HTTP server.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/internal/authapi"
	"github.com/latchkey/latchkey/internal/buildinfo"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/console"
	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/ops"
	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/sso"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/tenant"
)

// DevSender is the sender of the emails --dev captures (templates may
// name another).
const DevSender = "Latchkey <login@latchkey.localhost>"

// MaxBodyBytes caps request bodies.
const MaxBodyBytes = 64 << 10

// Server is a configured Latchkey node.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	Store   store.Store
	Keys    *secret.Keys
	Signing *oauth.KeyManager
	// ConsoleOwner is the console owner named at start ("" for none).
	ConsoleOwner string
	console      *console.Console
	smtp         *delivery.SMTP // nil in --dev
	Dir          *tenant.Directory
	Events       *eventlog.Recorder
	Capture      *delivery.Capture // nil outside --dev
	// Outbox delivers every message (to the capture in --dev); Run runs
	// it, and tests that serve Handler run it themselves.
	Outbox *outbox.Worker
	// DeliveryDesc names the SMTP server (password left out).
	DeliveryDesc string
	// Guard applies rate limits and attack protection; LimiterDesc says
	// where its counters live.
	Guard       *protect.Guard
	LimiterDesc string
	Demo        *DemoClient // nil outside --dev
	// StoreDesc says which store is in use (for the start-up banner).
	StoreDesc string
	// Metrics are the node's metrics, served on the ops listener.
	Metrics  *metrics.Metrics
	core     *core
	handler  http.Handler
	ops      http.Handler
	certPoll time.Duration
	draining atomic.Bool // shutdown has begun: readiness fails
	// releaseNode drops the lock on the node identity (see nodeIdentity).
	releaseNode func()
}

// Options tune New for tests.
type Options struct {
	Now func() time.Time // default time.Now
	// CertPoll is how often the TLS files are checked for a change
	// (default DefaultCertPoll).
	CertPoll time.Duration
}

// DefaultCertPoll is how often Run checks the TLS certificate and key
// files for a change.
const DefaultCertPoll = 10 * time.Second

// OpenStore opens the configured store: PostgreSQL when a database URL is
// set, otherwise SQLite in the data directory.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, string, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, "", err
		}
		return st, "postgres " + redactURL(cfg.DatabaseURL), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create data dir: %w", err)
	}
	path := SQLitePath(cfg)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, "", err
	}
	return st, "sqlite " + path, nil
}

// SQLitePath is the SQLite file of the configuration, or "" when it
// uses PostgreSQL.
func SQLitePath(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "latchkey.db")
}

func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	return s[:scheme+3] + "…" + s[at:]
}

// LoadMasterKey returns the master key: given, from a file, or (in --dev
// only) generated once into the data directory.
func LoadMasterKey(cfg config.Config) ([]byte, error) {
	switch {
	case cfg.MasterKey != "":
		return secret.ParseMasterKey(cfg.MasterKey)
	case cfg.MasterKeyFile != "":
		b, err := os.ReadFile(cfg.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		return secret.ParseMasterKey(string(b))
	case !cfg.Dev:
		return nil, errNoMasterKey
	}
	path := filepath.Join(cfg.DataDir, "master.key")
	if b, err := os.ReadFile(path); err == nil {
		return secret.ParseMasterKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dev master key: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key := secret.RandomBytes(secret.MasterKeySize)
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%x\n", key)), 0o600); err != nil {
		return nil, fmt.Errorf("write dev master key: %w", err)
	}
	return key, nil
}

// New builds a node from a validated configuration.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*Server, error) {
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	master, err := LoadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	c, err := openCore(ctx, cfg, log, master, now, true)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, now: now, core: c, Store: c.store, Keys: c.keys, StoreDesc: c.storeDesc, Signing: c.signing,
		Dir: c.dir, Events: c.events, Metrics: metrics.New(buildinfo.Read()), certPoll: cmp.Or(opt.CertPoll, DefaultCertPoll)}
	st, keys := c.store, c.keys
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	if cfg.Bootstrap != "" {
		if err := s.applyFile(ctx, cfg.Bootstrap); err != nil {
			return nil, err
		}
	}
	if cfg.Dev {
		if s.Demo, err = seedDemo(ctx, st, keys, cfg.DataDir, cfg.Issuer, now); err != nil {
			return nil, fmt.Errorf("seed demo application: %w", err)
		}
		s.Capture = delivery.NewCapture(log, now, 500)
	}
	if s.ConsoleOwner = consoleOwner(cfg); s.ConsoleOwner != "" {
		added, err := ensureOwner(ctx, st, s.ConsoleOwner)
		if err != nil {
			return nil, err
		}
		if added {
			log.Info("console owner added", "email", s.ConsoleOwner)
		}
	}
	host := tenant.Hostname(cfg.Issuer)
	c.redisClock = opt.Now // nil in production: Redis's clock
	lim, rd, limDesc, err := c.limiter()
	if err != nil {
		return nil, err
	}
	s.LimiterDesc = limDesc
	s.Guard = c.guard(lim, s.Metrics)
	// One delivery path: the outbox, whose transport is SMTP and the SMS
	// providers, or in --dev the capture.
	var transport outbox.Transport = s.Capture
	from := DevSender
	if s.Capture == nil {
		smtp, err := delivery.NewSMTP(cfg.SMTPURL, delivery.DefaultSMTPTimeout)
		if err != nil {
			return nil, fmt.Errorf("--smtp-url: %w", err)
		}
		s.smtp = smtp
		// nil clients: the senders' own (30 s timeout, no redirects).
		transport = &delivery.Providers{SMTP: smtp, Twilio: delivery.NewTwilio(cfg.TwilioAPIURL, nil), Gateway: delivery.NewGateway(nil)}
		from = smtp.DefaultFrom()
		if u, err := url.Parse(cfg.SMTPURL); err == nil {
			u.User, u.RawQuery = nil, "" // no credentials in the banner
			s.DeliveryDesc = u.String()
		}
	}
	node, releaseNode := nodeIdentity(cfg, log)
	s.releaseNode = releaseNode
	defer func() {
		if !ok {
			releaseNode()
		}
	}()
	s.Outbox = outbox.NewWorker(outbox.Deps{Store: st, Connections: s.Dir, Transport: transport, Keys: keys, Events: s.Events,
		Metrics: s.Metrics, Log: log, Hostname: host, Now: now, Lease: cfg.OutboxLease, Node: node})
	pl := passwordless.New(passwordless.Deps{Directory: s.Dir, Store: st, Queue: outbox.NewQueue(keys, from, s.Outbox, now),
		Guard: s.Guard, Keys: keys, Issuer: cfg.Issuer, Now: now})
	minter := oauth.NewMinter(cfg.Issuer, s.Signing, keys)
	// One verifier for both endpoints, so that a jti used at one is spent
	// at the other; with Redis, a jti is used once across every node.
	var once oauth.Once
	if rd != nil {
		once = rd
	}
	av := oauth.NewAssertionVerifier(cfg.Issuer, once, now)
	tokens := oauth.NewService(oauth.Deps{Directory: s.Dir, Store: st, Codes: pl, Minter: minter, Seal: keys, Assertions: av, Now: now})
	api := &authapi.API{Log: log, Dir: s.Dir, Start: pl, Tokens: tokens, Authz: tokens, Codes: pl,
		SSO: sso.New(st, keys, now), Users: st, Minter: minter, Keys: s.Signing, Seal: keys, Assertions: av,
		Limits: s.Guard, Events: s.Events, Metrics: s.Metrics, Hostname: host, Now: now}
	mux := http.NewServeMux()
	api.Register(mux)
	mgmt := c.management(s.Guard)
	mgmtHandler := mgmt.Handler()
	mux.Handle("/api/v2/", mgmtHandler)
	// The operator console: its built-in application signs members in
	// through the hosted page; its changes go through the Management API.
	s.Dir.ServeConsole(tenant.ConsoleClient(cfg.Issuer))
	s.console = console.New(console.Deps{Log: log, Issuer: cfg.Issuer, Mgmt: mgmtHandler, Auth: mux,
		Verify: s.Signing.Verify, Store: st, Settings: s.Dir, Scopes: mgmt.Scopes(), Keys: keys, Now: now,
		Sender: testSender{conns: s.Dir, tr: transport, from: from}})
	mux.Handle("/admin/", s.console)
	if s.Capture != nil {
		delivery.RegisterCapture(mux, s.Capture)
		mux.Handle("GET /callback", demoCallback(cfg.Issuer, s.Demo.ClientID))
	}
	for _, p := range cfg.TrustedProxies {
		if p.Bits() == 0 {
			log.Warn("--trusted-proxies trusts every address: any client can name its own IP in "+cfg.ProxyHeader+
				"; list only your proxies' addresses", "prefix", p.String())
		}
	}
	s.handler = httpx.Middleware(httpx.Options{Log: log, MaxBody: MaxBodyBytes, Observer: s.Metrics,
		Proxies: httpx.NewProxies(cfg.TrustedProxies, cfg.ProxyHeader == config.ProxyForwarded), HSTS: hsts(cfg.HSTSMaxAge)}, eventlog.Durable(mux))
	s.ops = s.opsHandler(lim, rd)
	ok = true
	return s, nil
}

// hsts is the Strict-Transport-Security value for max-age d ("" for 0).
func hsts(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return "max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
}

// opsHandler builds the ops listener's handler: readiness checks the store
// (and Redis when configured); metrics read the outbox, the recorder, the
// limiter and the store at scrape time.
func (s *Server) opsHandler(lim protect.Limiter, rd *ratelimit.Redis) http.Handler {
	src := metrics.Sources{Now: s.now, EventsQueued: s.Events.Queued, EventsDropped: s.Events.Dropped}
	src.Outbox = s.Store.OutboxStats
	if r, ok := lim.(errorCounter); ok { // Resilient (Redis)
		src.LimiterErrors = r.Errors
	}
	if e, ok := s.Store.(errorCounter); ok { // both backends
		src.StoreErrors = e.Errors
	}
	s.Metrics.Watch(src)
	checks := []ops.Check{{Name: "store", Check: s.Store.Ping}}
	if rd != nil {
		checks = append(checks, ops.Check{Name: "redis", Check: rd.Ping})
	}
	return ops.Handler(ops.Options{Registry: s.Metrics.Registry, Checks: checks, Pprof: s.cfg.Pprof, Draining: s.draining.Load})
}

// errorCounter is a part that counts its own failures (for the metrics).
type errorCounter interface{ Errors() int64 }

// OpsHandler is the ops listener's handler (health, metrics, pprof).
func (s *Server) OpsHandler() http.Handler { return s.ops }

// newLimiterAndRedis is the limiter for rate limits and attack protection:
// Redis (shared by every node, behind Resilient so that an outage follows
// each limit's fail-open or fail-closed choice) when --redis-url is set,
// memory otherwise; and the Redis backend (nil without --redis-url), for
// single-use markers shared by the nodes.
//
// Redis buckets refill by redisClock, nil for Redis's own clock (TIME): a
// test that injects a clock passes it here too.
func newLimiterAndRedis(cfg config.Config, log *slog.Logger, now, redisClock func() time.Time) (protect.Limiter, *ratelimit.Redis, string, error) {
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(now), nil, "memory", nil
	}
	// ?prefix= names the key space (default "latchkey:"), so that several
	// tenants or test runs can share one Redis.
	prefix, rawURL := "latchkey:", cfg.RedisURL
	if u, err := url.Parse(cfg.RedisURL); err == nil && u.Query().Has("prefix") {
		q := u.Query()
		prefix = q.Get("prefix")
		q.Del("prefix")
		u.RawQuery = q.Encode()
		rawURL = u.String()
	}
	client, err := ratelimit.ParseRedisURL(rawURL)
	if err != nil {
		return nil, nil, "", fmt.Errorf("--redis-url: %w", err)
	}
	// go-redis logs each failed dial itself; Resilient already reports an
	// outage once and its recovery, so these go to debug.
	redis.SetLogger(redisLog{log})
	rd := ratelimit.NewRedis(client, prefix, redisClock)
	return ratelimit.NewResilient(rd, RedisTimeout, now, log), rd, "redis " + redactURL(cfg.RedisURL), nil
}

// redisLog sends go-redis's own log lines to slog at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// RedisTimeout bounds one limiter call to Redis.
const RedisTimeout = ratelimit.DefaultTimeout

func (s *Server) applyFile(ctx context.Context, path string) error {
	opt := tenant.ApplyOptions{Enforce: s.cfg.BootstrapMode == config.BootstrapEnforce}
	res, err := applyTenantFile(ctx, s.Store, s.Keys, s.Signing, s.cfg.Issuer, path, s.now(), opt)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	logApplied(ctx, s.log, path, res)
	return nil
}

// Handler is the node's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close writes the tenant log events still queued, then releases the store.
func (s *Server) Close() error {
	err := s.core.close()
	if s.smtp != nil {
		s.smtp.Close() // the kept SMTP sessions end with QUIT
	}
	s.releaseNode()
	return err
}

// Run serves the public API on ln, and the ops listener on opsLn when it is
// not nil, until ctx is done; then readiness fails at once, the public
// listener drains (10 s at most), and the background jobs and the sends in
// flight finish before Run returns (and the caller closes the store).
// With --tls-cert the certificate is reloaded when its files change and on
// SIGHUP; HTTP/2 is offered over TLS.
func (s *Server) Run(ctx context.Context, ln, opsLn net.Listener) error {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10, ErrorLog: errLog}
	var jobs sync.WaitGroup
	defer jobs.Wait()
	jobCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	serve := func() error { return srv.Serve(ln) }
	// SIGHUP (systemctl reload) reloads the TLS certificate; without TLS
	// there is nothing to reload, and the signal must not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if s.cfg.TLSCert != "" {
		certs, err := newCertReloader(s.cfg.TLSCert, s.cfg.TLSKey, s.log)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
		jobs.Go(func() { certs.watch(jobCtx, s.certPoll, hup) })
		serve = func() error { return srv.ServeTLS(ln, "", "") }
	} else {
		jobs.Go(func() {
			for {
				select {
				case <-jobCtx.Done():
					return
				case <-hup:
					s.log.Info("SIGHUP: nothing to reload (no --tls-cert)")
				}
			}
		})
	}
	jobs.Go(s.StartJobs(jobCtx))
	var opsSrv *http.Server
	if opsLn != nil {
		opsSrv = &http.Server{Handler: s.ops, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: errLog}
		jobs.Go(func() {
			if err := opsSrv.Serve(opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("ops listener stopped", "err", err)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.draining.Store(true)
		if d := s.cfg.DrainDelay; d > 0 {
			// Load balancers polling readiness stop sending first.
			s.log.Info("draining: readiness fails before the listener closes", "drain_delay", d.String())
			select {
			case err = <-errc:
			case <-time.After(d):
			}
		}
		shutdown, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		s.console.Close() // the logs' live tails end rather than hold the shutdown
		if serr := srv.Shutdown(shutdown); serr != nil {
			// Requests still running after the timeout are cut off, so
			// that none outlives the store the caller closes next.
			srv.Close()
			err = fmt.Errorf("shutdown: %w", serr)
		}
		cancel()
	}
	s.draining.Store(true)
	if opsSrv != nil {
		opsSrv.Close()
	}
	stopJobs()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// StartJobs starts the node's background jobs (the outbox worker, signing
// key reloads, purges) until ctx ends; the returned wait blocks until they
// have stopped, the sends in flight finished and recorded. Run calls it;
// tests that serve Handler themselves call it instead.
func (s *Server) StartJobs(ctx context.Context) (wait func()) {
	var jobs sync.WaitGroup
	jobs.Go(func() { s.background(ctx) })
	jobs.Go(func() { s.Outbox.Run(ctx) })
	return jobs.Wait
}

// ShutdownTimeout is how long Run waits for requests in flight at
// shutdown.
const ShutdownTimeout = 10 * time.Second

// PurgeGrace is how long an expired code is kept (so that it answers
// "expired" rather than "wrong") before the purge deletes it.
const PurgeGrace = time.Hour

// KeyReloadInterval is how often a node rereads the signing keys: it
// bounds how long a rotation or a revocation made on another node (or by
// the CLI on the store) takes to be in force on this one.
const KeyReloadInterval = 5 * time.Second

// RotationCheckInterval is how often a node with --signing-key-rotation
// checks whether the current key is due.
const RotationCheckInterval = time.Minute

// background reloads signing keys (so a rotation on another node is seen),
// rotates them when --signing-key-rotation says so, and purges expired
// codes and refresh tokens, until ctx is done.
func (s *Server) background(ctx context.Context) {
	reload := time.NewTicker(KeyReloadInterval)
	defer reload.Stop()
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	var rotate <-chan time.Time
	if s.cfg.SigningKeyRotation > 0 {
		t := time.NewTicker(RotationCheckInterval)
		defer t.Stop()
		rotate = t.C
	}
	s.Purge(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload.C:
			if err := s.Signing.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reload signing keys", "err", err)
			}
		case <-rotate:
			s.RotateSigningKeyIfDue(ctx)
		case <-purge.C:
			s.Purge(ctx)
		}
	}
}

// RotateSigningKeyIfDue rotates the signing keys when the current key has
// signed for --signing-key-rotation (by the server's clock) and says
// whether it did. Every node checks; when several find the key due at once,
// one rotation happens (the store's RotateSigningKey lets one win).
func (s *Server) RotateSigningKeyIfDue(ctx context.Context) bool {
	if s.cfg.SigningKeyRotation <= 0 {
		return false
	}
	promoted, err := s.Signing.RotateIfDue(ctx, s.cfg.SigningKeyRotation)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("scheduled signing key rotation", "err", err)
	}
	for _, k := range promoted {
		s.log.Info("signing key rotated on schedule", "current", k.KID, "alg", k.Alg, "every", s.cfg.SigningKeyRotation)
	}
	return len(promoted) > 0
}

// Purge deletes codes and refresh tokens that expired more than PurgeGrace
// ago, and tenant log events older than the retention.
func (s *Server) Purge(ctx context.Context) {
	n, err := s.Store.PurgeExpired(ctx, s.now().Add(-PurgeGrace))
	if err != nil && ctx.Err() == nil {
		s.log.Warn("purge expired codes and tokens", "err", err)
	} else if n > 0 {
		s.log.Info("purged expired codes and tokens", "rows", n)
	}
	retention := s.cfg.LogRetention
	if retention <= 0 {
		retention = config.DefaultLogRetention
	}
	n, err = s.Store.PurgeLogs(ctx, s.now().Add(-retention))
	if err != nil && ctx.Err() == nil {
		s.log.Warn("purge tenant logs", "err", err)
	} else if n > 0 {
		s.log.Info("purged tenant log events past their retention", "events", n, "retention", retention)
	}
}
