package main

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupWhileServing backs up the store of a running `latchkey serve
// --dev` process while logins write to it, then uses the backup as a data
// dir: the CLI lists the users who had logged in before the backup began,
// both files pass integrity_check, and the master key was not copied.
func TestBackupWhileServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tf := filepath.Join(dir, "tenant.json")
	if err := os.WriteFile(tf, []byte(crashTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	// startProcess gives the server this master key; the CLI reads it here.
	mk := filepath.Join(dir, "master.key")
	if err := os.WriteFile(mk, []byte(hex.EncodeToString([]byte("crash-test-master-key-0123456789"))), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr + "/"
	startProcess(t, []string{"serve", "--dev", "--addr", addr, "--data-dir", data, "--bootstrap", tf, "--log-level", "warn"}, base)

	// Logins, one after another, until stopped (at most 25: the default
	// per-IP limits are a burst of 30 token calls and 50 starts).
	var logins atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 25 {
			select {
			case <-stop:
				return
			default:
			}
			if err := devLogin(base, fmt.Sprintf("backup%02d@example.com", i)); err != nil {
				t.Errorf("login %d: %v", i, err)
				return
			}
			logins.Add(1)
		}
	}()
	stopped := false
	stopLogins := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLogins()
	waitUntil(t, func() bool { return logins.Load() >= 5 })

	before := logins.Load()
	bdir := filepath.Join(dir, "backup")
	out := cliOK(t, "backup", "--data-dir", data, "--to", bdir)
	during := logins.Load() - before
	stopLogins()
	t.Logf("%d logins before the backup, %d while it ran\n%s", before, during, out)
	for _, want := range []string{"latchkey.db (", "latchkey-logs.db (", "master key is NOT in this backup", "Restore:"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup output lacks %q:\n%s", want, out)
		}
	}
	if names := dirList(t, bdir); names != "latchkey-logs.db latchkey.db" {
		t.Errorf("the backup holds %s", names)
	}
	for _, f := range []string{"latchkey.db", "latchkey-logs.db"} {
		integrityCheck(t, filepath.Join(bdir, f))
	}

	flags := []string{"--data-dir", bdir, "--master-key-file", mk}
	users := cliJSON[struct {
		Users []struct {
			Email string `json:"email"`
		} `json:"users"`
		Total int `json:"total"`
	}](t, append([]string{"users", "list", "--per-page", "100"}, flags...)...)
	if int64(users.Total) < before {
		t.Errorf("the backup holds %d users; %d had logged in before it began", users.Total, before)
	}
	emails := map[string]bool{}
	for _, u := range users.Users {
		emails[u.Email] = true
	}
	for i := range before {
		if e := fmt.Sprintf("backup%02d@example.com", i); !emails[e] {
			t.Errorf("the backup lacks %s, who logged in before it began", e)
		}
	}
	if out := cliOK(t, append([]string{"client", "get", "web"}, flags...)...); !strings.Contains(out, "Web") {
		t.Errorf("client get web on the backup:\n%s", out)
	}
	cliOK(t, append([]string{"logs", "search", "type:s"}, flags...)...)
}

// TestBackupDevMasterKey: the dev master key in the data dir is copied
// only when asked.
func TestBackupDevMasterKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cliOK(t, "migrate", "--data-dir", data)

	_, errOut, code := cli(t, "backup", "--data-dir", data, "--to", filepath.Join(dir, "b0"), "--include-dev-master-key")
	if code != exitFailure || !strings.Contains(errOut, "master.key") {
		t.Errorf("--include-dev-master-key without a dev key: exit %d %q", code, errOut)
	}

	key := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")
	if err := os.WriteFile(filepath.Join(data, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	out := cliOK(t, "backup", "--data-dir", data, "--to", filepath.Join(dir, "b1"))
	if !strings.Contains(out, "--include-dev-master-key") {
		t.Errorf("no reminder of the dev master key:\n%s", out)
	}
	if names := dirList(t, filepath.Join(dir, "b1")); names != "latchkey-logs.db latchkey.db" {
		t.Errorf("the backup holds %s", names)
	}

	out = cliOK(t, "backup", "--data-dir", data, "--to", filepath.Join(dir, "b2"), "--include-dev-master-key")
	got, err := os.ReadFile(filepath.Join(dir, "b2", "master.key"))
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("copied dev master key: %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "b2", "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copied dev master key mode: %v, %v", fi, err)
	}
	if !strings.Contains(out, "master.key (") || !strings.Contains(out, "dev master key is in this backup") {
		t.Errorf("output:\n%s", out)
	}
}

func TestBackupUsage(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cliOK(t, "migrate", "--data-dir", data)
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		want    []string
		notWant string
	}{
		{"no --to", []string{"--data-dir", data}, nil, exitUsage, []string{"--to DIR is required"}, ""},
		{"non-empty destination", []string{"--data-dir", data, "--to", full}, nil, exitFailure, []string{"is not empty"}, ""},
		{"no store", []string{"--data-dir", filepath.Join(dir, "none"), "--to", filepath.Join(dir, "b")}, nil, exitFailure, []string{"no store to back up"}, ""},
		{"postgres", []string{"--database-url", "postgres://lk:s3cret@db:5432/app?search_path=latchkey&pool_max_conns=8", "--to", "/backups/today"}, nil, exitUsage,
			[]string{"pg_dump --format=custom --file=/backups/today/latchkey.pgdump --schema=latchkey --dbname=postgres://lk@db:5432/app", "PGPASSWORD", "pg_restore"}, "s3cret"},
		{"postgres from the environment", []string{"--to", "b"}, map[string]string{"LATCHKEY_DATABASE_URL": "postgres://lk@db/app"}, exitUsage,
			[]string{"pg_dump --format=custom --file=b/latchkey.pgdump --dbname=postgres://lk@db/app\n"}, "PGPASSWORD"},
		{"data dir from the environment", []string{"--to", filepath.Join(dir, "env")}, map[string]string{"LATCHKEY_DATA_DIR": data}, exitOK,
			[]string{"backed up " + data}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, errOut, code := cli(t, append([]string{"backup"}, tt.args...)...)
			all := out + errOut
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if tt.notWant != "" && strings.Contains(all, tt.notWant) {
				t.Errorf("output has %q:\n%s", tt.notWant, all)
			}
		})
	}
}

// devLogin logs email in with an email code through the API of a --dev
// server whose tenant is crashTenant, reading the code from the capture.
func devLogin(base, email string) error {
	body, _ := json.Marshal(map[string]string{"client_id": "web", "client_secret": "web-secret-0123456789abcdefghij",
		"connection": "email", "send": "code", "email": email})
	if err := expect200(http.Post(base+"passwordless/start", "application/json", bytes.NewReader(body))); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	code, err := devCode(base, email)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"}, "client_id": {"web"},
		"client_secret": {"web-secret-0123456789abcdefghij"}, "username": {email}, "otp": {code}, "realm": {"email"}}
	if err := expect200(http.PostForm(base+"oauth/token", form)); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

func expect200(r *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", r.Status, b)
	}
	return nil
}

// waitUntil polls cond until it holds, failing the test after 20 seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dirList is the sorted names in dir, space-separated.
func dirList(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// integrityCheck runs PRAGMA integrity_check on the SQLite file at path.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check of %s: %q, %v", path, res, err)
	}
}
