// Package mgmtapi is the Management API v2 subset (/api/v2/...): thin
// handlers over the tenant configuration, behind bearer access tokens that
// this server minted for the Management API audience.
package mgmtapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// Store is the storage the Management API reads and writes.
type Store interface {
	GetSettings(ctx context.Context) (store.TenantSettings, error)
	PutSettings(ctx context.Context, s store.TenantSettings) error

	CreateClient(ctx context.Context, c store.Client) error
	GetClient(ctx context.Context, clientID string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	UpdateClient(ctx context.Context, c store.Client) error
	ModifyClient(ctx context.Context, clientID string, f func(*store.Client) error) (store.Client, error)
	DeleteClient(ctx context.Context, clientID string) error

	CreateConnection(ctx context.Context, c store.Connection) error
	GetConnection(ctx context.Context, id string) (store.Connection, error)
	ListConnections(ctx context.Context) ([]store.Connection, error)
	UpdateConnection(ctx context.Context, c store.Connection) error
	DeleteConnection(ctx context.Context, id string) error

	CreateResourceServer(ctx context.Context, r store.ResourceServer) error
	GetResourceServer(ctx context.Context, id string) (store.ResourceServer, error)
	GetResourceServerByIdentifier(ctx context.Context, identifier string) (store.ResourceServer, error)
	ListResourceServers(ctx context.Context) ([]store.ResourceServer, error)
	UpdateResourceServer(ctx context.Context, r store.ResourceServer) error
	DeleteResourceServer(ctx context.Context, id string) error

	CreateClientGrant(ctx context.Context, g store.ClientGrant) error
	GetClientGrant(ctx context.Context, id string) (store.ClientGrant, error)
	ListClientGrants(ctx context.Context) ([]store.ClientGrant, error)
	UpdateClientGrant(ctx context.Context, g store.ClientGrant) error
	DeleteClientGrant(ctx context.Context, id string) error

	GetConnectionByName(ctx context.Context, name string) (store.Connection, error)
	GetUser(ctx context.Context, userID string) (store.User, error)
	FindUser(ctx context.Context, connection, identifier string) (store.User, error)
	ListUsers(ctx context.Context, offset, limit int) ([]store.User, error)
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u store.User) error
	UpdateUserFlags(ctx context.Context, userID string, f store.UserFlags) (store.User, error)
	DeleteUser(ctx context.Context, userID string) error
	RevokeRefreshTokens(ctx context.Context, f store.RefreshTokenFilter) (int, error)
	ListRefreshTokens(ctx context.Context, f store.RefreshTokenFilter, now time.Time) ([]store.RefreshToken, error)
}

// Events records tenant log events.
type Events interface {
	Record(ctx context.Context, ev store.LogEvent)
}

// Invalidator drops the request path's configuration cache after a write.
type Invalidator interface {
	Invalidate()
}

// Verifier checks a compact JWS signed by this server and returns its payload.
type Verifier interface {
	Verify(token string) ([]byte, error)
}

// API is the Management API.
type API struct {
	Log    *slog.Logger
	Store  Store
	Cache  Invalidator
	Keys   Verifier
	Seal   *secret.Keys
	Logs   LogStore
	Events Events  // nil: writes are not logged
	Flush  Flusher // nil: nothing to flush
	Issuer string  // with its trailing slash
	Now    func() time.Time
	// Protection answers the block routes (user-blocks, anomaly/blocks);
	// nil: they answer 501.
	Protection Protection
	// Stats reads the outbox's depth for the statistics; nil: not shown.
	Stats StatsSource
	// SigningKeys answers /api/v2/keys/signing; nil: it answers 501.
	SigningKeys SigningKeys

	searchSlots chan struct{} // log reads running now (MaxConcurrentSearches)
}

// Handler returns the handler for everything under /api/v2/.
func (a *API) Handler() http.Handler {
	if a.searchSlots == nil {
		a.searchSlots = make(chan struct{}, MaxConcurrentSearches)
	}
	h, _ := a.routes()
	return h
}

// Scopes lists every scope that some route accepts (what a token that may
// do everything carries).
func (a *API) Scopes() []string {
	_, scopes := a.routes()
	return scopes
}

