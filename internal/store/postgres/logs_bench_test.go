package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
)

// benchSchema holds the million-event benchmark log; it is kept between
// runs (drop it to rebuild) and named for the schema version.
const benchSchema = "bench_logs_v3"

// benchLogStore opens a store on benchSchema, filling it once with n events
// of the same mix as the SQLite benchmark (generated in SQL: far faster
// than a million round trips).
func benchLogStore(b *testing.B, n int) *Store {
	b.Helper()
	base := testURL(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+benchSchema); err != nil {
		b.Fatal(err)
	}
	u := withParams(b, base, map[string]string{"search_path": benchSchema})
	s, err := Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var have int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM logs").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == n {
		return s
	}
	if _, err := s.pool.Exec(ctx, "TRUNCATE logs"); err != nil {
		b.Fatal(err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO logs (id, date, type, description, client_id, client_name, connection, user_id, user_name, ip, hostname, user_agent, details)
	SELECT '900' || lpad((1735689600000 + i * 1000)::text, 20, '0') || lpad(i::text, 12, '0'),
		1735689600000 + i * 1000,
		CASE WHEN i % 100 < 50 THEN 's' WHEN i % 100 < 75 THEN 'cls' WHEN i % 100 < 85 THEN 'cs'
			WHEN i % 100 < 97 THEN 'fepotpft' ELSE 'depnote' END,
		CASE WHEN i % 100 < 50 THEN 'Successful login' WHEN i % 100 < 85 THEN ''
			WHEN i % 100 < 97 THEN 'Wrong email or verification code.'
			WHEN i % 100 = 97 THEN 'Legacy passwordless endpoint called without client authentication'
			WHEN i % 100 = 98 THEN 'Unpaginated list of users'
			ELSE 'Allow Connections Management without Options Scopes' END,
		'client_' || i % 7, 'App ' || i % 7, 'email', 'email|' || lpad(to_hex(i % 50000), 24, '0'),
		'user' || i % 50000 || '@example.com', '203.0.' || i % 256 || '.' || i / 256 % 256,
		'login.example.com', 'Chrome 120.0.0 / Mac OS X 10.15.7',
		CASE WHEN i % 100 = 97 THEN '{"size_exceeded":false}'::jsonb WHEN i % 100 = 98 THEN '{"size_exceeded":true}'::jsonb END
	FROM generate_series(0, $1::bigint - 1) AS i`, n)
	if err != nil {
		b.Fatalf("fill %s: %v", benchSchema, err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE logs"); err != nil {
		b.Fatal(err)
	}
	return s
}

// testURL is LATCHKEY_TEST_POSTGRES_URL; the benchmark is skipped without it
// or when the server cannot be reached (failed under CI, see testpg.BaseURL).
func testURL(b *testing.B) string {
	b.Helper()
	return baseURL(b)
}

// BenchmarkSearchLogs1M searches a million events: the first page of 50,
// newest first, with and without the total.
func BenchmarkSearchLogs1M(b *testing.B) {
	s := benchLogStore(b, 1_000_000)
	ctx := context.Background()
	for _, q := range []string{
		`type:depnote AND description:*passwordless*`,
		`type:depnote AND description:*nomatch*`,
		`description:*passwordless*`,
		`description:*nomatch*`,
		`type:s*`,
		`user_name:user4242*`,
		`date:[2025-01-05 TO 2025-01-06}`,
	} {
		n, err := query.Parse(q)
		if err != nil {
			b.Fatal(err)
		}
		for _, total := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/total=%v", q, total), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.SearchLogs(ctx, store.LogSearch{Query: n, Limit: 50, WithTotal: total}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendLogs appends batches of 256 events, as the recorder does.
func BenchmarkAppendLogs(b *testing.B) {
	testURL(b)
	s := openStore(b)
	ctx := context.Background()
	const batch = 256
	i := 0
	events := make([]store.LogEvent, batch)
	for b.Loop() {
		for j := range events {
			events[j] = store.LogEvent{
				ID:   fmt.Sprintf("900%032d", i),
				Date: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
				Type: "s", Description: "Successful login", ClientID: "client_1", ClientName: "App",
				Connection: "email", UserID: fmt.Sprintf("email|%024x", i%50000),
				UserName: fmt.Sprintf("user%d@example.com", i%50000), IP: "203.0.113.5",
				UserAgent: "Chrome 120.0.0 / Mac OS X 10.15.7",
				Details:   []byte(`{"body":{"connection":"email","send":"code"}}`),
			}
			i++
		}
		if err := s.AppendLogs(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
}
