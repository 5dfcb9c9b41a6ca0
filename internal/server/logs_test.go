package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/mgmtapi"
	"github.com/latchkey/latchkey/internal/server"
)

const depnoteQuery = "type:depnote AND description:*passwordless*"

// searchLogs runs a log search through the Management API and returns the records.
func (e *env) searchLogs(q string, extra url.Values) []map[string]any {
	e.t.Helper()
	v := url.Values{"q": {q}}
	for k, vs := range extra {
		v[k] = vs
	}
	r := e.mgmt("GET", "logs?"+v.Encode(), e.logsToken(), nil)
	if r.status != 200 {
		e.t.Fatalf("search %q: %d %s", q, r.status, r.raw)
	}
	var logs []map[string]any
	if err := json.Unmarshal(r.raw, &logs); err != nil {
		e.t.Fatalf("search %q: %v in %s", q, err, r.raw)
	}
	return logs
}

// logsToken is a Management API token with read:logs, cached per env.
func (e *env) logsToken() string {
	e.t.Helper()
	if e.readLogs == "" {
		e.readLogs = e.mgmtToken("read:logs update:tenant_settings update:clients read:logs_users")
	}
	return e.readLogs
}

func str(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[k]
	}
	s, _ := cur.(string)
	return s
}

// TestClientAuthenticationTable covers every row of §3.2 on both settings,
// and the depnote that an unauthenticated confidential start leaves while
// enforcement is off (found with the query operators use).
func TestClientAuthenticationTable(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		type row struct {
			name      string
			client    string
			secret    string
			basic     bool
			wantOff   int // status with enforcement off
			wantOn    int // status with enforcement on
			depnoteOn bool
		}
		rows := []row{
			{"native, no secret", nativeID, "", false, 200, 200, false},
			{"native, a secret is ignored", nativeID, "whatever-secret", false, 200, 200, false},
			{"spa, no secret", spaID, "", false, 200, 200, false},
			{"web, right secret", webID, webSecret, false, 200, 200, false},
			{"web, right secret in Basic", webID, webSecret, true, 200, 200, false},
			{"web, wrong secret", webID, "wrong-secret-wrong-secret", false, 401, 401, false},
			{"web, wrong secret in Basic", webID, "wrong-secret-wrong-secret", true, 401, 401, false},
			{"web, no secret", webID, "", false, 200, 403, true},
			{"m2m, no secret", m2mID, "", false, 200, 403, true},
			{"m2m, right secret", m2mID, m2mSecret, false, 200, 200, false},
		}
		tok := e.logsToken()
		for _, enforce := range []bool{false, true} {
			if r := e.mgmt("PATCH", "tenants/settings", tok, map[string]any{
				"flags": map[string]any{"enforce_client_authentication_on_passwordless_start": enforce}}); r.status != 200 {
				t.Fatalf("patch settings: %d %s", r.status, r.raw)
			}
			for i, rw := range rows {
				email := fmt.Sprintf("row%d-%v@example.com", i, enforce)
				body := map[string]any{"client_id": rw.client, "connection": "email", "send": "code", "email": email}
				hdr := map[string]string{"User-Agent": fmt.Sprintf("row-%d-%v", i, enforce)}
				if rw.secret != "" && !rw.basic {
					body["client_secret"] = rw.secret
				}
				if rw.basic {
					hdr["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(rw.client+":"+rw.secret))
				}
				depQ := depnoteQuery + " AND client_id:" + rw.client
				before := e.countLogs(depQ)
				r := e.postJSON("/passwordless/start", body, hdr)
				want := rw.wantOff
				if enforce {
					want = rw.wantOn
				}
				if r.status != want {
					t.Errorf("enforce=%v %s: %d %s, want %d", enforce, rw.name, r.status, r.raw, want)
				}
				if r.status == 403 && (r.str("error") != "unauthorized_client" || r.str("error_description") != "Client authentication is required") {
					t.Errorf("enforce=%v %s: %s", enforce, rw.name, r.raw)
				}
				if sent := len(e.messages(email)) > 0; sent != (want == 200) {
					t.Errorf("enforce=%v %s: sent=%v with status %d", enforce, rw.name, sent, want)
				}
				wantDep := 0
				if rw.depnoteOn && !enforce {
					wantDep = 1
				}
				if got := e.countLogs(depQ) - before; got != wantDep {
					t.Errorf("enforce=%v %s: %d new depnotes, want %d", enforce, rw.name, got, wantDep)
				}
			}
		}
	})
}

