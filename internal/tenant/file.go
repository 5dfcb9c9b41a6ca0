package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/liquid"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
)

// File is the tenant file (--bootstrap, latchkey apply): the Management API's
// field names, so that an Auth0 export maps onto it.
type File struct {
	Settings        *store.TenantSettings `json:"settings"`
	Clients         []ClientSpec          `json:"clients"`
	Connections     []ConnectionSpec      `json:"connections"`
	ResourceServers []ResourceServerSpec  `json:"resource_servers"`
	ClientGrants    []ClientGrantSpec     `json:"client_grants"`

	raw []byte // the JSON as written (ParseFile)
}

// ClientSpec is an application as written in the tenant file.
type ClientSpec struct {
	ClientID                  string   `json:"client_id"`
	ClientSecret              string   `json:"client_secret,omitempty"`
	Name                      string   `json:"name"`
	Description               string   `json:"description"`
	AppType                   string   `json:"app_type"`
	TokenEndpointAuthMethod   string   `json:"token_endpoint_auth_method"`
	GrantTypes                []string `json:"grant_types"`
	Callbacks                 []string `json:"callbacks"`
	AllowedLogoutURLs         []string `json:"allowed_logout_urls"`
	WebOrigins                []string `json:"web_origins"`
	AllowedOrigins            []string `json:"allowed_origins"`
	CrossOriginAuthentication bool     `json:"cross_origin_authentication"`
	// CrossOriginLoc is the application's cross-origin verification page
	// (auth0.js crossOriginVerification), framed when a login ticket comes
	// without the cross-origin cookie: see docs/browser-flows.md.
	CrossOriginLoc                 string `json:"cross_origin_loc,omitempty"`
	IsTokenEndpointIPHeaderTrusted bool   `json:"is_token_endpoint_ip_header_trusted"`
	IsFirstParty                   *bool  `json:"is_first_party"`
	OIDCConformant                 *bool  `json:"oidc_conformant"`
	// RefreshToken is Auth0's refresh_token object; omitted: the defaults
	// (DefaultRefreshToken).
	RefreshToken *store.ClientRefreshToken `json:"refresh_token,omitempty"`
	// JWTConfiguration is Auth0's jwt_configuration object (alg,
	// lifetime_in_seconds, secret_encoded); omitted: RS256, 36,000 s.
	JWTConfiguration *store.JWTConfiguration `json:"jwt_configuration,omitempty"`
}

// SpecOf turns a stored client back into the spec it was built from,
// without its secret (only its hash is stored).
func SpecOf(c store.Client) ClientSpec {
	fp, oc := c.IsFirstParty, c.OIDCConformant
	return ClientSpec{ClientID: c.ClientID, Name: c.Name, Description: c.Description, AppType: c.AppType,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, GrantTypes: c.GrantTypes, Callbacks: c.Callbacks,
		AllowedLogoutURLs: c.AllowedLogoutURLs, WebOrigins: c.WebOrigins, AllowedOrigins: c.AllowedOrigins,
		CrossOriginAuthentication: c.CrossOriginAuthentication, CrossOriginLoc: c.CrossOriginLoc,
		IsTokenEndpointIPHeaderTrusted: c.IsTokenEndpointIPHeaderTrusted,
		IsFirstParty:                   &fp, OIDCConformant: &oc, RefreshToken: c.RefreshToken, JWTConfiguration: c.JWTConfiguration}
}

// ConnectionSpec is a connection as written in the tenant file.
type ConnectionSpec struct {
	Name           string            `json:"name"`
	Strategy       string            `json:"strategy"`
	Options        ConnectionOptions `json:"options"`
	EnabledClients []string          `json:"enabled_clients"`
}

// UnmarshalJSON decodes a connection strictly. Brute-force protection is
// on unless the spec turns it off, as Auth0 creates connections; an absent
// options object counts as empty.
func (c *ConnectionSpec) UnmarshalJSON(b []byte) error {
	type plain ConnectionSpec
	p := plain{Options: ConnectionOptions{store.ConnectionOptions{BruteForceProtection: true}}}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*c = ConnectionSpec(p)
	return nil
}

// ConnectionOptions accepts authParams as an object or as a JSON string
// (Auth0's schema types it as a string; real tenants return an object).
type ConnectionOptions struct {
	store.ConnectionOptions
}

// UnmarshalJSON decodes the options strictly, accepting both authParams forms.
func (o *ConnectionOptions) UnmarshalJSON(b []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if raw, ok := probe["authParams"]; ok && len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if len(s) > 1024 {
			return errors.New("authParams: longer than 1024 characters")
		}
		probe["authParams"] = json.RawMessage(s)
		if s == "" {
			delete(probe, "authParams")
		}
		b, _ = json.Marshal(probe)
	}
	// Brute-force protection is on unless the options turn it off (Auth0's
	// default), also when a PATCH replaces the options object.
	opts := store.ConnectionOptions{BruteForceProtection: true}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil {
		return err
	}
	o.ConnectionOptions = opts
	return nil
}

