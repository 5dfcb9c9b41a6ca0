package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// core is what every user of the store is built on, assembled in this one
// place: the serving node (New) and the admin CLI's local mode
// (LocalManagement) both start from it.
type core struct {
	cfg config.Config
	log *slog.Logger
	now func() time.Time
	// redisClock is the clock Redis buckets refill by: nil (Redis's own,
	// TIME, one for every node) unless a test injected a clock.
	redisClock func() time.Time
	store      store.Store
	storeDesc  string
	keys       *secret.Keys
	signing    *oauth.KeyManager
	dir        *tenant.Directory
	events     *eventlog.Recorder
	spool      *eventlog.Spool // nil without one
	recording  chan struct{}   // closed once the recorder has written everything
}

// openCore opens the store with the master key, loads the signing keys,
// and starts the tenant-log recorder — with the data directory's spool
// when spooled (a serving node); otherwise (the CLI's local mode) it only
// stores what a dead node left in the spool. On an error nothing stays
// open.
func openCore(ctx context.Context, cfg config.Config, log *slog.Logger, master []byte, now func() time.Time, spooled bool) (*core, error) {
	keys, err := secret.New(master)
	if err != nil {
		return nil, err
	}
	raw, where, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st := tenant.NewSealedStore(raw, keys)
	if n, err := st.SealStored(ctx); err != nil {
		raw.Close()
		return nil, err
	} else if n > 0 {
		log.Info("sealed provider credentials stored in plaintext", "connections", n)
	}
	c := &core{cfg: cfg, log: log, now: now, store: st, storeDesc: where, keys: keys}
	c.signing = oauth.NewKeyManager(st, keys, cfg.Issuer, now)
	if err := c.signing.Init(ctx); err != nil {
		st.Close()
		return nil, err
	}
	c.dir = tenant.NewDirectory(st, now)
	// The spool lives beside the SQLite database, in the data directory
	// that must persist anyway. PostgreSQL nodes are often replaced with
	// their disks (a node that never comes back would take its spool
	// along), so their answers wait for the shared database's commit
	// unless the operator says their data directory persists (--log-spool).
	var sp *eventlog.Spool
	switch {
	case spooled && (cfg.DatabaseURL == "" || cfg.LogSpool):
		sp = c.openSpool(ctx)
	case spooled || cfg.DatabaseURL == "":
		// What a killed process left in the spool is stored: by the CLI in
		// local mode on SQLite, and by a PostgreSQL node started without
		// --log-spool after a run with it. (The CLI does not store a
		// PostgreSQL node's spool: start the node.)
		c.restoreSpool(ctx)
	}
	c.events = eventlog.NewRecorder(log, st, eventlog.Options{Now: now, Spool: sp})
	c.recording = make(chan struct{})
	go func() { defer close(c.recording); c.events.Run() }()
	return c, nil
}

// openSpool opens the tenant-log spool in the data directory and stores
// what a previous process left in it; nil (answers then wait for the
// database commit of their events) when it cannot.
func (c *core) openSpool(ctx context.Context) *eventlog.Spool {
	sp, left, err := eventlog.OpenSpool(c.cfg.DataDir)
	if err != nil {
		c.log.Warn("no tenant-log spool: answers wait for their events' database commit", "err", err)
		return nil
	}
	if err := sp.Restore(ctx, c.store, left); err != nil {
		sp.Close()
		c.log.Warn("the tenant-log spool could not be restored; it is kept for the next start, and answers wait for their events' database commit", "err", err)
		return nil
	}
	if len(left) > 0 {
		c.log.Info("tenant-log events restored from the spool", "events", len(left))
	}
	c.spool = sp
	return sp
}

// restoreSpool stores what a node that died left in the data
// directory's spool, when no running node holds it (the CLI's local mode,
// run after a crash, sees every answered request's events).
func (c *core) restoreSpool(ctx context.Context) {
	if !eventlog.SpoolLeft(c.cfg.DataDir) {
		return
	}
	sp, left, err := eventlog.OpenSpool(c.cfg.DataDir)
	if err != nil {
		return // a running node holds it (and stored it at its start)
	}
	defer sp.Close()
	if err := sp.Restore(ctx, c.store, left); err != nil {
		c.log.Warn("the tenant-log spool could not be restored; it is kept for the next start", "err", err)
	}
}

// close writes the tenant-log events still queued, then releases the
// spool and the store.
func (c *core) close() error {
	c.events.Close()
	<-c.recording
	if c.spool != nil {
		if c.events.Dropped() == 0 {
			// Everything spooled is in the database: nothing for the
			// next start to store again.
			if err := c.spool.Reset(); err != nil {
				c.log.Warn("tenant-log spool not emptied at shutdown", "err", err)
			}
		}
		c.spool.Close()
	}
	return c.store.Close()
}

// limiter is the limiter for rate limits and attack protection (Redis
// behind Resilient with --redis-url, memory otherwise), the Redis backend
// itself (nil without one) and where the counters live.
func (c *core) limiter() (protect.Limiter, *ratelimit.Redis, string, error) {
	return newLimiterAndRedis(c.cfg, c.log, c.now, c.redisClock)
}

// guard applies the limits with lim, counting refusals in m (nil: none).
func (c *core) guard(lim protect.Limiter, m protect.Metrics) *protect.Guard {
	return protect.New(protect.Deps{Limiter: lim, Settings: c.dir, Blocks: c.store, Keys: c.keys, Events: c.events,
		Metrics: m, Log: c.log, Hostname: tenant.Hostname(c.cfg.Issuer), Now: c.now})
}

// management is the Management API over the store; protection answers its
// block routes (nil: 501).
func (c *core) management(protection mgmtapi.Protection) *mgmtapi.API {
	return &mgmtapi.API{Log: c.log, Store: c.store, Cache: c.dir, Keys: c.signing, SigningKeys: c.signing, Seal: c.keys, Logs: c.store,
		Flush: c.events, Events: c.events, Issuer: c.cfg.Issuer, Now: c.now, Protection: protection, Stats: c.store}
}

// errNoMasterKey: no master key is configured.
var errNoMasterKey = errors.New("a master key is required outside --dev")