// countLogs counts the events a query matches (include_totals).
func (e *env) countLogs(q string) int {
	e.t.Helper()
	r := e.mgmt("GET", "logs?"+url.Values{"q": {q}, "include_totals": {"true"}, "per_page": {"1"}}.Encode(), e.logsToken(), nil)
	if r.status != 200 {
		e.t.Fatalf("count %q: %d %s", q, r.status, r.raw)
	}
	n, ok := r.body["total"].(float64)
	if !ok {
		e.t.Fatalf("count %q: no total in %s", q, r.raw)
	}
	return int(n)
}

// auth0Client is an Auth0-Client header as auth0.js sends it.
var auth0Client = base64.URLEncoding.EncodeToString([]byte(`{"name":"auth0.js","version":"9.23.0","env":{"lib":"x"}}`))

const chromeUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

// TestDepnoteRecord checks the fields of the deprecation notice (§9.2).
func TestDepnoteRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code",
		"email": "dep@example.com"}, map[string]string{"User-Agent": chromeUA, "Auth0-Client": auth0Client,
		"Auth0-Forwarded-For": "203.0.113.9"})
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	logs := e.searchLogs(depnoteQuery, nil)
	if len(logs) != 1 {
		t.Fatalf("%d depnotes, want 1: %v", len(logs), logs)
	}
	d := logs[0]
	for k, want := range map[string]string{
		"type": "depnote", "client_id": webID, "client_name": "Web", "connection": "email",
		"ip": "127.0.0.1", "client_ip": "127.0.0.1", // unauthenticated: forwarded-for ignored
		"user_agent":                    "Chrome 120.0.0 / Mac OS X 10.15.7",
		"auth0_client.name":             "auth0.js",
		"auth0_client.version":          "9.23.0",
		"details.feature.name":          "Enforce client authentication for passwordless connections",
		"details.method":                "POST",
		"details.path":                  "/passwordless/start",
		"hostname":                      strings.TrimSuffix(strings.TrimPrefix(e.issuer, "https://"), "/"),
		"details.feature.documentation": "https://auth0.com/docs/product-lifecycle/deprecations-and-migrations/migrate-to-passwordless",
	} {
		if got := str(d, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(str(d, "description"), "Enforce client authentication for passwordless connections") {
		t.Errorf("description %q", str(d, "description"))
	}
	id := str(d, "log_id")
	if id == "" || id != str(d, "_id") || strings.Trim(id, "0123456789") != "" {
		t.Errorf("log_id %q, _id %q", id, str(d, "_id"))
	}
	if _, err := time.Parse(time.RFC3339, str(d, "date")); err != nil {
		t.Errorf("date %q: %v", str(d, "date"), err)
	}
	// GET /api/v2/logs/{id} returns the same record.
	one := e.mgmt("GET", "logs/"+id, e.logsToken(), nil)
	if one.status != 200 || one.str("log_id") != id || one.str("type") != "depnote" {
		t.Errorf("logs/{id}: %d %s", one.status, one.raw)
	}
	wantMgmtError(t, e.mgmt("GET", "logs/99999999999999999999999999", e.logsToken(), nil), 404, "inexistent_log", "")
	// The depnote is also found by the documented bare and wildcard forms.
	for _, q := range []string{"type:depnote", "type:dep*", "description:*passwordless*", `client_id:"` + webID + `" AND type:depnote`,
		"depnote", "details.method:POST", "NOT type:s AND type:depnote", "type:(depnote OR s)"} {
		if n := len(e.searchLogs(q, nil)); n != 1 {
			t.Errorf("%s: %d results, want 1", q, n)
		}
	}
}

// TestLoginEvents checks cls, ss, s, fepotpft, cs, sertft and the user's log.
func TestLoginEvents(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, e *env) {
		hdr := map[string]string{"User-Agent": chromeUA, "Auth0-Client": auth0Client}
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code",
			"email": "Ev@Example.com", "authParams": map[string]any{"scope": "openid"}}, hdr)
		if r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
		code := e.lastMessage("ev@example.com").Code
		if bad := e.otpGrant(nativeID, "", "email", "ev@example.com", "000000x", nil); bad.status != 403 {
			t.Fatalf("wrong code: %d %s", bad.status, bad.raw)
		}
		tok := e.otpGrant(nativeID, "", "email", "ev@example.com", code, url.Values{"scope": {"openid offline_access"}, "audience": {apiID}})
		if tok.status != 200 {
			t.Fatalf("token: %d %s", tok.status, tok.raw)
		}
		userID := "email|" + r.str("_id")

		cls := e.searchLogs("type:cls", nil)
		if len(cls) != 1 || str(cls[0], "user_name") != "ev@example.com" || str(cls[0], "client_id") != nativeID ||
			str(cls[0], "connection") != "email" || str(cls[0], "strategy") != "email" || str(cls[0], "details.body.send") != "code" ||
			str(cls[0], "user_id") != userID || str(cls[0], "details.body.authParams.scope") != "openid" {
			t.Errorf("cls: %v", cls)
		}
		if strings.Contains(fmt.Sprint(cls), code) {
			t.Errorf("the code leaked into the log: %v", cls)
		}
		f := e.searchLogs("type:fepotpft", nil)
		if len(f) != 1 || str(f[0], "description") != "Wrong email or verification code." || str(f[0], "user_name") != "ev@example.com" ||
			str(f[0], "details.error.oauthError") != "invalid_grant" {
			t.Errorf("fepotpft: %v", f)
		}
		for _, typ := range []string{"ss", "s"} {
			got := e.searchLogs("type:"+typ, nil)
			if len(got) != 1 || str(got[0], "user_id") != userID || str(got[0], "user_name") != "ev@example.com" ||
				str(got[0], "audience") != apiID || str(got[0], "client_name") != "Native" || str(got[0], "scope") != "openid offline_access" {
				t.Errorf("%s: %v", typ, got)
			}
		}
		// Newest first by default; ascending on request.
		all := e.searchLogs("client_id:"+nativeID, nil)
		if len(all) != 4 || str(all[0], "type") != "s" {
			t.Errorf("default order: %v", all)
		}
		asc := e.searchLogs("client_id:"+nativeID, url.Values{"sort": {"date:1"}})
		if len(asc) != len(all) || str(asc[0], "type") != "cls" {
			t.Errorf("ascending order: %v", asc)
		}

		ref := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {nativeID},
			"refresh_token": {tok.str("refresh_token")}}, nil)
		if ref.status != 200 {
			t.Fatalf("refresh: %d %s", ref.status, ref.raw)
		}
		e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {nativeID},
			"refresh_token": {"not-a-token"}}, nil)
		if n := e.countLogs("type:sertft AND user_id:\"" + userID + "\""); n != 1 {
			t.Errorf("%d sertft events", n)
		}
		if n := e.countLogs("type:fertft"); n != 1 {
			t.Errorf("%d fertft events", n)
		}

		// The user's own log.
		r2 := e.mgmt("GET", "users/"+url.PathEscape(userID)+"/logs?include_totals=true", e.logsToken(), nil)
		if r2.status != 200 || r2.body["total"] != float64(4) { // cls, ss, s, sertft (fepotpft had no user yet)
			t.Errorf("user logs: %d %s", r2.status, r2.raw)
		}

		// SMS: cs.
		sms := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "sms", "phone_number": "+14155551234"}, nil)
		if sms.status != 200 {
			t.Fatalf("sms start: %d %s", sms.status, sms.raw)
		}
		if cs := e.searchLogs("type:cs", nil); len(cs) != 1 || str(cs[0], "user_name") != "+14155551234" || str(cs[0], "strategy") != "sms" {
			t.Errorf("cs: %v", cs)
		}
	})
}

