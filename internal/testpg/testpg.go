// Package testpg gives tests a fresh schema in the test PostgreSQL server
// (LATCHKEY_TEST_POSTGRES_URL). Without the variable, or when the server
// cannot be reached (down, wrong port, the database missing), a test is
// skipped, except under CI, where that is a failure: a skipped PostgreSQL
// test there would hide the backend. The server is probed once per test
// binary, with a timeout, so an unreachable server costs seconds, not the
// 10-minute test timeout.
package testpg

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/secret"
)

// Timeout bounds each administrative connection and statement (the probe,
// CREATE SCHEMA, DROP SCHEMA).
const Timeout = 10 * time.Second

// probe connects once to the server; its error says why the tests cannot
// run.
var probe = sync.OnceValues(func() (string, error) {
	base := os.Getenv("LATCHKEY_TEST_POSTGRES_URL")
	if base == "" {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(context.Background())
	}
	if err != nil {
		return base, fmt.Errorf("PostgreSQL at LATCHKEY_TEST_POSTGRES_URL=%s is not usable: %w "+
			"(start the server and create the database the URL names; "+
			"outside CI these tests are then skipped)", redact(base), err)
	}
	return base, nil
})

// BaseURL returns LATCHKEY_TEST_POSTGRES_URL once the server has answered.
// When the variable is not set or the server cannot be reached, the test is
// skipped, or fails under CI.
func BaseURL(t testing.TB) string {
	t.Helper()
	base, err := probe()
	switch {
	case base == "" && os.Getenv("CI") != "":
		t.Fatal("LATCHKEY_TEST_POSTGRES_URL is not set; PostgreSQL tests must run in CI")
	case base == "":
		t.Skip("LATCHKEY_TEST_POSTGRES_URL is not set")
	case err != nil && os.Getenv("CI") != "":
		t.Fatal(err)
	case err != nil:
		t.Skip(err)
	}
	return base
}

// SchemaURL creates a schema named prefix_<random> and returns the test
// server's URL with search_path set to it; the schema is dropped when the
// test ends.
func SchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := BaseURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_POSTGRES_URL: %v", err)
	}
	schema := prefix + "_" + secret.Hex(6)
	t.Cleanup(func() {
		if err := Exec(base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	if err := Exec(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql with args on a connection of its own to base, within
// Timeout. It returns the error instead of failing the test so that it can
// run in a cleanup that must go on after a failure.
func Exec(base, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("%s: connect to PostgreSQL: %w", sql, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// redact hides the password of a URL-form connection string (in the user
// information or a password parameter).
func redact(conn string) string {
	u, err := url.Parse(conn)
	if err != nil || u.Scheme == "" {
		return "(connection string)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
