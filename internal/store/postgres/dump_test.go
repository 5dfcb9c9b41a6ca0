package postgres

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func TestDumpCommand(t *testing.T) {
	tests := []struct {
		name, url   string
		want        []string // after pg_dump --format=custom --file=F
		hadPassword bool
	}{
		{"plain", "postgres://latchkey@db:5432/latchkey?sslmode=disable", []string{"--dbname=postgres://latchkey@db:5432/latchkey?sslmode=disable"}, false},
		{"password left out", "postgres://latchkey:s3cret@db/latchkey", []string{"--dbname=postgres://latchkey@db/latchkey"}, true},
		{"password parameter", "postgresql://db/latchkey?password=s3cret&user=lk", []string{"--dbname=postgresql://db/latchkey?user=lk"}, true},
		{"schema and pgx parameters", "postgres://lk@db/app?search_path=latchkey,public&pool_max_conns=20&pool_min_conns=2&default_query_exec_mode=exec&sslmode=require",
			[]string{"--schema=latchkey", "--dbname=postgres://lk@db/app?sslmode=require"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, had, err := DumpCommand(tt.url, "F")
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"pg_dump", "--format=custom", "--file=F"}, tt.want...)
			if !slices.Equal(args, want) || had != tt.hadPassword {
				t.Errorf("DumpCommand(%q) = %q, %v; want %q, %v", tt.url, args, had, want, tt.hadPassword)
			}
			if strings.Contains(strings.Join(args, " "), "s3cret") {
				t.Errorf("the password is in the command line: %q", args)
			}
		})
	}
	if _, _, err := DumpCommand("host=db dbname=latchkey", "F"); err == nil {
		t.Error("a key=value DSN was taken for a URL")
	}
}

// TestDumpCommandRuns runs the command DumpCommand prints, with the real
// pg_dump, against a store in a schema of its own (as the tests place it:
// search_path and pool parameters in the URL), and checks with pg_restore
// that the dump holds the store's tables.
func TestDumpCommandRuns(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not installed")
	}
	schema := newSchema(t)
	u := schemaURL(t, schema)
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateClient(t.Context(), store.Client{ClientID: "dumped", Name: "D"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "latchkey.pgdump")
	args, _, err := DumpCommand(u, file)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%q: %v\n%s", args, err, out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Fatalf("no dump written: %v", err)
	}
	list, err := exec.CommandContext(t.Context(), "pg_restore", "--list", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore --list: %v\n%s", err, list)
	}
	for _, want := range []string{"TABLE DATA " + schema + " clients", "TABLE DATA " + schema + " schema_migrations"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("the dump lacks %q:\n%s", want, list)
		}
	}
}
