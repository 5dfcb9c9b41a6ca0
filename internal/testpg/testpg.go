// Package testpg gives tests a fresh schema in the test PostgreSQL server
// (LATCHKEY_TEST_POSTGRES_URL). Without the variable a test is skipped,
// except under CI, where that is a failure: a skipped PostgreSQL test there
// would hide the backend.
package testpg

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/secret"
)

// SchemaURL creates a schema named prefix_<random> and returns the test
// server's URL with search_path set to it; the schema is dropped when the
// test ends.
func SchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LATCHKEY_TEST_POSTGRES_URL is not set; PostgreSQL tests must run in CI")
		}
		t.Skip("LATCHKEY_TEST_POSTGRES_URL is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	schema := prefix + "_" + secret.Hex(6)
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, base, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
