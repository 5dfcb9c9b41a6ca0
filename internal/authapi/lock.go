package authapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// clientScript is GET /client/{client_id}.js, the script Lock loads to
// learn the application's connections: Auth0.setClient({...}).
func (a *API) clientScript(w http.ResponseWriter, r *http.Request) error {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".js")
	if !ok || id == "" {
		return httpx.Errorf(http.StatusNotFound, "not_found", "Not found")
	}
	c, err := a.Dir.Client(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "not_found", "Unknown client")
	}
	if err != nil {
		return fmt.Errorf("read client: %w", err)
	}
	type conn struct {
		Name string `json:"name"`
	}
	type strategy struct {
		Name        string `json:"name"`
		Connections []conn `json:"connections"`
	}
	strategies := []strategy{}
	conns, _ := a.loginConnections(r.Context(), c)
	for _, cn := range conns {
		strategies = append(strategies, strategy{cn.Strategy, []conn{{cn.Name}}})
	}
	host := tenant.Hostname(a.Minter.Issuer())
	tenantName, _, _ := strings.Cut(host, ".")
	b, err := json.Marshal(struct {
		ID                string     `json:"id"`
		Tenant            string     `json:"tenant"`
		Subscription      string     `json:"subscription"`
		Authorize         string     `json:"authorize"`
		Callback          string     `json:"callback"`
		HasAllowedOrigins bool       `json:"hasAllowedOrigins"`
		Strategies        []strategy `json:"strategies"`
	}{c.ClientID, tenantName, "free", a.Minter.Issuer() + "authorize", first(c.Callbacks), len(c.AllowedOrigins) > 0, strategies})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, "Auth0.setClient(%s);", b)
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// geolocCountry is GET /user/geoloc/country, which Lock uses to preselect
// the phone number's country. Latchkey has no geolocation database: the
// region of the browser's preferred language stands in (en-GB → GB), and
// an empty code when there is none, which Lock treats as unknown.
func (a *API) geolocCountry(w http.ResponseWriter, r *http.Request) error {
	a.corsAnyClient(w, r)
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"country_code": regionOf(requestLanguage(r))})
	return nil
}

// regionOf returns the upper-case two-letter region subtag of a language
// tag, or "".
func regionOf(tag string) string {
	parts := strings.Split(tag, "-")
	for _, p := range parts[1:] {
		if len(p) == 2 && isLetters(p) {
			return strings.ToUpper(p)
		}
	}
	return ""
}

func isLetters(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
