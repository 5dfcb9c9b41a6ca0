package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/protect"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// limitRow is one endpoint rate limit.
type limitRow struct {
	Key, Name, Per string
	Configured     bool            // set in the tenant (else Latchkey's default)
	Limit          store.RateLimit // in force
}

// protectionData is the attack-protection page's.
type protectionData struct {
	BruteForce store.BruteForceProtection
	Suspicious store.SuspiciousIPThrottling
	Limits     []limitRow
	BFShields  []string
	SITShields []string
	Modes      []string

	IP         string
	IPChecked  bool
	IPBlocked  bool
	IPErr      string
	Identifier string
	IDChecked  bool
	Blocks     []store.Block
	IDErr      string
}

// limitSpecs are the rate limits, in the order shown.
var limitSpecs = []struct{ key, name, per string }{
	{protect.PasswordlessStart, "/passwordless/start", "per end-user IP"},
	{protect.Token, "/oauth/token", "per end-user IP"},
	{protect.CoAuthenticate, "/co/authenticate", "per end-user IP"},
	{protect.Userinfo, "/userinfo", "per user"},
	{protect.PerRecipient, "Codes sent to one address or number", "per recipient"},
	{protect.Global, "Everything (the whole tenant)", "per tenant"},
}

// configuredLimit is the tenant's own setting of a limit (nil: default).
func configuredLimit(rl store.RateLimits, key string) **store.RateLimit {
	switch key {
	case protect.PasswordlessStart:
		return &rl.PasswordlessStart
	case protect.Token:
		return &rl.Token
	case protect.CoAuthenticate:
		return &rl.CoAuthenticate
	case protect.Userinfo:
		return &rl.Userinfo
	case protect.PerRecipient:
		return &rl.PerRecipient
	}
	return &rl.Global
}

// protection shows the brute-force and suspicious-IP settings, the rate
// limits, and looks up a blocked IP or identifier.
func (c *Console) protection(w http.ResponseWriter, r *http.Request, s *session) {
	c.showProtection(w, r, s, "", http.StatusOK)
}

func (c *Console) showProtection(w http.ResponseWriter, r *http.Request, s *session, msg string, status int) {
	p := page{Title: "Attack protection and rate limits", Nav: "protection", Error: msg}
	d := protectionData{BFShields: tenant.BruteForceShields, SITShields: tenant.SuspiciousShields, Modes: tenant.BruteForceModes}
	var st struct {
		Latchkey struct {
			RateLimits store.RateLimits `json:"rate_limits"`
		} `json:"latchkey"`
	}
	for _, call := range []struct {
		path string
		out  any
	}{{"/api/v2/attack-protection/brute-force-protection", &d.BruteForce},
		{"/api/v2/attack-protection/suspicious-ip-throttling", &d.Suspicious},
		{"/api/v2/tenants/settings", &st}} {
		if err := c.call(r, s, http.MethodGet, call.path, nil, call.out); err != nil {
			c.pageError(w, r, s, "protection.html", p, err)
			return
		}
	}
	for _, l := range limitSpecs {
		d.Limits = append(d.Limits, limitRow{Key: l.key, Name: l.name, Per: l.per,
			Configured: *configuredLimit(st.Latchkey.RateLimits, l.key) != nil, Limit: protect.Limit(st.Latchkey.RateLimits, l.key)})
	}
	q := r.URL.Query()
	if d.IP = strings.TrimSpace(q.Get("ip")); d.IP != "" {
		d.IPChecked = true
		err := c.call(r, s, http.MethodGet, "/api/v2/anomaly/blocks/ips/"+url.PathEscape(d.IP), nil, nil)
		var ae *apiError
		switch {
		case err == nil:
			d.IPBlocked = true
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		default:
			if d.IPErr, _ = refusal(err); d.IPErr == "" {
				c.fail(w, r, err)
				return
			}
		}
	}
	if d.Identifier = strings.TrimSpace(q.Get("identifier")); d.Identifier != "" {
		d.IDChecked = true
		var out struct {
			BlockedFor []store.Block `json:"blocked_for"`
		}
		if err := c.call(r, s, http.MethodGet, "/api/v2/user-blocks?"+url.Values{"identifier": {d.Identifier}}.Encode(), nil, &out); err != nil {
			if d.IDErr, _ = refusal(err); d.IDErr == "" {
				c.fail(w, r, err)
				return
			}
		}
		d.Blocks = out.BlockedFor
	}
	p.Data = d
	c.render(w, r, s, "protection.html", p, status)
}

// formList splits a textarea or text field into entries (lines, commas,
// spaces); never nil.
func formList(v string) []string {
	return append([]string{}, strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })...)
}

// formInts reads whole numbers from the form; bad names the fields that
// are not.
type formInts struct {
	r   *http.Request
	bad []string
}

