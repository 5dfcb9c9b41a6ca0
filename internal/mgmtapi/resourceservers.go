package mgmtapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// resourceServerJSON is an API as Auth0 shows it.
type resourceServerJSON struct {
	ID                 string        `json:"id"`
	Identifier         string        `json:"identifier"`
	Name               string        `json:"name"`
	Scopes             []store.Scope `json:"scopes"`
	SigningAlg         string        `json:"signing_alg"`
	AllowOfflineAccess bool          `json:"allow_offline_access"`
	TokenLifetime      int           `json:"token_lifetime"`
	SkipConsent        bool          `json:"skip_consent_for_verifiable_first_party_clients"`
}

func resourceServerOut(r store.ResourceServer) resourceServerJSON {
	return resourceServerJSON{ID: r.ID, Identifier: r.Identifier, Name: r.Name, Scopes: r.Scopes, SigningAlg: r.SigningAlg,
		AllowOfflineAccess: r.AllowOfflineAccess, TokenLifetime: r.TokenLifetime, SkipConsent: r.SkipConsent}
}

var errNoResourceServer = httpx.Errorf(http.StatusNotFound, "inexistent_resource_server", "The resource server does not exist")

// resourceServer finds the API named in the path by id or, as Auth0
// allows, by its (URL-encoded) identifier.
func (a *API) resourceServer(r *http.Request) (store.ResourceServer, error) {
	id := r.PathValue("id")
	rs, err := a.Store.GetResourceServer(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		rs, err = a.Store.GetResourceServerByIdentifier(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return rs, errNoResourceServer
	}
	if err != nil {
		return rs, fmt.Errorf("read resource server: %w", err)
	}
	return rs, nil
}

func (a *API) listResourceServers(w http.ResponseWriter, r *http.Request) error {
	p, err := readPage(r)
	if err != nil {
		return err
	}
	all, err := a.Store.ListResourceServers(r.Context())
	if err != nil {
		return fmt.Errorf("list resource servers: %w", err)
	}
	from, to := p.slice(len(all))
	out := make([]resourceServerJSON, 0, to-from)
	for _, rs := range all[from:to] {
		out = append(out, resourceServerOut(rs))
	}
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"resource_servers": out, "start": from, "limit": p.PerPage, "total": len(all)})
	return nil
}

func (a *API) getResourceServer(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.resourceServer(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resourceServerOut(rs))
	return nil
}

func (a *API) createResourceServer(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var spec tenant.ResourceServerSpec
	if err := decodeStrict(raw, &spec); err != nil {
		return err
	}
	rs, err := tenant.BuildResourceServer(spec, a.Issuer)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	rs.ID = tenant.NewResourceServerID()
	rs.CreatedAt = a.Now()
	rs.UpdatedAt = rs.CreatedAt
	if err := a.Store.CreateResourceServer(r.Context(), rs); errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "already_exists", "A resource server with the same identifier already exists")
	} else if err != nil {
		return fmt.Errorf("create resource server: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusCreated, resourceServerOut(rs))
	return nil
}

func (a *API) patchResourceServer(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	old, err := a.resourceServer(r)
	if err != nil {
		return err
	}
	var probe struct {
		Identifier *string `json:"identifier"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.Identifier != nil && *probe.Identifier != old.Identifier {
		return badRequest("identifier cannot be changed")
	}
	base := tenant.ResourceServerSpec{Identifier: old.Identifier, Name: old.Name, Scopes: old.Scopes, SigningAlg: old.SigningAlg,
		AllowOfflineAccess: old.AllowOfflineAccess, TokenLifetime: old.TokenLifetime, SkipConsent: old.SkipConsent}
	var spec tenant.ResourceServerSpec
	if err := mergePatch(base, raw, &spec); err != nil {
		return err
	}
	rs, err := tenant.BuildResourceServer(spec, a.Issuer)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	rs.ID, rs.CreatedAt, rs.UpdatedAt = old.ID, old.CreatedAt, a.Now()
	if err := a.Store.UpdateResourceServer(r.Context(), rs); errors.Is(err, store.ErrNotFound) {
		return errNoResourceServer
	} else if err != nil {
		return fmt.Errorf("update resource server: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, resourceServerOut(rs))
	return nil
}

// deleteResourceServer deletes the API and the client grants for it.
func (a *API) deleteResourceServer(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.resourceServer(r)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteResourceServer(r.Context(), rs.ID); errors.Is(err, store.ErrNotFound) {
		return errNoResourceServer
	} else if err != nil {
		return fmt.Errorf("delete resource server: %w", err)
	}
	defer a.Cache.Invalidate()
	grants, err := a.Store.ListClientGrants(r.Context())
	if err != nil {
		return fmt.Errorf("list client grants: %w", err)
	}
	for _, g := range grants {
		if g.Audience != rs.Identifier {
			continue
		}
		if err := a.Store.DeleteClientGrant(r.Context(), g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete client grant %s: %w", g.ID, err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
