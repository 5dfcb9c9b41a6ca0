// Package tenant holds the tenant's configuration: applications (clients),
// connections, resource servers, client grants and settings; their rules and
// defaults; a short-lived read cache for the request path; and the tenant
// file that bootstraps them.
package tenant

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Reader is what the Directory reads from.
type Reader interface {
	GetSettings(ctx context.Context) (store.TenantSettings, error)
	GetClient(ctx context.Context, clientID string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	GetConnectionByName(ctx context.Context, name string) (store.Connection, error)
	GetResourceServerByIdentifier(ctx context.Context, identifier string) (store.ResourceServer, error)
	ListClientGrants(ctx context.Context) ([]store.ClientGrant, error)
}

// CacheTTL is how long the Directory serves a record before reading it
// again. It bounds how long another node's change takes to be seen.
const CacheTTL = time.Second

// Directory serves configuration records to the request path from a cache
// that expires after CacheTTL, so a change made on any node is in force
// everywhere within a second without cross-node messaging.
type Directory struct {
	r        Reader
	now      func() time.Time
	clients  cache[store.Client]
	conns    cache[store.Connection]
	apis     cache[store.ResourceServer]
	settings cache[store.TenantSettings]
	grants   cache[[]store.ClientGrant]
	all      cache[[]store.Client]
	console  *store.Client // the built-in console application, when served
}

// ServeConsole makes the built-in console application c known to the
// request path (Client answers it; no list shows it).
func (d *Directory) ServeConsole(c store.Client) { d.console = &c }

// NewDirectory returns a Directory over r.
func NewDirectory(r Reader, now func() time.Time) *Directory {
	return &Directory{r: r, now: now}
}

// Client returns the application; store.ErrNotFound when unknown.
func (d *Directory) Client(ctx context.Context, id string) (store.Client, error) {
	if id == ConsoleClientID && d.console != nil {
		return *d.console, nil
	}
	return d.clients.get(ctx, id, d.now(), d.r.GetClient)
}

// Connection returns the connection named name; store.ErrNotFound when unknown.
func (d *Directory) Connection(ctx context.Context, name string) (store.Connection, error) {
	c, err := d.conns.get(ctx, name, d.now(), d.r.GetConnectionByName)
	if err != nil {
		return c, err
	}
	c.Options = WithConnectionDefaults(c.Options)
	return c, nil
}

// ResourceServer returns the API with this identifier; store.ErrNotFound when unknown.
func (d *Directory) ResourceServer(ctx context.Context, identifier string) (store.ResourceServer, error) {
	return d.apis.get(ctx, identifier, d.now(), d.r.GetResourceServerByIdentifier)
}

// Settings returns the tenant settings.
func (d *Directory) Settings(ctx context.Context) (store.TenantSettings, error) {
	return d.settings.get(ctx, "", d.now(), func(ctx context.Context, _ string) (store.TenantSettings, error) {
		return d.r.GetSettings(ctx)
	})
}

// ClientGrant returns the grant that lets clientID obtain client_credentials
// tokens for audience; store.ErrNotFound when there is none. The tenant's
// grants are few, so the whole list is cached.
func (d *Directory) ClientGrant(ctx context.Context, clientID, audience string) (store.ClientGrant, error) {
	all, err := d.grants.get(ctx, "", d.now(), func(ctx context.Context, _ string) ([]store.ClientGrant, error) {
		return d.r.ListClientGrants(ctx)
	})
	if err != nil {
		return store.ClientGrant{}, err
	}
	for _, g := range all {
		if g.ClientID == clientID && g.Audience == audience {
			return g, nil
		}
	}
	return store.ClientGrant{}, store.ErrNotFound
}

// Clients returns every application (for tenant-wide questions such as
// which origins may make CORS preflights).
func (d *Directory) Clients(ctx context.Context) ([]store.Client, error) {
	return d.all.get(ctx, "", d.now(), func(ctx context.Context, _ string) ([]store.Client, error) {
		return d.r.ListClients(ctx)
	})
}

// Invalidate drops every cached record (after a local write).
func (d *Directory) Invalidate() {
	d.all.clear()
	d.clients.clear()
	d.conns.clear()
	d.apis.clear()
	d.settings.clear()
	d.grants.clear()
}

// maxCachedKey bounds the keys the cache keeps (with at most 10,000 entries
// a cache, its memory stays small whatever requests ask for).
const maxCachedKey = 256

type cached[V any] struct {
	v       V
	err     error
	expires time.Time
}

type cache[V any] struct {
	mu sync.RWMutex
	m  map[string]cached[V]
}

func (c *cache[V]) get(ctx context.Context, key string, now time.Time, load func(context.Context, string) (V, error)) (V, error) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.v, e.err
	}
	v, err := load(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return v, err // do not cache transient failures
	}
	if len(key) > maxCachedKey {
		return v, err // no real identifier is this long: keep request junk out of memory
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = make(map[string]cached[V])
	}
	c.m[key] = cached[V]{v: v, err: err, expires: now.Add(CacheTTL)}
	c.mu.Unlock()
	return v, err
}

func (c *cache[V]) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
