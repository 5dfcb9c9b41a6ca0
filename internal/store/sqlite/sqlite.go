// Package sqlite is the SQLite backend of the storage contract, on the pure-Go
// driver modernc.org/sqlite.
//
// A Store keeps two connection pools on one database file in WAL mode: a
// single writer connection, through which every write and every
// read-modify-write transaction goes (so writers queue in Go instead of
// fighting over SQLite's lock, and transactions start with BEGIN IMMEDIATE),
// and a pool of query-only reader connections that never block the writer.
// Times are stored as Unix milliseconds and returned in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/migrations"
)

//go:embed migrations/*.sql logmigrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a connection waits for another process's lock
// (our own writers queue on the single writer connection instead).
const busyTimeout = 5 * time.Second

// walCheckpointPages is how many pages the WAL holds before the commit
// that reaches it copies them into the database (SQLite's default: 1,000).
// A login's writes touch the same few hot pages again and again, and a
// checkpoint copies each page once however often it changed: four times
// fewer checkpoints cost about 0.03 ms less CPU a login (docs/performance.md),
// for a WAL file of up to 16 MB (4 KB pages).
const walCheckpointPages = 4000

// Store is a SQLite-backed store.Store.
type Store struct {
	path string // the database file (absolute)
	w    *pool  // the single writer connection
	r    *pool  // query-only readers
	// The tenant log is a second database file with its own writer, so that
	// log batches never wait for, or hold up, the writes of logins.
	lw *pool
	lr *pool
	// errs counts failed statements (Errors).
	errs *atomic.Int64
}

// LogsPath is the tenant log's database file for the store at path:
// latchkey.db → latchkey-logs.db.
func LogsPath(path string) string {
	return strings.TrimSuffix(path, ".db") + "-logs.db"
}

var _ store.Store = (*Store)(nil)

// pool is a *sql.DB with a cache of prepared statements.
type pool struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// errs counts failed statements (shared by the store's pools).
	errs *atomic.Int64
}

// failed counts err when it is a failure of the database rather than an
// answer (no rows, a unique-key conflict) or the caller giving up.
func (p *pool) failed(err error) error {
	if err != nil && p.errs != nil && !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !isConflict(err) {
		p.errs.Add(1)
	}
	return err
}

// Errors is how many statements have failed since Open (not counting
// missing rows, conflicts, or callers that gave up: cancelled or past
// their deadline): the store-errors metric.
func (s *Store) Errors() int64 { return s.errs.Load() }

// Open opens (creating it if needed) the database file at path and brings its
// schema up to date. path must name a file: in-memory databases are not
// supported, since the writer and the readers are separate connections.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: %q is not a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	lw, lr, err := openFile(ctx, LogsPath(abs), "logmigrations", nil)
	if err != nil {
		return nil, err
	}
	w, r, err := openFile(ctx, abs, "migrations", func(db *sql.DB) error {
		return moveOldLogs(ctx, db, LogsPath(abs))
	})
	if err != nil {
		lr.close()
		lw.close()
		return nil, err
	}
	s := &Store{path: abs, w: w, r: r, lw: lw, lr: lr, errs: new(atomic.Int64)}
	for _, p := range []*pool{w, r, lw, lr} {
		p.errs = s.errs
	}
	// Statements used inside writer transactions must be prepared before
	// any transaction holds the writer connection.
	if err := s.w.prepare(ctx, txQueries...); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := s.lw.prepare(ctx, logTxQueries...); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return s, nil
}

// openFile opens the database file at abs (creating it if needed) as a
// writer connection and a pool of readers, and applies the migrations in
// the embedded directory dir, after calling before (if not nil) on the
// writer.
func openFile(ctx context.Context, abs, dir string, before func(*sql.DB) error) (w, r *pool, err error) {
	wdb, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
			"journal_mode(WAL)",
			"synchronous(NORMAL)",
			"foreign_keys(ON)",
			fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages),
		},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if before != nil {
		if err := before(wdb); err != nil {
			wdb.Close()
			return nil, nil, err
		}
	}
	if err := migrate(ctx, wdb, dir, filepath.Base(abs)); err != nil {
		wdb.Close()
		return nil, nil, err
	}

	readers := max(4, 2*runtime.GOMAXPROCS(0))
	rdb, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
			"foreign_keys(ON)",
			"query_only(1)",
		},
	}))
	if err != nil {
		wdb.Close()
		return nil, nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	return &pool{db: wdb, stmts: map[string]*sql.Stmt{}}, &pool{db: rdb, stmts: map[string]*sql.Stmt{}}, nil
}

// logColumns are the columns of the old in-file log table (schema versions
// 2 and 3) but seq, all of which the log file has too. This list is frozen
// with that table: it is not derived from store.LogColumns, because a
// column added since does not exist in the old table (moved events take
// its default).
const logColumns = `id, date, type, description, client_id, client_name, connection,
	connection_id, strategy, strategy_type, user_id, user_name, ip, client_ip, hostname,
	user_agent, is_mobile, audience, scope, details, auth0_client`