// ResourceServerSpec is an API as written in the tenant file.
type ResourceServerSpec struct {
	Identifier         string        `json:"identifier"`
	Name               string        `json:"name"`
	Scopes             []store.Scope `json:"scopes"`
	SigningAlg         string        `json:"signing_alg"`
	AllowOfflineAccess bool          `json:"allow_offline_access"`
	TokenLifetime      int           `json:"token_lifetime"`
	SkipConsent        bool          `json:"skip_consent_for_verifiable_first_party_clients"`
}

// ClientGrantSpec is a client grant as written in the tenant file.
type ClientGrantSpec struct {
	ClientID string   `json:"client_id"`
	Audience string   `json:"audience"`
	Scope    []string `json:"scope"`
}

// ConnectionSpecOf turns a stored connection back into the spec it was
// built from.
func ConnectionSpecOf(c store.Connection) ConnectionSpec {
	return ConnectionSpec{Name: c.Name, Strategy: c.Strategy, Options: ConnectionOptions{c.Options}, EnabledClients: c.EnabledClients}
}

// ResourceServerSpecOf turns a stored API back into the spec it was built
// from (IsSystem is not the file's to set).
func ResourceServerSpecOf(r store.ResourceServer) ResourceServerSpec {
	return ResourceServerSpec{Identifier: r.Identifier, Name: r.Name, Scopes: r.Scopes, SigningAlg: r.SigningAlg,
		AllowOfflineAccess: r.AllowOfflineAccess, TokenLifetime: r.TokenLifetime, SkipConsent: r.SkipConsent}
}

// ClientGrantSpecOf turns a stored client grant back into its spec.
func ClientGrantSpecOf(g store.ClientGrant) ClientGrantSpec {
	return ClientGrantSpec{ClientID: g.ClientID, Audience: g.Audience, Scope: g.Scope}
}

// BuildClientGrant turns a ClientGrantSpec into a record (without ID and
// time). The references it makes are checked by Apply.
func BuildClientGrant(s ClientGrantSpec) store.ClientGrant {
	return store.ClientGrant{ClientID: s.ClientID, Audience: s.Audience, Scope: nonNil(slices.Clone(s.Scope))}
}

// ParseFile decodes a tenant file strictly: unknown fields are errors, so a
// misspelt security setting is not silently ignored. The file keeps its
// JSON as written: Apply manages only the fields it states.
func ParseFile(r io.Reader) (*File, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("tenant file: unexpected data after the JSON object")
	}
	f.raw = b
	return &f, nil
}

// rawFile is the tenant file as written, for its fields.
type rawFile struct {
	Settings        map[string]any   `json:"settings"`
	Clients         []map[string]any `json:"clients"`
	Connections     []map[string]any `json:"connections"`
	ResourceServers []map[string]any `json:"resource_servers"`
	ClientGrants    []map[string]any `json:"client_grants"`
}