// TestForwardedFor: auth0-forwarded-for is honoured only for a confidential,
// authenticated, trusted application (§8), on start and token; otherwise
// ignored without an error.
func TestForwardedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const userIP = "198.51.100.7"
	fwd := map[string]string{"Auth0-Forwarded-For": userIP}
	start := func(client, secret, email string) {
		t.Helper()
		body := map[string]any{"client_id": client, "connection": "email", "send": "code", "email": email}
		if secret != "" {
			body["client_secret"] = secret
		}
		if r := e.postJSON("/passwordless/start", body, fwd); r.status != 200 {
			t.Fatalf("start %s: %d %s", email, r.status, r.raw)
		}
	}
	ipOf := func(q string) (ip, clientIP string) {
		t.Helper()
		logs := e.searchLogs(q, nil)
		if len(logs) != 1 {
			t.Fatalf("%s: %d events", q, len(logs))
		}
		return str(logs[0], "ip"), str(logs[0], "client_ip")
	}

	// Not trusted yet: ignored even with the secret.
	start(webID, webSecret, "untrusted@example.com")
	if ip, _ := ipOf(`type:cls AND user_name:"untrusted@example.com"`); ip != "127.0.0.1" {
		t.Errorf("untrusted app: ip %s", ip)
	}
	if r := e.mgmt("PATCH", "clients/"+webID, e.mgmtToken(""), map[string]any{"is_token_endpoint_ip_header_trusted": true}); r.status != 200 {
		t.Fatalf("trust header: %d %s", r.status, r.raw)
	}
	// Trusted and authenticated: honoured on start and token.
	start(webID, webSecret, "trusted@example.com")
	if ip, cip := ipOf(`type:cls AND user_name:"trusted@example.com"`); ip != userIP || cip != "127.0.0.1" {
		t.Errorf("trusted app: ip %s client_ip %s", ip, cip)
	}
	code := e.lastMessage("trusted@example.com").Code
	tok := e.postForm("/oauth/token", url.Values{"grant_type": {"http://auth0.com/oauth/grant-type/passwordless/otp"},
		"client_id": {webID}, "client_secret": {webSecret}, "realm": {"email"}, "username": {"trusted@example.com"}, "otp": {code}}, fwd)
	if tok.status != 200 {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	if ip, cip := ipOf(`type:s AND user_name:"trusted@example.com"`); ip != userIP || cip != "127.0.0.1" {
		t.Errorf("token: ip %s client_ip %s", ip, cip)
	}
	if u, err := e.srv.Store.FindUser(t.Context(), "email", "trusted@example.com"); err != nil || u.LastIP != userIP {
		t.Errorf("user last_ip %q, %v", u.LastIP, err)
	}
	// Trusted but unauthenticated (enforcement off): ignored.
	start(webID, "", "noauth@example.com")
	if ip, _ := ipOf(`type:cls AND user_name:"noauth@example.com"`); ip != "127.0.0.1" {
		t.Errorf("unauthenticated: ip %s", ip)
	}
	// A public application can never move its IP.
	start(nativeID, "", "public@example.com")
	if ip, _ := ipOf(`type:cls AND user_name:"public@example.com"`); ip != "127.0.0.1" {
		t.Errorf("public app: ip %s", ip)
	}
	// A malformed header is ignored, not an error.
	r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "client_secret": webSecret, "connection": "email",
		"send": "code", "email": "garbage@example.com"}, map[string]string{"Auth0-Forwarded-For": "not-an-ip, 1.2.3.4"})
	if r.status != 200 {
		t.Fatalf("garbage header: %d %s", r.status, r.raw)
	}
	if ip, _ := ipOf(`type:cls AND user_name:"garbage@example.com"`); ip != "127.0.0.1" {
		t.Errorf("garbage header: ip %s", ip)
	}
}

