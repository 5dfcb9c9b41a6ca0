// Package postgres is the PostgreSQL backend of the storage contract, for
// running several Latchkey nodes against one database. It uses a warm pgx
// connection pool, applies its embedded migrations at Open under an advisory
// lock, and keeps every table in the first schema of the connection's
// search_path (which the database URL may set: ?search_path=latchkey).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a PostgreSQL-backed store.Store.
type Store struct {
	pool *pgxpool.Pool
	errs *errorCounter
}

// Errors is how many queries have failed since Open (not counting missing
// rows, unique-key conflicts, serialization failures that were retried, or
// callers that gave up): the store-errors metric.
func (s *Store) Errors() int64 { return s.errs.n.Load() }

// errorCounter is a pgx query tracer that counts failed queries.
type errorCounter struct{ n atomic.Int64 }

func (c *errorCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (c *errorCounter) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	err := d.Err
	if err == nil || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || retryable(err)) {
		return
	}
	c.n.Add(1)
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN), warms the connection pool and applies any pending migrations.
//
// Pool size defaults to max(8, 4×GOMAXPROCS) connections with half of them
// kept open; pool_max_conns and pool_min_conns in the URL override that.
// Any other pgx/libpq parameter works too, e.g. search_path to place the
// tables in a schema other than public (the schema must exist).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	if !hasParam(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if !hasParam(url, "pool_min_conns") {
		cfg.MinConns = max(1, cfg.MaxConns/2)
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	errs := &errorCounter{}
	cfg.ConnConfig.Tracer = errs

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	s := &Store{pool: pool, errs: errs}
	if err := s.warm(ctx, int(cfg.MinConns)); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// warm opens n connections at once, so that the first requests do not pay
// for connection set-up (a cold pool cost a peer 20x in latency).
func (s *Store) warm(ctx context.Context, n int) error {
	n = max(n, 1)
	type result struct {
		conn *pgxpool.Conn
		err  error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			c, err := s.pool.Acquire(ctx)
			if err == nil {
				err = c.Ping(ctx)
			}
			results <- result{c, err}
		}()
	}
	var firstErr error
	for range n {
		r := <-results
		if r.conn != nil {
			defer r.conn.Release()
		}
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	if firstErr != nil {
		return fmt.Errorf("postgres: connect: %w", firstErr)
	}
	return nil
}

// hasParam reports whether the connection string sets key, in URL or in
// key=value form.
func hasParam(connString, key string) bool {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		return err == nil && u.Query().Has(key)
	}
	for _, f := range strings.Fields(connString) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == key {
			return true
		}
	}
	return false
}

// migrate applies the embedded migrations that schema_migrations does not
// list yet. Each step runs in its own transaction that first takes a
// transaction-level advisory lock keyed by the schema, so nodes starting
// together apply every step exactly once.
func (s *Store) migrate(ctx context.Context) error {
	steps, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	var schema *string
	if err := s.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("postgres: read current schema: %w", err)
	}
	if schema == nil {
		var path string
		_ = s.pool.QueryRow(ctx, "SHOW search_path").Scan(&path)
		return fmt.Errorf("postgres: no schema of search_path %q exists; create it first", path)
	}
	key := lockKey(*schema)

	locked := func(fn func(tx pgx.Tx) error) error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
			return fn(tx)
		})
	}
	err = locked(func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create schema_migrations in %q: %w", *schema, err)
	}
	var newest *int
	if err := s.pool.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if newest != nil {
		if err := migrations.CheckNotNewer(steps, *newest); err != nil {
			return fmt.Errorf("postgres: schema %q: %w", *schema, err)
		}
	}
	for _, step := range steps {
		err := locked(func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx,
				"SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
				step.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, step.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx,
				"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				step.Version, step.Name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %04d_%s: %w", step.Version, step.Name, err)
		}
	}
	return nil
}

// lockKey is the advisory lock id guarding migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("latchkey/migrate/" + schema))
	return int64(h.Sum64())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// commitThen, returned by a transaction body, commits the transaction and
// then returns err (e.g. a wrong code whose failed attempt must be kept).
type commitThen struct{ err error }

func (c commitThen) Error() string { return c.err.Error() }
func (c commitThen) Unwrap() error { return c.err }

// maxTxAttempts bounds retries of transactions that lost a deadlock or a
// serialization conflict.
const maxTxAttempts = 3

// inTx runs fn in a transaction: committed when fn returns nil or a
// commitThen, rolled back otherwise. Deadlocks and serialization failures
// are retried, so fn must not keep state across calls.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.retrying(ctx, func() error { return s.tryTx(ctx, fn) })
}

// retrying runs fn (one statement, or a transaction for inTx) again when
// it lost a deadlock or a serialization conflict.
func (s *Store) retrying(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if attempt < maxTxAttempts && retryable(err) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	ferr := fn(tx)
	var keep commitThen
	if ferr != nil && !errors.As(ferr, &keep) {
		_ = tx.Rollback(ctx)
		return ferr
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if ferr != nil {
		return keep.err
	}
	return nil
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapErr turns driver errors into the contract's errors.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w (%s)", store.ErrConflict, pgErr.ConstraintName)
	}
	return err
}

// ms is t in unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msNull is t in unix milliseconds, or NULL for the zero time.
func msNull(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

// fromMS is the UTC time of unix milliseconds v.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromMSNull is the UTC time of unix milliseconds v, or zero for NULL.
func fromMSNull(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// norm is t as the store keeps it: milliseconds, UTC; zero stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return fromMS(t.UnixMilli())
}
