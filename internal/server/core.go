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
	recording  chan struct{} // closed once the recorder has written everything
}

// openCore opens the store with the master key, loads the signing keys,
// and starts the tenant-log recorder. On an error nothing stays open.
func openCore(ctx context.Context, cfg config.Config, log *slog.Logger, master []byte, now func() time.Time) (*core, error) {
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
	c.signing = oauth.NewKeyManager(st, keys, now)
	if err := c.signing.Init(ctx); err != nil {
		st.Close()
		return nil, err
	}
	c.dir = tenant.NewDirectory(st, now)
	c.events = eventlog.NewRecorder(log, st, eventlog.Options{Now: now})
	c.recording = make(chan struct{})
	go func() { defer close(c.recording); c.events.Run() }()
	return c, nil
}

// close writes the tenant-log events still queued, then releases the store.
func (c *core) close() error {
	c.events.Close()
	<-c.recording
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
	return &mgmtapi.API{Log: c.log, Store: c.store, Cache: c.dir, Keys: c.signing, Seal: c.keys, Logs: c.store,
		Flush: c.events, Events: c.events, Issuer: c.cfg.Issuer, Now: c.now, Protection: protection}
}

// errNoMasterKey: no master key is configured.
var errNoMasterKey = errors.New("a master key is required outside --dev")
