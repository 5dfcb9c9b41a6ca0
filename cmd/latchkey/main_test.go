package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
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
