package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// LocalTokenLifetime is the lifetime of the Management API token that the
// admin CLI mints for itself in local mode.
const LocalTokenLifetime = 5 * time.Minute

// LocalClientID is the azp (and sub, with "@clients") of the tokens the
// admin CLI mints for itself.
const LocalClientID = "latchkey-cli"

// LocalBaseURL is the base URL of the in-process Management API; requests
// to it never leave the process.
const LocalBaseURL = "http://latchkey.local/"

// Local is the Management API in process, over the configured store: what
// the admin CLI calls when no --server is given. Holding the store and the
// master key is the operator's authority, so the CLI mints its own
// short-lived Management API token with the store's signing keys; the
// requests still pass through the same authorization, handlers and error
// rendering as over the network.
type Local struct {
	// Transport serves requests with the in-process handler.
	Transport http.RoundTripper
	// Token is a Management API access token with every scope the API knows,
	// valid for LocalTokenLifetime.
	Token string
	// Issuer is the issuer the API and the token use.
	Issuer string
	// StoreDesc says which store is open.
	StoreDesc string

	cfg  config.Config
	core *core
}

// LocalManagement opens the store as `serve` would (cfg's store flags,
// master key and issuer) and builds the Management API over it in process.
// Close the result to release the store.
func LocalManagement(ctx context.Context, cfg config.Config, log *slog.Logger) (*Local, error) {
	now := time.Now
	master, err := localMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	// The CLI's writes are tenant-log events too (sapi/fapi); Close writes them.
	c, err := openCore(ctx, cfg, log, master, now, false)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	// Blocks live in the limiter: with --redis-url the CLI sees and lifts the
	// nodes' blocks; with the in-memory limiter only a node can, so the
	// block routes answer 501 here (use --server).
	var protection mgmtapi.Protection
	if cfg.RedisURL != "" {
		lim, _, _, err := c.limiter()
		if err != nil {
			return nil, err
		}
		protection = c.guard(lim, nil)
	}
	api := c.management(protection)
	// In process the CLI is the client: it prints every answer it gets, so
	// a refused request is logged only when it is the server's own failure.
	api.Log = slog.New(minLevel{Handler: log.Handler(), level: slog.LevelError})
	minter := oauth.NewMinter(cfg.Issuer, c.signing, c.keys)
	tok, err := minter.JWTAccessToken(ctx, LocalClientID+"@clients", LocalClientID, tenant.ManagementAudience(cfg.Issuer),
		api.Scopes(), oauth.GtyClientCredentials, LocalTokenLifetime, now())
	if err != nil {
		return nil, fmt.Errorf("mint management token: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v2/", api.Handler())
	ok = true
	return &Local{Transport: handlerTransport{httpx.Middleware(httpx.Options{Log: log, MaxBody: MaxBodyBytes}, mux)}, Token: tok,
		Issuer: cfg.Issuer, StoreDesc: c.storeDesc, cfg: cfg, core: c}, nil
}

// localMasterKey is the configured master key or, when none is configured,
// the one `serve --dev` generated in the data directory (never a new one:
// a fresh key could not open the signing keys already sealed).
func localMasterKey(cfg config.Config) ([]byte, error) {
	if cfg.MasterKey == "" && cfg.MasterKeyFile == "" && cfg.DatabaseURL == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, "master.key"))
		if err == nil {
			return secret.ParseMasterKey(string(b))
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("dev master key: %w", err)
		}
	}
	if cfg.MasterKey == "" && cfg.MasterKeyFile == "" {
		return nil, errors.New("a master key is required to open the store: --master-key-file or LATCHKEY_MASTER_KEY (or a data directory used by serve --dev)")
	}
	return LoadMasterKey(cfg)
}

// ApplyFile applies a tenant file to the store, as --bootstrap does
// (opt.Enforce: as --bootstrap-mode=enforce; opt.DryRun: only the report).
func (l *Local) ApplyFile(ctx context.Context, path string, opt tenant.ApplyOptions) (tenant.Applied, error) {
	return applyTenantFile(ctx, l.core.store, l.core.keys, l.core.signing, l.cfg.Issuer, path, l.core.now(), opt)
}

// Close writes the recorded tenant-log events, then releases the store.
func (l *Local) Close() error { return l.core.close() }

func applyTenantFile(ctx context.Context, st store.Store, keys *secret.Keys, signing *oauth.KeyManager, issuer, path string, now time.Time, opt tenant.ApplyOptions) (tenant.Applied, error) {
	f, err := os.Open(path)
	if err != nil {
		return tenant.Applied{}, err
	}
	defer f.Close()
	tf, err := tenant.ParseFile(f)
	if err != nil {
		return tenant.Applied{}, fmt.Errorf("%s: %w", path, err)
	}
	res, err := tenant.Apply(ctx, st, keys, tf, issuer, now, opt)
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	if opt.DryRun {
		return res, nil
	}
	// An application the file gives ES256 gets the tenant's P-256 keys
	// now, so that they are in the JWKS before the first token they sign
	// (Ensure does nothing for a family that has its keys; HS256 signs
	// with the client secret).
	clients, err := st.ListClients(ctx)
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range clients {
		alg := tenant.JWTConfig(c).Alg
		if _, ok := oauth.KeyFamily(alg); !ok {
			continue
		}
		if err := signing.Ensure(ctx, alg); err != nil {
			return res, fmt.Errorf("%s: signing key for %s: %w", path, alg, err)
		}
	}
	return res, nil
}

// DriftHint tells the operator what to do about drift.
const DriftHint = "latchkey apply --diff FILE lists it; apply --force (or serve --bootstrap-mode=enforce) makes the file win"

// logApplied logs what applying the tenant file at path did: one line with
// the fields it set, one warning with the runtime changes it kept (or, when
// enforced, overwrote), and the generated client secrets.
func logApplied(ctx context.Context, log *slog.Logger, path string, res tenant.Applied) {
	log.InfoContext(ctx, "tenant file applied", "file", path, "changed", res.Changed, "paths", res.Fields.Paths())
	switch {
	case len(res.Drift) == 0:
	case res.Enforced:
		log.WarnContext(ctx, "tenant file enforced: runtime changes overwritten", "file", path,
			"fields", len(res.Drift), "overwritten", res.Drift)
	default:
		log.WarnContext(ctx, "tenant file drift: the store keeps runtime changes", "file", path,
			"fields", len(res.Drift), "drift", res.Drift, "hint", DriftHint)
	}
	for _, id := range slices.Sorted(maps.Keys(res.GeneratedSecrets)) {
		log.InfoContext(ctx, "generated client secret (shown once)", "client_id", id, "client_secret", res.GeneratedSecrets[id])
	}
}

// handlerTransport is an http.RoundTripper that serves each request with a
// handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RemoteAddr = "127.0.0.1:0"
	r.RequestURI = r.URL.RequestURI()
	w := &responseRecorder{header: http.Header{}}
	t.h.ServeHTTP(w, r)
	if req.Body != nil {
		req.Body.Close()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{Status: strconv.Itoa(w.status) + " " + http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: w.header, Request: req,
		Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len())}, nil
}

// responseRecorder keeps a handler's response in memory.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseRecorder) Header() http.Header { return w.header }

func (w *responseRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// minLevel is a log handler that drops the records below level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), level: h.level}
}
