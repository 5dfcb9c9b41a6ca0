package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"help"}, exitOK, "serve"},
		{"no args", nil, exitUsage, "Usage"},
		{"unknown", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"bad flag", []string{"serve", "--nope"}, exitUsage, "flag provided but not defined"},
		{"no master key", []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, exitUsage, "master key is required"},
		{"migrate", []string{"migrate", "--data-dir", filepath.Join(dir, "m")}, exitOK, "schema up to date"},
		{"serve help", []string{"serve", "-h"}, exitOK, "-issuer"},
		{"rotation too often", []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", dir, "--signing-key-rotation", "7d"}, exitUsage,
			"--signing-key-rotation: 7d is shorter than 31d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.out) {
				t.Errorf("exit %d (want %d); output:\n%s%s", code, tt.code, out.String(), errOut.String())
			}
		})
	}
}

// TestServeDevBanner starts `latchkey serve --dev` and checks the start-up
// banner: address, issuer, store, capture URL and demo credentials.
func TestServeDevBanner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", dir}, pw, io.Discard)
		pw.Close()
	}()
	var banner strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "try: curl") {
			break
		}
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != exitOK {
		t.Errorf("serve exited %d", code)
	}
	b := banner.String()
	for _, want := range []string{"listening on http://127.0.0.1:", "issuer: http://127.0.0.1:", "store:  sqlite " + filepath.Join(dir, "latchkey.db"),
		"/dev/outbox", "client_id=", "client_secret="} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
}

// TestBench runs the load driver for a few logins against a real dev server.
func TestBench(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--log-level", "warn", "--addr", "127.0.0.1:0", "--data-dir", dir}, pw, io.Discard)
		pw.Close()
	}()
	var addr, id, secret string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if _, a, ok := strings.Cut(line, " listening on "); ok && strings.HasPrefix(line, "Latchkey ") {
			addr = a
		}
		if rest, ok := strings.CutPrefix(line, "  demo application: "); ok {
			fmt.Sscanf(rest, "client_id=%s client_secret=%s", &id, &secret)
			break
		}
	}
	go io.Copy(io.Discard, pr)
	defer func() { cancel(); <-done }()
	var out bytes.Buffer
	code := run(t.Context(), []string{"bench", "--server", addr, "--client-id", id, "--client-secret", secret, "-n", "20", "--concurrency", "4", "--procs", "0", "--json"}, &out, &out)
	var res struct {
		Logins   int            `json:"logins"`
		Failures map[string]int `json:"failures_by_stage"`
		Stages   []struct {
			Stage string  `json:"stage"`
			P50   float64 `json:"p50_ms"`
		} `json:"stages"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); code != exitOK || err != nil || res.Logins != 20 || len(res.Failures) != 0 || len(res.Stages) != 4 {
		t.Fatalf("bench exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"bench", "--server", addr, "--client-id", id, "--client-secret", "wrong", "-n", "2", "--procs", "0"}, &out, &out); code != exitFailure || !strings.Contains(out.String(), "401") {
		t.Errorf("bench with a wrong secret: exit %d, %s", code, out.String())
	}
}
