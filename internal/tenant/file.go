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
}

// ClientSpec is an application as written in the tenant file.
type ClientSpec struct {
	ClientID                       string   `json:"client_id"`
	ClientSecret                   string   `json:"client_secret,omitempty"`
	Name                           string   `json:"name"`
	Description                    string   `json:"description"`
	AppType                        string   `json:"app_type"`
	TokenEndpointAuthMethod        string   `json:"token_endpoint_auth_method"`
	GrantTypes                     []string `json:"grant_types"`
	Callbacks                      []string `json:"callbacks"`
	AllowedLogoutURLs              []string `json:"allowed_logout_urls"`
	WebOrigins                     []string `json:"web_origins"`
	AllowedOrigins                 []string `json:"allowed_origins"`
	CrossOriginAuthentication      bool     `json:"cross_origin_authentication"`
	IsTokenEndpointIPHeaderTrusted bool     `json:"is_token_endpoint_ip_header_trusted"`
	IsFirstParty                   *bool    `json:"is_first_party"`
	OIDCConformant                 *bool    `json:"oidc_conformant"`
}

// SpecOf turns a stored client back into the spec it was built from,
// without its secret (only its hash is stored).
func SpecOf(c store.Client) ClientSpec {
	fp, oc := c.IsFirstParty, c.OIDCConformant
	return ClientSpec{ClientID: c.ClientID, Name: c.Name, Description: c.Description, AppType: c.AppType,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, GrantTypes: c.GrantTypes, Callbacks: c.Callbacks,
		AllowedLogoutURLs: c.AllowedLogoutURLs, WebOrigins: c.WebOrigins, AllowedOrigins: c.AllowedOrigins,
		CrossOriginAuthentication: c.CrossOriginAuthentication, IsTokenEndpointIPHeaderTrusted: c.IsTokenEndpointIPHeaderTrusted,
		IsFirstParty: &fp, OIDCConformant: &oc}
}

// ConnectionSpec is a connection as written in the tenant file.
type ConnectionSpec struct {
	Name           string            `json:"name"`
	Strategy       string            `json:"strategy"`
	Options        ConnectionOptions `json:"options"`
	EnabledClients []string          `json:"enabled_clients"`
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
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.ConnectionOptions)
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

// ParseFile decodes a tenant file strictly: unknown fields are errors, so a
// misspelt security setting is not silently ignored.
func ParseFile(r io.Reader) (*File, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("tenant file: unexpected data after the JSON object")
	}
	return &f, nil
}

// Applied reports what Apply did.
type Applied struct {
	Changed int
	// GeneratedSecrets holds the secrets generated for new confidential
	// clients that the file gave none for (client_id → secret). They are
	// shown once; only their hashes are stored.
	GeneratedSecrets map[string]string
}

