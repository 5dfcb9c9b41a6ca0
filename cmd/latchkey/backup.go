package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
)

// devMasterKeyFile is the master key that serve --dev generates in the
// data directory (server.LoadMasterKey).
const devMasterKeyFile = "master.key"

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config.Config
	var to string
	var withKey bool
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: latchkey backup --to DIR [flags]

Copies the SQLite store (latchkey.db and the tenant log latchkey-logs.db) into
DIR, a new or empty directory, while serve keeps running: each file is copied
as one consistent snapshot. The master key is not copied: escrow it apart.
Restore: stop latchkey, delete latchkey.db*, latchkey-logs.db* (with their
-wal and -shm files) from the data dir, copy the two files in, start it.
With --database-url (PostgreSQL) it prints the pg_dump command to run instead.

`)
		fs.PrintDefaults()
	}
	cfg.StoreFlags(fs)
	var envFlags []string
	fs.VisitAll(func(f *flag.Flag) { envFlags = append(envFlags, f.Name) })
	fs.StringVar(&to, "to", "", "directory to write the backup into (created; must be empty if it exists)")
	fs.BoolVar(&withKey, "include-dev-master-key", false, "also copy the data dir's generated dev master key ("+devMasterKeyFile+"); for dev data only")
	config.DocumentEnv(fs, envFlags...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Environment(fs, os.LookupEnv, envFlags...); err != nil {
		return usageError{err}
	}
	if to == "" {
		return usageError{errors.New("--to DIR is required")}
	}
	if cfg.DatabaseURL != "" {
		return usageError{pgDumpAdvice(cfg.DatabaseURL, to)}
	}

	devKey := filepath.Join(cfg.DataDir, devMasterKeyFile)
	_, err := os.Stat(devKey)
	hasDevKey := err == nil
	if withKey && !hasDevKey {
		return fmt.Errorf("--include-dev-master-key: %s: %w", devKey, err)
	}
	written, err := sqlite.Backup(ctx, server.SQLitePath(cfg), to)
	if err != nil {
		return err
	}
	if withKey {
		dst := filepath.Join(to, devMasterKeyFile)
		if err := copyFile(devKey, dst); err != nil {
			return fmt.Errorf("copy the dev master key: %w", err)
		}
		written = append(written, dst)
	}

	fmt.Fprintf(stdout, "backed up %s into %s:\n", cfg.DataDir, to)
	for _, f := range written {
		size := "?"
		if fi, err := os.Stat(f); err == nil {
			size = fmt.Sprintf("%d bytes", fi.Size())
		}
		fmt.Fprintf(stdout, "  %s (%s)\n", filepath.Base(f), size)
	}
	switch {
	case withKey:
		fmt.Fprintln(stdout, "The dev master key is in this backup: whoever holds it can use the signing keys and sealed secrets in it. Never do this with production data.")
	case hasDevKey:
		fmt.Fprintf(stdout, "The master key is NOT in this backup. %s holds a generated dev master key; copy it with --include-dev-master-key (dev data only), or keep it safe yourself: without it the backup's signing keys and sealed secrets are lost.\n", devKey)
	default:
		fmt.Fprintln(stdout, "The master key is NOT in this backup: escrow it separately (--master-key-file / LATCHKEY_MASTER_KEY of serve), never beside the backup. Without it every signing key and sealed secret in the backup is lost.")
	}
	fmt.Fprintf(stdout, "Restore: stop latchkey, delete %s* and %s* in the data dir (with their -wal and -shm files), copy the backup's files in, start latchkey.\n",
		filepath.Base(written[0]), filepath.Base(written[1]))
	return nil
}

// pgDumpAdvice is the usage error of a backup of a PostgreSQL store: the
// pg_dump command to run.
func pgDumpAdvice(databaseURL, to string) error {
	file := filepath.Join(to, "latchkey.pgdump")
	args, hadPassword, err := postgres.DumpCommand(databaseURL, file)
	if err != nil {
		return fmt.Errorf("the store is PostgreSQL (--database-url), which latchkey backup does not copy: back it up with pg_dump (or continuous archiving for point-in-time recovery): %w", err)
	}
	var b strings.Builder
	b.WriteString("the store is PostgreSQL (--database-url), which latchkey backup does not copy: back it up with PostgreSQL's tools. Run:\n\n  ")
	b.WriteString(shellJoin(args))
	b.WriteString("\n\n")
	if hadPassword {
		b.WriteString("(the password is left out of the command line: give it in PGPASSWORD or ~/.pgpass)\n")
	}
	b.WriteString("Restore into an empty database with pg_restore --no-owner --dbname=URL " + shellQuote(file) +
		"; for point-in-time recovery use continuous WAL archiving. The master key is in neither: escrow it separately.")
	return errors.New(b.String())
}

// copyFile copies the file src to dst (which must not exist), readable by
// its owner only, and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