// TestLogsAPI covers the parameters of GET /api/v2/logs.
func TestLogsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 7 {
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code",
			"email": fmt.Sprintf("page%d@example.com", i)}, nil)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		e.clock.Advance(time.Second)
	}
	tok := e.logsToken()

	// Paging with totals.
	r := e.mgmt("GET", "logs?q=type:cls&per_page=3&page=1&include_totals=true", tok, nil)
	if r.status != 200 || r.body["total"] != float64(7) || r.body["start"] != float64(3) || r.body["limit"] != float64(3) || r.body["length"] != float64(3) {
		t.Fatalf("totals: %d %s", r.status, r.raw)
	}
	// search= is q's alias (go-auth0 v3); search_engine is accepted.
	if logs := e.searchLogs("", url.Values{"q": nil, "search": {`user_name:page1*`}, "search_engine": {"v3"}}); len(logs) != 1 {
		t.Errorf("search=: %v", logs)
	}
	// fields projection.
	logs := e.searchLogs("type:cls", url.Values{"fields": {"user_name,log_id"}, "per_page": {"2"}})
	if len(logs) != 2 || len(logs[0]) != 2 || str(logs[0], "user_name") == "" {
		t.Errorf("fields: %v", logs)
	}
	logs = e.searchLogs("type:cls", url.Values{"fields": {"details"}, "include_fields": {"false"}, "per_page": {"1"}})
	if len(logs) != 1 || logs[0]["details"] != nil || str(logs[0], "type") != "cls" {
		t.Errorf("include_fields=false: %v", logs)
	}
	// Date ranges.
	if n := len(e.searchLogs("type:cls AND date:[2000-01-01 TO *]", nil)); n != 7 {
		t.Errorf("open date range: %d", n)
	}
	if n := len(e.searchLogs("type:cls AND date:[* TO 2000-01-01]", nil)); n != 0 {
		t.Errorf("past date range: %d", n)
	}

	// Checkpoint paging: oldest first from the start, Link to the next page,
	// repeating the request when nothing is newer. The newest seconds are
	// held back (events are stored in batches, node by node).
	if r := e.mgmt("GET", "logs?take=100", tok, nil); r.status != 200 || strings.Contains(string(r.raw), "page6@") {
		t.Errorf("checkpoint paging returned an event younger than the delay: %s", r.raw)
	}
	e.clock.Advance(mgmtapi.CheckpointDelay + time.Second)
	var seen []string
	from := ""
	for range 10 {
		v := url.Values{"take": {"3"}}
		if from != "" {
			v.Set("from", from)
		}
		r := e.mgmt("GET", "logs?"+v.Encode()+"&q=type:nothing-matches", tok, nil) // q is ignored
		if r.status != 200 {
			t.Fatalf("checkpoint: %d %s", r.status, r.raw)
		}
		var page []map[string]any
		if err := json.Unmarshal(r.raw, &page); err != nil {
			t.Fatal(err)
		}
		link := r.header.Get("Link")
		if !strings.Contains(link, `rel="next"`) || !strings.HasPrefix(link, "<"+e.issuer+"api/v2/logs?") {
			t.Fatalf("Link %q", link)
		}
		if len(page) == 0 {
			if !strings.Contains(link, "from="+from) {
				t.Errorf("empty page's Link %q does not repeat from=%s", link, from)
			}
			break
		}
		for _, l := range page {
			seen = append(seen, str(l, "log_id"))
		}
		from = seen[len(seen)-1]
		if !strings.Contains(link, "from="+from) {
			t.Errorf("Link %q does not continue from %s", link, from)
		}
	}
	if len(seen) < 7 {
		t.Fatalf("checkpoint paging saw %d events", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("checkpoint order: %s after %s", seen[i], seen[i-1])
		}
	}

	// Errors: a query error says where; bad parameters; scope.
	bad := e.mgmt("GET", "logs?q="+url.QueryEscape("type:(cls OR"), tok, nil)
	if bad.status != 400 || !strings.Contains(bad.str("message"), "position") {
		t.Errorf("syntax error: %d %s", bad.status, bad.raw)
	}
	if r := e.mgmt("GET", "logs?q="+url.QueryEscape("description:*ab*"), tok, nil); r.status != 400 {
		t.Errorf("short wildcard: %d %s", r.status, r.raw)
	}
	if r := e.mgmt("GET", "logs?q="+url.QueryEscape(strings.Repeat("type:s OR ", 1000)+"type:s"), tok, nil); r.status != 414 && r.status != 400 {
		t.Errorf("long query: %d %s", r.status, r.raw)
	}
	for _, q := range []string{"per_page=101", "page=-1", "sort=nope:1", "sort=date:2", "include_totals=maybe", "take=0", "take=101", "from=abc", "page=20&per_page=50"} {
		if r := e.mgmt("GET", "logs?"+q, tok, nil); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
	wantMgmtError(t, e.mgmt("GET", "logs", e.mgmtToken("read:clients"), nil), 403, "insufficient_scope", "")
	if r := e.mgmt("GET", "logs", "", nil); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
}

