package mgmtapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// getBranding is GET /api/v2/branding: the fields set, as Auth0 shows them.
func (a *API) getBranding(w http.ResponseWriter, r *http.Request) error {
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, s.Branding)
	return nil
}

// patchBranding is PATCH /api/v2/branding: the fields given change (null
// clears one), checked as Auth0's schema checks them: URLs are https,
// colours #rgb or #rrggbb.
func (a *API) patchBranding(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	fields, err := objectFields(raw, "", "colors", "logo_url", "favicon_url", "font")
	if err != nil {
		return err
	}
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	b := s.Branding
	colors, err := nullableObject(fields, "colors", "primary", "page_background")
	if err != nil {
		return err
	}
	if colors == nil && isNull(fields["colors"]) {
		b.Colors = store.BrandingColors{}
	}
	font, err := nullableObject(fields, "font", "url")
	if err != nil {
		return err
	}
	if font == nil && isNull(fields["font"]) {
		b.Font = store.BrandingFont{}
	}
	for _, err := range []error{
		brandingField(colors, "primary", "colors", tenant.CheckColor, &b.Colors.Primary),
		brandingField(colors, "page_background", "colors", tenant.CheckColor, &b.Colors.PageBackground),
		brandingField(fields, "logo_url", "", tenant.CheckHTTPSURL, &b.LogoURL),
		brandingField(fields, "favicon_url", "", tenant.CheckHTTPSURL, &b.FaviconURL),
		brandingField(font, "url", "font", tenant.CheckHTTPSURL, &b.Font.URL),
	} {
		if err != nil {
			return err
		}
	}
	if b != s.Branding {
		s.Branding = b
		if err := tenant.CheckSettings(s); err != nil {
			return badRequest("%v", err)
		}
		if err := a.putSettings(r, s); err != nil {
			return err
		}
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}

func isNull(raw json.RawMessage) bool { return raw != nil && jsonType(raw) == "null" }

// nullableObject reads the object property key of fields: its properties,
// or nil when it is absent or null.
func nullableObject(fields map[string]json.RawMessage, key string, allowed ...string) (map[string]json.RawMessage, error) {
	raw, ok := fields[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	return objectFields(raw, key, allowed...)
}

// brandingField reads a string-or-null property checked by check; null
// clears it.
func brandingField(fields map[string]json.RawMessage, key, prefix string, check func(string) error, dst *string) error {
	raw, ok := fields[key]
	if !ok {
		return nil
	}
	prop := propName(prefix, key)
	if isNull(raw) {
		*dst = ""
		return nil
	}
	var v string
	if jsonType(raw) != "string" || json.Unmarshal(raw, &v) != nil {
		return wrongType(prop, "string", raw)
	}
	if err := check(v); err != nil {
		return badRequest("'%v' on property %s", err, prop)
	}
	*dst = v
	return nil
}
