package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Configuration records live as JSON documents next to their key columns.

const (
	qGetSettings = `SELECT data FROM settings WHERE id = 1`
	qPutSettings = `INSERT INTO settings (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`

	qCreateClient = `INSERT INTO clients (client_id, data) VALUES (?, ?)`
	qGetClient    = `SELECT data FROM clients WHERE client_id = ?`
	qListClients  = `SELECT data FROM clients ORDER BY client_id`
	qUpdateClient = `UPDATE clients SET data = ? WHERE client_id = ?`
	qDeleteClient = `DELETE FROM clients WHERE client_id = ?`
	qGetClientKey = `SELECT client_id, data FROM clients WHERE client_id = ?`
	qUpsertClient = `INSERT INTO clients (client_id, data) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET data = excluded.data`

	qCreateConnection       = `INSERT INTO connections (id, name, data) VALUES (?, ?, ?)`
	qGetConnection          = `SELECT data FROM connections WHERE id = ?`
	qGetConnectionByName    = `SELECT data FROM connections WHERE name = ?`
	qListConnections        = `SELECT data FROM connections ORDER BY name`
	qUpdateConnection       = `UPDATE connections SET name = ?, data = ? WHERE id = ?`
	qDeleteConnection       = `DELETE FROM connections WHERE id = ?`
	qGetConnectionKeyByName = `SELECT id, data FROM connections WHERE name = ?`

	qCreateResourceServer       = `INSERT INTO resource_servers (id, identifier, data) VALUES (?, ?, ?)`
	qGetResourceServer          = `SELECT data FROM resource_servers WHERE id = ?`
	qGetResourceServerByIdent   = `SELECT data FROM resource_servers WHERE identifier = ?`
	qListResourceServers        = `SELECT data FROM resource_servers ORDER BY identifier`
	qUpdateResourceServer       = `UPDATE resource_servers SET identifier = ?, data = ? WHERE id = ?`
	qDeleteResourceServer       = `DELETE FROM resource_servers WHERE id = ?`
	qGetResourceServerKeyByIdnt = `SELECT id, data FROM resource_servers WHERE identifier = ?`

	qCreateClientGrant   = `INSERT INTO client_grants (id, client_id, audience, data) VALUES (?, ?, ?, ?)`
	qGetClientGrant      = `SELECT data FROM client_grants WHERE id = ?`
	qListClientGrants    = `SELECT data FROM client_grants ORDER BY client_id, audience`
	qUpdateClientGrant   = `UPDATE client_grants SET client_id = ?, audience = ?, data = ? WHERE id = ?`
	qDeleteClientGrant   = `DELETE FROM client_grants WHERE id = ?`
	qGetClientGrantByKey = `SELECT id, data FROM client_grants WHERE client_id = ? AND audience = ?`

	qGetFileState    = `SELECT path, hash FROM tenant_file_state`
	qDeleteFileState = `DELETE FROM tenant_file_state WHERE path = ?`
	qPutFileState    = `INSERT INTO tenant_file_state (path, hash) VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET hash = excluded.hash`
)

// getJSON decodes the single data column of query's row.
func getJSON[T any](ctx context.Context, p *pool, query string, args ...any) (T, error) {
	var v T
	var data string
	if err := p.queryRow(ctx, func(sc scanner) error { return sc.Scan(&data) }, query, args...); err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return v, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

// listJSON decodes the data column of every row of query.
func listJSON[T any](ctx context.Context, p *pool, query string) ([]T, error) {
	rows, err := p.query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// --- settings --------------------------------------------------------------

// GetSettings returns the tenant settings; the zero value when none were put.
func (s *Store) GetSettings(ctx context.Context) (store.TenantSettings, error) {
	v, err := getJSON[store.TenantSettings](ctx, s.r, qGetSettings)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TenantSettings{}, nil
	}
	if err != nil {
		return store.TenantSettings{}, wrap("get settings", err)
	}
	return v, nil
}

// PutSettings replaces the tenant settings.
func (s *Store) PutSettings(ctx context.Context, v store.TenantSettings) error {
	data, err := marshal(v)
	if err != nil {
		return wrap("put settings", err)
	}
	_, err = s.w.exec(ctx, qPutSettings, data)
	return wrap("put settings", err)
}

// --- clients ---------------------------------------------------------------

func normClient(c store.Client) store.Client {
	c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	return c
}

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	data, err := marshal(normClient(c))
	if err != nil {
		return wrap("create client", err)
	}
	_, err = s.w.exec(ctx, qCreateClient, c.ClientID, data)
	return wrap("create client", err)
}

