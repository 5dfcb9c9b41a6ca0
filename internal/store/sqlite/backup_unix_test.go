//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestBackupAsRootKeepsOwner: root backing up a store that belongs to
// another user (a systemd DynamicUser service) while it is stopped leaves
// the -wal and -shm files that its read-only connection creates owned by
// the store's owner (SQLite gives them the database file's owner), so the
// service can still open its store.
func TestBackupAsRootKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "latchkey.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	const owner = 65534 // nobody
	for _, f := range []string{filepath.Dir(path), path, LogsPath(path)} {
		if err := os.Chown(f, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Backup(t.Context(), path, filepath.Join(dir, "backup")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != owner || st.Gid != owner) {
			t.Errorf("%s is owned by %d:%d after the backup, want %d:%d", e.Name(), st.Uid, st.Gid, owner, owner)
		}
	}
}
