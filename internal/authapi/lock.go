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
	var strategies []map[string]any
	conns, _ := a.loginConnections(r.Context(), c)
	for _, cn := range conns {
		strategies = append(strategies, map[string]any{"name": cn.Strategy, "connections": []map[string]string{{"name": cn.Name}}})
	}
	if strategies == nil {
		strategies = []map[string]any{}
	}
	host := tenant.Hostname(a.Minter.Issuer())
	tenantName, _, _ := strings.Cut(host, ".")
	b, err := json.Marshal(map[string]any{"id": c.ClientID, "tenant": tenantName, "subscription": "free",
		"authorize": a.Minter.Issuer() + "authorize", "callback": first(c.Callbacks), "hasAllowedOrigins": len(c.AllowedOrigins) > 0,
		"strategies": strategies})
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
