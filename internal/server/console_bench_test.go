package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// BenchmarkConsolePages: each console page with 1,000,000 tenant-log
// events over the last 30 days and 100,000 users in SQLite, through the
// real server (HTTP over loopback, a signed-in owner). The target: every
// page under 100 ms. Run: go test ./internal/server/ -run '^$' -bench ConsolePages -benchtime 20x
// (building the data takes a minute or two).
func BenchmarkConsolePages(b *testing.B) {
	e := newEnv(b, withConsoleOwner(consoleOwnerEmail))
	ctx := b.Context()
	st := e.srv.Store
	now := e.clock.Now()
	began := time.Now()
	const events, users = 1_000_000, 100_000
	start := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / events
	batch := make([]store.LogEvent, 0, 5000)
	for i := range events {
		batch = append(batch, benchConsoleEvent(i, start.Add(time.Duration(i)*step)))
		if len(batch) == cap(batch) {
			if err := st.AppendLogs(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range users {
		email := fmt.Sprintf("user%d@example.com", i)
		if err := st.CreateUser(ctx, store.User{UserID: fmt.Sprintf("email|%024x", i), Connection: "email", Identifier: email,
			Email: email, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d events and %d users in %v", events, users, time.Since(began).Round(time.Second))
	br, _ := consoleSession(b, e, consoleOwnerEmail)
	for _, p := range consoleBenchPages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				if pg := br.get(p.path); pg.status != 200 {
					b.Fatalf("%s: %d %s", p.path, pg.status, clipBody(pg.body))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// consoleBenchPages are the pages the benchmark reads: every page, and the
// log searches operators run most.
var consoleBenchPages = append(append([]struct{ name, path string }{}, consolePages...),
	struct{ name, path string }{"logs-all", "/admin/logs"},
	struct{ name, path string }{"logs-failures", "/admin/logs?q=type:fepotpft"},
	struct{ name, path string }{"logs-user", "/admin/logs?q=user_name:user4242@example.com"},
	struct{ name, path string }{"logs-depnotes", "/admin/logs?q=" + "type:depnote%20AND%20description:*passwordless*"},
	struct{ name, path string }{"users-last-page", "/admin/users?page=1999"},
	struct{ name, path string }{"users-search", "/admin/users?q=user4242@example.com"},
	struct{ name, path string }{"user", "/admin/users/email%7C" + fmt.Sprintf("%024x", 4242)},
)

// benchConsoleEvent is event i of a synthetic tenant log dated at: mostly
// logins and codes sent, failed exchanges, 1% unauthenticated starts.
func benchConsoleEvent(i int, at time.Time) store.LogEvent {
	e := store.LogEvent{ID: fmt.Sprintf("%017d%04d%05d", at.UnixMicro(), 9999, i%100000), Date: at,
		ClientID: fmt.Sprintf("client_%d", i%7), ClientName: fmt.Sprintf("App %d", i%7), Connection: "email",
		UserID: fmt.Sprintf("email|%024x", i%100000), UserName: fmt.Sprintf("user%d@example.com", i%100000),
		IP: fmt.Sprintf("203.0.%d.%d", i%256, i/256%256), Hostname: "login.example.com", UserAgent: "Chrome 120.0.0 / Mac OS X 10.15.7"}
	switch r := i % 100; {
	case r < 50:
		e.Type, e.Description = "s", "Successful login"
	case r < 85:
		e.Type = "cls"
	case r < 99:
		e.Type, e.Description = "fepotpft", "Wrong email or verification code."
	default:
		e.Type, e.ClientID = "depnote", "web-app"
		e.Description = "Passwordless start without client authentication: /passwordless/start"
	}
	return e
}
