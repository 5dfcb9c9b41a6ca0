package console

import (
	"net/http"
	"net/url"
)

// section is an entry of the navigation.
type section struct{ Key, Name, Path string }

var sectionList = []section{
	{"overview", "Overview", "/admin/"},
	{"migration", "Migration", "/admin/migration"},
	{"applications", "Applications", "/admin/applications"},
	{"connections", "Connections", "/admin/connections"},
	{"logs", "Logs", "/admin/logs"},
	{"users", "Users", "/admin/users"},
	{"protection", "Attack protection", "/admin/attack-protection"},
	{"settings", "Tenant settings", "/admin/settings"},
	{"keys", "Signing keys", "/admin/keys"},
}

func init() { funcs["sections"] = func() []section { return sectionList } }

// memberHandler is a page handler for a signed-in member.
type memberHandler func(w http.ResponseWriter, r *http.Request, s *session)

// member wraps h: without a live session the browser goes to sign in (and
// comes back); a POST must carry the session's CSRF token and come from
// the console's own origin.
func (c *Console) member(h memberHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.current(r)
		if !ok {
			c.setCookie(w, sessionCookie, "", -1)
			if r.Method != http.MethodGet {
				c.message(w, r, http.StatusForbidden, "Signed out", "Your console session ended. Sign in again; nothing was changed.", "/admin/login")
				return
			}
			http.Redirect(w, r, "/admin/login?"+url.Values{"return": {r.URL.RequestURI()}}.Encode(), http.StatusFound)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil || !c.checkCSRF(r, s) {
				c.message(w, r, http.StatusForbidden, "Request refused", "The form was stale or did not come from this console (CSRF check). Reload the page and try again.", "/admin/")
				return
			}
		}
		h(w, r, s)
	})
}

// fresh wraps a dangerous action's handler: a sign-in older than FreshFor
// must be renewed with a new code first.
func (c *Console) needFresh(h memberHandler) memberHandler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !c.fresh(s) {
			// Where to come back to: the form's return field, else the
			// Referer (sent on the console's own requests only).
			ret := r.PostFormValue("return")
			if ret == "" {
				ret = r.Header.Get("Referer")
			}
			if u, err := url.Parse(ret); err != nil || ret == "" {
				ret = "/admin/"
			} else {
				ret = u.RequestURI()
			}
			c.render(w, r, s, "reauth.html", page{Title: "Confirm it is you", Data: map[string]string{"Return": safeReturn(ret)}}, http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

func (c *Console) routes() {
	m := c.mux
	m.Handle("GET /admin/assets/", http.StripPrefix("/admin/assets/", http.FileServerFS(assetsFS())))
	m.HandleFunc("GET /admin/login", c.login)
	m.HandleFunc("GET /admin/callback", c.callback)
	m.HandleFunc("GET /admin/signed-out", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusOK, "Signed out", "You are signed out of the console.", "/admin/login")
	})
	m.Handle("POST /admin/logout", c.member(c.logout))
	m.Handle("GET /admin/{$}", c.member(c.overview))
	m.Handle("GET /admin/migration", c.member(c.migration))
	m.Handle("POST /admin/migration/enforcement", c.member(c.setEnforcement))
	m.Handle("GET /admin/settings", c.member(c.settings))
	m.Handle("POST /admin/settings", c.member(c.saveSettings))
	m.Handle("POST /admin/settings/members", c.member(c.saveMembers))
	// Users, connections, attack protection.
	m.Handle("GET /admin/users", c.member(c.users))
	m.Handle("GET /admin/users/{id}", c.member(c.user))
	m.Handle("POST /admin/users/{id}/block", c.member(c.blockUser))
	m.Handle("POST /admin/users/{id}/unblock-attempts", c.member(c.unblockUserAttempts))
	m.Handle("POST /admin/users/{id}/sessions/{cred}/revoke", c.member(c.needFresh(c.revokeSession)))
	m.Handle("POST /admin/users/{id}/delete", c.member(c.needFresh(c.deleteUser)))
	m.Handle("GET /admin/connections", c.member(c.connections))
	m.Handle("GET /admin/connections/{id}", c.member(c.connection))
	m.Handle("POST /admin/connections/{id}", c.member(c.saveConnection))
	m.Handle("POST /admin/connections/{id}/template", c.member(c.connectionTemplate))
	m.Handle("POST /admin/connections/{id}/preview", c.member(c.connectionPreview))
	m.Handle("GET /admin/attack-protection", c.member(c.protection))
	m.Handle("POST /admin/attack-protection/brute-force", c.member(c.saveBruteForce))
	m.Handle("POST /admin/attack-protection/suspicious-ip", c.member(c.saveSuspiciousIP))
	m.Handle("POST /admin/attack-protection/rate-limits", c.member(c.saveRateLimits))
	m.Handle("POST /admin/attack-protection/unblock-ip", c.member(c.unblockIP))
	m.Handle("POST /admin/attack-protection/unblock-identifier", c.member(c.unblockIdentifier))
	// Applications, logs, signing keys.
	m.Handle("GET /admin/keys", c.member(c.keys))
	m.Handle("POST /admin/keys/rotate", c.member(c.needFresh(c.rotateKey)))
	m.Handle("POST /admin/keys/{kid}/revoke", c.member(c.needFresh(c.revokeKey)))
	m.Handle("GET /admin/logs", c.member(c.logs))
	m.Handle("GET /admin/logs/tail", c.member(c.tail))
	m.Handle("GET /admin/logs/{id}", c.member(c.logEvent))
	m.Handle("GET /admin/applications", c.member(c.applications))
	m.Handle("GET /admin/applications/new", c.member(c.newApplication))
	m.Handle("POST /admin/applications", c.member(c.createApplication))
	m.Handle("GET /admin/applications/{id}", c.member(c.application))
	m.Handle("POST /admin/applications/{id}", c.member(c.saveApplication))
	m.Handle("POST /admin/applications/{id}/rotate-secret", c.member(c.needFresh(c.rotateSecret)))
	m.Handle("POST /admin/applications/{id}/delete", c.member(c.needFresh(c.deleteApplication)))
	m.Handle("POST /admin/applications/{id}/credentials", c.member(c.addCredential))
	m.Handle("POST /admin/applications/{id}/credentials/{cred}/delete", c.member(c.needFresh(c.deleteCredential)))
	m.Handle("/admin/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusNotFound, "Not found", "There is no console page here.", "/admin/")
	}))
}