func (a *API) routes() (http.Handler, []string) {
	mux := http.NewServeMux()
	var all []string
	// route serves pattern to tokens with any of scopes; with "+" between
	// them (a+b), only to tokens with all of them.
	route := func(pattern string, scopes string, f httpx.HandlerFunc) {
		need, every := strings.Fields(scopes), false
		if strings.Contains(scopes, "+") {
			need, every = strings.Split(scopes, "+"), true
		}
		for _, s := range need {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
		mux.Handle(pattern, httpx.Handle(a.Log, httpx.RenderManagement, a.authorizeScopes(pattern, need, every, a.audited(pattern, f))))
	}
	route("GET /api/v2/tenants/settings", "read:tenant_settings", a.getSettings)
	route("PATCH /api/v2/tenants/settings", "update:tenant_settings", a.patchSettings)

	route("GET /api/v2/attack-protection/brute-force-protection", "read:attack_protection", a.getBruteForce)
	route("PATCH /api/v2/attack-protection/brute-force-protection", "update:attack_protection", a.patchBruteForce)
	route("GET /api/v2/attack-protection/suspicious-ip-throttling", "read:attack_protection", a.getSuspiciousIP)
	route("PATCH /api/v2/attack-protection/suspicious-ip-throttling", "update:attack_protection", a.patchSuspiciousIP)

	route("GET /api/v2/branding", "read:branding", a.getBranding)
	route("PATCH /api/v2/branding", "update:branding", a.patchBranding)

	route("GET /api/v2/clients", "read:clients", a.listClients)
	route("POST /api/v2/clients", "create:clients", a.createClient)
	route("GET /api/v2/clients/{id}", "read:clients", a.getClient)
	route("PATCH /api/v2/clients/{id}", "update:clients", a.patchClient)
	route("DELETE /api/v2/clients/{id}", "delete:clients", a.deleteClient)
	route("POST /api/v2/clients/{id}/rotate-secret", "update:client_keys update:clients", a.rotateSecret)
	route("GET /api/v2/clients/{id}/credentials", "read:client_credentials", a.listCredentials)
	route("POST /api/v2/clients/{id}/credentials", "create:client_credentials", a.createCredential)
	route("GET /api/v2/clients/{id}/credentials/{cred}", "read:client_credentials", a.getCredential)
	route("DELETE /api/v2/clients/{id}/credentials/{cred}", "delete:client_credentials", a.deleteCredential)

	route("GET /api/v2/connections", "read:connections", a.listConnections)
	route("POST /api/v2/connections", "create:connections", a.createConnection)
	route("GET /api/v2/connections/{id}", "read:connections", a.getConnection)
	route("PATCH /api/v2/connections/{id}", "update:connections", a.patchConnection)
	route("DELETE /api/v2/connections/{id}", "delete:connections", a.deleteConnection)

	route("GET /api/v2/resource-servers", "read:resource_servers", a.listResourceServers)
	route("POST /api/v2/resource-servers", "create:resource_servers", a.createResourceServer)
	route("GET /api/v2/resource-servers/{id}", "read:resource_servers", a.getResourceServer)
	route("PATCH /api/v2/resource-servers/{id}", "update:resource_servers", a.patchResourceServer)
	route("DELETE /api/v2/resource-servers/{id}", "delete:resource_servers", a.deleteResourceServer)

	route("GET /api/v2/client-grants", "read:client_grants", a.listClientGrants)
	route("POST /api/v2/client-grants", "create:client_grants", a.createClientGrant)
	route("PATCH /api/v2/client-grants/{id}", "update:client_grants", a.patchClientGrant)
	route("DELETE /api/v2/client-grants/{id}", "delete:client_grants", a.deleteClientGrant)

	route("GET /api/v2/users", "read:users", a.listUsers)
	route("POST /api/v2/users", "create:users", a.createUser)
	route("GET /api/v2/users/{id}", "read:users", a.getUser)
	route("PATCH /api/v2/users/{id}", "update:users", a.patchUser)
	route("DELETE /api/v2/users/{id}", "delete:users", a.deleteUser)
	route("GET /api/v2/users-by-email", "read:users", a.usersByEmail)
	route("GET /api/v2/user-blocks", "read:users", a.getBlocksByIdentifier)
	route("DELETE /api/v2/user-blocks", "update:users", a.deleteBlocksByIdentifier)
	route("GET /api/v2/user-blocks/{id}", "read:users", a.getUserBlocks)
	route("DELETE /api/v2/user-blocks/{id}", "update:users", a.deleteUserBlocks)
	route("GET /api/v2/device-credentials", "read:device_credentials", a.listDeviceCredentials)
	route("DELETE /api/v2/device-credentials/{id}", "delete:device_credentials", a.deleteDeviceCredential)
	route("GET /api/v2/anomaly/blocks/ips/{ip}", "read:anomaly_blocks", a.getIPBlock)
	route("DELETE /api/v2/anomaly/blocks/ips/{ip}", "delete:anomaly_blocks", a.deleteIPBlock)

	route("GET /api/v2/keys/signing", "read:signing_keys", a.listSigningKeys)
	route("GET /api/v2/keys/signing/{kid}", "read:signing_keys", a.getSigningKey)
	route("POST /api/v2/keys/signing/rotate", "create:signing_keys+update:signing_keys", a.rotateSigningKey)
	route("PUT /api/v2/keys/signing/{kid}/revoke", "update:signing_keys", a.revokeSigningKey)

	route("GET /api/v2/logs", "read:logs", a.listLogs)
	route("GET /api/v2/logs/{id}", "read:logs", a.getLog)
	route("GET /api/v2/users/{id}/logs", "read:logs read:logs_users", a.userLogs)
	route("GET /api/v2/latchkey/migration-report", "read:logs", a.migrationReport)
	route("GET /api/v2/latchkey/stats", "read:logs", a.stats)

	mux.Handle("/", httpx.Handle(a.Log, httpx.RenderManagement, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "not_found", "Not Found")
	}))
	return mux, all
}

