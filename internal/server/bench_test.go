package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store"
)

// benchServer starts a node with cfg (data directory, tenant file and
// address filled in) behind a plain HTTP test server; both stop when the
// benchmark ends.
func benchServer(b *testing.B, cfg config.Config) (*server.Server, *httptest.Server) {
	b.Helper()
	dir := b.TempDir()
	tf := filepath.Join(dir, "tenant.json")
	ts := httptest.NewUnstartedServer(nil)
	cfg.DataDir, cfg.Bootstrap, cfg.LogFormat, cfg.Addr = filepath.Join(dir, "data"), tf, "text", ts.Listener.Addr().String()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tf, tenantFileFor(cfg.Issuer), 0o600); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Every login signs a new user up from this one address: allow-list it
	// for signup throttling, as a backend would pass its users' IPs.
	settings, err := srv.Store.GetSettings(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	sit := store.DefaultSuspiciousIP()
	sit.Allowlist = []string{"127.0.0.1"}
	settings.AttackProtection.SuspiciousIP = &sit
	if err := srv.Store.PutSettings(b.Context(), settings); err != nil {
		b.Fatal(err)
	}
	srv.Dir.Invalidate()
	ts.Config.Handler = srv.Handler()
	ts.Start()
	// The outbox delivers every message (to the capture in --dev), as Run
	// would.
	ctx, cancel := context.WithCancel(context.Background())
	wait := srv.StartJobs(ctx)
	b.Cleanup(func() { ts.Close(); cancel(); wait(); srv.Close() })
	return srv, ts
}

// BenchmarkEmailCodeLogin measures full email-code logins (start, read the
// code, exchange it for an ID token and an opaque access token) through real
// HTTP on loopback with SQLite. ns/op is per login; logins/s is reported.
func BenchmarkEmailCodeLogin(b *testing.B) {
	srv, ts := benchServer(b, config.Config{Dev: true})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	post := func(path, ct string, body []byte) error {
		res, err := client.Post(ts.URL+path, ct, bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: %d", path, res.StatusCode)
		}
		return nil
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			email := fmt.Sprintf("bench%d@example.com", n.Add(1))
			start := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"connection":"email","send":"code","email":%q}`, webID, webSecret, email)
			if err := post("/passwordless/start", "application/json", []byte(start)); err != nil {
				b.Error(err)
				return
			}
			// The outbox delivers it to the capture just after the answer.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			msg, err := srv.Capture.Await(ctx, email)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {webID},
				"client_secret": {webSecret}, "realm": {"email"}, "username": {email}, "otp": {msg.Code}, "scope": {"openid email"}}
			if err := post("/oauth/token", "application/x-www-form-urlencoded", []byte(form.Encode())); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
