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
	c.ServeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.Environment(fs, MapEnv(env)); err != nil {
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
		{"bootstrap mode", []string{"--dev", "--bootstrap-mode", "replace"}, "--bootstrap-mode"},
		{"node id with a space", []string{"--dev", "--node-id", "node 1"}, "--node-id"},
		{"node id too long", []string{"--dev", "--node-id", strings.Repeat("n", 101)}, "--node-id"},
		{"rotation shorter than the grace", []string{"--dev", "--signing-key-rotation", "30d"}, "--signing-key-rotation: 30d is shorter than 31d"},
		{"rotation negative", []string{"--dev", "--signing-key-rotation", "-1h"}, "--signing-key-rotation: negative"},
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

// TestSigningKeyRotation: off by default; days or a Go duration, from the
// flag or LATCHKEY_SIGNING_KEY_ROTATION; the shortest is the grace.
func TestSigningKeyRotation(t *testing.T) {
	c, err := parse(t, nil, "--dev")
	if err != nil || c.SigningKeyRotation != 0 {
		t.Fatalf("default %v, %v", c.SigningKeyRotation, err)
	}
	c, err = parse(t, map[string]string{"LATCHKEY_SIGNING_KEY_ROTATION": "90d"}, "--dev")
	if err != nil || c.SigningKeyRotation != 90*24*time.Hour {
		t.Fatalf("from the environment: %v, %v", c.SigningKeyRotation, err)
	}
	c, err = parse(t, nil, "--dev", "--signing-key-rotation", "744h")
	if err != nil || c.SigningKeyRotation != MinSigningKeyRotation {
		t.Fatalf("the shortest: %v, %v", c.SigningKeyRotation, err)
	}
}

func TestSecretFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mk")
	if err := os.WriteFile(p, []byte("  abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, map[string]string{"LATCHKEY_SMTP_URL_FILE": p, "LATCHKEY_MASTER_KEY": "k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "abc" || c.MasterKey != "k" {
		t.Errorf("smtp url %q, master key %q", c.SMTPURL, c.MasterKey)
	}
	// The variable itself beats its file.
	c, err = parse(t, map[string]string{"LATCHKEY_SMTP_URL": "smtp://x", "LATCHKEY_SMTP_URL_FILE": p, "LATCHKEY_MASTER_KEY": "k"})
	if err != nil || c.SMTPURL != "smtp://x" {
		t.Errorf("smtp url %q, %v", c.SMTPURL, err)
	}
	_, err = parse(t, map[string]string{"LATCHKEY_DATABASE_URL_FILE": p + ".missing"}, "--dev")
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_DATABASE_URL_FILE") {
		t.Errorf("missing *_FILE: %v", err)
	}
	// Only credentials have a *_FILE form.
	c, err = parse(t, map[string]string{"LATCHKEY_ADDR_FILE": p}, "--dev")
	if err != nil || c.Addr != "127.0.0.1:3000" {
		t.Errorf("LATCHKEY_ADDR_FILE used: %q, %v", c.Addr, err)
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

// envSamples holds, for every flag of serve, a value different from its
// default. TestEveryFlagHasItsVariable fails for a flag missing here, so a
// new flag cannot go without a test of its variable.
var envSamples = map[string]string{
	"console-owner":        "owner@example.com",
	"addr":                 "127.0.0.1:4444",
	"issuer":               "https://login.example.com/",
	"data-dir":             "/var/lib/latchkey",
	"database-url":         "postgres://db/latchkey",
	"master-key-file":      "/run/secrets/master-key",
	"redis-url":            "redis://cache:6379/0",
	"tls-cert":             "/etc/latchkey/cert.pem",
	"tls-key":              "/etc/latchkey/key.pem",
	"hsts-max-age":         "2d",
	"trusted-proxies":      "10.0.0.0/8,192.0.2.7/32",
	"proxy-header":         "forwarded",
	"ops-addr":             "0.0.0.0:9999",
	"pprof":                "true",
	"drain-delay":          "5s",
	"bootstrap":            "/etc/latchkey/tenant.json",
	"bootstrap-mode":       "enforce",
	"dev":                  "true",
	"smtp-url":             "smtp://mail:25?from=a@example.com",
	"twilio-api-url":       "https://twilio.example.com",
	"outbox-lease":         "1m30s",
	"node-id":              "login-1",
	"log-format":           "json",
	"log-level":            "warn",
	"log-retention":        "7d",
	"log-spool":            "true",
	"signing-key-rotation": "90d",
}

// TestEveryFlagHasItsVariable walks serve's flag set: each flag takes the
// variable named after it, which its -h text names, and the command line
// beats it.
func TestEveryFlagHasItsVariable(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.ServeFlags(fs)
	DocumentEnv(fs)
	fs.VisitAll(func(f *flag.Flag) {
		t.Run(f.Name, func(t *testing.T) {
			sample, ok := envSamples[f.Name]
			if !ok {
				t.Fatalf("no sample value for --%s: add one to envSamples", f.Name)
			}
			name := EnvName(f.Name)
			if !strings.Contains(f.Usage, "$"+name) {
				t.Errorf("-h text %q does not name %s", f.Usage, name)
			}
			var c Config
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			c.ServeFlags(fs)
			def := fs.Lookup(f.Name).Value.String()
			if def == sample {
				t.Fatalf("sample %q is the default", sample)
			}
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Environment(fs, MapEnv(map[string]string{name: sample})); err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(f.Name).Value.String(); got != sample {
				t.Errorf("%s=%q gave --%s %q", name, sample, f.Name, got)
			}

			// The command line wins.
			var c2 Config
			fs2 := flag.NewFlagSet("serve", flag.ContinueOnError)
			c2.ServeFlags(fs2)
			if err := fs2.Parse([]string{"--" + f.Name + "=" + def}); err != nil {
				t.Fatal(err)
			}
			if err := c2.Environment(fs2, MapEnv(map[string]string{name: sample})); err != nil {
				t.Fatal(err)
			}
			if got := fs2.Lookup(f.Name).Value.String(); got != def {
				t.Errorf("--%s=%q with %s=%q gave %q", f.Name, def, name, sample, got)
			}
		})
	})
	for name := range envSamples {
		if fs.Lookup(name) == nil {
			t.Errorf("envSamples lists --%s, which serve does not have", name)
		}
	}
}

func TestEnvBadValueNamesVariable(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"LATCHKEY_DEV", "maybe"},
		{"LATCHKEY_OUTBOX_LEASE", "soon"},
		{"LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"},
		{"LATCHKEY_HSTS_MAX_AGE", "forever"},
	} {
		_, err := parse(t, map[string]string{tc.name: tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: %v", tc.name, tc.value, err)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		bad  bool
	}{
		{"", "", false},
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{" 192.0.2.7 , ::1 ", "192.0.2.7/32,::1/128", false},
		{"10.1.2.3/8", "10.0.0.0/8", false},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24", false},
		{"::ffff:192.0.2.9", "192.0.2.9/32", false},
		{"2001:db8::/32", "2001:db8::/32", false},
		{"fe80::1%eth0", "", true},
		{"10.0.0.0/33", "", true},
		{"proxy.internal", "", true},
	} {
		got, err := ParsePrefixes(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParsePrefixes(%q) error %v", tc.in, err)
			continue
		}
		l := prefixList(got)
		if !tc.bad && l.String() != tc.want {
			t.Errorf("ParsePrefixes(%q) = %q; want %q", tc.in, l.String(), tc.want)
		}
	}
}

// TestEmptyVariable: a variable set to "" empties a string flag (the ops
// listener switched off) and is ignored by the others.
func TestEmptyVariable(t *testing.T) {
	c, err := parse(t, map[string]string{"LATCHKEY_OPS_ADDR": "", "LATCHKEY_DEV": "", "LATCHKEY_OUTBOX_LEASE": ""}, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if c.OpsAddr != "" || !c.Dev || c.OutboxLease != 10*time.Second {
		t.Errorf("ops %q dev %v lease %v", c.OpsAddr, c.Dev, c.OutboxLease)
	}
	if c, err := parse(t, nil, "--dev"); err != nil || c.OpsAddr != DefaultOpsAddr {
		t.Errorf("unset: ops %q, %v", c.OpsAddr, err)
	}
}
