package mgmtapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

type clientGrantJSON struct {
	ID       string   `json:"id"`
	ClientID string   `json:"client_id"`
	Audience string   `json:"audience"`
	Scope    []string `json:"scope"`
}

func clientGrantOut(g store.ClientGrant) clientGrantJSON {
	return clientGrantJSON{ID: g.ID, ClientID: g.ClientID, Audience: g.Audience, Scope: g.Scope}
}

var errNoClientGrant = httpx.Errorf(http.StatusNotFound, "inexistent_client_grant", "The client grant does not exist")

func (a *API) listClientGrants(w http.ResponseWriter, r *http.Request) error {
	p, err := readPage(r)
	if err != nil {
		return err
	}
	all, err := a.Store.ListClientGrants(r.Context())
	if err != nil {
		return fmt.Errorf("list client grants: %w", err)
	}
	q := r.URL.Query()
	aud, cid := q.Get("audience"), q.Get("client_id")
	all = slices.DeleteFunc(all, func(g store.ClientGrant) bool {
		return (aud != "" && g.Audience != aud) || (cid != "" && g.ClientID != cid)
	})
	from, to := p.slice(len(all))
	out := make([]clientGrantJSON, 0, to-from)
	for _, g := range all[from:to] {
		out = append(out, clientGrantOut(g))
	}
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"client_grants": out, "start": from, "limit": p.PerPage, "total": len(all)})
	return nil
}

// checkScopes validates a grant's scopes: well-formed, and for a
// registered API defined by it.
func (a *API) checkScopes(r *http.Request, audience string, scopes []string) error {
	var defined []store.Scope
	if audience != tenant.ManagementAudience(a.Issuer) {
		rs, err := a.Store.GetResourceServerByIdentifier(r.Context(), audience)
		if errors.Is(err, store.ErrNotFound) {
			return badRequest("audience: no API %q", audience)
		}
		if err != nil {
			return fmt.Errorf("read resource server: %w", err)
		}
		defined = rs.Scopes
	}
	for i, sc := range scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return badRequest("scope[%d]: %q is not a valid scope", i, sc)
		}
		if defined != nil && !slices.ContainsFunc(defined, func(d store.Scope) bool { return d.Value == sc }) {
			return badRequest("scope[%d]: %q is not defined by the API %q", i, sc, audience)
		}
	}
	return nil
}

func (a *API) createClientGrant(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var spec tenant.ClientGrantSpec
	if err := decodeStrict(raw, &spec); err != nil {
		return err
	}
	if spec.ClientID == "" || spec.Audience == "" || spec.Scope == nil {
		return badRequest("client_id, audience and scope are required")
	}
	if _, err := a.Store.GetClient(r.Context(), spec.ClientID); errors.Is(err, store.ErrNotFound) {
		return badRequest("client_id: no application %q", spec.ClientID)
	} else if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	if err := a.checkScopes(r, spec.Audience, spec.Scope); err != nil {
		return err
	}
	g := store.ClientGrant{ID: tenant.NewClientGrantID(), ClientID: spec.ClientID, Audience: spec.Audience,
		Scope: slices.Clone(spec.Scope), CreatedAt: a.Now()}
	if err := a.Store.CreateClientGrant(r.Context(), g); errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "conflict", "A client grant for this client_id and audience already exists")
	} else if err != nil {
		return fmt.Errorf("create client grant: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusCreated, clientGrantOut(g))
	return nil
}

// patchClientGrant changes a grant's scope (the only field that can change).
func (a *API) patchClientGrant(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var p struct {
		Scope *[]string `json:"scope"`
	}
	if err := decodeStrict(raw, &p); err != nil {
		return err
	}
	g, err := a.Store.GetClientGrant(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errNoClientGrant
	} else if err != nil {
		return fmt.Errorf("read client grant: %w", err)
	}
	if p.Scope != nil {
		if err := a.checkScopes(r, g.Audience, *p.Scope); err != nil {
			return err
		}
		g.Scope = slices.Clone(*p.Scope)
		if g.Scope == nil {
			g.Scope = []string{}
		}
	}
	if err := a.Store.UpdateClientGrant(r.Context(), g); errors.Is(err, store.ErrNotFound) {
		return errNoClientGrant
	} else if err != nil {
		return fmt.Errorf("update client grant: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, clientGrantOut(g))
	return nil
}

func (a *API) deleteClientGrant(w http.ResponseWriter, r *http.Request) error {
	err := a.Store.DeleteClientGrant(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errNoClientGrant
	}
	if err != nil {
		return fmt.Errorf("delete client grant: %w", err)
	}
	a.Cache.Invalidate()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
