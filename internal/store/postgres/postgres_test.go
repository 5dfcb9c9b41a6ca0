package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/migrations"
	"github.com/latchkey/latchkey/internal/testpg"
)

// baseURL is the test server's URL once it has answered; the test is
// skipped without one, or when the server cannot be reached, except in CI
// where a skip would hide the backend (testpg.BaseURL).
func baseURL(t testing.TB) string {
	t.Helper()
	return testpg.BaseURL(t)
}

// withParams adds params to a connection string in URL or key=value form.
func withParams(t testing.TB, conn string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			t.Fatalf("parse LATCHKEY_TEST_POSTGRES_URL: %v", err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		conn += " " + k + "=" + v
	}
	return conn
}

// adminExec runs sql on a connection of its own to the test database.
func adminExec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := testpg.Exec(baseURL(t), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// schemaSlots bounds how many test schemas (each with its stores' pools)
// exist at once, so that -parallel on a many-core machine stays within the
// server's max_connections (100 by default): 12 × 4 connections.
var schemaSlots = make(chan struct{}, 12)

// newSchema creates a schema with a random name, dropped when the test ends,
// and returns it. The slot is given back whatever happens to the DROP: a
// slot kept by a failed cleanup would leave the next tests waiting forever.
func newSchema(t testing.TB) string {
	t.Helper()
	base := baseURL(t)
	schemaSlots <- struct{}{}
	b := make([]byte, 8)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		defer func() { <-schemaSlots }()
		if err := testpg.Exec(base, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	adminExec(t, "CREATE SCHEMA "+name)
	return name
}

// schemaURL is the test database URL with search_path set to schema and a
// small pool (see schemaSlots).
func schemaURL(t testing.TB, schema string) string {
	return withParams(t, baseURL(t), map[string]string{
		"search_path":    schema,
		"pool_max_conns": "4",
		"pool_min_conns": "1",
	})
}

// openStore opens a store on a fresh schema of its own.
func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), schemaURL(t, newSchema(t)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenConcurrent(t *testing.T) {
	t.Parallel()
	u := schemaURL(t, newSchema(t))
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := Open(context.Background(), u)
			errs[i] = err
			if err == nil {
				t.Cleanup(func() { s.Close() })
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	var versions []int32
	rows, err := s.pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err == nil {
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	steps, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	for _, st := range steps {
		want = append(want, int32(st.Version))
	}
	if !slices.Equal(versions, want) {
		t.Errorf("schema_migrations versions = %v, want %v (each embedded migration once)", versions, want)
	}
}

func TestSearchPathKeepsTablesInSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tables := func(s *Store, schema string) []string {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = $1 ORDER BY table_name`, schema)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	schema := newSchema(t)
	s, err := Open(ctx, schemaURL(t, schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	want := []string{"client_grants", "clients", "codes", "connections", "ephemerals", "log_counts", "logs", "outbox",
		"refresh_tokens", "resource_servers", "schema_migrations", "settings", "signing_keys", "tenant_file_state", "users"}
	if got := tables(s, schema); !slices.Equal(got, want) {
		t.Errorf("tables in %s = %v, want %v", schema, got, want)
	}
	// Nothing of ours may land in public: no other test here creates tables
	// there, so any of our names in public would be ours.
	for _, name := range tables(s, "public") {
		if slices.Contains(want, name) {
			t.Errorf("table %s created in public", name)
		}
	}
}

// TestLogSchemaMatchesColumns: the logs table that the migrations make has
// exactly the columns of store.LogColumns, in order.
func TestLogSchemaMatchesColumns(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	s, err := Open(t.Context(), schemaURL(t, schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	rows, err := s.pool.Query(t.Context(), `SELECT column_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'logs' ORDER BY ordinal_position`, schema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range store.LogColumns() {
		want = append(want, c.Column)
	}
	if !slices.Equal(got, want) {
		t.Errorf("logs columns %q, want %q", got, want)
	}
}

func TestOpenMissingSchema(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), schemaURL(t, "t_does_not_exist_0"))
	if err == nil || !strings.Contains(err.Error(), "create it first") {
		t.Fatalf("Open with a missing schema: err = %v, want a schema error", err)
	}
}

func TestPoolIsWarm(t *testing.T) {
	t.Parallel()
	u := withParams(t, baseURL(t), map[string]string{"search_path": newSchema(t)})
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	cfg := s.pool.Config()
	if cfg.MaxConns < 8 || cfg.MinConns < 1 || cfg.MinConns > cfg.MaxConns {
		t.Errorf("pool size min %d max %d; want max >= 8 and 1 <= min <= max", cfg.MinConns, cfg.MaxConns)
	}
	if got := s.pool.Stat().TotalConns(); got < cfg.MinConns {
		t.Errorf("open connections after Open = %d, want >= %d", got, cfg.MinConns)
	}
}

func TestHasParam(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want bool
	}{
		{"postgres://u@h/db?pool_max_conns=3", true},
		{"postgresql://u@h/db?sslmode=disable", false},
		{"host=h pool_max_conns=3", true},
		{"host=h dbname=pool_max_conns", false},
	} {
		if got := hasParam(tc.conn, "pool_max_conns"); got != tc.want {
			t.Errorf("hasParam(%q) = %v, want %v", tc.conn, got, tc.want)
		}
	}
}

// The checks below are specific to this backend's SQL; the behaviour of the
// contract as a whole is pinned down by storetest.

func TestConsumeCodeConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	now := time.Now()
	code := store.Code{ID: "c1", Connection: "email", Identifier: "a@example.com",
		Hash: []byte("right"), Send: "code", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.PutCode(ctx, code, nil); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ConsumeCode(ctx, "email", "a@example.com", []byte("right"), now)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("loser: %v, want ErrNotFound", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d consumers won, want 1", wins)
	}

	// Concurrent wrong guesses are each counted: the code dies at the third.
	if err := s.PutCode(ctx, code, nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ConsumeCode(ctx, "email", "a@example.com", []byte("wrong"), now)
		})
	}
	wg.Wait()
	count := map[error]int{}
	for _, err := range errs {
		for _, e := range []error{store.ErrCodeWrong, store.ErrCodeExhausted} {
			if errors.Is(err, e) {
				count[e]++
			}
		}
	}
	if count[store.ErrCodeWrong] != store.MaxCodeAttempts-1 || count[store.ErrCodeExhausted] != n-store.MaxCodeAttempts+1 {
		t.Errorf("wrong guesses gave %v", count)
	}
	var attempts int
	if err := s.pool.QueryRow(ctx, "SELECT attempts FROM codes").Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != store.MaxCodeAttempts {
		t.Errorf("attempts = %d, want %d", attempts, store.MaxCodeAttempts)
	}
	if _, err := s.ConsumeCode(ctx, "email", "a@example.com", []byte("right"), now); !errors.Is(err, store.ErrCodeExhausted) {
		t.Errorf("right code after exhaustion: %v, want ErrCodeExhausted", err)
	}
}

func TestRecordLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
	l := store.Login{UserID: "email|0123456789abcdef01234567", Connection: "email",
		Identifier: "a@example.com", Email: "a@example.com", EmailVerified: true, IP: "192.0.2.1", At: at}

	if _, _, err := s.RecordLogin(ctx, l, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("login without signup: %v, want ErrNotFound", err)
	}
	u, created, err := s.RecordLogin(ctx, l, true)
	if err != nil || !created {
		t.Fatalf("first login: created %v, err %v", created, err)
	}
	wantAt := time.UnixMilli(at.UnixMilli()).UTC()
	if u.LoginsCount != 1 || !u.EmailVerified || u.UserID != l.UserID || u.LastLogin != wantAt || u.CreatedAt != wantAt {
		t.Errorf("first login user = %+v", u)
	}
	l.UserID, l.IP = "email|ffffffffffffffffffffffff", "192.0.2.2"
	u, created, err = s.RecordLogin(ctx, l, true)
	if err != nil || created || u.LoginsCount != 2 || u.UserID != "email|0123456789abcdef01234567" || u.LastIP != "192.0.2.2" {
		t.Fatalf("second login: %+v, created %v, err %v", u, created, err)
	}
	if err := s.SetUserBlocked(ctx, u.UserID, true); err != nil {
		t.Fatal(err)
	}
	for _, signup := range []bool{true, false} {
		u, created, err = s.RecordLogin(ctx, l, signup)
		if err != nil || created || !u.Blocked || u.LoginsCount != 2 {
			t.Errorf("blocked login (signup %v): %+v, created %v, err %v", signup, u, created, err)
		}
	}
}

func TestRotateRefreshTokenReuse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	now := time.Now()
	tok := func(id string) store.RefreshToken {
		return store.RefreshToken{ID: id, FamilyID: "f1", Hash: []byte("h-" + id), ClientID: "c",
			UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	if err := s.CreateRefreshToken(ctx, tok("a")); err != nil {
		t.Fatal(err)
	}
	next := tok("b")
	next.FamilyID = ""
	old, err := s.RotateRefreshToken(ctx, []byte("h-a"), next, now, 0)
	if err != nil || old.ID != "a" || old.RotatedAt.IsZero() {
		t.Fatalf("rotate: %+v, %v", old, err)
	}
	if _, err := s.RotateRefreshToken(ctx, []byte("h-a"), tok("c"), now, 0); !errors.Is(err, store.ErrTokenReused) {
		t.Fatalf("reuse: %v, want ErrTokenReused", err)
	}
	// The reuse revoked the family, including b, and was committed.
	if _, err := s.RotateRefreshToken(ctx, []byte("h-b"), tok("d"), now, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotate revoked b: %v, want ErrNotFound", err)
	}
	var family string
	if err := s.pool.QueryRow(ctx, "SELECT family_id FROM refresh_tokens WHERE id = 'b'").Scan(&family); err != nil || family != "f1" {
		t.Errorf("b's family = %q (%v), want f1", family, err)
	}
}

func TestApplyTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	if err := s.CreateConnection(ctx, store.Connection{ID: "con_1", Name: "email", Strategy: "email", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	cfg := store.TenantConfig{
		Settings:    &store.TenantSettings{FriendlyName: "Acme"},
		Clients:     []store.Client{{ClientID: "app", Name: "App", CreatedAt: t1, UpdatedAt: t1}},
		Connections: []store.Connection{{ID: "con_new", Name: "email", Strategy: "email", EnabledClients: []string{"app"}, CreatedAt: t1, UpdatedAt: t1}},
		ResourceServers: []store.ResourceServer{{ID: "rs_1", Identifier: "https://api", Name: "API",
			Scopes: []store.Scope{{Value: "read"}}, CreatedAt: t1, UpdatedAt: t1}},
		ClientGrants: []store.ClientGrant{{ID: "cgr_1", ClientID: "app", Audience: "https://api", Scope: []string{"read"}, CreatedAt: t1}},
	}
	if err := s.ApplyTenant(ctx, cfg); err != nil {
		t.Fatalf("ApplyTenant: %v", err)
	}
	c, err := s.GetConnectionByName(ctx, "email")
	if err != nil || c.ID != "con_1" || !c.CreatedAt.Equal(t0) || !c.UpdatedAt.Equal(t1) || !slices.Equal(c.EnabledClients, []string{"app"}) {
		t.Errorf("connection after apply: %+v, %v", c, err)
	}
	if _, err := s.GetConnection(ctx, "con_new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConnection(con_new): %v, want ErrNotFound", err)
	}

	// A failing record rolls back the whole apply.
	bad := store.TenantConfig{
		Settings: &store.TenantSettings{FriendlyName: "Changed"},
		Clients:  []store.Client{{ClientID: "app2", Name: "App 2"}},
		// A new resource server whose id is already another's.
		ResourceServers: []store.ResourceServer{{ID: "rs_1", Identifier: "https://other"}},
	}
	if err := s.ApplyTenant(ctx, bad); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("bad ApplyTenant: %v, want ErrConflict", err)
	}
	if _, err := s.GetClient(ctx, "app2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client of a failed apply: %v, want ErrNotFound", err)
	}
	if st, err := s.GetSettings(ctx); err != nil || st.FriendlyName != "Acme" {
		t.Errorf("settings after failed apply: %+v, %v", st, err)
	}
}

func TestRotateRefreshTokenInherits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	now := time.Now()
	first := store.RefreshToken{ID: "a", FamilyID: "f1", Hash: []byte("h-a"), ClientID: "c", UserID: "u",
		Audience: "https://api", Scope: "openid offline_access", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	next := store.RefreshToken{ID: "b", Hash: []byte("h-b"), ClientID: "other", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.RotateRefreshToken(ctx, first.Hash, next, now, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotate by another client: %v, want ErrNotFound", err)
	}
	next.ClientID = "c"
	if _, err := s.RotateRefreshToken(ctx, first.Hash, next, now, 0); err != nil {
		t.Fatalf("rotate after the other client's attempt: %v", err)
	}
	var got store.RefreshToken
	if err := s.pool.QueryRow(ctx, "SELECT family_id, user_id, audience, scope FROM refresh_tokens WHERE id = 'b'").
		Scan(&got.FamilyID, &got.UserID, &got.Audience, &got.Scope); err != nil {
		t.Fatal(err)
	}
	if got.FamilyID != "f1" || got.UserID != "u" || got.Audience != "https://api" || got.Scope != "openid offline_access" {
		t.Errorf("next token inherited %+v", got)
	}
}

// TestRefusesNewerSchema: a build opening a schema migrated by a newer one
// refuses, naming both versions.
func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	u := schemaURL(t, newSchema(t))
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(context.Background(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(context.Background(), u)
	var ne *migrations.NewerSchemaError
	if !errors.As(err, &ne) || ne.Database != 9999 || ne.Build < 1 || ne.Build >= 9999 {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), fmt.Sprintf("(%d)", ne.Build)) {
		t.Errorf("error does not name both versions: %v", err)
	}
}

// TestErrorsCounted: failed queries are counted (the store-errors metric),
// answers such as no rows and conflicts are not.
func TestErrorsCounted(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	if _, err := s.GetClient(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ClientID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ClientID: "a", Name: "A"}); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if n := s.Errors(); n != 0 {
		t.Fatalf("Errors after answers = %d", n)
	}
	if _, err := s.pool.Exec(ctx, "SELECT * FROM no_such_table"); err == nil {
		t.Fatal("query of a missing table worked")
	}
	if n := s.Errors(); n != 1 {
		t.Fatalf("Errors after a failed query = %d", n)
	}
}
