package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey/latchkey/internal/buildinfo"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// SIGHUP (systemctl reload) reloads the TLS certificate once the
	// server runs; until then (migrations, the tenant file) it must not end
	// the process.
	signal.Ignore(syscall.SIGHUP)
	var cfg config.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.ServeFlags(fs)
	config.DocumentEnv(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Environment(fs, os.LookupEnv); err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg.Addr = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	var opsLn net.Listener
	if cfg.OpsAddr != "" {
		if opsLn, err = net.Listen("tcp", cfg.OpsAddr); err != nil {
			return fmt.Errorf("ops listener (--ops-addr %s; \"off\" switches it off): %w", cfg.OpsAddr, err)
		}
		defer opsLn.Close()
		cfg.OpsAddr = opsLn.Addr().String()
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	srv, err := server.New(ctx, cfg, log, server.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	banner(stdout, log, cfg, srv)
	return srv.Run(ctx, ln, opsLn)
}

// banner says where the server listens and what it uses: on stdout for a
// person in text mode; in JSON mode, as one structured log line on stderr
// (stdout stays empty, so a log collector sees only JSON).
func banner(stdout io.Writer, log *slog.Logger, cfg config.Config, srv *server.Server) {
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	attrs := []any{"addr", cfg.Addr, "scheme", scheme, "issuer", cfg.Issuer, "store", srv.StoreDesc, "limits", srv.LimiterDesc,
		"version", buildinfo.Read().Version}
	if cfg.OpsAddr != "" {
		attrs = append(attrs, "ops", "http://"+cfg.OpsAddr+"/")
	}
	if len(cfg.TrustedProxies) > 0 {
		attrs = append(attrs, "trusted_proxies", fmt.Sprint(cfg.TrustedProxies), "proxy_header", cfg.ProxyHeader)
	}
	if srv.DeliveryDesc != "" {
		attrs = append(attrs, "delivery", srv.DeliveryDesc)
	}
	if d := srv.Demo; d != nil {
		attrs = append(attrs, "dev_outbox", cfg.Issuer+"dev/outbox", "demo_client_id", d.ClientID, "demo_client_secret", d.ClientSecret)
	}
	if o := srv.ConsoleOwner; o != "" {
		attrs = append(attrs, "console", cfg.Issuer+"admin/", "console_owner", o)
	}
	if cfg.LogFormat == "json" {
		log.Info("latchkey started", attrs...)
		return
	}
	fmt.Fprintf(stdout, "Latchkey %s listening on %s://%s\n  issuer: %s\n  store:  %s\n", buildinfo.Read().Version, scheme, cfg.Addr, cfg.Issuer, srv.StoreDesc)
	fmt.Fprintf(stdout, "  limits: %s\n", srv.LimiterDesc)
	if cfg.OpsAddr != "" {
		fmt.Fprintf(stdout, "  ops:    http://%s/ (health/live, health/ready, metrics)\n", cfg.OpsAddr)
	}
	if len(cfg.TrustedProxies) > 0 {
		fmt.Fprintf(stdout, "  client IPs from %s sent by %v\n", cfg.ProxyHeader, cfg.TrustedProxies)
	}
	if srv.DeliveryDesc != "" {
		fmt.Fprintf(stdout, "  delivery: %s (email), SMS through each sms connection's provider\n", srv.DeliveryDesc)
	}
	if d := srv.Demo; d != nil {
		fmt.Fprintf(stdout, "  dev mode: messages are captured, not sent: %sdev/outbox\n", cfg.Issuer)
		fmt.Fprintf(stdout, "  demo application: client_id=%s client_secret=%s\n", d.ClientID, d.ClientSecret)
		fmt.Fprintf(stdout, "  try: curl -s %spasswordless/start -H 'content-type: application/json' -d '{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"connection\":\"email\",\"send\":\"code\",\"email\":\"you@example.com\"}'\n",
			cfg.Issuer, d.ClientID, d.ClientSecret)
		fmt.Fprintf(stdout, "  or log in in a browser: %sauthorize?client_id=%s&redirect_uri=%s&response_type=code&state=x\n",
			cfg.Issuer, d.ClientID, url.QueryEscape(cfg.Issuer+"callback"))
	}
	if o := srv.ConsoleOwner; o != "" {
		fmt.Fprintf(stdout, "  console: %sadmin/login?login_hint=%s (sign in as %s", cfg.Issuer, url.QueryEscape(o), o)
		if srv.Demo != nil {
			fmt.Fprintf(stdout, "; the code is in %sdev/outbox", cfg.Issuer)
		}
		fmt.Fprintln(stdout, ")")
	}
	log.Info("listening", "addr", cfg.Addr, "issuer", cfg.Issuer, "store", srv.StoreDesc)
}
