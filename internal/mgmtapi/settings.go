package mgmtapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

type settingsFlags struct {
	EnforceClientAuthOnPasswordlessStart bool `json:"enforce_client_authentication_on_passwordless_start"`
	// CannotChange is read-only; Latchkey always lets the flag change.
	CannotChangeEnforce bool `json:"cannot_change_enforce_client_authentication_on_passwordless_start"`
}

type settingsJSON struct {
	FriendlyName    string                 `json:"friendly_name,omitempty"`
	SupportEmail    string                 `json:"support_email,omitempty"`
	DefaultAudience string                 `json:"default_audience,omitempty"`
	AllowedLogout   []string               `json:"allowed_logout_urls"`
	Flags           settingsFlags          `json:"flags"`
	Latchkey        store.LatchkeySettings `json:"latchkey"`
}

func settingsOut(s store.TenantSettings) settingsJSON {
	return settingsJSON{FriendlyName: s.FriendlyName, SupportEmail: s.SupportEmail, DefaultAudience: s.DefaultAudience,
		AllowedLogout: append([]string{}, s.AllowedLogoutURLs...),
		Flags:         settingsFlags{EnforceClientAuthOnPasswordlessStart: s.Flags.EnforceClientAuthOnPasswordlessStart},
		Latchkey:      s.Latchkey}
}

// settingsPatch is a PATCH body: only the fields given change.
type settingsPatch struct {
	FriendlyName    *string   `json:"friendly_name"`
	SupportEmail    *string   `json:"support_email"`
	DefaultAudience *string   `json:"default_audience"`
	AllowedLogout   *[]string `json:"allowed_logout_urls"`
	Flags           *struct {
		Enforce      *bool `json:"enforce_client_authentication_on_passwordless_start"`
		CannotChange *bool `json:"cannot_change_enforce_client_authentication_on_passwordless_start"`
	} `json:"flags"`
	Latchkey *struct {
		EnumerationSafeSignup *bool             `json:"enumeration_safe_signup"`
		CustomLoginPage       *string           `json:"custom_login_page"`
		MagicLinkConfirmation *bool             `json:"magic_link_confirmation"`
		RateLimits            *store.RateLimits `json:"rate_limits"`
		Members               *[]store.Member   `json:"members"`
	} `json:"latchkey"`
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) error {
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, settingsOut(s))
	return nil
}

func (a *API) patchSettings(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var p settingsPatch
	if err := decodeStrict(raw, &p); err != nil {
		return err
	}
	s, err := a.Store.GetSettings(r.Context())
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if aud := p.DefaultAudience; aud != nil && *aud != "" && *aud != tenant.ManagementAudience(a.Issuer) {
		if _, err := a.Store.GetResourceServerByIdentifier(r.Context(), *aud); errors.Is(err, store.ErrNotFound) {
			return badRequest("default_audience: no API %q", *aud)
		} else if err != nil {
			return fmt.Errorf("read resource server: %w", err)
		}
	}
	set(&s.FriendlyName, p.FriendlyName)
	set(&s.SupportEmail, p.SupportEmail)
	set(&s.DefaultAudience, p.DefaultAudience)
	if f := p.Flags; f != nil {
		if f.CannotChange != nil && *f.CannotChange {
			return badRequest("flags.cannot_change_enforce_client_authentication_on_passwordless_start is read-only")
		}
		if f.Enforce != nil {
			s.Flags.EnforceClientAuthOnPasswordlessStart = *f.Enforce
		}
	}
	if p.AllowedLogout != nil {
		s.AllowedLogoutURLs = *p.AllowedLogout
	}
	if l := p.Latchkey; l != nil {
		if l.EnumerationSafeSignup != nil {
			s.Latchkey.EnumerationSafeSignup = *l.EnumerationSafeSignup
		}
		if l.CustomLoginPage != nil {
			s.Latchkey.CustomLoginPage = *l.CustomLoginPage
		}
		if l.MagicLinkConfirmation != nil {
			s.Latchkey.MagicLinkConfirmation = *l.MagicLinkConfirmation
		}
		if l.Members != nil {
			// The list given replaces the members.
			s.Latchkey.Members = *l.Members
		}
		if rl := l.RateLimits; rl != nil {
			// Each limit given replaces that limit; the others stay.
			cur := &s.Latchkey.RateLimits
			for _, f := range []struct{ dst, v **store.RateLimit }{{&cur.PasswordlessStart, &rl.PasswordlessStart},
				{&cur.Token, &rl.Token}, {&cur.CoAuthenticate, &rl.CoAuthenticate}, {&cur.Userinfo, &rl.Userinfo},
				{&cur.Global, &rl.Global}, {&cur.PerRecipient, &rl.PerRecipient}} {
				if *f.v != nil {
					*f.dst = *f.v
				}
			}
		}
	}
	if err := tenant.CheckSettings(s); err != nil {
		return badRequest("%v", err)
	}
	if err := a.Store.PutSettings(r.Context(), s); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	a.Cache.Invalidate()
	httpx.WriteJSON(w, http.StatusOK, settingsOut(s))
	return nil
}