// written returns the file as written. A File built or changed in code
// after ParseFile states every field of its specs.
func (f *File) written() (rawFile, error) {
	b := f.raw
	if b != nil {
		parsed, err := ParseFile(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(*parsed, *f) {
			b = nil
		}
	}
	if b == nil {
		var err error
		if b, err = json.Marshal(f); err != nil {
			return rawFile{}, fmt.Errorf("tenant file: %w", err)
		}
	}
	var doc any
	if err := decodeNumbers(b, &doc); err != nil {
		return rawFile{}, fmt.Errorf("tenant file: %w", err)
	}
	// Field names as the specs spell them: json matches names regardless
	// of case, and a field must have one path.
	b, err := json.Marshal(canonicalKeys(reflect.TypeFor[File](), doc))
	if err != nil {
		return rawFile{}, fmt.Errorf("tenant file: %w", err)
	}
	var raw rawFile
	if err := decodeNumbers(b, &raw); err != nil {
		return rawFile{}, fmt.Errorf("tenant file: %w", err)
	}
	return raw, nil
}

// Applied reports what Apply did (or, with DryRun, would do).
type Applied struct {
	// Changed counts the records written (the settings document is one).
	Changed int
	// Fields lists what the file set: the fields whose stored value it
	// changed and the records it created, with the store's values before.
	Fields FieldList
	// Drift lists the runtime changes: fields the file did not change since
	// it was last applied but the store did, and records the file lists
	// that were deleted. The store keeps them, unless Enforced (then they
	// are overwritten, and listed in Fields too).
	Drift    FieldList
	Enforced bool
	// GeneratedSecrets holds the secrets generated for new confidential
	// clients that the file gave none for (client_id → secret). They are
	// shown once; only their hashes are stored. None with DryRun.
	GeneratedSecrets map[string]string
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Enforce makes the file win for every field it states, overwriting
	// runtime changes (latchkey apply --force, serve --bootstrap-mode=enforce).
	Enforce bool
	// DryRun works out the report without writing anything (latchkey
	// apply --diff).
	DryRun bool
}

// Store is what Apply needs.
type Store interface {
	GetSettings(ctx context.Context) (store.TenantSettings, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	ListConnections(ctx context.Context) ([]store.Connection, error)
	ListResourceServers(ctx context.Context) ([]store.ResourceServer, error)
	ListClientGrants(ctx context.Context) ([]store.ClientGrant, error)
	TenantFileState(ctx context.Context) (map[string][]byte, error)
	ApplyTenant(ctx context.Context, t store.TenantConfig) error
}

// Apply validates f completely and then applies it in one transaction,
// field by field (see Field): a field the file changed since it was last
// applied, or never applied, takes the file's value; a field the file left
// as it was but that was changed at runtime keeps the store's value and is
// reported as drift (opt.Enforce: the file's). Records the file lists that
// were deleted at runtime are recreated only when the file's record
// changed. Nothing is deleted because the file omits it. What the file
// says is recorded (as keyed hashes) with the records. Applying the same
// file twice changes nothing. A validation error names the bad field and
// nothing is written.
func Apply(ctx context.Context, st Store, keys *secret.Keys, f *File, issuer string, now time.Time, opt ApplyOptions) (Applied, error) {
	res := Applied{Enforced: opt.Enforce}
	ex, err := loadExisting(ctx, st)
	if err != nil {
		return res, err
	}
	raw, err := f.written()
	if err != nil {
		return res, err
	}
	m := &merger{keys: keys, enforce: opt.Enforce, state: ex.state, next: map[string][]byte{}, res: &res}
	var cfg store.TenantConfig
	generated := func(id, sec string) {
		if sec == "" {
			return
		}
		if res.GeneratedSecrets == nil {
			res.GeneratedSecrets = map[string]string{}
		}
		res.GeneratedSecrets[id] = sec
	}

	if f.Settings != nil && len(raw.Settings) > 0 {
		m.stated = append(m.stated, "settings")
		s, write, err := mergeSettings(m, ex.settings, raw.Settings)
		if err != nil {
			return Applied{}, err
		}
		if write {
			cfg.Settings = &s
			res.Changed++
		}
	}

	known := map[string]bool{}
	for id := range ex.clients {
		known[id] = true
	}
	seen := map[string]bool{}
	// The secrets the file states, by client. A record is built from the
	// fields that change; a stated secret that matches the stored hash is
	// no change of its own, but HS256 needs the secret itself to seal it,
	// so a build gets it back (a secret rotated since, which the file
	// does not match, is left alone).
	fileSecrets := map[string]string{}
	for _, spec := range f.Clients {
		if spec.ClientSecret != "" {
			fileSecrets[spec.ClientID] = spec.ClientSecret
		}
	}
	clientKind := recordKind[ClientSpec, store.Client]{
		section: "clients", keyFields: []string{"client_id"}, specOf: SpecOf,
		build: func(s ClientSpec, old store.Client) (store.Client, string, error) {
			if sec := fileSecrets[s.ClientID]; s.ClientSecret == "" && sec != "" &&
				secret.Equal(HashClientSecret(keys, s.ClientID, sec), old.SecretHash) {
				s.ClientSecret = sec // the stored secret itself: no change, and HS256 can seal it
			}
			c, gen, err := BuildClient(keys, s, &old)
			// The file does not carry Private Key JWT credentials: keep
			// those registered through the Management API.
			c.Credentials, c.CreatedAt, c.UpdatedAt = old.Credentials, old.CreatedAt, old.UpdatedAt
			return c, gen, err
		},
	}
	for i, spec := range f.Clients {
		field := fmt.Sprintf("clients[%d]", i)
		if spec.ClientID == "" {
			return Applied{}, fmt.Errorf("%s.client_id: required in a tenant file (it is how applying twice finds the same application)", field)
		}
		if seen[spec.ClientID] {
			return Applied{}, fmt.Errorf("%s.client_id: %q appears twice", field, spec.ClientID)
		}
		seen[spec.ClientID] = true
		old, exists := ex.clients[spec.ClientID]
		c, gen, err := BuildClient(keys, spec, &old)
		if err != nil {
			return Applied{}, fmt.Errorf("%s.%w", field, err)
		}
		known[c.ClientID] = true
		mr, err := mergeRecord(m, clientKind, c.ClientID, raw.Clients[i], c, gen, old, exists)
		if err != nil {
			return Applied{}, m.mergeError(field, "clients["+c.ClientID+"]", err)
		}
		if !mr.write {
			continue
		}
		if mr.create {
			mr.rec.CreatedAt = now
		}
		mr.rec.UpdatedAt = now
		generated(c.ClientID, mr.generated)
		cfg.Clients = append(cfg.Clients, mr.rec)
		res.Changed++
	}

	names := map[string]bool{}
	connKind := recordKind[ConnectionSpec, store.Connection]{
		section: "connections", keyFields: []string{"name"}, opaque: map[string]bool{"options.authParams": true},
		specOf: ConnectionSpecOf,
		build: func(s ConnectionSpec, old store.Connection) (store.Connection, string, error) {
			c, err := BuildConnection(s)
			c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
			return c, "", err
		},
	}
	for i, spec := range f.Connections {
		field := fmt.Sprintf("connections[%d]", i)
		c, err := BuildConnection(spec)
		if err != nil {
			return Applied{}, fmt.Errorf("%s.%w", field, err)
		}
		if names[c.Name] {
			return Applied{}, fmt.Errorf("%s.name: %q appears twice", field, c.Name)
		}
		names[c.Name] = true
		for j, id := range c.EnabledClients {
			if !known[id] {
				return Applied{}, fmt.Errorf("%s.enabled_clients[%d]: no application %q", field, j, id)
			}
		}
		old, exists := ex.conns[c.Name]
		c.ID = NewConnectionID()
		mr, err := mergeRecord(m, connKind, c.Name, writtenConnection(raw.Connections[i]), c, "", old, exists)
		if err != nil {
			return Applied{}, m.mergeError(field, "connections["+c.Name+"]", err)
		}
		if !mr.write {
			continue
		}
		if mr.create {
			mr.rec.CreatedAt = now
		}
		mr.rec.UpdatedAt = now
		cfg.Connections = append(cfg.Connections, mr.rec)
		res.Changed++
	}

	apis := map[string]bool{}
	for id := range ex.apis {
		apis[id] = true
	}
	seenAPI := map[string]bool{}
	apiKind := recordKind[ResourceServerSpec, store.ResourceServer]{
		section: "resource_servers", keyFields: []string{"identifier"}, specOf: ResourceServerSpecOf,
		build: func(s ResourceServerSpec, old store.ResourceServer) (store.ResourceServer, string, error) {
			r, err := BuildResourceServer(s, issuer)
			r.ID, r.IsSystem, r.CreatedAt, r.UpdatedAt = old.ID, old.IsSystem, old.CreatedAt, old.UpdatedAt
			return r, "", err
		},
	}
	for i, spec := range f.ResourceServers {
		field := fmt.Sprintf("resource_servers[%d]", i)
		r, err := BuildResourceServer(spec, issuer)
		if err != nil {
			return Applied{}, fmt.Errorf("%s.%w", field, err)
		}
		if seenAPI[r.Identifier] {
			return Applied{}, fmt.Errorf("%s.identifier: %q appears twice", field, r.Identifier)
		}
		seenAPI[r.Identifier], apis[r.Identifier] = true, true
		old, exists := ex.apis[r.Identifier]
		r.ID = NewResourceServerID()
		mr, err := mergeRecord(m, apiKind, r.Identifier, raw.ResourceServers[i], r, "", old, exists)
		if err != nil {
			return Applied{}, m.mergeError(field, "resource_servers["+r.Identifier+"]", err)
		}
		if !mr.write {
			continue
		}
		if mr.create {
			mr.rec.CreatedAt = now
		}
		mr.rec.UpdatedAt = now
		cfg.ResourceServers = append(cfg.ResourceServers, mr.rec)
		res.Changed++
	}

	seenGrant := map[string]bool{}
	grantKind := recordKind[ClientGrantSpec, store.ClientGrant]{
		section: "client_grants", keyFields: []string{"client_id", "audience"}, specOf: ClientGrantSpecOf,
		build: func(s ClientGrantSpec, old store.ClientGrant) (store.ClientGrant, string, error) {
			g := BuildClientGrant(s)
			g.ID, g.CreatedAt = old.ID, old.CreatedAt
			return g, "", nil
		},
	}
	for i, spec := range f.ClientGrants {
		field := fmt.Sprintf("client_grants[%d]", i)
		if !known[spec.ClientID] {
			return Applied{}, fmt.Errorf("%s.client_id: no application %q", field, spec.ClientID)
		}
		if spec.Audience != ManagementAudience(issuer) && !apis[spec.Audience] {
			return Applied{}, fmt.Errorf("%s.audience: no API %q", field, spec.Audience)
		}
		key := spec.ClientID + "\x00" + spec.Audience
		if seenGrant[key] {
			return Applied{}, fmt.Errorf("%s: the grant of %q for %q appears twice", field, spec.ClientID, spec.Audience)
		}
		seenGrant[key] = true
		old, exists := ex.grants[key]
		g := BuildClientGrant(spec)
		g.ID = NewClientGrantID()
		name := spec.ClientID + " " + spec.Audience
		mr, err := mergeRecord(m, grantKind, name, raw.ClientGrants[i], g, "", old, exists)
		if err != nil {
			return Applied{}, m.mergeError(field, "client_grants["+name+"]", err)
		}
		if !mr.write {
			continue
		}
		if mr.create {
			mr.rec.CreatedAt = now
		}
		cfg.ClientGrants = append(cfg.ClientGrants, mr.rec)
		res.Changed++
	}

	// Record what the file says where it differs from what was recorded.
	for path, h := range m.next {
		if last, ok := ex.state[path]; !ok || !secret.Equal(last, h) {
			if cfg.FileState == nil {
				cfg.FileState = map[string][]byte{}
			}
			cfg.FileState[path] = h
		}
	}
	for _, path := range m.forgotten() {
		if cfg.FileState == nil {
			cfg.FileState = map[string][]byte{}
		}
		cfg.FileState[path] = nil
	}
	if opt.DryRun {
		res.GeneratedSecrets = nil
		return res, nil
	}
	if res.Changed == 0 && len(cfg.FileState) == 0 {
		return res, nil
	}
	if err := st.ApplyTenant(ctx, cfg); err != nil {
		return Applied{}, fmt.Errorf("apply tenant file: %w", err)
	}
	return res, nil
}

// mergeSettings merges the settings the file states (raw) into the stored
// settings document: only the fields the file states are managed by it.
func mergeSettings(m *merger, stored store.TenantSettings, raw map[string]any) (store.TenantSettings, bool, error) {
	leaves := flatten(raw, nil, nil)
	base, err := toDoc(stored)
	if err != nil {
		return stored, false, fmt.Errorf("settings: encode the stored settings: %w", err)
	}
	// Attack protection left unset stands for Auth0's defaults: a file that
	// sets some of its fields sets them on the defaults, as the Management
	// API's PATCH does.
	fill, err := toDoc(store.TenantSettings{AttackProtection: store.AttackProtection{
		BruteForce: new(store.DefaultBruteForce()), SuspiciousIP: new(store.DefaultSuspiciousIP())}})
	if err != nil {
		return stored, false, fmt.Errorf("settings: %w", err)
	}
	// The file over the store must be valid settings, whatever the store
	// keeps: the error names the file's field.
	whole, err := fromDoc[store.TenantSettings](overlay(base, fill, leaves...))
	if err != nil {
		return stored, false, fmt.Errorf("settings: %w", err)
	}
	if err := CheckSettings(whole); err != nil {
		return stored, false, fmt.Errorf("settings.%w", err)
	}
	same := func(doc map[string]any) bool {
		s, err := fromDoc[store.TenantSettings](doc)
		return err == nil && sameRecord(s, stored)
	}
	apply := m.mergeFields("settings", base, fill, leaves, same)
	if len(apply) == 0 {
		return stored, false, nil
	}
	merged, err := fromDoc[store.TenantSettings](overlay(base, fill, apply...))
	if err != nil {
		return stored, false, fmt.Errorf("settings: %w", err)
	}
	if err := CheckSettings(merged); err != nil {
		return stored, false, m.mergeError("settings", "settings", err)
	}
	if sameRecord(merged, stored) {
		return stored, false, nil
	}
	return merged, true, nil
}

// writtenConnection is a connection as written with authParams, which may
// be written as a JSON string, as the object it stands for.
func writtenConnection(raw map[string]any) map[string]any {
	opts, ok := raw["options"].(map[string]any)
	if !ok {
		return raw
	}
	s, ok := opts["authParams"].(string)
	if !ok {
		return raw
	}
	raw, opts = deepCopy(raw).(map[string]any), deepCopy(opts).(map[string]any)
	raw["options"] = opts
	var v any
	if s == "" || decodeNumbers([]byte(s), &v) != nil {
		delete(opts, "authParams")
	} else {
		opts["authParams"] = v
	}
	return raw
}

type existing struct {
	settings store.TenantSettings
	clients  map[string]store.Client
	conns    map[string]store.Connection
	apis     map[string]store.ResourceServer
	grants   map[string]store.ClientGrant
	state    map[string][]byte
}

func loadExisting(ctx context.Context, st Store) (existing, error) {
	var ex existing
	var err error
	if ex.settings, err = st.GetSettings(ctx); err != nil {
		return ex, fmt.Errorf("read settings: %w", err)
	}
	clients, err := st.ListClients(ctx)
	if err != nil {
		return ex, fmt.Errorf("read clients: %w", err)
	}
	ex.clients = map[string]store.Client{}
	for _, c := range clients {
		ex.clients[c.ClientID] = c
	}
	conns, err := st.ListConnections(ctx)
	if err != nil {
		return ex, fmt.Errorf("read connections: %w", err)
	}
	ex.conns = map[string]store.Connection{}
	for _, c := range conns {
		ex.conns[c.Name] = c
	}
	apis, err := st.ListResourceServers(ctx)
	if err != nil {
		return ex, fmt.Errorf("read resource servers: %w", err)
	}
	ex.apis = map[string]store.ResourceServer{}
	for _, r := range apis {
		ex.apis[r.Identifier] = r
	}
	grants, err := st.ListClientGrants(ctx)
	if err != nil {
		return ex, fmt.Errorf("read client grants: %w", err)
	}
	ex.grants = map[string]store.ClientGrant{}
	for _, g := range grants {
		ex.grants[g.ClientID+"\x00"+g.Audience] = g
	}
	if ex.state, err = st.TenantFileState(ctx); err != nil {
		return ex, fmt.Errorf("read the tenant file state: %w", err)
	}
	return ex, nil
}

// ManagementAudience is the Management API's audience for an issuer.
func ManagementAudience(issuer string) string { return issuer + "api/v2/" }

// Hostname is the host (and port) of an issuer URL: the tenant's domain,
// which log events carry as hostname.
func Hostname(issuer string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	return h
}

// New identifiers.
func NewClientID() string         { return secret.Alnum(32) }
func NewClientSecret() string     { return secret.Token(48) }
func NewConnectionID() string     { return "con_" + secret.Alnum(16) }
func NewResourceServerID() string { return secret.Hex(12) }
func NewClientGrantID() string    { return "cgr_" + secret.Alnum(16) }

// HashClientSecret is the keyed hash under which a client secret is stored.
func HashClientSecret(keys *secret.Keys, clientID, sec string) []byte {
	return keys.Hash("client_secret", clientID, sec)
}

// BuildClient validates a ClientSpec and turns it into a record. keep is
// the stored client whose secret to keep when the spec carries none (nil
// or a zero client for a new one). For a new confidential client without
// a secret, one is generated and returned. Errors start with the bad
// field's name.
func BuildClient(keys *secret.Keys, s ClientSpec, keep *store.Client) (c store.Client, generated string, err error) {
	if s.ClientID == "" {
		s.ClientID = NewClientID()
	} else if len(s.ClientID) > 128 || strings.ContainsAny(s.ClientID, " \t\r\n/?#") {
		return c, "", fmt.Errorf("client_id: %q is not a valid client id", s.ClientID)
	}
	if s.Name == "" {
		return c, "", errors.New("name: required")
	}
	switch s.AppType {
	case "":
		s.AppType = AppRegularWeb
	case AppNative, AppSPA, AppRegularWeb, AppNonInteractive:
	default:
		return c, "", fmt.Errorf("app_type: %q is not one of native, spa, regular_web, non_interactive", s.AppType)
	}
	public := s.AppType == AppSPA || s.AppType == AppNative
	switch s.TokenEndpointAuthMethod {
	case "":
		s.TokenEndpointAuthMethod = AuthClientSecretPost
		if public {
			s.TokenEndpointAuthMethod = AuthNone
		}
	case AuthNone, AuthClientSecretPost, AuthClientSecretBasic:
	default:
		return c, "", fmt.Errorf("token_endpoint_auth_method: %q is not one of none, client_secret_post, client_secret_basic", s.TokenEndpointAuthMethod)
	}
	if s.GrantTypes == nil {
		s.GrantTypes = DefaultGrants(s.AppType)
	}
	for i, g := range s.GrantTypes {
		if err := checkGrant(g, s.AppType); err != nil {
			return c, "", fmt.Errorf("grant_types[%d]: %w", i, err)
		}
	}
	for name, urls := range map[string][]string{"callbacks": s.Callbacks, "allowed_logout_urls": s.AllowedLogoutURLs, "web_origins": s.WebOrigins, "allowed_origins": s.AllowedOrigins} {
		for i, u := range urls {
			if err := CheckURL(u); err != nil {
				return c, "", fmt.Errorf("%s[%d]: %w", name, i, err)
			}
		}
	}
	if s.CrossOriginLoc != "" {
		if err := CheckURL(s.CrossOriginLoc); err != nil {
			return c, "", fmt.Errorf("cross_origin_loc: %w", err)
		}
	}
	c = store.Client{
		ClientID: s.ClientID, Name: s.Name, Description: s.Description, AppType: s.AppType,
		TokenEndpointAuthMethod: s.TokenEndpointAuthMethod,
		GrantTypes:              nonNil(s.GrantTypes), Callbacks: nonNil(s.Callbacks),
		AllowedLogoutURLs: nonNil(s.AllowedLogoutURLs), WebOrigins: nonNil(s.WebOrigins),
		AllowedOrigins: nonNil(s.AllowedOrigins), CrossOriginAuthentication: s.CrossOriginAuthentication,
		CrossOriginLoc:                 s.CrossOriginLoc,
		IsTokenEndpointIPHeaderTrusted: s.IsTokenEndpointIPHeaderTrusted,
		IsFirstParty:                   s.IsFirstParty == nil || *s.IsFirstParty,
		OIDCConformant:                 s.OIDCConformant == nil || *s.OIDCConformant,
	}
	if s.RefreshToken != nil {
		rt, err := BuildRefreshToken(*s.RefreshToken)
		if err != nil {
			return c, "", fmt.Errorf("refresh_token.%w", err)
		}
		c.RefreshToken = &rt
	}
	if s.JWTConfiguration != nil {
		j, err := buildJWTConfig(*s.JWTConfiguration)
		if err != nil {
			return c, "", err
		}
		c.JWTConfiguration = &j
	}
	plain := s.ClientSecret
	switch {
	case plain != "":
		if len(plain) < 16 {
			return c, "", errors.New("client_secret: must be at least 16 characters")
		}
	case keep != nil && keep.SecretHash != nil:
	case IsConfidential(c):
		generated = NewClientSecret()
		plain = generated
	}
	if err := applySecret(keys, &c, plain, keep); err != nil {
		return c, "", err
	}
	return c, generated, nil
}

// CheckURL checks a URL an application registers (callback, logout URL,
// origin): absolute, with http, https or a reverse-DNS custom scheme.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" && !strings.Contains(u.Scheme, ".") {
		return fmt.Errorf("%q: scheme must be http, https or a reverse-DNS custom scheme", s)
	}
	return nil
}

