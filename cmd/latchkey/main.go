// Command latchkey is the Latchkey server and its admin tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the server", runServe},
		{"migrate", "create or upgrade the database schema, then exit", runMigrate},
		{"backup", "copy the SQLite store while serve runs (PostgreSQL: prints the pg_dump command)", runBackup},
		{"healthcheck", "exit 0 when a server's ops listener says it is ready (container HEALTHCHECK)", runHealthcheck},
		{"client", "manage applications: create, list, get, update, delete, rotate-secret", runClient},
		{"connection", "manage connections: create, list, get, update, delete", runConnection},
		{"settings", "tenant settings: get, set PATH=VALUE", runSettings},
		{"members", "the operator console's members: list, add EMAIL --role ROLE, remove EMAIL", runMembers},
		{"branding", "the hosted login page's colours, logo, favicon and font: get, set PATH=VALUE", runBranding},
		{"users", "users: list, get, block, unblock, create, delete, logs, blocks, unblock-attempts", runUsers},
		{"attack-protection", "brute-force protection and suspicious IP throttling: get, set PATH=VALUE", runAttackProtection},
		{"ips", "suspicious IP throttling blocks: blocked IP, unblock IP", runIPs},
		{"keys", "token-signing keys: list, get KID, rotate, revoke KID", runKeys},
		{"logs", "tenant logs: search 'QUERY', get ID, migration-report", runLogs},
		{"apply", "apply a tenant file to the store (as serve --bootstrap)", runApply},
		{"bench", "load driver: full email-code logins against a server started with --dev", runBench},
		{"version", "print the version, commit and Go version of this build", runVersion},
		{"help", "list the subcommands", nil},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			err := c.run(ctx, args[1:], stdout, stderr)
			var ue usageError
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp):
				return exitOK
			case errors.As(err, &ue):
				fmt.Fprintf(stderr, "latchkey %s: %v\n", c.name, err)
				return exitUsage
			default:
				fmt.Fprintf(stderr, "latchkey %s: %v\n", c.name, err)
				return exitFailure
			}
		}
	}
	fmt.Fprintf(stderr, "latchkey: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: latchkey <command> [flags]   (latchkey <command> -h documents each)")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
	}
}

// parse parses a FlagSet, turning errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
