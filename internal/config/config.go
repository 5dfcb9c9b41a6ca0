// Package config holds the server's configuration: flags override
// LATCHKEY_* environment variables (one per flag, named after it, with
// *_FILE variants for secrets; see ApplyEnv), which override defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
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
	// BootstrapMode is how --bootstrap treats runtime changes:
	// BootstrapMerge or BootstrapEnforce.
	BootstrapMode string
	Dev           bool
	// ConsoleOwner is added as an owner of the console at start, when it
	// is not a member yet (--dev: the person running it by default).
	ConsoleOwner string
	SMTPURL      string
	TwilioAPIURL string
	// OutboxLease is how long a node holds a message it is sending before
	// another node may take it over.
	OutboxLease time.Duration
	// NodeID names this node in the outbox's claims ("": one kept in the
	// data directory).
	NodeID    string
	LogFormat string
	LogLevel  string
	// LogRetention is how long tenant log events are kept.
	LogRetention time.Duration
	// LogSpool makes a PostgreSQL node spool each answered request's
	// tenant-log events in its data directory, as SQLite nodes always do,
	// instead of holding the answer until the database commits them.
	LogSpool bool
	// TrustedProxies are the peers whose ProxyHeader names the client.
	TrustedProxies []netip.Prefix
	// ProxyHeader is ProxyXForwardedFor or ProxyForwarded.
	ProxyHeader string
	// OpsAddr is the ops listener's address ("" when it is off).
	OpsAddr string
	// Pprof serves /debug/pprof/ on the ops listener.
	Pprof bool
	// HSTSMaxAge is the Strict-Transport-Security max-age (0: none).
	HSTSMaxAge time.Duration
	// DrainDelay is how long readiness fails at shutdown before the
	// public listener closes.
	DrainDelay time.Duration
	// SigningKeyRotation is how long a signing key signs before a node
	// rotates it (0: never on a schedule).
	SigningKeyRotation time.Duration
}

// The headers a trusted proxy may maintain (--proxy-header).
const (
	ProxyXForwardedFor = "x-forwarded-for"
	ProxyForwarded     = "forwarded"
)

// How --bootstrap applies the tenant file (--bootstrap-mode).
const (
	// BootstrapMerge keeps a runtime change to a field the file did not
	// change since it was last applied, and logs it as drift.
	BootstrapMerge = "merge"
	// BootstrapEnforce makes the file win for every field it states.
	BootstrapEnforce = "enforce"
)

// DefaultOpsAddr is where the ops listener listens by default: loopback
// only, since /metrics and pprof are not for the public.
const DefaultOpsAddr = "127.0.0.1:9464"

// DefaultHSTSMaxAge is the default Strict-Transport-Security max-age.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// DefaultLogRetention is how long tenant log events are kept by default.
const DefaultLogRetention = 30 * 24 * time.Hour

// MinSigningKeyRotation is the shortest --signing-key-rotation: how long a
// key rotated out keeps verifying (oauth.RetiredKeyGrace: the 30-day
// longest token lifetime and a day), so that the JWKS holds at most one
// previous key besides the current and the next one.
const MinSigningKeyRotation = 31 * 24 * time.Hour

// durationDays is a flag.Value for a duration that also accepts days ("30d").
type durationDays time.Duration

func (d *durationDays) String() string {
	if d == nil {
		return ""
	}
	v := time.Duration(*d)
	if v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *durationDays) Set(s string) error {
	v, err := ParseRetention(s)
	if err != nil {
		return err
	}
	*d = durationDays(v)
	return nil
}

// prefixList is a flag.Value for a comma-separated list of IPs and CIDRs.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	if l == nil {
		return ""
	}
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Set(s string) error {
	list, err := ParsePrefixes(s)
	if err != nil {
		return err
	}
	*l = list
	return nil
}

// ParsePrefixes parses a comma-separated list of IP addresses and CIDRs
// ("10.0.0.0/8, 192.0.2.7, ::1"); an address is a prefix of its full
// length. IPv4-mapped IPv6 forms are read as IPv4.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
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

// StoreFlags registers the flags that choose the store (shared by every
// subcommand that opens it).
func (c *Config) StoreFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./latchkey-data", "directory for the SQLite files (latchkey.db, latchkey-logs.db) and the generated dev master key")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "postgres://… to use PostgreSQL instead of SQLite")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "file holding the 32-byte master key (hex or base64) that seals signing keys; required outside --dev (the key itself may be given in $LATCHKEY_MASTER_KEY)")
}