// GetClient returns the client with clientID.
func (s *Store) GetClient(ctx context.Context, clientID string) (store.Client, error) {
	c, err := getJSON[store.Client](ctx, s.r, qGetClient, clientID)
	return c, wrap("get client", err)
}

// ListClients returns every client, ordered by client ID.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	v, err := listJSON[store.Client](ctx, s.r, qListClients)
	return v, wrap("list clients", err)
}

// UpdateClient replaces the client with c.ClientID.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	data, err := marshal(normClient(c))
	if err != nil {
		return wrap("update client", err)
	}
	return wrap("update client", affected(s.w.exec(ctx, qUpdateClient, data, c.ClientID)))
}

// ModifyClient changes the client with clientID in one writer transaction.
func (s *Store) ModifyClient(ctx context.Context, clientID string, f func(*store.Client) error) (store.Client, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	defer t.rollback()
	var data string
	if err := t.queryRow(ctx, func(sc scanner) error { return sc.Scan(&data) }, qGetClient, clientID); err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	var c store.Client
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	if err := f(&c); err != nil {
		return store.Client{}, err
	}
	c.ClientID = clientID
	out, err := marshal(normClient(c))
	if err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	if _, err := t.exec(ctx, qUpdateClient, out, clientID); err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	if err := t.commit(); err != nil {
		return store.Client{}, wrap("modify client", err)
	}
	return normClient(c), nil
}

// DeleteClient deletes the client with clientID.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	return wrap("delete client", affected(s.w.exec(ctx, qDeleteClient, clientID)))
}

// --- connections -----------------------------------------------------------

func normConnection(c store.Connection) store.Connection {
	c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	return c
}

// CreateConnection stores a new connection.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) error {
	data, err := marshal(normConnection(c))
	if err != nil {
		return wrap("create connection", err)
	}
	_, err = s.w.exec(ctx, qCreateConnection, c.ID, c.Name, data)
	return wrap("create connection", err)
}

// GetConnection returns the connection with id.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	c, err := getJSON[store.Connection](ctx, s.r, qGetConnection, id)
	return c, wrap("get connection", err)
}

// GetConnectionByName returns the connection called name.
func (s *Store) GetConnectionByName(ctx context.Context, name string) (store.Connection, error) {
	c, err := getJSON[store.Connection](ctx, s.r, qGetConnectionByName, name)
	return c, wrap("get connection by name", err)
}

// ListConnections returns every connection, ordered by name.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	v, err := listJSON[store.Connection](ctx, s.r, qListConnections)
	return v, wrap("list connections", err)
}

// UpdateConnection replaces the connection with c.ID (its name may change).
func (s *Store) UpdateConnection(ctx context.Context, c store.Connection) error {
	data, err := marshal(normConnection(c))
	if err != nil {
		return wrap("update connection", err)
	}
	return wrap("update connection", affected(s.w.exec(ctx, qUpdateConnection, c.Name, data, c.ID)))
}

// DeleteConnection deletes the connection with id.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	return wrap("delete connection", affected(s.w.exec(ctx, qDeleteConnection, id)))
}

// --- resource servers ------------------------------------------------------

func normResourceServer(r store.ResourceServer) store.ResourceServer {
	r.CreatedAt, r.UpdatedAt = norm(r.CreatedAt), norm(r.UpdatedAt)
	return r
}

// CreateResourceServer stores a new resource server.
func (s *Store) CreateResourceServer(ctx context.Context, r store.ResourceServer) error {
	data, err := marshal(normResourceServer(r))
	if err != nil {
		return wrap("create resource server", err)
	}
	_, err = s.w.exec(ctx, qCreateResourceServer, r.ID, r.Identifier, data)
	return wrap("create resource server", err)
}

