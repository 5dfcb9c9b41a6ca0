package mgmtapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// Device credentials: a user's refresh tokens, one per family (the live
// token of each login that asked for offline_access), as Auth0's
// /api/v2/device-credentials lists them. Latchkey registers no public keys
// for devices, so type public_key lists nothing.
const deviceCredentialPrefix = "dcr_"

type deviceCredentialJSON struct {
	ID         string `json:"id"`
	DeviceName string `json:"device_name"`
	DeviceID   string `json:"device_id"`
	Type       string `json:"type"`
	UserID     string `json:"user_id"`
	ClientID   string `json:"client_id"`
}

// Device credential types (Auth0's names).
const (
	typeRefreshToken         = "refresh_token"
	typeRotatingRefreshToken = "rotating_refresh_token"
	typePublicKey            = "public_key"
)

// listDeviceCredentials is GET /api/v2/device-credentials: user_id is
// required, client_id narrows, type (refresh_token by default) picks
// refresh_token (every refresh token), rotating_refresh_token (those of
// applications that rotate them) or public_key (none).
func (a *API) listDeviceCredentials(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := readPage(r)
	if err != nil {
		return err
	}
	typ := q.Get("type")
	switch typ {
	case "":
		typ = typeRefreshToken
	case typeRefreshToken, typeRotatingRefreshToken, typePublicKey:
	default:
		return httpx.Errorf(http.StatusBadRequest, "invalid_query_string",
			"Query validation error: 'type' must be one of public_key, refresh_token, rotating_refresh_token")
	}
	userID := q.Get("user_id")
	if userID == "" {
		return httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'user_id' is required")
	}
	out := []deviceCredentialJSON{}
	if typ != typePublicKey {
		toks, err := a.Store.ListRefreshTokens(r.Context(), store.RefreshTokenFilter{UserID: userID, ClientID: q.Get("client_id")}, a.Now())
		if err != nil {
			return fmt.Errorf("list refresh tokens: %w", err)
		}
		rotating := map[string]bool{}
		for _, t := range toks {
			rot, seen := rotating[t.ClientID]
			if !seen {
				c, err := a.Store.GetClient(r.Context(), t.ClientID)
				if err != nil {
					continue // the application is gone; its tokens are dead
				}
				rot = tenant.RefreshPolicy(c).RotationType == tenant.RotationRotating
				rotating[t.ClientID] = rot
			}
			kind := typeRefreshToken
			if rot {
				kind = typeRotatingRefreshToken
			}
			if typ == typeRotatingRefreshToken && !rot {
				continue
			}
			out = append(out, deviceCredentialJSON{ID: deviceCredentialPrefix + t.FamilyID, DeviceName: "", DeviceID: "",
				Type: kind, UserID: t.UserID, ClientID: t.ClientID})
		}
	}
	from, to := p.slice(len(out))
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out[from:to])
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"device_credentials": out[from:to], "start": from, "limit": p.PerPage, "total": len(out)})
	return nil
}

// deleteDeviceCredential is DELETE /api/v2/device-credentials/{id}: it
// revokes the refresh-token family the id names (204, also when it was
// revoked already or never existed).
func (a *API) deleteDeviceCredential(w http.ResponseWriter, r *http.Request) error {
	family, ok := strings.CutPrefix(r.PathValue("id"), deviceCredentialPrefix)
	if !ok || family == "" {
		return httpx.Errorf(http.StatusBadRequest, "invalid_uri", "Path validation error: 'id' is not a device credential id")
	}
	if _, err := a.Store.RevokeRefreshTokens(r.Context(), store.RefreshTokenFilter{FamilyID: family}); err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