// TestManagementWritesAreLogged: sapi for a successful write, fapi for a failed one.
func TestManagementWritesAreLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.logsToken()
	if r := e.mgmt("PATCH", "tenants/settings", tok, map[string]any{"friendly_name": "Logged"}); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.mgmt("PATCH", "clients/nope", tok, map[string]any{"name": "x"}); r.status != 404 {
		t.Fatal(r.status)
	}
	s := e.searchLogs("type:sapi", nil)
	if len(s) != 1 || str(s[0], "client_id") != m2mID || !strings.Contains(str(s[0], "description"), "/api/v2/tenants/settings") {
		t.Errorf("sapi: %v", s)
	}
	f := e.searchLogs("type:fapi", nil)
	if len(f) != 1 || str(f[0], "details.request.path") != "/api/v2/clients/nope" {
		t.Errorf("fapi: %v", f)
	}
}

// TestEnforcementSeenByEveryNode: a settings change through one node's
// Management API refuses unauthenticated starts on another node sharing the
// store within a second, without a restart.
func TestEnforcementSeenByEveryNode(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.sibling()
	start := func(e *env) int {
		return e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code",
			"email": "nodes@example.com"}, nil).status
	}
	if s := start(b); s != 200 {
		t.Fatalf("before: %d", s)
	}
	if r := a.mgmt("PATCH", "tenants/settings", a.logsToken(), map[string]any{
		"flags": map[string]any{"enforce_client_authentication_on_passwordless_start": true}}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if s := start(a); s != 403 {
		t.Errorf("node a right after the change: %d", s)
	}
	b.clock.Advance(1100 * time.Millisecond) // node b's cache lives a second
	if s := start(b); s != 403 {
		t.Errorf("node b a second later: %d", s)
	}
}

