// Package migrations reads a backend's embedded NNNN_name.sql files into an
// ordered list of steps. Each backend applies the steps itself (in its own
// dialect, each in a transaction, recording the version).
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Step is one migration file.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the steps in dir of fsys, ordered by version. File names must
// look like 0001_name.sql; versions must be unique.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var steps []Step
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		steps = append(steps, Step{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	return steps, nil
}

// NewerSchemaError: the database was migrated by a newer build than this
// one. Running against it could misread or damage what the newer build
// wrote, so the store refuses to open.
type NewerSchemaError struct {
	Database int // the database's schema version
	Build    int // the newest version this build knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than this build knows (%d): "+
		"a newer latchkey has upgraded it; run that version or a later one (or restore a backup taken before the upgrade)",
		e.Database, e.Build)
}

// CheckNotNewer returns a *NewerSchemaError when a database at version
// current is ahead of the newest of steps.
func CheckNotNewer(steps []Step, current int) error {
	build := 0
	if len(steps) > 0 {
		build = steps[len(steps)-1].Version
	}
	if current > build {
		return &NewerSchemaError{Database: current, Build: build}
	}
	return nil
}
