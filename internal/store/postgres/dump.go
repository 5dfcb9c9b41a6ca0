package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// pgxOnlyParams are the database URL parameters that pgx reads itself and
// libpq (so pg_dump) rejects; every pool_* parameter is one too.
var pgxOnlyParams = map[string]bool{
	"statement_cache_capacity":   true,
	"description_cache_capacity": true,
	"default_query_exec_mode":    true,
	"min_read_buffer_size":       true,
}

// DumpCommand is the pg_dump command line that backs up the store at
// databaseURL (a postgres:// URL) into file, in pg_dump's custom format
// (for pg_restore). It is for an operator to run: Latchkey does not back
// PostgreSQL up itself. The URL is rewritten for libpq: the password is
// left out (hadPassword says there was one; pg_dump takes it from
// PGPASSWORD or ~/.pgpass), the parameters only pgx knows are dropped, and
// search_path, which places Latchkey's tables in a schema, becomes
// --schema.
func DumpCommand(databaseURL, file string) (args []string, hadPassword bool, err error) {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return nil, false, errors.New("not a postgres:// URL")
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, false, fmt.Errorf("parse database url: %w", err)
	}
	if u.User != nil {
		_, hadPassword = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	schema := ""
	for k := range q {
		switch {
		case k == "search_path":
			schema, _, _ = strings.Cut(q.Get(k), ",")
			schema = strings.Trim(strings.TrimSpace(schema), `"`)
			q.Del(k)
		case k == "password":
			hadPassword = true
			q.Del(k)
		case strings.HasPrefix(k, "pool_") || pgxOnlyParams[k]:
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	args = []string{"pg_dump", "--format=custom", "--file=" + file}
	if schema != "" {
		args = append(args, "--schema="+schema)
	}
	return append(args, "--dbname="+u.String()), hadPassword, nil
}