// moveOldLogs copies the tenant log of a database written by a build that
// kept it in the main file into the log file at logsAbs; migration 0004 then
// drops the old tables. The copy skips events already there, so an
// interrupted move is completed by the next Open.
func moveOldLogs(ctx context.Context, db *sql.DB, logsAbs string) error {
	var n int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'logs'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: move old logs: %w", err)
	}
	if n == 0 {
		return nil
	}
	conn, err := db.Conn(ctx) // ATTACH is per connection
	if err != nil {
		return fmt.Errorf("sqlite: move old logs: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS moved`, logsAbs); err != nil {
		return fmt.Errorf("sqlite: move old logs: attach: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE moved`)
	for _, q := range []string{
		`INSERT OR IGNORE INTO moved.logs (` + logColumns + `) SELECT ` + logColumns + ` FROM main.logs ORDER BY id`,
		`INSERT OR IGNORE INTO moved.log_descriptions (description) SELECT DISTINCT description FROM main.logs WHERE description <> ''`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: move old logs: %w", err)
		}
	}
	return nil
}

// dsn is a SQLite URI for the file at abs, with the driver's parameters.
func dsn(abs string, params url.Values) string {
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + params.Encode()
}

// Close closes every pool.
func (s *Store) Close() error {
	return errors.Join(s.lr.close(), s.lw.close(), s.r.close(), s.w.close())
}

// Ping checks every pool.
func (s *Store) Ping(ctx context.Context) error {
	for _, p := range []struct {
		what string
		p    *pool
	}{{"writer", s.w}, {"readers", s.r}, {"log writer", s.lw}, {"log readers", s.lr}} {
		if err := p.p.db.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlite: ping %s: %w", p.what, err)
		}
	}
	return nil
}

// migrate applies the embedded migrations that db has not seen yet, each in
// its own transaction.
func migrate(ctx context.Context, db *sql.DB, dir, file string) error {
	steps, err := migrations.Load(migrationFiles, dir)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("sqlite: migrate: read version: %w", err)
	}
	if err := migrations.CheckNotNewer(steps, int(newest.Int64)); err != nil {
		return fmt.Errorf("sqlite: %s: %w", file, err)
	}
	for _, st := range steps {
		if newest.Valid && int64(st.Version) <= newest.Int64 {
			continue
		}
		if err := migrateStep(ctx, db, st); err != nil {
			return fmt.Errorf("sqlite: migrate %04d_%s: %w", st.Version, st.Name, err)
		}
	}
	return nil
}

func migrateStep(ctx context.Context, db *sql.DB, st migrations.Step) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: serialises processes migrating together
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, st.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 { // another process got here first
		return nil
	}
	if _, err := tx.ExecContext(ctx, st.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		st.Version, st.Name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// --- statements ------------------------------------------------------------

// stmt returns the prepared statement for query, preparing it once. It
// never holds the cache lock while preparing: on the writer, preparing waits
// for the single connection, which a transaction may hold.
func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := p.cached(query); st != nil {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.stmts[query]; ok {
		st.Close()
		return prev, nil
	}
	p.stmts[query] = st
	return st, nil
}

// cached is the prepared statement for query, or nil.
func (p *pool) cached(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

// prepare fills the cache with queries.
func (p *pool) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := p.stmt(ctx, q); err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	return nil
}

func (p *pool) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, p.failed(err)
	}
	res, err := st.ExecContext(ctx, args...)
	return res, p.failed(err)
}

func (p *pool) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, p.failed(err)
	}
	rows, err := st.QueryContext(ctx, args...)
	return rows, p.failed(err)
}

// queryRow runs a query returning at most one row and scans it with scan;
// sql.ErrNoRows when there is none.
func (p *pool) queryRow(ctx context.Context, scan func(scanner) error, query string, args ...any) error {
	rows, err := p.query(ctx, query, args...)
	if err != nil {
		return err
	}
	return p.failed(scanOne(rows, scan))
}

func (p *pool) close() error {
	p.mu.Lock()
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	p.stmts = map[string]*sql.Stmt{}
	p.mu.Unlock()
	errs = append(errs, p.db.Close())
	return errors.Join(errs...)
}

// tx is a writer transaction using the pool's prepared statements.
type tx struct {
	tx *sql.Tx
	p  *pool
}

// begin starts a writer transaction (BEGIN IMMEDIATE, from the DSN).
func (s *Store) begin(ctx context.Context) (*tx, error) { return s.w.begin(ctx) }

// begin starts a transaction on the pool's writer connection.
func (p *pool) begin(ctx context.Context) (*tx, error) {
	t, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, p.failed(err)
	}
	return &tx{tx: t, p: p}, nil
}

// stmt is query's statement in the transaction: the cached one when there
// is one (see txQueries), else one prepared for this transaction only.
func (t *tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := t.p.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st), nil
	}
	return t.tx.PrepareContext(ctx, query)
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, t.p.failed(err)
	}
	res, err := st.ExecContext(ctx, args...)
	return res, t.p.failed(err)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, t.p.failed(err)
	}
	rows, err := st.QueryContext(ctx, args...)
	return rows, t.p.failed(err)
}

func (t *tx) queryRow(ctx context.Context, scan func(scanner) error, query string, args ...any) error {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return err
	}
	return t.p.failed(scanOne(rows, scan))
}

func (t *tx) commit() error   { return t.p.failed(t.tx.Commit()) }
func (t *tx) rollback() error { return t.tx.Rollback() }

type scanner interface{ Scan(dest ...any) error }

func scanOne(rows *sql.Rows, scan func(scanner) error) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Close()
}

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// --- errors ----------------------------------------------------------------

// wrap adds the operation to err and maps SQLite's errors onto the
// contract's: no rows is ErrNotFound, a unique or primary-key violation is
// ErrConflict.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	if isConflict(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrConflict, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func isConflict(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlitelib.SQLITE_CONSTRAINT_UNIQUE, sqlitelib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// --- values ----------------------------------------------------------------

// toMS is t in Unix milliseconds.
func toMS(t time.Time) int64 { return t.UnixMilli() }

// fromMS is the UTC time of Unix milliseconds v.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// toNullMS stores the zero time as NULL.
func toNullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// norm is t as the store keeps it: millisecond precision, UTC (zero stays
// zero).
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

// blob keeps a nil slice from binding as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