// GetResourceServer returns the resource server with id.
func (s *Store) GetResourceServer(ctx context.Context, id string) (store.ResourceServer, error) {
	r, err := getJSON[store.ResourceServer](ctx, s.r, qGetResourceServer, id)
	return r, wrap("get resource server", err)
}

// GetResourceServerByIdentifier returns the resource server whose identifier
// (audience) is exactly identifier.
func (s *Store) GetResourceServerByIdentifier(ctx context.Context, identifier string) (store.ResourceServer, error) {
	r, err := getJSON[store.ResourceServer](ctx, s.r, qGetResourceServerByIdent, identifier)
	return r, wrap("get resource server by identifier", err)
}

// ListResourceServers returns every resource server, ordered by identifier.
func (s *Store) ListResourceServers(ctx context.Context) ([]store.ResourceServer, error) {
	v, err := listJSON[store.ResourceServer](ctx, s.r, qListResourceServers)
	return v, wrap("list resource servers", err)
}

// UpdateResourceServer replaces the resource server with r.ID.
func (s *Store) UpdateResourceServer(ctx context.Context, r store.ResourceServer) error {
	data, err := marshal(normResourceServer(r))
	if err != nil {
		return wrap("update resource server", err)
	}
	return wrap("update resource server", affected(s.w.exec(ctx, qUpdateResourceServer, r.Identifier, data, r.ID)))
}

// DeleteResourceServer deletes the resource server with id.
func (s *Store) DeleteResourceServer(ctx context.Context, id string) error {
	return wrap("delete resource server", affected(s.w.exec(ctx, qDeleteResourceServer, id)))
}

// --- client grants ---------------------------------------------------------

func normClientGrant(g store.ClientGrant) store.ClientGrant {
	g.CreatedAt = norm(g.CreatedAt)
	return g
}

// CreateClientGrant stores a new client grant.
func (s *Store) CreateClientGrant(ctx context.Context, g store.ClientGrant) error {
	data, err := marshal(normClientGrant(g))
	if err != nil {
		return wrap("create client grant", err)
	}
	_, err = s.w.exec(ctx, qCreateClientGrant, g.ID, g.ClientID, g.Audience, data)
	return wrap("create client grant", err)
}

// GetClientGrant returns the client grant with id.
func (s *Store) GetClientGrant(ctx context.Context, id string) (store.ClientGrant, error) {
	g, err := getJSON[store.ClientGrant](ctx, s.r, qGetClientGrant, id)
	return g, wrap("get client grant", err)
}

// ListClientGrants returns every client grant, ordered by client and
// audience.
func (s *Store) ListClientGrants(ctx context.Context) ([]store.ClientGrant, error) {
	v, err := listJSON[store.ClientGrant](ctx, s.r, qListClientGrants)
	return v, wrap("list client grants", err)
}

// UpdateClientGrant replaces the client grant with g.ID.
func (s *Store) UpdateClientGrant(ctx context.Context, g store.ClientGrant) error {
	data, err := marshal(normClientGrant(g))
	if err != nil {
		return wrap("update client grant", err)
	}
	return wrap("update client grant", affected(s.w.exec(ctx, qUpdateClientGrant, g.ClientID, g.Audience, data, g.ID)))
}

// DeleteClientGrant deletes the client grant with id.
func (s *Store) DeleteClientGrant(ctx context.Context, id string) error {
	return wrap("delete client grant", affected(s.w.exec(ctx, qDeleteClientGrant, id)))
}

// --- ApplyTenant -----------------------------------------------------------

// stored is what ApplyTenant keeps of a record that already exists.
type stored struct {
	id        string
	createdAt time.Time
}

// existing looks up a record by natural key inside t; ok is false when there
// is none. query returns the key and the JSON document.
func (t *tx) existing(ctx context.Context, query string, args ...any) (rec stored, ok bool, err error) {
	var data string
	err = t.queryRow(ctx, func(sc scanner) error { return sc.Scan(&rec.id, &data) }, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return stored{}, false, nil
	}
	if err != nil {
		return stored{}, false, err
	}
	var doc struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		return stored{}, false, fmt.Errorf("decode: %w", err)
	}
	rec.createdAt = doc.CreatedAt
	return rec, true, nil
}

