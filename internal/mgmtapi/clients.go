package mgmtapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// clientJSON is a client in Auth0's field names: the tenant file's spec
// (the same field names) plus the fields only the API shows. ClientSecret is
// set only when a secret is created or rotated: secrets are stored as hashes.
type clientJSON struct {
	tenant.ClientSpec
	Global                      bool             `json:"global"`
	ClientAuthenticationMethods *authMethodsJSON `json:"client_authentication_methods,omitempty"`
}

func clientOut(c store.Client, sec string) clientJSON {
	spec := tenant.SpecOf(c)
	spec.ClientSecret = sec
	// Auth0 always shows the refresh_token object: the defaults when the
	// application states none.
	rt := tenant.RefreshPolicy(c)
	spec.RefreshToken = &rt
	jc := tenant.JWTConfig(c)
	spec.JWTConfiguration = &jc
	return clientJSON{ClientSpec: spec, ClientAuthenticationMethods: authMethodsOf(c)}
}

// ensureSigningKey creates the tenant key family that signs c's ID tokens
// when it is the first application to ask for it (ES256; the RSA family is
// always there), so that the key is in the JWKS before the first token it
// signs.
func (a *API) ensureSigningKey(ctx context.Context, c store.Client) error {
	alg := tenant.JWTConfig(c).Alg
	if _, ok := oauth.KeyFamily(alg); !ok || a.SigningKeys == nil {
		return nil // HS256 signs with the client secret
	}
	if err := a.SigningKeys.Ensure(ctx, alg); err != nil {
		return fmt.Errorf("signing key for %s: %w", alg, err)
	}
	return nil
}

var errNoClient = httpx.Errorf(http.StatusNotFound, "inexistent_client", "The client does not exist")

func (a *API) client(r *http.Request) (store.Client, error) {
	c, err := a.Store.GetClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return c, errNoClient
	}
	if err != nil {
		return c, fmt.Errorf("read client: %w", err)
	}
	return c, nil
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	p, err := readPage(r)
	if err != nil {
		return err
	}
	all, err := a.Store.ListClients(r.Context())
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	from, to := p.slice(len(all))
	out := make([]clientJSON, 0, to-from)
	for _, c := range all[from:to] {
		out = append(out, clientOut(c, ""))
	}
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"clients": out, "start": from, "limit": p.PerPage, "total": len(all)})
	return nil
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, clientOut(c, ""))
	return nil
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var spec tenant.ClientSpec
	if err := decodeStrict(raw, &spec); err != nil {
		return err
	}
	c, generated, err := tenant.BuildClient(a.Seal, spec, nil)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	if err := a.ensureSigningKey(r.Context(), c); err != nil {
		return err
	}
	c.CreatedAt = a.Now()
	c.UpdatedAt = c.CreatedAt
	if err := a.Store.CreateClient(r.Context(), c); errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "already_exists", "A client with client_id %q already exists", c.ClientID)
	} else if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	a.Cache.Invalidate()
	sec := generated
	if spec.ClientSecret != "" {
		sec = spec.ClientSecret
	}
	httpx.WriteJSON(w, http.StatusCreated, clientOut(c, sec))
	return nil
}

// patchClient merges the given fields onto the stored client and validates
// the result as a whole (so that, e.g., the passwordless grant cannot be
// added to a single-page application).
func (a *API) patchClient(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	// patched is the stored client with the patch applied, validated.
	patched := func(old store.Client) (store.Client, string, error) {
		var probe struct {
			ClientID *string `json:"client_id"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.ClientID != nil && *probe.ClientID != old.ClientID {
			return old, "", badRequest("client_id cannot be changed")
		}
		patch, err := checkAuthMethods(old, raw)
		if err != nil {
			return old, "", err
		}
		var spec tenant.ClientSpec
		if err := mergePatch(tenant.SpecOf(old), patch, &spec); err != nil {
			return old, "", err
		}
		next, gen, err := tenant.BuildClient(a.Seal, spec, &old)
		if err != nil {
			return old, "", badRequest("%s", err.Error())
		}
		next.Credentials = old.Credentials
		next.CreatedAt, next.UpdatedAt = old.CreatedAt, a.Now()
		return next, gen, nil
	}
	// A key the new algorithm needs is made (and published) before the
	// change is stored, so that a failure leaves the application as it was;
	// and only for a change that is valid, to an application that exists.
	old, err := a.client(r)
	if err != nil {
		return err
	}
	next, _, err := patched(old)
	if err != nil {
		return err
	}
	if err := a.ensureSigningKey(r.Context(), next); err != nil {
		return err
	}
	var generated string
	c, err := a.Store.ModifyClient(r.Context(), r.PathValue("id"), func(c *store.Client) error {
		next, gen, err := patched(*c)
		if err != nil {
			return err
		}
		*c, generated = next, gen
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoClient
	} else if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, clientOut(c, generated))
	return nil
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	err := a.Store.DeleteClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errNoClient
	}
	if err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	a.Cache.Invalidate()
	if err := a.forgetClient(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// forgetClient removes a deleted client's grants and its place in the
// connections' enabled_clients, as Auth0 does, so that a client created
// later with the same client_id inherits nothing.
func (a *API) forgetClient(ctx context.Context, clientID string) error {
	defer a.Cache.Invalidate()
	grants, err := a.Store.ListClientGrants(ctx)
	if err != nil {
		return fmt.Errorf("list client grants: %w", err)
	}
	for _, g := range grants {
		if g.ClientID != clientID {
			continue
		}
		if err := a.Store.DeleteClientGrant(ctx, g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete client grant %s: %w", g.ID, err)
		}
	}
	conns, err := a.Store.ListConnections(ctx)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, c := range conns {
		if !slices.Contains(c.EnabledClients, clientID) {
			continue
		}
		c.EnabledClients = slices.DeleteFunc(slices.Clone(c.EnabledClients), func(id string) bool { return id == clientID })
		c.UpdatedAt = a.Now()
		if err := a.Store.UpdateConnection(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("update connection %s: %w", c.Name, err)
		}
	}
	return nil
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	sec := tenant.NewClientSecret()
	c, err := a.Store.ModifyClient(r.Context(), r.PathValue("id"), func(c *store.Client) error {
		c.UpdatedAt = a.Now()
		return tenant.SetClientSecret(a.Seal, c, sec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoClient
	} else if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, clientOut(c, sec))
	return nil
}