// Store is what Apply needs.
type Store interface {
	GetSettings(ctx context.Context) (store.TenantSettings, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	ListConnections(ctx context.Context) ([]store.Connection, error)
	ListResourceServers(ctx context.Context) ([]store.ResourceServer, error)
	ListClientGrants(ctx context.Context) ([]store.ClientGrant, error)
	ApplyTenant(ctx context.Context, t store.TenantConfig) error
}

// Apply validates f completely and then applies it in one transaction.
// Records equal to what is stored are left alone, so applying the same file
// twice changes nothing. A validation error names the bad field and nothing
// is written.
func Apply(ctx context.Context, st Store, keys *secret.Keys, f *File, issuer string, now time.Time) (Applied, error) {
	var res Applied
	ex, err := loadExisting(ctx, st)
	if err != nil {
		return res, err
	}
	var cfg store.TenantConfig

	if f.Settings != nil {
		if err := CheckSettings(*f.Settings); err != nil {
			return res, fmt.Errorf("settings.%w", err)
		}
		if !reflect.DeepEqual(*f.Settings, ex.settings) {
			s := *f.Settings
			cfg.Settings = &s
			res.Changed++
		}
	}

	known := map[string]bool{}
	for id := range ex.clients {
		known[id] = true
	}
	seen := map[string]bool{}
	for i, spec := range f.Clients {
		field := fmt.Sprintf("clients[%d]", i)
		if spec.ClientID == "" {
			return res, fmt.Errorf("%s.client_id: required in a tenant file (it is how applying twice finds the same application)", field)
		}
		if seen[spec.ClientID] {
			return res, fmt.Errorf("%s.client_id: %q appears twice", field, spec.ClientID)
		}
		seen[spec.ClientID] = true
		old, exists := ex.clients[spec.ClientID]
		c, generated, err := BuildClient(keys, spec, old.SecretHash)
		if err != nil {
			return res, fmt.Errorf("%s.%w", field, err)
		}
		known[c.ClientID] = true
		if exists {
			// The file does not carry Private Key JWT credentials: keep those
			// registered through the Management API.
			c.Credentials = old.Credentials
			c.CreatedAt, c.UpdatedAt = old.CreatedAt, old.UpdatedAt
			if reflect.DeepEqual(c, old) {
				continue
			}
		} else {
			c.CreatedAt = now
		}
		c.UpdatedAt = now
		if generated != "" {
			if res.GeneratedSecrets == nil {
				res.GeneratedSecrets = map[string]string{}
			}
			res.GeneratedSecrets[c.ClientID] = generated
		}
		cfg.Clients = append(cfg.Clients, c)
		res.Changed++
	}

	names := map[string]bool{}
	for i, spec := range f.Connections {
		field := fmt.Sprintf("connections[%d]", i)
		c, err := BuildConnection(spec)
		if err != nil {
			return res, fmt.Errorf("%s.%w", field, err)
		}
		if names[c.Name] {
			return res, fmt.Errorf("%s.name: %q appears twice", field, c.Name)
		}
		names[c.Name] = true
		for j, id := range c.EnabledClients {
			if !known[id] {
				return res, fmt.Errorf("%s.enabled_clients[%d]: no application %q", field, j, id)
			}
		}
		if old, ok := ex.conns[c.Name]; ok {
			c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
			if reflect.DeepEqual(c, old) {
				continue
			}
		} else {
			c.ID, c.CreatedAt = NewConnectionID(), now
		}
		c.UpdatedAt = now
		cfg.Connections = append(cfg.Connections, c)
		res.Changed++
	}

	apis := map[string]bool{}
	for id := range ex.apis {
		apis[id] = true
	}
	seenAPI := map[string]bool{}
	for i, spec := range f.ResourceServers {
		field := fmt.Sprintf("resource_servers[%d]", i)
		r, err := BuildResourceServer(spec, issuer)
		if err != nil {
			return res, fmt.Errorf("%s.%w", field, err)
		}
		if seenAPI[r.Identifier] {
			return res, fmt.Errorf("%s.identifier: %q appears twice", field, r.Identifier)
		}
		seenAPI[r.Identifier], apis[r.Identifier] = true, true
		if old, ok := ex.apis[r.Identifier]; ok {
			r.ID, r.CreatedAt, r.UpdatedAt = old.ID, old.CreatedAt, old.UpdatedAt
			if reflect.DeepEqual(r, old) {
				continue
			}
		} else {
			r.ID, r.CreatedAt = NewResourceServerID(), now
		}
		r.UpdatedAt = now
		cfg.ResourceServers = append(cfg.ResourceServers, r)
		res.Changed++
	}

	seenGrant := map[string]bool{}
	for i, spec := range f.ClientGrants {
		field := fmt.Sprintf("client_grants[%d]", i)
		if !known[spec.ClientID] {
			return res, fmt.Errorf("%s.client_id: no application %q", field, spec.ClientID)
		}
		if spec.Audience != ManagementAudience(issuer) && !apis[spec.Audience] {
			return res, fmt.Errorf("%s.audience: no API %q", field, spec.Audience)
		}
		key := spec.ClientID + "\x00" + spec.Audience
		if seenGrant[key] {
			return res, fmt.Errorf("%s: the grant of %q for %q appears twice", field, spec.ClientID, spec.Audience)
		}
		seenGrant[key] = true
		g := store.ClientGrant{ClientID: spec.ClientID, Audience: spec.Audience, Scope: slices.Clone(spec.Scope)}
		if g.Scope == nil {
			g.Scope = []string{}
		}
		if old, ok := ex.grants[key]; ok {
			g.ID, g.CreatedAt = old.ID, old.CreatedAt
			if reflect.DeepEqual(g, old) {
				continue
			}
		} else {
			g.ID, g.CreatedAt = NewClientGrantID(), now
		}
		cfg.ClientGrants = append(cfg.ClientGrants, g)
		res.Changed++
	}

	if res.Changed == 0 {
		return res, nil
	}
	if err := st.ApplyTenant(ctx, cfg); err != nil {
		return Applied{}, fmt.Errorf("apply tenant file: %w", err)
	}
	return res, nil
}

type existing struct {
	settings store.TenantSettings
	clients  map[string]store.Client
	conns    map[string]store.Connection
	apis     map[string]store.ResourceServer
	grants   map[string]store.ClientGrant
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

// BuildClient validates a ClientSpec and turns it into a record. keepHash is
// the stored secret hash to keep when the spec carries no secret. For a new
// confidential client without a secret, one is generated and returned.
// Errors start with the bad field's name.
func BuildClient(keys *secret.Keys, s ClientSpec, keepHash []byte) (c store.Client, generated string, err error) {
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
		s.GrantTypes = []string{GrantAuthorizationCode, GrantImplicit, GrantRefreshToken}
		if !public {
			s.GrantTypes = append(s.GrantTypes, GrantClientCredentials)
		}
	}
	for i, g := range s.GrantTypes {
		switch g {
		case GrantPasswordlessOTP:
			if s.AppType == AppSPA {
				return c, "", fmt.Errorf("grant_types[%d]: %q cannot be enabled for single-page applications", i, g)
			}
		case GrantAuthorizationCode, GrantImplicit, GrantRefreshToken, GrantClientCredentials:
		default:
			return c, "", fmt.Errorf("grant_types[%d]: unknown grant type %q", i, g)
		}
	}
	for name, urls := range map[string][]string{"callbacks": s.Callbacks, "allowed_logout_urls": s.AllowedLogoutURLs, "web_origins": s.WebOrigins, "allowed_origins": s.AllowedOrigins} {
		for i, u := range urls {
			if err := CheckURL(u); err != nil {
				return c, "", fmt.Errorf("%s[%d]: %w", name, i, err)
			}
		}
	}
	c = store.Client{
		ClientID: s.ClientID, Name: s.Name, Description: s.Description, AppType: s.AppType,
		TokenEndpointAuthMethod: s.TokenEndpointAuthMethod,
		GrantTypes:              nonNil(s.GrantTypes), Callbacks: nonNil(s.Callbacks),
		AllowedLogoutURLs: nonNil(s.AllowedLogoutURLs), WebOrigins: nonNil(s.WebOrigins),
		AllowedOrigins: nonNil(s.AllowedOrigins), CrossOriginAuthentication: s.CrossOriginAuthentication,
		IsTokenEndpointIPHeaderTrusted: s.IsTokenEndpointIPHeaderTrusted,
		IsFirstParty:                   s.IsFirstParty == nil || *s.IsFirstParty,
		OIDCConformant:                 s.OIDCConformant == nil || *s.OIDCConformant,
	}
	switch {
	case s.ClientSecret != "":
		if len(s.ClientSecret) < 16 {
			return c, "", errors.New("client_secret: must be at least 16 characters")
		}
		c.SecretHash = HashClientSecret(keys, c.ClientID, s.ClientSecret)
	case keepHash != nil:
		c.SecretHash = keepHash
	case IsConfidential(c):
		generated = NewClientSecret()
		c.SecretHash = HashClientSecret(keys, c.ClientID, generated)
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
		switch o.Provider {
		case "", "twilio", "sms_gateway":
		default:
			return store.Connection{}, fmt.Errorf("options.provider: %q is not twilio or sms_gateway", o.Provider)
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
	if s.TokenLifetime < 60 || s.TokenLifetime > 2592000 {
		return store.ResourceServer{}, fmt.Errorf("token_lifetime: %d is outside 60–2592000 seconds", s.TokenLifetime)
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