// SMSProviders are the sms connection's providers (options.provider; the
// first is the default). A new one is a name here and its sender in
// internal/delivery.
var SMSProviders = []string{"twilio", "sms_gateway"}

// BuildConnection validates a ConnectionSpec (§6.1 limits).
func BuildConnection(s ConnectionSpec) (store.Connection, error) {
	o := s.Options.ConnectionOptions
	switch s.Strategy {
	case "email", "sms":
	case "":
		return store.Connection{}, errors.New("strategy: required")
	default:
		return store.Connection{}, fmt.Errorf("strategy: %q is not a passwordless strategy (email or sms)", s.Strategy)
	}
	if s.Name == "" {
		s.Name = s.Strategy
	}
	if s.Name != s.Strategy {
		return store.Connection{}, fmt.Errorf("name: a %s connection must be named %q (the SDKs hard-code it)", s.Strategy, s.Strategy)
	}
	if o.TOTP.Length != 0 && (o.TOTP.Length < 4 || o.TOTP.Length > 40) {
		return store.Connection{}, fmt.Errorf("options.totp.length: %d is outside 4–40", o.TOTP.Length)
	}
	if o.TOTP.TimeStep != 0 && o.TOTP.TimeStep < 60 {
		return store.Connection{}, fmt.Errorf("options.totp.time_step: %d is below 60 seconds", o.TOTP.TimeStep)
	}
	if o.TOTP.TimeStep > 86400 {
		return store.Connection{}, fmt.Errorf("options.totp.time_step: %d is above one day", o.TOTP.TimeStep)
	}
	if e := o.Email; e != nil {
		if s.Strategy != "email" {
			return store.Connection{}, errors.New("options.email: only for the email strategy")
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"from", e.From, 1024}, {"subject", e.Subject, 1024}, {"body", e.Body, 20480}} {
			if len(f.v) < 1 || len(f.v) > f.max {
				return store.Connection{}, fmt.Errorf("options.email.%s: length must be 1–%d", f.name, f.max)
			}
		}
		if e.Syntax != "" && e.Syntax != "liquid" {
			return store.Connection{}, errors.New("options.email.syntax: must be \"liquid\"")
		}
		for _, f := range []struct{ name, v string }{{"from", e.From}, {"subject", e.Subject}, {"body", e.Body}} {
			if _, err := liquid.Parse(f.v); err != nil {
				return store.Connection{}, fmt.Errorf("options.email.%s: %w", f.name, err)
			}
		}
	}
	if s.Strategy == "sms" {
		if len(o.Template) > 5120 {
			return store.Connection{}, errors.New("options.template: longer than 5120 characters")
		}
		if len(o.From) > 128 {
			return store.Connection{}, errors.New("options.from: longer than 128 characters")
		}
		if o.Provider != "" && !slices.Contains(SMSProviders, o.Provider) {
			return store.Connection{}, fmt.Errorf("options.provider: %q is not %s", o.Provider, strings.Join(SMSProviders, " or "))
		}
		if o.Template != "" {
			if _, err := liquid.Parse(strings.ReplaceAll(o.Template, "@@password@@", "{{ code }}")); err != nil {
				return store.Connection{}, fmt.Errorf("options.template: %w", err)
			}
		}
		switch o.Syntax {
		case "", "liquid", "md_with_macros":
		default:
			return store.Connection{}, fmt.Errorf("options.syntax: %q is not liquid or md_with_macros", o.Syntax)
		}
		if o.TwilioSID != "" && !twilioSID.MatchString(o.TwilioSID) {
			return store.Connection{}, errors.New("options.twilio_sid: must match ^AC[0-9a-fA-F]{32}$")
		}
		if o.MessagingServiceSID != "" && !messagingSID.MatchString(o.MessagingServiceSID) {
			return store.Connection{}, errors.New("options.messaging_service_sid: must match ^MG[0-9a-fA-F]{32}$")
		}
		if o.TwilioToken != "" && (len(o.TwilioToken) < 32 || len(o.TwilioToken) > 2048) {
			return store.Connection{}, errors.New("options.twilio_token: length must be 32–2048")
		}
		if o.Provider == "sms_gateway" {
			if u, err := url.Parse(o.GatewayURL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
				return store.Connection{}, errors.New("options.gateway_url: an http(s) URL is required with the sms_gateway provider")
			}
		}
		if a := o.GatewayAuthentication; a != nil {
			if a.Method != "bearer" {
				return store.Connection{}, errors.New("options.gateway_authentication.method: must be \"bearer\"")
			}
			if a.Secret == "" || a.Audience == "" {
				return store.Connection{}, errors.New("options.gateway_authentication: secret and audience are required")
			}
		}
		for i, c := range o.AllowedCountries {
			if len(c) != 2 || strings.ToUpper(c) != c || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				return store.Connection{}, fmt.Errorf("options.allowed_countries[%d]: %q is not an ISO 3166 alpha-2 code such as \"US\"", i, c)
			}
		}
		if b := o.SMSBudget; b != nil && (b.PerNumberPerHour < 0 || b.PerBlockPerHour < 0) {
			return store.Connection{}, errors.New("options.sms_budget: budgets cannot be negative")
		}
	} else if len(o.AllowedCountries) > 0 || o.SMSBudget != nil || o.GatewayAuthentication != nil {
		return store.Connection{}, errors.New("options.allowed_countries, sms_budget and gateway_authentication are for the sms strategy")
	}
	if o.Name == "" {
		o.Name = s.Name
	}
	return store.Connection{Name: s.Name, Strategy: s.Strategy, Options: o, EnabledClients: nonNil(s.EnabledClients)}, nil
}

