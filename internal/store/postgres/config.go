package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/internal/store"
)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// docTable describes a configuration kind kept as a JSONB document plus
// its key and natural-key columns.
type docTable[T any] struct {
	table string
	what  string   // for error messages
	cols  []string // key column first, then the unique natural-key columns
	// vals gives the values of cols for r.
	vals func(r T) []any
	// norm brings r's times to what the store keeps (ms, UTC).
	norm func(r T) T
	// created is r's CreatedAt in unix ms.
	created func(r T) int64
	// keepID: an upsert by natural key keeps the stored record's id (the
	// key column, also the document's "id" field).
	keepID bool
}

func (d docTable[T]) create(ctx context.Context, q querier, r T) error {
	r = d.norm(r)
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("postgres: encode %s: %w", d.what, err)
	}
	args := append(d.vals(r), d.created(r), string(data))
	sql := fmt.Sprintf("INSERT INTO %s (%s, created_at, data) VALUES (%s)",
		d.table, strings.Join(d.cols, ", "), placeholders(len(args)))
	if _, err := q.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("postgres: create %s %v: %w", d.what, args[0], mapErr(err))
	}
	return nil
}

func (d docTable[T]) get(ctx context.Context, q querier, col string, val any) (T, error) {
	var r T
	var data []byte
	sql := fmt.Sprintf("SELECT data FROM %s WHERE %s = $1", d.table, col)
	if err := q.QueryRow(ctx, sql, val).Scan(&data); err != nil {
		return r, fmt.Errorf("postgres: get %s %v: %w", d.what, val, mapErr(err))
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("postgres: decode %s %v: %w", d.what, val, err)
	}
	return r, nil
}

func (d docTable[T]) list(ctx context.Context, q querier) ([]T, error) {
	sql := fmt.Sprintf("SELECT data FROM %s ORDER BY created_at, %s", d.table, d.cols[0])
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", d.what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var r T
		var data []byte
		if err := row.Scan(&data); err != nil {
			return r, err
		}
		return r, json.Unmarshal(data, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", d.what, err)
	}
	return out, nil
}

func (d docTable[T]) update(ctx context.Context, q querier, r T) error {
	r = d.norm(r)
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("postgres: encode %s: %w", d.what, err)
	}
	args := append(d.vals(r), d.created(r), string(data))
	sets := make([]string, 0, len(d.cols)+1)
	for i, c := range d.cols[1:] {
		sets = append(sets, fmt.Sprintf("%s = $%d", c, i+2))
	}
	n := len(d.cols)
	sets = append(sets, fmt.Sprintf("created_at = $%d, data = $%d", n+1, n+2))
	sql := fmt.Sprintf("UPDATE %s SET %s WHERE %s = $1", d.table, strings.Join(sets, ", "), d.cols[0])
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: update %s %v: %w", d.what, args[0], mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update %s %v: %w", d.what, args[0], store.ErrNotFound)
	}
	return nil
}

func (d docTable[T]) delete(ctx context.Context, q querier, key string) error {
	sql := fmt.Sprintf("DELETE FROM %s WHERE %s = $1", d.table, d.cols[0])
	tag, err := q.Exec(ctx, sql, key)
	if err != nil {
		return fmt.Errorf("postgres: delete %s %v: %w", d.what, key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete %s %v: %w", d.what, key, store.ErrNotFound)
	}
	return nil
}

// upsertSQL inserts a record or, when one with the same natural key (the
// columns after the first of conflict) exists, replaces its document but
// keeps its key, CreatedAt and created_at column.
func (d docTable[T]) upsertSQL(conflict []string) string {
	n := len(d.cols) + 2
	keep := []string{fmt.Sprintf("'created_at', %s.data->'created_at'", d.table)}
	if d.keepID {
		keep = append(keep, fmt.Sprintf("'id', %s.%s", d.table, d.cols[0]))
	}
	return fmt.Sprintf(
		"INSERT INTO %s (%s, created_at, data) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET data = EXCLUDED.data || jsonb_build_object(%s)",
		d.table, strings.Join(d.cols, ", "), placeholders(n),
		strings.Join(conflict, ", "), strings.Join(keep, ", "))
}

func (d docTable[T]) queueUpsert(b *pgx.Batch, conflict []string, r T) error {
	r = d.norm(r)
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("postgres: encode %s: %w", d.what, err)
	}
	args := append(d.vals(r), d.created(r), string(data))
	b.Queue(d.upsertSQL(conflict), args...)
	return nil
}

func placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(p, ", ")
}

// clientsTable describes the clients table.
func clientsTable() docTable[store.Client] {
	return docTable[store.Client]{
		table: "clients", what: "client",
		cols: []string{"client_id"},
		vals: func(c store.Client) []any { return []any{c.ClientID} },
		norm: func(c store.Client) store.Client {
			c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
			return c
		},
		created: func(c store.Client) int64 { return ms(c.CreatedAt) },
	}
}