// badRequest is Auth0's payload validation error.
func badRequest(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, "invalid_body", "Payload validation error: "+format, args...)
}

// decodeStrict decodes a JSON object body into v; unknown fields are
// errors, so a misspelt security setting is not silently ignored.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("unexpected data after the JSON object")
	}
	return nil
}

// readObject reads a JSON object body.
func readObject(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "Request body is larger than %d bytes", mbe.Limit)
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	if t := httpx.MediaType(r); t != "" && t != "application/json" {
		return nil, httpx.Errorf(http.StatusBadRequest, "invalid_body", "Payload validation error: the body must be application/json")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, badRequest("the body must be a JSON object")
	}
	return raw, nil
}

// page is the offset paging of list endpoints (page, per_page, include_totals).
type page struct {
	Page, PerPage int
	Totals        bool
}

// MaxPerPage is the largest per_page (Auth0's limit).
const MaxPerPage = 100

func readPage(r *http.Request) (page, error) {
	q := r.URL.Query()
	p := page{PerPage: 50}
	for _, f := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &p.Page, 1 << 20}, {"per_page", &p.PerPage, MaxPerPage}} {
		s := q.Get(f.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > f.max {
			return p, httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: '%s' must be an integer between 0 and %d", f.name, f.max)
		}
		*f.dst = n
	}
	switch q.Get("include_totals") {
	case "", "false":
	case "true":
		p.Totals = true
	default:
		return p, httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'include_totals' must be true or false")
	}
	return p, nil
}

// mergePatch overlays the top-level fields of a JSON object patch onto
// base (encoded as JSON) and decodes the result strictly into dst.
func mergePatch(base any, patch []byte, dst any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	b, err := json.Marshal(base)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(b, &merged); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	for k, v := range fields {
		merged[k] = v
	}
	if b, err = json.Marshal(merged); err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return decodeStrict(b, dst)
}

// slice returns the page's window of n items.
func (p page) slice(n int) (from, to int) {
	from = min(p.Page*p.PerPage, n)
	return from, min(from+p.PerPage, n)
}
