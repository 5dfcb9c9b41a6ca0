package server_test

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/secret"
)

// postgresURL returns a URL for a fresh schema in the test PostgreSQL
// server (LATCHKEY_TEST_POSTGRES_URL), dropped after the test. Without the
// variable the test is skipped, except under CI, where that is a failure.
func postgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LATCHKEY_TEST_POSTGRES_URL is not set; PostgreSQL tests must run in CI")
		}
		t.Skip("LATCHKEY_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	schema := "e2e_" + secret.Hex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// forEachBackend runs f against a node on SQLite and one on PostgreSQL.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg := postgresURL(t)
		f(t, newEnv(t, func(c *config.Config) { c.DatabaseURL = pg }))
	})
}
