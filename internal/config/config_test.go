package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := c.ServeFlags(fs, func(k string) string { return env[k] }); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestPrecedenceAndIssuer(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantAddr   string
		wantIssuer string
	}{
		{"defaults", nil, []string{"--dev"}, "127.0.0.1:3000", "http://127.0.0.1:3000/"},
		{"env", map[string]string{"LATCHKEY_ADDR": "127.0.0.1:4000", "LATCHKEY_ISSUER": "https://login.example.com"}, []string{"--dev"}, "127.0.0.1:4000", "https://login.example.com/"},
		{"flag beats env", map[string]string{"LATCHKEY_ADDR": "127.0.0.1:4000"}, []string{"--dev", "--addr", "127.0.0.1:5000"}, "127.0.0.1:5000", "http://127.0.0.1:5000/"},
		{"tls issuer", nil, []string{"--dev", "--tls-cert", "c", "--tls-key", "k"}, "127.0.0.1:3000", "https://127.0.0.1:3000/"},
		{"slash kept", nil, []string{"--dev", "--issuer", "https://id.example.com/tenant/"}, "127.0.0.1:3000", "https://id.example.com/tenant/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr != tt.wantAddr || c.Issuer != tt.wantIssuer {
				t.Errorf("addr %q issuer %q; want %q %q", c.Addr, c.Issuer, tt.wantAddr, tt.wantIssuer)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no master key outside dev", []string{}, "master key is required"},
		{"bad issuer", []string{"--dev", "--issuer", "ftp://x"}, "--issuer"},
		{"half tls", []string{"--dev", "--tls-cert", "c"}, "--tls-cert and --tls-key"},
		{"mysql", []string{"--dev", "--database-url", "mysql://x"}, "--database-url"},
		{"log format", []string{"--dev", "--log-format", "xml"}, "--log-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mk")
	if err := os.WriteFile(p, []byte("  abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, map[string]string{"LATCHKEY_MASTER_KEY_FILE": p}, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if c.MasterKey != "abc" {
		t.Errorf("master key %q", c.MasterKey)
	}
	if _, err := parse(t, map[string]string{"LATCHKEY_MASTER_KEY_FILE": p + ".missing"}, "--dev"); err == nil {
		t.Error("missing *_FILE accepted")
	}
}

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"72h", 72 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"d", 0, true},
		{"-1d", 0, true},
		{"99999999d", 0, true},
		{"soon", 0, true},
	} {
		got, err := ParseRetention(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