// ApplyTenant upserts the records of cfg by natural key in one transaction.
func (s *Store) ApplyTenant(ctx context.Context, cfg store.TenantConfig) error {
	t, err := s.begin(ctx)
	if err != nil {
		return wrap("apply tenant", err)
	}
	defer t.rollback()
	if err := s.applyTenant(ctx, t, cfg); err != nil {
		return wrap("apply tenant", err)
	}
	return wrap("apply tenant", t.commit())
}

func (s *Store) applyTenant(ctx context.Context, t *tx, cfg store.TenantConfig) error {
	if cfg.Settings != nil {
		data, err := marshal(*cfg.Settings)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, qPutSettings, data); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}

	for _, c := range cfg.Clients {
		old, ok, err := t.existing(ctx, qGetClientKey, c.ClientID)
		if err != nil {
			return fmt.Errorf("client %q: %w", c.ClientID, err)
		}
		if ok {
			c.CreatedAt = old.createdAt
		}
		data, err := marshal(normClient(c))
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, qUpsertClient, c.ClientID, data); err != nil {
			return fmt.Errorf("client %q: %w", c.ClientID, err)
		}
	}

	for _, c := range cfg.Connections {
		old, ok, err := t.existing(ctx, qGetConnectionKeyByName, c.Name)
		if err != nil {
			return fmt.Errorf("connection %q: %w", c.Name, err)
		}
		if ok {
			c.ID, c.CreatedAt = old.id, old.createdAt
		}
		data, err := marshal(normConnection(c))
		if err != nil {
			return err
		}
		if ok {
			_, err = t.exec(ctx, qUpdateConnection, c.Name, data, c.ID)
		} else {
			_, err = t.exec(ctx, qCreateConnection, c.ID, c.Name, data)
		}
		if err != nil {
			return fmt.Errorf("connection %q: %w", c.Name, err)
		}
	}

	for _, r := range cfg.ResourceServers {
		old, ok, err := t.existing(ctx, qGetResourceServerKeyByIdnt, r.Identifier)
		if err != nil {
			return fmt.Errorf("resource server %q: %w", r.Identifier, err)
		}
		if ok {
			r.ID, r.CreatedAt = old.id, old.createdAt
		}
		data, err := marshal(normResourceServer(r))
		if err != nil {
			return err
		}
		if ok {
			_, err = t.exec(ctx, qUpdateResourceServer, r.Identifier, data, r.ID)
		} else {
			_, err = t.exec(ctx, qCreateResourceServer, r.ID, r.Identifier, data)
		}
		if err != nil {
			return fmt.Errorf("resource server %q: %w", r.Identifier, err)
		}
	}

	for _, g := range cfg.ClientGrants {
		old, ok, err := t.existing(ctx, qGetClientGrantByKey, g.ClientID, g.Audience)
		if err != nil {
			return fmt.Errorf("client grant %q/%q: %w", g.ClientID, g.Audience, err)
		}
		if ok {
			g.ID, g.CreatedAt = old.id, old.createdAt
		}
		data, err := marshal(normClientGrant(g))
		if err != nil {
			return err
		}
		if ok {
			_, err = t.exec(ctx, qUpdateClientGrant, g.ClientID, g.Audience, data, g.ID)
		} else {
			_, err = t.exec(ctx, qCreateClientGrant, g.ID, g.ClientID, g.Audience, data)
		}
		if err != nil {
			return fmt.Errorf("client grant %q/%q: %w", g.ClientID, g.Audience, err)
		}
	}

	for _, path := range slices.Sorted(maps.Keys(cfg.FileState)) {
		q, args := qPutFileState, []any{path, blob(cfg.FileState[path])}
		if cfg.FileState[path] == nil {
			q, args = qDeleteFileState, []any{path}
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("tenant file state %q: %w", path, err)
		}
	}
	return nil
}

// TenantFileState returns the recorded state of the tenant files applied.
func (s *Store) TenantFileState(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.r.query(ctx, qGetFileState)
	if err != nil {
		return nil, wrap("tenant file state", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var path string
		var hash []byte
		if err := rows.Scan(&path, &hash); err != nil {
			return nil, wrap("tenant file state", err)
		}
		out[path] = hash
	}
	return out, wrap("tenant file state", rows.Err())
}
