package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a copy of the store into dir, while the store stays in
// use; see the package function Backup.
func (s *Store) Backup(ctx context.Context, dir string) ([]string, error) {
	return Backup(ctx, s.path, dir)
}

// Backup copies the store at path — its database file and the tenant log
// beside it (LogsPath) — into dir under the same names, with VACUUM INTO,
// and returns the files it wrote. It may run while servers use the store,
// in this process or another: each file is read in one read transaction,
// so its copy is a consistent snapshot of that file (the two snapshots are
// taken one after the other), and in WAL mode the readers and the writer
// are not held up meanwhile.
//
// The store is opened read-only and its schema is neither created nor
// migrated, so a backup taken with a newer build before an upgrade is a
// copy of the database as the running build left it. dir is created if
// needed; an existing dir must be empty. A copy is written under a
// temporary name, synced and then renamed, so a failed backup leaves no
// file that looks complete. The copies are plain SQLite files (rollback
// journal); Open switches them back to WAL.
func Backup(ctx context.Context, path, dir string) (written []string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	srcs := []string{abs, LogsPath(abs)}
	for _, src := range srcs {
		fi, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("sqlite: backup: no store to back up: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("sqlite: backup: %s is not a file", src)
		}
	}
	if err := emptyDir(dir); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer func() {
		if err != nil { // half a backup is none: the log file alone, say
			for _, f := range written {
				os.Remove(f)
			}
			written = nil
		}
	}()
	for _, src := range srcs {
		dst := filepath.Join(dir, filepath.Base(src))
		if err := backupFile(ctx, src, dst); err != nil {
			return written, fmt.Errorf("sqlite: backup %s: %w", filepath.Base(src), err)
		}
		written = append(written, dst)
	}
	if err := syncDir(dir); err != nil {
		return written, fmt.Errorf("sqlite: backup: %w", err)
	}
	return written, nil
}

// emptyDir makes sure dir exists and is empty, creating it if needed.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if names, err := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%s is not empty: back up into a new or empty directory", dir)
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	return nil
}

// backupFile writes a consistent copy of the database at src to dst.
func backupFile(ctx context.Context, src, dst string) (err error) {
	db, err := sql.Open("sqlite", dsn(src, url.Values{
		"mode":    {"ro"},
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())},
	}))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var migrations int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&migrations); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if migrations == 0 {
		return fmt.Errorf("%s is not a Latchkey database (no schema_migrations table)", src)
	}
	tmp := dst + ".partial"
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("vacuum into %s: %w", tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return nil
}

// syncFile flushes the file at path to stable storage.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
