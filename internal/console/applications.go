package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/tenant"
)

// application is a client as the Management API shows it: the tenant
// file's shape.
type application = tenant.ClientSpec

// credential is a Private Key JWT credential.
type credential struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	KID       string `json:"kid"`
	Alg       string `json:"alg"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
}

// appForm is what the application pages show and edit.
type appForm struct {
	App         application
	New         bool
	Secret      string // shown once, after a creation or a rotation
	Credentials []credential
	AppTypes    []string
	Grants      []string
	Methods     []string
	Rotations   []string
	Expirations []string
	Algs        []string     // the ID-token algorithms the form offers
	Connections []connection // the passwordless connections, for a new application
}

// connection is a connection as the Management API lists it.
type connection struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Strategy       string   `json:"strategy"`
	EnabledClients []string `json:"enabled_clients"`
}

// passwordlessConnections lists the email and sms connections.
func (c *Console) passwordlessConnections(r *http.Request, s *session) ([]connection, error) {
	var all []connection
	if err := c.call(r, s, http.MethodGet, "/api/v2/connections", nil, &all); err != nil {
		return nil, err
	}
	var out []connection
	for _, cn := range all {
		if cn.Strategy == "email" || cn.Strategy == "sms" {
			out = append(out, cn)
		}
	}
	return out, nil
}

func newAppForm(a application) appForm {
	return appForm{App: a, AppTypes: []string{"regular_web", "spa", "native", "non_interactive"},
		Grants:    []string{"authorization_code", "implicit", "refresh_token", "client_credentials", tenant.GrantPasswordlessOTP},
		Methods:   []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "none"},
		Rotations: []string{"rotating", "non-rotating"}, Expirations: []string{"expiring", "non-expiring"}, Algs: formAlgs(a)}
}

// formAlgs are the ID-token algorithms the form offers: all but HS256,
// which needs the secret in the same change, unless a has it already.
func formAlgs(a application) []string {
	out := []string{}
	for _, alg := range tenant.JWTAlgs() {
		if alg != "HS256" || (a.JWTConfiguration != nil && a.JWTConfiguration.Alg == alg) {
			out = append(out, alg)
		}
	}
	return out
}

func (c *Console) applications(w http.ResponseWriter, r *http.Request, s *session) {
	var apps []application
	if err := c.call(r, s, http.MethodGet, "/api/v2/clients", nil, &apps); err != nil {
		c.apiFailure(w, r, s, "applications.html", "Applications", "applications", err)
		return
	}
	c.render(w, r, s, "applications.html", page{Title: "Applications", Nav: "applications", Data: apps})
}

func (c *Console) newApplication(w http.ResponseWriter, r *http.Request, s *session) {
	f := newAppForm(application{AppType: "regular_web", GrantTypes: []string{"authorization_code"}})
	f.New = true
	f.Connections, _ = c.passwordlessConnections(r, s) // none listed when they cannot be read
	c.render(w, r, s, "application.html", page{Title: "New application", Nav: "applications", Data: f})
}

func (c *Console) application(w http.ResponseWriter, r *http.Request, s *session) {
	c.showApplication(w, r, s, r.PathValue("id"), "", "", http.StatusOK)
}

func (c *Console) showApplication(w http.ResponseWriter, r *http.Request, s *session, id, secret, msg string, status int) {
	var a application
	if err := c.call(r, s, http.MethodGet, "/api/v2/clients/"+url.PathEscape(id), nil, &a); err != nil {
		c.apiFailure(w, r, s, "application.html", "Application", "applications", err)
		return
	}
	f := newAppForm(a)
	f.Secret = secret
	if c.can(s, "read:client_credentials") {
		_ = c.call(r, s, http.MethodGet, "/api/v2/clients/"+url.PathEscape(id)+"/credentials", nil, &f.Credentials)
	}
	c.render(w, r, s, "application.html", page{Title: a.Name, Nav: "applications", Data: f, Error: msg}, status)
}

// appBody turns the form into a Management API body.
func appBody(r *http.Request, creating bool) map[string]any {
	list := func(name string) []string {
		out := []string{}
		for _, l := range strings.FieldsFunc(r.PostFormValue(name), func(c rune) bool { return c == '\n' || c == ',' }) {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	grants := r.PostForm["grant_types"]
	if grants == nil {
		grants = []string{}
	}
	b := map[string]any{
		"name": strings.TrimSpace(r.PostFormValue("name")), "description": r.PostFormValue("description"),
		"app_type": r.PostFormValue("app_type"), "callbacks": list("callbacks"), "allowed_logout_urls": list("allowed_logout_urls"),
		"web_origins": list("web_origins"), "allowed_origins": list("allowed_origins"), "grant_types": grants,
		"cross_origin_authentication":         r.PostFormValue("cross_origin_authentication") == "on",
		"is_token_endpoint_ip_header_trusted": r.PostFormValue("is_token_endpoint_ip_header_trusted") == "on",
	}
	if m := r.PostFormValue("token_endpoint_auth_method"); m != "" {
		b["token_endpoint_auth_method"] = m
	}
	if !creating {
		num := func(name string) int { n, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name))); return n }
		b["refresh_token"] = map[string]any{"rotation_type": r.PostFormValue("rotation_type"), "expiration_type": r.PostFormValue("expiration_type"),
			"leeway": num("leeway"), "token_lifetime": num("token_lifetime"), "idle_token_lifetime": num("idle_token_lifetime"),
			"infinite_token_lifetime":      r.PostFormValue("infinite_token_lifetime") == "on",
			"infinite_idle_token_lifetime": r.PostFormValue("infinite_idle_token_lifetime") == "on"}
		if alg := r.PostFormValue("jwt_alg"); alg != "" {
			// The whole object: a merge patch replaces it. secret_encoded
			// is not on the form; the stored value comes back as it was,
			// for HS256 only, the one algorithm it applies to (an HS256
			// application moving to another algorithm drops it).
			b["jwt_configuration"] = map[string]any{"alg": alg, "lifetime_in_seconds": num("jwt_lifetime"),
				"secret_encoded": alg == "HS256" && r.PostFormValue("jwt_secret_encoded") == "true"}
		}
	}
	return b
}

func (c *Console) createApplication(w http.ResponseWriter, r *http.Request, s *session) {
	var a application
	if err := c.call(r, s, http.MethodPost, "/api/v2/clients", appBody(r, true), &a); err != nil {
		if msg, ok := refusal(err); ok {
			f := newAppForm(application{Name: r.PostFormValue("name"), AppType: r.PostFormValue("app_type"), GrantTypes: r.PostForm["grant_types"]})
			f.New = true
			c.render(w, r, s, "application.html", page{Title: "New application", Nav: "applications", Data: f, Error: msg}, http.StatusBadRequest)
			return
		}
		c.fail(w, r, err)
		return
	}
	// The connections checked are enabled for it.
	conns, err := c.passwordlessConnections(r, s)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var msg string
	for _, cn := range conns {
		if r.PostFormValue("connection_"+cn.ID) != "on" {
			continue
		}
		body := map[string]any{"enabled_clients": append(cn.EnabledClients, a.ClientID)}
		if err := c.call(r, s, http.MethodPatch, "/api/v2/connections/"+url.PathEscape(cn.ID), body, nil); err != nil {
			if m, ok := refusal(err); ok {
				msg = "The application was created, but the " + cn.Name + " connection could not be enabled for it: " + m
				continue
			}
			c.fail(w, r, err)
			return
		}
	}
	// The secret is shown once, on this answer; only its hash is kept.
	c.showApplication(w, r, s, a.ClientID, a.ClientSecret, msg, http.StatusCreated)
}

// appShow shows the application again with a refusal.
func (c *Console) appShow(w http.ResponseWriter, r *http.Request, s *session, id string) func(string, int) {
	return func(msg string, status int) { c.showApplication(w, r, s, id, "", msg, status) }
}

func (c *Console) saveApplication(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c.write(w, r, s, http.MethodPatch, "/api/v2/clients/"+url.PathEscape(id), appBody(r, false), c.appShow(w, r, s, id),
		"/admin/applications/"+url.PathEscape(id), "saved")
}

func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var a application
	if err := c.call(r, s, http.MethodPost, "/api/v2/clients/"+url.PathEscape(id)+"/rotate-secret", nil, &a); err != nil {
		c.refused(w, r, err, c.appShow(w, r, s, id))
		return
	}
	c.showApplication(w, r, s, id, a.ClientSecret, "", http.StatusOK)
}

func (c *Console) deleteApplication(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c.write(w, r, s, http.MethodDelete, "/api/v2/clients/"+url.PathEscape(id), nil, c.appShow(w, r, s, id), "/admin/applications", "deleted")
}

func (c *Console) addCredential(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	body := map[string]any{"credential_type": "public_key", "name": strings.TrimSpace(r.PostFormValue("cred_name")),
		"pem": r.PostFormValue("pem")}
	if alg := r.PostFormValue("alg"); alg != "" {
		body["alg"] = alg
	}
	c.write(w, r, s, http.MethodPost, "/api/v2/clients/"+url.PathEscape(id)+"/credentials", body, c.appShow(w, r, s, id),
		"/admin/applications/"+url.PathEscape(id), "created")
}

func (c *Console) deleteCredential(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c.write(w, r, s, http.MethodDelete, "/api/v2/clients/"+url.PathEscape(id)+"/credentials/"+url.PathEscape(r.PathValue("cred")), nil,
		c.appShow(w, r, s, id), "/admin/applications/"+url.PathEscape(id), "deleted")
}

// apiFailure renders a page whose data could not be read: a refusal
// (not found, no scope) as a message, anything else as a failure.
func (c *Console) apiFailure(w http.ResponseWriter, r *http.Request, s *session, tpl, title, nav string, err error) {
	c.refused(w, r, err, func(msg string, status int) {
		c.render(w, r, s, tpl, page{Title: title, Nav: nav, Error: msg}, status)
	})
}