// connectionsTable describes the connections table.
func connectionsTable() docTable[store.Connection] {
	return docTable[store.Connection]{
		table: "connections", what: "connection",
		cols: []string{"id", "name"},
		vals: func(c store.Connection) []any { return []any{c.ID, c.Name} },
		norm: func(c store.Connection) store.Connection {
			c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
			return c
		},
		created: func(c store.Connection) int64 { return ms(c.CreatedAt) },
		keepID:  true,
	}
}

// resourceServersTable describes the resource_servers table.
func resourceServersTable() docTable[store.ResourceServer] {
	return docTable[store.ResourceServer]{
		table: "resource_servers", what: "resource server",
		cols: []string{"id", "identifier"},
		vals: func(r store.ResourceServer) []any { return []any{r.ID, r.Identifier} },
		norm: func(r store.ResourceServer) store.ResourceServer {
			r.CreatedAt, r.UpdatedAt = norm(r.CreatedAt), norm(r.UpdatedAt)
			return r
		},
		created: func(r store.ResourceServer) int64 { return ms(r.CreatedAt) },
		keepID:  true,
	}
}

// clientGrantsTable describes the client_grants table.
func clientGrantsTable() docTable[store.ClientGrant] {
	return docTable[store.ClientGrant]{
		table: "client_grants", what: "client grant",
		cols: []string{"id", "client_id", "audience"},
		vals: func(g store.ClientGrant) []any { return []any{g.ID, g.ClientID, g.Audience} },
		norm: func(g store.ClientGrant) store.ClientGrant {
			g.CreatedAt = norm(g.CreatedAt)
			return g
		},
		created: func(g store.ClientGrant) int64 { return ms(g.CreatedAt) },
		keepID:  true,
	}
}

// GetSettings returns the tenant settings; the zero value when none were
// ever stored.
func (s *Store) GetSettings(ctx context.Context) (store.TenantSettings, error) {
	var ts store.TenantSettings
	var data []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM settings WHERE id = 1").Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return ts, nil
	}
	if err != nil {
		return ts, fmt.Errorf("postgres: get settings: %w", err)
	}
	if err := json.Unmarshal(data, &ts); err != nil {
		return ts, fmt.Errorf("postgres: decode settings: %w", err)
	}
	return ts, nil
}

// PutSettings replaces the tenant settings.
func (s *Store) PutSettings(ctx context.Context, ts store.TenantSettings) error {
	return putSettings(ctx, s.pool, ts)
}

const putSettingsSQL = "INSERT INTO settings (id, data) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data"

func putSettings(ctx context.Context, q querier, ts store.TenantSettings) error {
	data, err := json.Marshal(ts)
	if err != nil {
		return fmt.Errorf("postgres: encode settings: %w", err)
	}
	if _, err := q.Exec(ctx, putSettingsSQL, string(data)); err != nil {
		return fmt.Errorf("postgres: put settings: %w", err)
	}
	return nil
}

// CreateClient stores a new client; ErrConflict if its client_id is taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	return clientsTable().create(ctx, s.pool, c)
}

// GetClient returns the client with clientID.
func (s *Store) GetClient(ctx context.Context, clientID string) (store.Client, error) {
	return clientsTable().get(ctx, s.pool, "client_id", clientID)
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	return clientsTable().list(ctx, s.pool)
}

// UpdateClient replaces the client with c.ClientID.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	return clientsTable().update(ctx, s.pool, c)
}

// ModifyClient changes the client with clientID in one transaction that
// holds the row lock from the read to the write.
func (s *Store) ModifyClient(ctx context.Context, clientID string, f func(*store.Client) error) (store.Client, error) {
	var out store.Client
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var data []byte
		if err := tx.QueryRow(ctx, `SELECT data FROM clients WHERE client_id = $1 FOR UPDATE`, clientID).Scan(&data); err != nil {
			return fmt.Errorf("postgres: modify client: %w", mapErr(err))
		}
		var c store.Client
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("postgres: modify client: %w", err)
		}
		if err := f(&c); err != nil {
			return err
		}
		c.ClientID = clientID
		if err := clientsTable().update(ctx, tx, c); err != nil {
			return err
		}
		out = clientsTable().norm(c)
		return nil
	})
	return out, err
}

// DeleteClient deletes the client with clientID.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	return clientsTable().delete(ctx, s.pool, clientID)
}

// CreateConnection stores a new connection; ErrConflict if its ID or name
// is taken.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) error {
	return connectionsTable().create(ctx, s.pool, c)
}

// GetConnection returns the connection with id.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	return connectionsTable().get(ctx, s.pool, "id", id)
}

// GetConnectionByName returns the connection called name.
func (s *Store) GetConnectionByName(ctx context.Context, name string) (store.Connection, error) {
	return connectionsTable().get(ctx, s.pool, "name", name)
}

// ListConnections returns every connection, oldest first.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	return connectionsTable().list(ctx, s.pool)
}