// TestMigrationReport: unauthenticated starts make the report say which
// apps would break; once they are fixed and the window passes, it is safe.
func TestMigrationReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.logsToken()
	for i := range 3 {
		r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code",
			"email": fmt.Sprintf("mr%d@example.com", i)}, map[string]string{"Auth0-Client": auth0Client})
		if r.status != 200 {
			t.Fatal(r.status)
		}
	}
	e.startEmail("fixed@example.com") // authenticated: not counted

	var rep struct {
		Days          int    `json:"days"`
		Enforced      bool   `json:"enforced"`
		SafeToEnforce bool   `json:"safe_to_enforce"`
		Verdict       string `json:"verdict"`
		Clients       []struct {
			ClientID              string   `json:"client_id"`
			ClientName            string   `json:"client_name"`
			AppType               string   `json:"app_type"`
			UnauthenticatedStarts int      `json:"unauthenticated_starts"`
			FirstSeen             *string  `json:"first_seen"`
			LastSeen              *string  `json:"last_seen"`
			IPs                   []string `json:"ips"`
			SDKs                  []struct {
				Name, Version string
				Count         int
			} `json:"sdks"`
			WouldBreak bool `json:"would_break"`
		} `json:"clients"`
	}
	get := func(q string) {
		t.Helper()
		r := e.mgmt("GET", "latchkey/migration-report"+q, e.logsToken(), nil)
		if r.status != 200 {
			t.Fatalf("report: %d %s", r.status, r.raw)
		}
		rep.Clients = nil
		if err := json.Unmarshal(r.raw, &rep); err != nil {
			t.Fatal(err)
		}
	}
	get("")
	if rep.Days != 30 || rep.SafeToEnforce || rep.Enforced || !strings.Contains(rep.Verdict, webID) {
		t.Fatalf("report: %+v", rep)
	}
	byID := map[string]int{}
	for i, c := range rep.Clients {
		byID[c.ClientID] = i
	}
	if _, ok := byID[nativeID]; ok {
		t.Errorf("a public app is in the report: %+v", rep.Clients)
	}
	w := rep.Clients[byID[webID]]
	if w.UnauthenticatedStarts != 3 || !w.WouldBreak || w.AppType != "regular_web" || w.FirstSeen == nil || w.LastSeen == nil ||
		len(w.IPs) != 1 || w.IPs[0] != "127.0.0.1" || len(w.SDKs) != 1 || w.SDKs[0].Name != "auth0.js" || w.SDKs[0].Version != "9.23.0" || w.SDKs[0].Count != 3 {
		t.Errorf("web app line: %+v", w)
	}
	if m, ok := byID[m2mID]; !ok || rep.Clients[m].WouldBreak || rep.Clients[m].UnauthenticatedStarts != 0 {
		t.Errorf("m2m line: %+v", rep.Clients)
	}
	for _, q := range []string{"?days=0", "?days=366", "?days=x"} {
		if r := e.mgmt("GET", "latchkey/migration-report"+q, tok, nil); r.status != 400 {
			t.Errorf("%s: %d", q, r.status)
		}
	}
	// A week later the 3-day window is clean.
	e.clock.Advance(7 * 24 * time.Hour)
	e.readLogs = "" // the old token has expired
	get("?days=3")
	if !rep.SafeToEnforce || !strings.HasPrefix(rep.Verdict, "Safe to enforce") {
		t.Errorf("after the window: %+v", rep)
	}
}

