// Package deploy_test checks the deployment files in this directory (and
// the Dockerfile and production guide beside them) against the code: the
// variables they set exist, the systemd unit verifies, and — where a
// container runtime is offered — the image builds, starts and is healthy.
package deploy_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
)

// knownVariables are the LATCHKEY_* variables that the code reads: one per
// flag of serve (config.EnvName; *_FILE for credentials), the master key
// itself, and the admin commands' remote-mode pair.
func knownVariables() map[string]bool {
	var cfg config.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.ServeFlags(fs)
	known := map[string]bool{
		"LATCHKEY_MASTER_KEY": true,
		"LATCHKEY_SERVER":     true,
		"LATCHKEY_TOKEN":      true, "LATCHKEY_TOKEN_FILE": true,
	}
	fs.VisitAll(func(f *flag.Flag) {
		known[config.EnvName(f.Name)] = true
		if config.IsSecret(f.Name) {
			known[config.EnvName(f.Name)+"_FILE"] = true
		}
	})
	return known
}

// TestFilesNameRealVariables: every LATCHKEY_* variable that the
// deployment files and the production guide set or mention is one that
// the code reads — a misspelt one would be silently ignored.
func TestFilesNameRealVariables(t *testing.T) {
	known := knownVariables()
	re := regexp.MustCompile(`LATCHKEY_[A-Z0-9_]*[A-Z0-9]`)
	for _, f := range []string{"../Dockerfile", "compose.yaml", "latchkey.service", "../docs/production.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, v := range re.FindAllString(string(b), -1) {
			seen++
			if !known[v] {
				t.Errorf("%s names %s, which no flag reads", f, v)
			}
		}
		if seen == 0 {
			t.Errorf("%s names no LATCHKEY_* variable", f)
		}
	}
}

// TestSystemdUnit runs systemd-analyze verify on deploy/latchkey.service
// (ExecStart pointed at an executable that exists here) and checks that
// its sandbox stays tight (systemd-analyze security, offline).
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian: systemd)")
	}
	unit, err := os.ReadFile("latchkey.service")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/latchkey serve\n") {
		t.Fatal("ExecStart is not /usr/local/bin/latchkey serve")
	}
	path := filepath.Join(t.TempDir(), "latchkey.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/latchkey", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"verify", path},
		{"security", "--offline=yes", "--threshold=20", path}, // exposure 2.0 or less
	} {
		out, err := exec.CommandContext(t.Context(), "systemd-analyze", args...).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "security" {
			if m := regexp.MustCompile(`Overall exposure level.*`).Find(out); m != nil {
				t.Logf("%s", m)
			}
		}
	}
}

// TestContainerImage builds the image from the Dockerfile and runs it: the
// server starts as uid 65532 on /data, /health/live answers, and the
// image's HEALTHCHECK command passes inside the container. It runs only
// when LATCHKEY_TEST_CONTAINER names a container runtime command, e.g.
// "docker" or "podman --runtime runc --storage-driver vfs", with
// LATCHKEY_TEST_CONTAINER_BUILD_FLAGS and _RUN_FLAGS added to its build and
// run (e.g. --build-arg GO_IMAGE=… for a mirror, --format docker for
// podman to keep the HEALTHCHECK, --ulimit …). The container shares the
// host's network.
func TestContainerImage(t *testing.T) {
	rt := strings.Fields(os.Getenv("LATCHKEY_TEST_CONTAINER"))
	if len(rt) == 0 {
		t.Skip("LATCHKEY_TEST_CONTAINER is not set (a container runtime command such as docker or podman)")
	}
	// Commands run under their own deadline: t.Context() is canceled
	// before the cleanups that remove the container and the image.
	container := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, rt[0], append(rt[1:], args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out)), err
	}
	image := fmt.Sprintf("localhost/latchkey-test:%d", time.Now().UnixNano())
	build := append([]string{"build", "-t", image, "--build-arg", "VERSION=test"},
		strings.Fields(os.Getenv("LATCHKEY_TEST_CONTAINER_BUILD_FLAGS"))...)
	if out, err := container(append(build, "..")...); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Cleanup(func() { container("rmi", "-f", image) })
	if user, err := container("image", "inspect", "--format", "{{.Config.User}}", image); err != nil || user != "65532:65532" {
		t.Errorf("image user %q, %v; want 65532:65532", user, err)
	}

	addr, ops := freeAddr(t), freeAddr(t)
	run := append([]string{"run", "-d", "--network", "host", "-e", "LATCHKEY_ADDR=" + addr, "-e", "LATCHKEY_OPS_ADDR=" + ops},
		strings.Fields(os.Getenv("LATCHKEY_TEST_CONTAINER_RUN_FLAGS"))...)
	id, err := container(append(run, image, "serve", "--dev")...)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, id)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, err := container("logs", id)
			t.Logf("container log: %v\n%s", err, logs)
		}
		container("rm", "-f", "-v", id)
	})

	// The API first (the server started), then the ops listener.
	for _, u := range []string{"http://" + addr + "/.well-known/openid-configuration", "http://" + ops + "/health/live"} {
		if err := waitOK(u, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The HEALTHCHECK command, inside the container, on the address the
	// image's environment names (overridden here to the same one).
	if out, err := container("exec", id, "/latchkey", "healthcheck"); err != nil {
		t.Errorf("latchkey healthcheck in the container: %v\n%s", err, out)
	}
	if out, err := container("exec", id, "/latchkey", "backup", "--to", "/tmp/backup"); err != nil || !strings.Contains(out, "latchkey.db") {
		t.Errorf("latchkey backup in the container: %v\n%s", err, out)
	}
}

// waitOK polls url until it answers 200, or fails after timeout.
func waitOK(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := http.Get(url)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", r.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