// UpdateConnection replaces the connection with c.ID.
func (s *Store) UpdateConnection(ctx context.Context, c store.Connection) error {
	return connectionsTable().update(ctx, s.pool, c)
}

// DeleteConnection deletes the connection with id.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	return connectionsTable().delete(ctx, s.pool, id)
}

// CreateResourceServer stores a new resource server; ErrConflict if its ID
// or identifier is taken.
func (s *Store) CreateResourceServer(ctx context.Context, r store.ResourceServer) error {
	return resourceServersTable().create(ctx, s.pool, r)
}

// GetResourceServer returns the resource server with id.
func (s *Store) GetResourceServer(ctx context.Context, id string) (store.ResourceServer, error) {
	return resourceServersTable().get(ctx, s.pool, "id", id)
}

// GetResourceServerByIdentifier returns the resource server whose
// identifier (audience) is identifier.
func (s *Store) GetResourceServerByIdentifier(ctx context.Context, identifier string) (store.ResourceServer, error) {
	return resourceServersTable().get(ctx, s.pool, "identifier", identifier)
}

// ListResourceServers returns every resource server, oldest first.
func (s *Store) ListResourceServers(ctx context.Context) ([]store.ResourceServer, error) {
	return resourceServersTable().list(ctx, s.pool)
}

// UpdateResourceServer replaces the resource server with r.ID.
func (s *Store) UpdateResourceServer(ctx context.Context, r store.ResourceServer) error {
	return resourceServersTable().update(ctx, s.pool, r)
}

// DeleteResourceServer deletes the resource server with id.
func (s *Store) DeleteResourceServer(ctx context.Context, id string) error {
	return resourceServersTable().delete(ctx, s.pool, id)
}

// CreateClientGrant stores a new client grant; ErrConflict if its ID or its
// (client_id, audience) is taken.
func (s *Store) CreateClientGrant(ctx context.Context, g store.ClientGrant) error {
	return clientGrantsTable().create(ctx, s.pool, g)
}

// GetClientGrant returns the client grant with id.
func (s *Store) GetClientGrant(ctx context.Context, id string) (store.ClientGrant, error) {
	return clientGrantsTable().get(ctx, s.pool, "id", id)
}

// ListClientGrants returns every client grant, oldest first.
func (s *Store) ListClientGrants(ctx context.Context) ([]store.ClientGrant, error) {
	return clientGrantsTable().list(ctx, s.pool)
}

// UpdateClientGrant replaces the client grant with g.ID.
func (s *Store) UpdateClientGrant(ctx context.Context, g store.ClientGrant) error {
	return clientGrantsTable().update(ctx, s.pool, g)
}

// DeleteClientGrant deletes the client grant with id.
func (s *Store) DeleteClientGrant(ctx context.Context, id string) error {
	return clientGrantsTable().delete(ctx, s.pool, id)
}

// ApplyTenant upserts everything in t by natural key in one transaction.
func (s *Store) ApplyTenant(ctx context.Context, t store.TenantConfig) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if t.Settings != nil {
			data, err := json.Marshal(*t.Settings)
			if err != nil {
				return fmt.Errorf("postgres: encode settings: %w", err)
			}
			b.Queue(putSettingsSQL, string(data))
		}
		for _, c := range t.Clients {
			if err := clientsTable().queueUpsert(b, []string{"client_id"}, c); err != nil {
				return err
			}
		}
		for _, c := range t.Connections {
			if err := connectionsTable().queueUpsert(b, []string{"name"}, c); err != nil {
				return err
			}
		}
		for _, r := range t.ResourceServers {
			if err := resourceServersTable().queueUpsert(b, []string{"identifier"}, r); err != nil {
				return err
			}
		}
		for _, g := range t.ClientGrants {
			if err := clientGrantsTable().queueUpsert(b, []string{"client_id", "audience"}, g); err != nil {
				return err
			}
		}
		for _, path := range slices.Sorted(maps.Keys(t.FileState)) {
			if hash := t.FileState[path]; hash != nil {
				b.Queue(putFileStateSQL, path, hash)
			} else {
				b.Queue("DELETE FROM tenant_file_state WHERE path = $1", path)
			}
		}
		if b.Len() == 0 {
			return nil
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: apply tenant: %w", mapErr(err))
		}
		return nil
	})
}

const putFileStateSQL = "INSERT INTO tenant_file_state (path, hash) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET hash = EXCLUDED.hash"

// TenantFileState returns the recorded state of the tenant files applied.
func (s *Store) TenantFileState(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, "SELECT path, hash FROM tenant_file_state")
	if err != nil {
		return nil, fmt.Errorf("postgres: tenant file state: %w", err)
	}
	out := map[string][]byte{}
	var path string
	var hash []byte
	_, err = pgx.ForEachRow(rows, []any{&path, &hash}, func() error {
		out[path] = hash
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: tenant file state: %w", err)
	}
	return out, nil
}