// TestLogRetention: events older than the retention are purged.
func TestLogRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.postJSON("/passwordless/start", map[string]any{"client_id": nativeID, "connection": "email", "send": "code", "email": "old@example.com"}, nil)
	if n := e.countLogs("type:cls"); n != 1 {
		t.Fatalf("%d events", n)
	}
	if err := e.srv.Events.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(29 * 24 * time.Hour)
	e.readLogs = ""
	e.srv.Purge(t.Context())
	if n := e.countLogs("type:cls"); n != 1 {
		t.Fatalf("purged before the retention: %d events", n)
	}
	e.clock.Advance(2 * 24 * time.Hour)
	e.readLogs = ""
	e.srv.Purge(t.Context())
	if n := e.countLogs("type:cls"); n != 0 {
		t.Fatalf("%d events kept past the 30-day retention", n)
	}
}

// sibling starts a second node on the same store and issuer, with its own
// clock and its own configuration cache (as another machine would have).
func (e *env) sibling() *env {
	t := e.t
	t.Helper()
	cfg := e.cfg
	cfg.Bootstrap = ""
	b := &env{t: t, cfg: cfg, clock: &clock{t: e.clock.Now()}, issuer: e.issuer}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.StartTLS()
	b.ts, b.srv, b.http = ts, srv, ts.Client()
	ctx, cancel := context.WithCancel(context.Background())
	wait := srv.StartJobs(ctx)
	b.stopWorker = func() { cancel(); wait() }
	t.Cleanup(func() { ts.Close(); b.stopWorker(); srv.Close() })
	return b
}

