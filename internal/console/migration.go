package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey/internal/eventlog"
)

// Searches the migration page links to.
const (
	depnoteSearch = "type:depnote AND description:*passwordless*"
	refusedSearch = `type:f AND description:"Client authentication is required"`
)

// logPage is a page of log search results.
type logPage struct {
	Logs  []map[string]any `json:"logs"`
	Total int              `json:"total"`
}

// migrationData is the migration page's.
type migrationData struct {
	Report        eventlog.MigrationReport
	Breaking      []eventlog.ReportClient
	Refused       int
	RefusedSearch string
	DepSearch     string
	Confirm       bool
}

// migration shows, per confidential application, its unauthenticated
// starts and a verdict; the enforcement toggle; after enforcement, the
// starts refused since.
func (c *Console) migration(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.migrationData(r, s)
	if msg, ok := refusal(err); ok {
		c.render(w, r, s, "migration.html", page{Title: "Migration", Nav: "migration", Error: msg})
		return
	} else if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Confirm = r.URL.Query().Get("confirm") == "on"
	c.render(w, r, s, "migration.html", page{Title: "Migration", Nav: "migration", Data: d})
}

func (c *Console) migrationData(r *http.Request, s *session) (migrationData, error) {
	d := migrationData{RefusedSearch: refusedSearch, DepSearch: depnoteSearch}
	if err := c.call(r, s, http.MethodGet, "/api/v2/latchkey/migration-report", nil, &d.Report); err != nil {
		return d, err
	}
	for _, cl := range d.Report.Clients {
		if cl.WouldBreak {
			d.Breaking = append(d.Breaking, cl)
		}
	}
	if d.Report.Enforced {
		var lp logPage
		v := url.Values{"q": {refusedSearch}, "include_totals": {"true"}, "per_page": {"1"}}
		if err := c.call(r, s, http.MethodGet, "/api/v2/logs?"+v.Encode(), nil, &lp); err != nil {
			return d, err
		}
		d.Refused = lp.Total
	}
	return d, nil
}

// setEnforcement turns enforcement on (after a confirmation that lists
// the applications it would break, and with a fresh sign-in) or off.
func (c *Console) setEnforcement(w http.ResponseWriter, r *http.Request, s *session) {
	on, _ := strconv.ParseBool(r.PostFormValue("enforce"))
	if on {
		if !c.fresh(s) {
			c.needFresh(func(http.ResponseWriter, *http.Request, *session) {})(w, r, s)
			return
		}
		if r.PostFormValue("confirmed") != "yes" {
			http.Redirect(w, r, "/admin/migration?confirm=on", http.StatusSeeOther)
			return
		}
	}
	body := map[string]any{"flags": map[string]bool{"enforce_client_authentication_on_passwordless_start": on}}
	if err := c.call(r, s, http.MethodPatch, "/api/v2/tenants/settings", body, nil); err != nil {
		if msg, ok := refusal(err); ok {
			d, _ := c.migrationData(r, s)
			c.render(w, r, s, "migration.html", page{Title: "Migration", Nav: "migration", Error: msg, Data: d}, http.StatusForbidden)
			return
		}
		c.fail(w, r, err)
		return
	}
	key := "unenforced"
	if on {
		key = "enforced"
	}
	redirectFlash(w, r, "/admin/migration", key)
}