var (
	twilioSID    = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	messagingSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// MaxTokenLifetime is the longest token_lifetime an API may have, in
// seconds (30 days, Auth0's limit): no token Latchkey signs lives longer.
const MaxTokenLifetime = 2592000

// BuildResourceServer validates a ResourceServerSpec.
func BuildResourceServer(s ResourceServerSpec, issuer string) (store.ResourceServer, error) {
	if s.Identifier == "" {
		return store.ResourceServer{}, errors.New("identifier: required")
	}
	if len(s.Identifier) > 600 {
		return store.ResourceServer{}, errors.New("identifier: longer than 600 characters")
	}
	if s.Identifier == ManagementAudience(issuer) {
		return store.ResourceServer{}, errors.New("identifier: the Management API is built in")
	}
	if s.Name == "" {
		s.Name = s.Identifier
	}
	switch s.SigningAlg {
	case "":
		s.SigningAlg = "RS256"
	case "RS256":
	default:
		return store.ResourceServer{}, fmt.Errorf("signing_alg: %q is not supported (RS256 only)", s.SigningAlg)
	}
	if s.TokenLifetime == 0 {
		s.TokenLifetime = 86400
	}
	if s.TokenLifetime < 60 || s.TokenLifetime > MaxTokenLifetime {
		return store.ResourceServer{}, fmt.Errorf("token_lifetime: %d is outside 60–%d seconds", s.TokenLifetime, MaxTokenLifetime)
	}
	for i, sc := range s.Scopes {
		if sc.Value == "" || strings.ContainsAny(sc.Value, " \t\r\n") {
			return store.ResourceServer{}, fmt.Errorf("scopes[%d].value: %q is not a valid scope", i, sc.Value)
		}
	}
	return store.ResourceServer{
		Identifier: s.Identifier, Name: s.Name, Scopes: nonNil(s.Scopes), SigningAlg: s.SigningAlg,
		AllowOfflineAccess: s.AllowOfflineAccess, TokenLifetime: s.TokenLifetime, SkipConsent: s.SkipConsent,
	}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