// TestLogQueriesNeverFail runs hostile queries (the parser's fuzz corpus and
// hand-picked ones) through the API on both backends: each answers 200 or a
// 4xx, never a 5xx, and promptly.
func TestLogQueriesNeverFail(t *testing.T) {
	t.Parallel()
	queries := []string{
		`details.a.b.c.d.e.f.g:x`, `_exists_:details`, `_exists_:auth0_client`, `_exists_:location_info`,
		`log_id:[1 TO 2]`, `isMobile:true`, `isMobile:false`, `date:[2026 TO 2025]`, `date:{2026-11-23T10:00:00 TO *]`,
		`description:*abc*`, `description:"%_\\"`, `user_name:a\*b`, `user_name:ab*cd*ef`, `ip:[a TO z}`,
		`NOT NOT NOT type:s`, `(((((type:s)))))`, `type:s OR NOT type:s`, `*passwordless*`, `"quoted phrase"`,
		`description:'single'`, `client_id:%`, `client_id:_`, `user_name:[* TO *]`, `details.size_exceeded:true`,
		`details.n:12`, `auth0_client.name:auth0.js`, `location_info.city_name:x`, `scope:openid`,
		"type:\x00", `type:é*`, `details.x:1e-99999`, `details.x:123456789012345678901234567890e-30000`,
		`details.x:1e400`, `details.x:0e5`, `details.x:-0.0`, `user_name:"` + strings.Repeat("x", 1500) + `"`,
	}
	dir := "../eventlog/query/testdata/fuzz/FuzzParse"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, lit, _ := strings.Cut(string(b), "string(")
		q, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")"))
		if err != nil {
			t.Fatalf("corpus %s: %v", en.Name(), err)
		}
		queries = append(queries, q)
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code", "email": "q@example.com"},
			map[string]string{"Auth0-Client": auth0Client})
		tok := e.logsToken()
		for _, q := range queries {
			for _, extra := range []string{"", "&include_totals=true&sort=user_name:1"} {
				began := time.Now()
				r := e.mgmt("GET", "logs?q="+url.QueryEscape(q)+extra, tok, nil)
				if r.status >= 500 || (r.status != 200 && r.status != 400 && r.status != 414) {
					t.Errorf("%q: %d %s", q, r.status, r.raw)
				}
				if d := time.Since(began); d > 5*time.Second {
					t.Errorf("%q took %v", q, d)
				}
			}
		}
	})
}

// TestStats: the tenant statistics count what the log holds — logins,
// failures, codes sent, limit refusals, notices by application — in the
// hour and the day they happened, and days later still.
func TestStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const email = "stats@example.com"
	if r := e.otpGrant(webID, webSecret, "email", email, e.startEmail(email), nil); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	e.startEmail(email)
	if r := e.otpGrant(webID, webSecret, "email", email, "000000", nil); r.status != 403 {
		t.Fatalf("a wrong code: %d %s", r.status, r.raw)
	}
	for range 2 { // unauthenticated starts of the confidential web app
		if r := e.postJSON("/passwordless/start", map[string]any{"client_id": webID, "connection": "email", "send": "code",
			"email": "legacy@example.com"}, nil); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.raw)
		}
	}
	type bucket struct {
		Logins   int64 `json:"logins"`
		Failures int64 `json:"failures"`
		Codes    int64 `json:"codes_sent"`
	}
	type count struct {
		ClientID string `json:"client_id"`
		Name     string `json:"client_name"`
		Count    int64  `json:"count"`
	}
	var st struct {
		Hourly  []bucket `json:"hourly"`
		Daily   []bucket `json:"daily"`
		Top     []count  `json:"top_failures"`
		Notices []count  `json:"deprecation_notices"`
	}
	get := func() {
		t.Helper()
		r := e.mgmt("GET", "latchkey/stats", e.mgmtToken("read:logs"), nil) // a token of the test clock's now
		if r.status != 200 || json.Unmarshal(r.raw, &st) != nil || len(st.Hourly) != 24 || len(st.Daily) != 30 {
			t.Fatalf("stats: %d %s", r.status, r.raw)
		}
	}
	get()
	want := bucket{Logins: 1, Failures: 1, Codes: 4}
	if got := st.Hourly[23]; got != want {
		t.Errorf("this hour %+v, want %+v", got, want)
	}
	if got := st.Daily[29]; got != want {
		t.Errorf("today %+v, want %+v", got, want)
	}
	if len(st.Top) != 1 || st.Top[0] != (count{webID, "Web", 1}) {
		t.Errorf("top failures %+v", st.Top)
	}
	if len(st.Notices) != 1 || st.Notices[0] != (count{webID, "Web", 2}) {
		t.Errorf("notices %+v", st.Notices)
	}
	// Three days later the day has moved back, and the last 24 hours are empty.
	e.clock.Advance(72 * time.Hour)
	get()
	if got := st.Daily[26]; got != want {
		t.Errorf("three days later, that day %+v, want %+v", got, want)
	}
	for i, b := range st.Hourly {
		if b != (bucket{}) {
			t.Errorf("hour %d of the last 24: %+v", i, b)
		}
	}
}
