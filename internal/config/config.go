// Package config holds the server's configuration: flags override
// LATCHKEY_* environment variables (with *_FILE variants for secrets), which
// override defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration of `latchkey serve` (and of the subcommands
// that open the store).
type Config struct {
	Addr          string
	Issuer        string
	DataDir       string
	DatabaseURL   string
	RedisURL      string
	TLSCert       string
	TLSKey        string
	MasterKey     string // the key itself (LATCHKEY_MASTER_KEY)
	MasterKeyFile string
	Bootstrap     string
	Dev           bool
	SMTPURL       string
	TwilioAPIURL  string
	// OutboxLease is how long a node holds a message it is sending before
	// another node may take it over.
	OutboxLease time.Duration
	LogFormat   string
	LogLevel    string
	// LogRetention is how long tenant log events are kept.
	LogRetention time.Duration
}

// DefaultLogRetention is how long tenant log events are kept by default.
const DefaultLogRetention = 30 * 24 * time.Hour

// retention is a flag.Value for a duration that also accepts days ("30d").
type retention struct{ d *time.Duration }

func (r retention) String() string {
	if r.d == nil {
		return ""
	}
	if *r.d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", *r.d/(24*time.Hour))
	}
	return r.d.String()
}

func (r retention) Set(s string) error {
	d, err := ParseRetention(s)
	if err != nil {
		return err
	}
	*r.d = d
	return nil
}

// ParseRetention parses "30d", "12h" or any Go duration.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30d or 720h", s)
	}
	return d, nil
}

// Getenv reads the environment (os.Getenv in production; a map in tests).
type Getenv func(string) string

// env returns LATCHKEY_<name>, or the contents of the file named by
// LATCHKEY_<name>_FILE when secret is true.
func env(getenv Getenv, name string, secret bool) (string, error) {
	if v := getenv("LATCHKEY_" + name); v != "" {
		return v, nil
	}
	if secret {
		if p := getenv("LATCHKEY_" + name + "_FILE"); p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", fmt.Errorf("LATCHKEY_%s_FILE: %w", name, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", nil
}

// StoreFlags registers the flags that choose the store (shared by every
// subcommand that opens it).
func (c *Config) StoreFlags(fs *flag.FlagSet, getenv Getenv) error {
	dataDir, _ := env(getenv, "DATA_DIR", false)
	dbURL, err := env(getenv, "DATABASE_URL", true)
	if err != nil {
		return err
	}
	mk, err := env(getenv, "MASTER_KEY", true)
	if err != nil {
		return err
	}
	c.MasterKey = mk
	fs.StringVar(&c.DataDir, "data-dir", or(dataDir, "./latchkey-data"), "directory for the SQLite files (latchkey.db, latchkey-logs.db) and the generated dev master key (LATCHKEY_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", dbURL, "postgres://… to use PostgreSQL instead of SQLite (LATCHKEY_DATABASE_URL)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "file holding the 32-byte master key (hex or base64) that seals signing keys; required outside --dev (LATCHKEY_MASTER_KEY / LATCHKEY_MASTER_KEY_FILE)")
	return nil
}

// ServeFlags registers the flags of `latchkey serve`.
func (c *Config) ServeFlags(fs *flag.FlagSet, getenv Getenv) error {
	if err := c.StoreFlags(fs, getenv); err != nil {
		return err
	}
	addr, _ := env(getenv, "ADDR", false)
	issuer, _ := env(getenv, "ISSUER", false)
	redis, err := env(getenv, "REDIS_URL", true)
	if err != nil {
		return err
	}
	smtp, err := env(getenv, "SMTP_URL", true)
	if err != nil {
		return err
	}
	fs.StringVar(&c.Addr, "addr", or(addr, "127.0.0.1:3000"), "listen address (LATCHKEY_ADDR)")
	fs.StringVar(&c.Issuer, "issuer", issuer, "public issuer URL, e.g. https://login.example.com/ (LATCHKEY_ISSUER; default http(s)://<addr>/)")
	fs.StringVar(&c.RedisURL, "redis-url", redis, "Redis for shared rate-limit state (LATCHKEY_REDIS_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM) to serve HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.Bootstrap, "bootstrap", "", "tenant file to apply at start, idempotently")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: capture email/SMS at /dev/outbox, seed a demo application, verbose logs")
	fs.StringVar(&c.SMTPURL, "smtp-url", smtp, "SMTP server for email delivery (LATCHKEY_SMTP_URL)")
	fs.StringVar(&c.TwilioAPIURL, "twilio-api-url", "https://api.twilio.com", "where Twilio API calls go")
	fs.DurationVar(&c.OutboxLease, "outbox-lease", 60*time.Second, "how long a node holds a message it is sending before another node may take it over (a node that died mid-send)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "", "debug, info, warn or error (default: debug with --dev, which logs every request; info otherwise)")
	c.LogRetention = DefaultLogRetention
	if v, _ := env(getenv, "LOG_RETENTION", false); v != "" {
		d, err := ParseRetention(v)
		if err != nil {
			return fmt.Errorf("LATCHKEY_LOG_RETENTION: %w", err)
		}
		c.LogRetention = d
	}
	fs.Var(retention{&c.LogRetention}, "log-retention", "how long tenant log events are kept, e.g. 30d or 72h (LATCHKEY_LOG_RETENTION)")
	return nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// Validate checks the configuration and normalises the issuer. It is called
// after the listener is bound when the address is ":0", so Addr may be the
// bound address.
func (c *Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		host := c.Addr
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		c.Issuer = scheme + "://" + host + "/"
	}
	if !strings.HasSuffix(c.Issuer, "/") {
		c.Issuer += "/"
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("--issuer: %q is not an http(s) URL without query or fragment", c.Issuer))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("--database-url: only postgres:// URLs are supported (SQLite is the default, in --data-dir)"))
	}
	if !c.Dev && c.MasterKey == "" && c.MasterKeyFile == "" {
		errs = append(errs, errors.New("a master key is required outside --dev: --master-key-file or LATCHKEY_MASTER_KEY (32 random bytes as hex or base64, e.g. `openssl rand -hex 32`)"))
	}
	if !c.Dev && c.SMTPURL == "" {
		errs = append(errs, errors.New("no email delivery is configured: give --smtp-url (smtp://user:pass@host:587?from=login@example.com), or run with --dev to capture messages"))
	}
	if c.OutboxLease != 0 && c.OutboxLease < time.Second {
		errs = append(errs, fmt.Errorf("--outbox-lease: %v is shorter than a second", c.OutboxLease))
	}
	if c.Dev && c.SMTPURL != "" {
		errs = append(errs, errors.New("--smtp-url and --dev: --dev captures messages instead of sending them; use one"))
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
		if c.Dev {
			c.LogLevel = "debug"
		}
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level: %q is not debug, info, warn or error", c.LogLevel))
	}
	if c.LogRetention == 0 {
		c.LogRetention = DefaultLogRetention
	}
	if c.LogRetention < time.Hour {
		errs = append(errs, fmt.Errorf("--log-retention: %s is shorter than an hour", c.LogRetention))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format: %q is not text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}
