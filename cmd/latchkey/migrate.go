package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config.Config
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.StoreFlags(fs)
	config.DocumentEnv(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Environment(fs, os.LookupEnv); err != nil {
		return usageError{err}
	}
	st, where, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "schema up to date: %s\n", where)
	return nil
}
