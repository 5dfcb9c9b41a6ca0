package tenant

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// Sealer encrypts values under the master key (secret.Keys).
type Sealer interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) ([]byte, error)
}

// Redacted is what the Management API shows in place of a provider
// credential, and what a PATCH may send back to keep the stored one.
const Redacted = "[REDACTED]"

// sealedPrefix marks a sealed credential in the stored options; a value
// without it is plaintext written before credentials were sealed.
const sealedPrefix = "sealed:v1:"

// SealedStore is a store whose connections' provider credentials (the
// Twilio auth token, the SMS gateway's signing secret) are sealed with the
// master key at rest, as the signing keys are: sealed on every write,
// opened on every read, so the layers above see plaintext and a copy of
// the database holds none. The associated data binds each value to its
// connection and field, so a sealed value moved elsewhere does not open.
type SealedStore struct {
	store.Store
	keys Sealer
}

// NewSealedStore wraps st.
func NewSealedStore(st store.Store, keys Sealer) *SealedStore {
	return &SealedStore{Store: st, keys: keys}
}

// credentials lists the connection's provider credentials with the name
// that binds each.
func credentials(o *store.ConnectionOptions) map[string]*string {
	m := map[string]*string{"twilio_token": &o.TwilioToken}
	if o.GatewayAuthentication != nil {
		m["gateway_authentication.secret"] = &o.GatewayAuthentication.Secret
	}
	return m
}

func associated(conn, field string) []byte { return []byte("connection-secret:" + conn + ":" + field) }

// seal returns c with its credentials sealed (c's own options are not
// changed: GatewayAuthentication is copied). Every value is sealed, even
// one that looks sealed: what comes from above is plaintext. Only
// SealStored, reading the database, skips values already sealed.
func (s *SealedStore) seal(c store.Connection) store.Connection {
	return s.sealValues(c, false)
}

func (s *SealedStore) sealValues(c store.Connection, skipSealed bool) store.Connection {
	if g := c.Options.GatewayAuthentication; g != nil {
		cp := *g
		c.Options.GatewayAuthentication = &cp
	}
	for field, v := range credentials(&c.Options) {
		if *v == "" || (skipSealed && strings.HasPrefix(*v, sealedPrefix)) {
			continue
		}
		*v = sealedPrefix + base64.RawStdEncoding.EncodeToString(s.keys.Seal([]byte(*v), associated(c.Name, field)))
	}
	return c
}

// open returns c with its credentials in plaintext.
func (s *SealedStore) open(c store.Connection) (store.Connection, error) {
	if g := c.Options.GatewayAuthentication; g != nil {
		cp := *g
		c.Options.GatewayAuthentication = &cp
	}
	for field, v := range credentials(&c.Options) {
		enc, ok := strings.CutPrefix(*v, sealedPrefix)
		if !ok {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(enc)
		if err != nil {
			return c, fmt.Errorf("connection %s: %s: sealed value is not base64", c.Name, field)
		}
		pt, err := s.keys.Open(raw, associated(c.Name, field))
		if err != nil {
			return c, fmt.Errorf("connection %s: %s: %w (a different master key?)", c.Name, field, err)
		}
		*v = string(pt)
	}
	return c, nil
}

// CreateConnection stores c with its credentials sealed.
func (s *SealedStore) CreateConnection(ctx context.Context, c store.Connection) error {
	return s.Store.CreateConnection(ctx, s.seal(c))
}

// UpdateConnection stores c with its credentials sealed.
func (s *SealedStore) UpdateConnection(ctx context.Context, c store.Connection) error {
	return s.Store.UpdateConnection(ctx, s.seal(c))
}

// ApplyTenant stores t with its connections' credentials sealed.
func (s *SealedStore) ApplyTenant(ctx context.Context, t store.TenantConfig) error {
	conns := make([]store.Connection, len(t.Connections))
	for i, c := range t.Connections {
		conns[i] = s.seal(c)
	}
	t.Connections = conns
	return s.Store.ApplyTenant(ctx, t)
}

// GetConnection reads a connection with its credentials opened.
func (s *SealedStore) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	c, err := s.Store.GetConnection(ctx, id)
	if err != nil {
		return c, err
	}
	return s.open(c)
}

// GetConnectionByName reads a connection with its credentials opened.
func (s *SealedStore) GetConnectionByName(ctx context.Context, name string) (store.Connection, error) {
	c, err := s.Store.GetConnectionByName(ctx, name)
	if err != nil {
		return c, err
	}
	return s.open(c)
}

// ListConnections reads every connection with its credentials opened.
func (s *SealedStore) ListConnections(ctx context.Context) ([]store.Connection, error) {
	cs, err := s.Store.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i], err = s.open(cs[i]); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// SealStored seals the credentials that a store written before they were
// sealed still holds in plaintext. It reports how many connections it
// rewrote.
func (s *SealedStore) SealStored(ctx context.Context) (int, error) {
	cs, err := s.Store.ListConnections(ctx)
	if err != nil {
		return 0, fmt.Errorf("list connections: %w", err)
	}
	n := 0
	for _, c := range cs {
		plain := false
		for _, v := range credentials(&c.Options) {
			plain = plain || (*v != "" && !strings.HasPrefix(*v, sealedPrefix))
		}
		if !plain {
			continue
		}
		if err := s.Store.UpdateConnection(ctx, s.sealValues(c, true)); err != nil {
			return n, fmt.Errorf("seal connection %s: %w", c.Name, err)
		}
		n++
	}
	return n, nil
}

// RedactCredentials returns o with its provider credentials replaced by
// Redacted (what the Management API shows).
func RedactCredentials(o store.ConnectionOptions) store.ConnectionOptions {
	if g := o.GatewayAuthentication; g != nil {
		cp := *g
		o.GatewayAuthentication = &cp
	}
	for _, v := range credentials(&o) {
		if *v != "" {
			*v = Redacted
		}
	}
	return o
}

// KeepRedacted puts old's credential back wherever o holds Redacted (a
// PATCH that sends back what a GET showed keeps the stored value).
func KeepRedacted(o *store.ConnectionOptions, old store.ConnectionOptions) {
	prev := credentials(&old)
	for field, v := range credentials(o) {
		if *v == Redacted {
			if p, ok := prev[field]; ok {
				*v = *p
			} else {
				*v = ""
			}
		}
	}
}
