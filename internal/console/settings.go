package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// settingsView is the tenant settings as the Management API shows them.
type settingsView struct {
	FriendlyName  string   `json:"friendly_name"`
	SupportEmail  string   `json:"support_email"`
	AllowedLogout []string `json:"allowed_logout_urls"`
	Flags         struct {
		Enforce bool `json:"enforce_client_authentication_on_passwordless_start"`
	} `json:"flags"`
	Latchkey struct {
		EnumerationSafeSignup bool           `json:"enumeration_safe_signup"`
		MagicLinkConfirmation bool           `json:"magic_link_confirmation"`
		Members               []store.Member `json:"members"`
	} `json:"latchkey"`
	Roles []string `json:"-"`
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request, s *session) {
	c.showSettings(w, r, s, "", http.StatusOK)
}

func (c *Console) showSettings(w http.ResponseWriter, r *http.Request, s *session, msg string, status int) {
	var v settingsView
	if err := c.call(r, s, http.MethodGet, "/api/v2/tenants/settings", nil, &v); err != nil {
		if m, ok := refusal(err); ok {
			c.render(w, r, s, "settings.html", page{Title: "Tenant settings", Nav: "settings", Error: m}, http.StatusForbidden)
			return
		}
		c.fail(w, r, err)
		return
	}
	v.Roles = tenant.Roles
	c.render(w, r, s, "settings.html", page{Title: "Tenant settings", Nav: "settings", Error: msg, Data: v}, status)
}

// saveSettings saves the general settings.
func (c *Console) saveSettings(w http.ResponseWriter, r *http.Request, s *session) {
	var logout []string
	for _, l := range strings.Split(r.PostFormValue("allowed_logout_urls"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			logout = append(logout, l)
		}
	}
	if logout == nil {
		logout = []string{}
	}
	body := map[string]any{
		"friendly_name": strings.TrimSpace(r.PostFormValue("friendly_name")),
		"support_email": strings.TrimSpace(r.PostFormValue("support_email")), "allowed_logout_urls": logout,
		"latchkey": map[string]any{"enumeration_safe_signup": r.PostFormValue("enumeration_safe_signup") == "on",
			"magic_link_confirmation": r.PostFormValue("magic_link_confirmation") == "on"},
	}
	c.patchSettings(w, r, s, body, "saved")
}

// saveMembers adds, changes or removes one member (owners only: the API
// refuses anyone else).
func (c *Console) saveMembers(w http.ResponseWriter, r *http.Request, s *session) {
	var v settingsView
	if err := c.call(r, s, http.MethodGet, "/api/v2/tenants/settings", nil, &v); err != nil {
		c.fail(w, r, err)
		return
	}
	members := slices.Clone(v.Latchkey.Members)
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	i := slices.IndexFunc(members, func(m store.Member) bool { return m.Email == email })
	switch r.PostFormValue("action") {
	case "remove":
		if i < 0 {
			c.showSettings(w, r, s, email+" is not a member.", http.StatusBadRequest)
			return
		}
		if email == s.Email {
			c.showSettings(w, r, s, "You cannot remove yourself; another owner can.", http.StatusBadRequest)
			return
		}
		members = slices.Delete(members, i, i+1)
	default:
		m := store.Member{Email: email, Role: r.PostFormValue("role")}
		if i >= 0 {
			members[i] = m
		} else {
			members = append(members, m)
		}
	}
	if !slices.ContainsFunc(members, func(m store.Member) bool { return m.Role == tenant.RoleOwner }) {
		c.showSettings(w, r, s, "The console needs at least one owner.", http.StatusBadRequest)
		return
	}
	c.patchSettings(w, r, s, map[string]any{"latchkey": map[string]any{"members": members}}, "member")
}

func (c *Console) patchSettings(w http.ResponseWriter, r *http.Request, s *session, body any, flash string) {
	c.write(w, r, s, http.MethodPatch, "/api/v2/tenants/settings", body, func(msg string, status int) {
		c.showSettings(w, r, s, msg, status)
	}, "/admin/settings", flash)
}