func (f *formInts) get(name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(f.r.PostFormValue(name)))
	if err != nil {
		f.bad = append(f.bad, name)
	}
	return n
}

func (f *formInts) err() string {
	if len(f.bad) == 0 {
		return ""
	}
	return "Not a whole number: " + strings.Join(f.bad, ", ") + "."
}

// protectionChange makes one change through the API and comes back to the
// page, or shows the refusal there.
func (c *Console) protectionChange(w http.ResponseWriter, r *http.Request, s *session, method, path string, body any, back, flash string) {
	if err := c.call(r, s, method, path, body, nil); err != nil {
		msg, ok := refusal(err)
		if !ok {
			c.fail(w, r, err)
			return
		}
		c.showProtection(w, r, s, msg, refusalStatus(err))
		return
	}
	redirectFlash(w, r, back, flash)
}

// saveBruteForce changes the brute-force protection.
func (c *Console) saveBruteForce(w http.ResponseWriter, r *http.Request, s *session) {
	f := formInts{r: r}
	body := map[string]any{"enabled": r.PostFormValue("enabled") == "on", "shields": nonNilList(r.PostForm["shields"]),
		"allowlist": formList(r.PostFormValue("allowlist")), "mode": r.PostFormValue("mode"), "max_attempts": f.get("max_attempts")}
	if msg := f.err(); msg != "" {
		c.showProtection(w, r, s, msg, http.StatusBadRequest)
		return
	}
	c.protectionChange(w, r, s, http.MethodPatch, "/api/v2/attack-protection/brute-force-protection", body, "/admin/attack-protection", "saved")
}

// saveSuspiciousIP changes suspicious IP throttling.
func (c *Console) saveSuspiciousIP(w http.ResponseWriter, r *http.Request, s *session) {
	f := formInts{r: r}
	body := map[string]any{"enabled": r.PostFormValue("enabled") == "on", "shields": nonNilList(r.PostForm["shields"]),
		"allowlist": formList(r.PostFormValue("allowlist")),
		"stage": map[string]any{
			"pre-login":             map[string]int{"max_attempts": f.get("login_max_attempts"), "rate": f.get("login_rate")},
			"pre-user-registration": map[string]int{"max_attempts": f.get("signup_max_attempts"), "rate": f.get("signup_rate")},
		}}
	if msg := f.err(); msg != "" {
		c.showProtection(w, r, s, msg, http.StatusBadRequest)
		return
	}
	c.protectionChange(w, r, s, http.MethodPatch, "/api/v2/attack-protection/suspicious-ip-throttling", body, "/admin/attack-protection", "saved")
}

// saveRateLimits sets the endpoint limits (tenant settings: owners).
func (c *Console) saveRateLimits(w http.ResponseWriter, r *http.Request, s *session) {
	var st struct {
		Latchkey struct {
			RateLimits store.RateLimits `json:"rate_limits"`
		} `json:"latchkey"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/v2/tenants/settings", nil, &st); err != nil {
		c.pageError(w, r, s, "protection.html", page{Title: "Attack protection and rate limits", Nav: "protection"}, err)
		return
	}
	f := formInts{r: r}
	limits := map[string]store.RateLimit{}
	for _, l := range limitSpecs {
		v := store.RateLimit{Burst: f.get(l.key + "_burst"), Rate: f.get(l.key + "_rate"), IntervalSeconds: f.get(l.key + "_interval")}
		// Only the limits changed: the others keep following the defaults.
		if v != protect.Limit(st.Latchkey.RateLimits, l.key) {
			limits[l.key] = v
		}
	}
	if msg := f.err(); msg != "" {
		c.showProtection(w, r, s, msg, http.StatusBadRequest)
		return
	}
	body := map[string]any{"latchkey": map[string]any{"rate_limits": limits}}
	c.protectionChange(w, r, s, http.MethodPatch, "/api/v2/tenants/settings", body, "/admin/attack-protection", "saved")
}

// unblockIP lifts suspicious IP throttling of an address.
func (c *Console) unblockIP(w http.ResponseWriter, r *http.Request, s *session) {
	ip := strings.TrimSpace(r.PostFormValue("ip"))
	c.protectionChange(w, r, s, http.MethodDelete, "/api/v2/anomaly/blocks/ips/"+url.PathEscape(ip), nil,
		"/admin/attack-protection?"+url.Values{"ip": {ip}}.Encode(), "ip-unblocked")
}

// unblockIdentifier lifts the brute-force blocks of an email address or
// phone number.
func (c *Console) unblockIdentifier(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSpace(r.PostFormValue("identifier"))
	c.protectionChange(w, r, s, http.MethodDelete, "/api/v2/user-blocks?"+url.Values{"identifier": {id}}.Encode(), nil,
		"/admin/attack-protection?"+url.Values{"identifier": {id}}.Encode(), "unlocked")
}

func nonNilList(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
