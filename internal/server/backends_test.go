package server_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/testpg"
)

// postgresURL returns a URL for a fresh schema in the test PostgreSQL
// server, dropped after the test.
func postgresURL(t *testing.T) string {
	t.Helper()
	return testpg.SchemaURL(t, "e2e")
}

// forEachBackend runs f against a node on SQLite and one on PostgreSQL,
// both with the options opts, in parallel.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env), opts ...envOpt) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, newEnv(t, opts...))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := postgresURL(t)
		f(t, newEnv(t, append(opts, func(c *config.Config) { c.DatabaseURL = pg })...))
	})
}
