package mgmtapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// connectionJSON is a connection as Auth0 shows it.
type connectionJSON struct {
	ID                 string                  `json:"id"`
	Name               string                  `json:"name"`
	Strategy           string                  `json:"strategy"`
	Options            store.ConnectionOptions `json:"options"`
	EnabledClients     []string                `json:"enabled_clients"`
	IsDomainConnection bool                    `json:"is_domain_connection"`
	Realms             []string                `json:"realms"`
}

func connectionOut(c store.Connection) connectionJSON {
	return connectionJSON{ID: c.ID, Name: c.Name, Strategy: c.Strategy, Options: tenant.RedactCredentials(tenant.WithConnectionDefaults(c.Options)),
		EnabledClients: c.EnabledClients, Realms: []string{c.Name}}
}

var errNoConnection = httpx.Errorf(http.StatusNotFound, "inexistent_connection", "The connection does not exist")

func (a *API) connection(r *http.Request) (store.Connection, error) {
	c, err := a.Store.GetConnection(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return c, errNoConnection
	}
	if err != nil {
		return c, fmt.Errorf("read connection: %w", err)
	}
	return c, nil
}

// listConnections pages with a checkpoint (take, from → next) when either
// is given, otherwise by offset (page, per_page, include_totals).
// strategy (repeatable) and name filter.
func (a *API) listConnections(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	all, err := a.Store.ListConnections(r.Context())
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	strategies := q["strategy"]
	name := q.Get("name")
	all = slices.DeleteFunc(all, func(c store.Connection) bool {
		return (len(strategies) > 0 && !slices.Contains(strategies, c.Strategy)) || (name != "" && c.Name != name)
	})
	slices.SortFunc(all, func(x, y store.Connection) int { return strings.Compare(x.ID, y.ID) })
	out := func(cs []store.Connection) []connectionJSON {
		list := make([]connectionJSON, 0, len(cs))
		for _, c := range cs {
			list = append(list, connectionOut(c))
		}
		return list
	}

	if q.Has("take") || q.Has("from") {
		take := 50
		if s := q.Get("take"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxPerPage {
				return httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'take' must be an integer between 1 and %d", MaxPerPage)
			}
			take = n
		}
		from := 0
		if s := q.Get("from"); s != "" {
			from, _ = slices.BinarySearchFunc(all, s, func(c store.Connection, id string) int { return strings.Compare(c.ID, id) })
		}
		to := min(from+take, len(all))
		body := map[string]any{"connections": out(all[from:to])}
		if to < len(all) {
			body["next"] = all[to].ID
		}
		httpx.WriteJSON(w, http.StatusOK, body)
		return nil
	}

	p, err := readPage(r)
	if err != nil {
		return err
	}
	from, to := p.slice(len(all))
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out(all[from:to]))
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"connections": out(all[from:to]), "start": from, "limit": p.PerPage, "total": len(all)})
	return nil
}

func (a *API) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, connectionOut(c))
	return nil
}

// checkEnabledClients refuses enabled_clients naming no application.
func (a *API) checkEnabledClients(r *http.Request, ids []string) error {
	for i, id := range ids {
		if _, err := a.Store.GetClient(r.Context(), id); errors.Is(err, store.ErrNotFound) {
			return badRequest("enabled_clients[%d]: no application %q", i, id)
		} else if err != nil {
			return fmt.Errorf("read client: %w", err)
		}
	}
	return nil
}

func (a *API) createConnection(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var spec tenant.ConnectionSpec
	if err := decodeStrict(raw, &spec); err != nil {
		return err
	}
	c, err := tenant.BuildConnection(spec)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	if err := a.checkEnabledClients(r, c.EnabledClients); err != nil {
		return err
	}
	c.ID = tenant.NewConnectionID()
	c.CreatedAt = a.Now()
	c.UpdatedAt = c.CreatedAt
	if err := a.Store.CreateConnection(r.Context(), c); errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "connection_conflict", "A connection with the same name already exists")
	} else if err != nil {
		return fmt.Errorf("create connection: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusCreated, connectionOut(c))
	return nil
}

// patchConnection replaces the given top-level fields; as in Auth0, a
// given options object replaces the stored one entirely. name and strategy
// cannot change.
func (a *API) patchConnection(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var p struct {
		Options        *tenant.ConnectionOptions `json:"options"`
		EnabledClients *[]string                 `json:"enabled_clients"`
	}
	if err := decodeStrict(raw, &p); err != nil {
		return err
	}
	old, err := a.connection(r)
	if err != nil {
		return err
	}
	spec := tenant.ConnectionSpec{Name: old.Name, Strategy: old.Strategy,
		Options: tenant.ConnectionOptions{ConnectionOptions: old.Options}, EnabledClients: old.EnabledClients}
	if p.Options != nil {
		spec.Options = *p.Options
		tenant.KeepRedacted(&spec.Options.ConnectionOptions, old.Options)
	}
	if p.EnabledClients != nil {
		spec.EnabledClients = *p.EnabledClients
		if err := a.checkEnabledClients(r, spec.EnabledClients); err != nil {
			return err
		}
	}
	c, err := tenant.BuildConnection(spec)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, a.Now()
	if err := a.Store.UpdateConnection(r.Context(), c); errors.Is(err, store.ErrNotFound) {
		return errNoConnection
	} else if err != nil {
		return fmt.Errorf("update connection: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, connectionOut(c))
	return nil
}

func (a *API) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	err := a.Store.DeleteConnection(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errNoConnection
	}
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	a.Cache.Invalidate()
	w.WriteHeader(http.StatusAccepted)
	return nil
}