// ServeFlags registers the flags of `latchkey serve`.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	c.StoreFlags(fs)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:3000", "listen address")
	fs.StringVar(&c.Issuer, "issuer", "", "public issuer URL, e.g. https://login.example.com/ (default http(s)://<addr>/)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis for shared rate-limit state (redis://…, ?prefix= for the key space)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM, chain included) to serve HTTPS; reloaded when it changes and on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	c.HSTSMaxAge = DefaultHSTSMaxAge
	fs.Var((*durationDays)(&c.HSTSMaxAge), "hsts-max-age", "Strict-Transport-Security max-age on https responses, e.g. 365d; 0 to send none")
	fs.Var((*prefixList)(&c.TrustedProxies), "trusted-proxies", "comma-separated IPs and CIDRs of the reverse proxies in front of this server: from them the client IP is read from --proxy-header")
	fs.StringVar(&c.ProxyHeader, "proxy-header", ProxyXForwardedFor, "the header the trusted proxies maintain: x-forwarded-for (with X-Forwarded-Proto/-Host) or forwarded (RFC 7239)")
	fs.StringVar(&c.OpsAddr, "ops-addr", DefaultOpsAddr, "listen address of the ops listener (/health/live, /health/ready, /metrics); empty or \"off\" to switch it off")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve /debug/pprof/ on the ops listener")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "at shutdown, how long readiness fails before the listener closes, so that load balancers polling /health/ready stop sending first (e.g. 5s)")
	fs.StringVar(&c.Bootstrap, "bootstrap", "", "tenant file to apply at start, idempotently")
	fs.StringVar(&c.BootstrapMode, "bootstrap-mode", BootstrapMerge, "how --bootstrap treats changes made at runtime (Management API, CLI): merge keeps a change to a field the file did not change since it was last applied, and logs it as drift; enforce makes the file win for every field it states")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: capture email/SMS at /dev/outbox, seed a demo application, verbose logs")
	fs.StringVar(&c.ConsoleOwner, "console-owner", "", "email address made an owner of the operator console at /admin/ at start, if it is not a member yet (with --dev: $USER@latchkey.localhost by default)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "SMTP server for email delivery: smtp://user:pass@host:587?from=login@example.com")
	fs.StringVar(&c.TwilioAPIURL, "twilio-api-url", "https://api.twilio.com", "where Twilio API calls go")
	fs.DurationVar(&c.OutboxLease, "outbox-lease", 10*time.Second, "how long a node's claim on a message lasts unless renewed (it is renewed every third of it while the message is being sent); another node takes over a dead node's messages when it ends")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's name in the outbox, stable across restarts and unique among the nodes (letters, digits, -._; default: one generated once and kept in --data-dir); a restarting node sends again at once what it was sending when it stopped")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "", "debug, info, warn or error (default: debug with --dev, info otherwise; info logs every request)")
	c.LogRetention = DefaultLogRetention
	fs.Var((*durationDays)(&c.LogRetention), "log-retention", "how long tenant log events are kept, e.g. 30d or 72h")
	fs.BoolVar(&c.LogSpool, "log-spool", false, "with --database-url: make each answer's tenant-log events durable in a spool in --data-dir (as SQLite nodes always do) instead of waiting for PostgreSQL to commit them; for nodes whose data directory survives a restart, which stores what the spool holds")
	fs.Var((*durationDays)(&c.SigningKeyRotation), "signing-key-rotation", "rotate the signing key when it has signed this long, e.g. 90d (at least 31d; 0, the default: only when asked, with latchkey keys rotate or the Management API)")
}

// Environment completes a parsed flag set from the environment: every
// flag the command line left unset takes its LATCHKEY_* variable
// (ApplyEnv), and the master key may be given itself in
// LATCHKEY_MASTER_KEY. With names, only those flags take variables.
func (c *Config) Environment(fs *flag.FlagSet, getenv LookupEnv, names ...string) error {
	if err := ApplyEnv(fs, getenv, names...); err != nil {
		return err
	}
	if c.MasterKeyFile == "" {
		mk, _ := getenv("LATCHKEY_MASTER_KEY")
		c.MasterKey = strings.TrimSpace(mk)
	}
	return nil
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
	if c.NodeID != "" {
		if err := ValidNodeID(c.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("--node-id: %w", err))
		}
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
	switch strings.ToLower(c.ProxyHeader) {
	case "", ProxyXForwardedFor:
		c.ProxyHeader = ProxyXForwardedFor
	case ProxyForwarded:
		c.ProxyHeader = ProxyForwarded
	default:
		errs = append(errs, fmt.Errorf("--proxy-header: %q is not x-forwarded-for or forwarded", c.ProxyHeader))
	}
	switch c.BootstrapMode {
	case "":
		c.BootstrapMode = BootstrapMerge
	case BootstrapMerge, BootstrapEnforce:
	default:
		errs = append(errs, fmt.Errorf("--bootstrap-mode: %q is not merge or enforce", c.BootstrapMode))
	}
	if c.OpsAddr == "off" {
		c.OpsAddr = ""
	}
	if c.DrainDelay < 0 || c.DrainDelay > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--drain-delay: %v is outside 0–5m", c.DrainDelay))
	}
	if c.SigningKeyRotation < 0 {
		errs = append(errs, errors.New("--signing-key-rotation: negative"))
	} else if c.SigningKeyRotation > 0 && c.SigningKeyRotation < MinSigningKeyRotation {
		shortest := durationDays(MinSigningKeyRotation)
		errs = append(errs, fmt.Errorf("--signing-key-rotation: %s is shorter than %s, how long a key rotated out keeps verifying the tokens it signed (they live up to 30 days, plus a day's margin); rotate every %s or more, or 0 for no scheduled rotation",
			(*durationDays)(&c.SigningKeyRotation), &shortest, &shortest))
	}
	if c.HSTSMaxAge < 0 {
		errs = append(errs, errors.New("--hsts-max-age: negative"))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format: %q is not text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// ValidNodeID checks a node identity: 1 to 100 letters, digits, '-', '.'
// or '_'.
func ValidNodeID(id string) error {
	if id == "" || len(id) > 100 {
		return errors.New("a node id has 1 to 100 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("%q: a node id has only letters, digits, '-', '.' and '_'", id)
		}
	}
	return nil
}
