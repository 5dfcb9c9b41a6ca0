package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.ServeFlags(fs)
	config.DocumentEnv(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Environment(fs, os.Getenv); err != nil {
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
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	srv, err := server.New(ctx, cfg, log, server.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "Latchkey listening on %s://%s\n  issuer: %s\n  store:  %s\n", scheme, cfg.Addr, cfg.Issuer, srv.StoreDesc)
	fmt.Fprintf(stdout, "  limits: %s\n", srv.LimiterDesc)
	if srv.Outbox != nil {
		fmt.Fprintf(stdout, "  delivery: %s (email), SMS through each sms connection's provider\n", srv.DeliveryDesc)
	}
	if d := srv.Demo; d != nil {
		fmt.Fprintf(stdout, "  dev mode: messages are captured, not sent: %sdev/outbox\n", cfg.Issuer)
		fmt.Fprintf(stdout, "  demo application: client_id=%s client_secret=%s\n", d.ClientID, d.ClientSecret)
		fmt.Fprintf(stdout, "  try: curl -s %spasswordless/start -H 'content-type: application/json' -d '{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"connection\":\"email\",\"send\":\"code\",\"email\":\"you@example.com\"}'\n",
			cfg.Issuer, d.ClientID, d.ClientSecret)
	}
	log.Info("listening", "addr", cfg.Addr, "issuer", cfg.Issuer, "store", srv.StoreDesc)
	return srv.Run(ctx, ln)
}
