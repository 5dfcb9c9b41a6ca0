package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/console"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

const (
	consoleEditorEmail = "editor@example.com"
	consoleViewerEmail = "viewer@example.com"
)

// addMember makes email a console member with role.
func (e *env) addMember(email, role string) {
	e.t.Helper()
	e.updateSettings(func(s *store.TenantSettings) {
		s.Latchkey.Members = append(s.Latchkey.Members, store.Member{Email: email, Role: role})
	})
}

// userIDOf is the id of the user with this email address.
func (e *env) userIDOf(email string) string {
	e.t.Helper()
	r := e.mgmt("GET", "users-by-email?email="+url.QueryEscape(email), e.mgmtToken(""), nil)
	var users []map[string]any
	if err := json.Unmarshal(r.raw, &users); err != nil || len(users) != 1 {
		e.t.Fatalf("user %s: %d %s", email, r.status, r.raw)
	}
	return users[0]["user_id"].(string)
}

// connectionID is the id of the connection with this name.
func (e *env) connectionID(name string) string {
	e.t.Helper()
	c, err := e.srv.Store.GetConnectionByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// consoleUserPath is a user's console page.
func consoleUserPath(id string) string { return "/admin/users/" + url.PathEscape(id) }

// TestBrowserConsoleUsersBlock: an owner finds a user by email in the
// console and blocks them: their outstanding code and refresh token are
// refused by the real API; an editor unblocks them: they log in again.
// Both changes are sapi events naming the member.
func TestBrowserConsoleUsersBlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	e.addMember(consoleEditorEmail, tenant.RoleEditor)
	const target = "blockme@example.com"
	first := e.login(target)
	id := e.userIDOf(target)
	code := e.startEmail(target)

	steps := append(consoleSignIn(e, "/admin/users", consoleOwnerEmail),
		browsertest.Fill("#q", target),
		browsertest.Click("#search"),
		browsertest.Click("#users a"),
		browsertest.WaitForURL("/admin/users/"),
		browsertest.Text("#status"), // 10
		browsertest.Click("#block-user"),
		browsertest.WaitForURL("done=blocked"),
		browsertest.Text("#status"), // 13
		browsertest.Text(".flash"),  // 14
	)
	res := browsertest.Run(t, browsertest.Program{Steps: steps})
	if got := res.String(10); got != "Active" {
		t.Errorf("status before: %q", got)
	}
	if got := res.String(13); !strings.HasPrefix(got, "Blocked") {
		t.Errorf("status after the block: %q", got)
	}
	if got := res.String(14); got != "The user is blocked." {
		t.Errorf("flash: %q", got)
	}
	wantError(t, e.otpGrant(webID, webSecret, "email", target, code, nil), 401, "unauthorized", "user is blocked")
	wantError(t, e.refresh(first.str("refresh_token")), 401, "unauthorized", "user is blocked")
	if n := e.countLogs(`type:sapi AND user_name:"` + consoleOwnerEmail + `"`); n != 1 {
		t.Errorf("sapi events naming the owner: %d", n)
	}

	path := consoleUserPath(id)
	res = browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, path, consoleEditorEmail),
		browsertest.Click("#unblock-user"), // 6
		browsertest.WaitForURL("done=unblocked"),
		browsertest.Text("#status"), // 8
		browsertest.Eval(`document.querySelectorAll("#block-user, #unblock-attempts, #delete-user").length`), // 9
	)})
	if got := res.String(8); got != "Active" {
		t.Errorf("status after the unblock: %q", got)
	}
	if got := res.String(9); got != "2" { // an editor may block and delete; no brute-force blocks to remove
		t.Errorf("editor's user actions: %s", got)
	}
	e.login(target) // fatal when refused
	if n := e.countLogs(`type:sapi AND user_name:"` + consoleEditorEmail + `" AND description:"PATCH /api/v2/users/{id}"`); n != 1 {
		t.Errorf("sapi events naming the editor: %d", n)
	}
}

// TestBrowserConsoleUsersDelete: deleting a user needs a sign-in from the
// last ten minutes; an older one is asked for a new code, comes back to
// the user's page and deletes.
func TestBrowserConsoleUsersDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	const target = "deleteme@example.com"
	e.login(target)
	id := e.userIDOf(target)
	// The browser "waits" eleven minutes by fetching this.
	later := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.clock.Advance(console.FreshFor + time.Minute)
		_, _ = w.Write([]byte(`"later"`))
	}))
	t.Cleanup(later.Close)
	path := consoleUserPath(id)
	yes := browsertest.Eval(`window.confirm = () => true`) // the data-confirm question, answered
	res := browsertest.Run(t, browsertest.Program{Timeout: time.Minute, Steps: append(consoleSignIn(e, path, consoleOwnerEmail),
		browsertest.Fetch(later.URL), yes,
		browsertest.Click("#delete-user"),
		browsertest.Text("h1"), // 9
		browsertest.Click("#reauth"),
		browsertest.Fill("#username", consoleOwnerEmail),
		browsertest.Click("button[value=start]"),
		browsertest.FetchFill("#code", e.outbox(consoleOwnerEmail), "1.code"), // waits for the second code…
		browsertest.FetchFill("#code", e.outbox(consoleOwnerEmail), "0.code"), // …and enters it
		browsertest.Click("button[value=verify]"),
		browsertest.WaitForURL(strings.TrimPrefix(path, "/")),
		yes,
		browsertest.Click("#delete-user"),
		browsertest.WaitForURL("done=deleted"),
		browsertest.Text(".flash"), // 20
	)})
	if got := res.String(9); got != "Confirm it is you" {
		t.Errorf("a stale sign-in deleting: %q", got)
	}
	if got := res.String(20); got != "Deleted." {
		t.Errorf("flash: %q", got)
	}
	if r := e.mgmt("GET", "users/"+url.PathEscape(id), e.mgmtToken(""), nil); r.status != 404 {
		t.Errorf("user after the delete: %d %s", r.status, r.raw)
	}
}

// TestBrowserConsoleConnectionsTemplate: an owner edits the email
// template; the server-rendered preview follows (the Preview button
// without JavaScript, and the live preview as they type); they save it and
// send themselves a test message, which reaches the dev capture rendered
// as the next login's message is.
func TestBrowserConsoleConnectionsTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	id := e.connectionID("email")
	path := "/admin/connections/" + id
	steps := append(consoleSignIn(e, path, consoleOwnerEmail),
		browsertest.Text("#preview-subject"), // 6: the built-in message
		browsertest.Fill("#tpl-from", "Example <login@example.com>"),
		browsertest.Fill("#tpl-subject", "Your code for {{ application.name }}"),
		browsertest.Fill("#tpl-body", "<p>Hello {{ email }}, your code is {{ code }}. ONE</p>"),
		browsertest.Eval(`document.getElementById("tpl-client").value = "`+webID+`"`),
		browsertest.Click("#preview-template"),
		browsertest.WaitForURL(strings.TrimPrefix(path, "/")+"/template"),
		browsertest.Text("#preview-subject"), // 13
		browsertest.Text("#preview-text"),    // 14
		browsertest.Text("#preview-from"),    // 15
		// The live preview (console.js): the server renders as one types.
		browsertest.Fill("#tpl-body", "<p>Hello {{ email }}, your code is {{ code | prepend: 'c-' }}. TWO</p>"),
		pollFor(`(document.getElementById("preview-text") || {}).textContent.includes("TWO")`),
		browsertest.Text("#preview-text"), // 18
		// A syntax error is shown where the preview was.
		browsertest.Fill("#tpl-subject", "Broken {{ code "),
		pollFor(`document.getElementById("preview-error")`),
		browsertest.Text("#preview-error"), // 21
		browsertest.Fill("#tpl-subject", "Your code for {{ application.name }}"),
		browsertest.Click("#save-template"),
		browsertest.WaitForURL("done=saved"),
		browsertest.Text("#preview-subject"), // 25: the saved template
		browsertest.Click("#send-test"),
		browsertest.WaitForURL("done=sent"),
		browsertest.Text(".flash"), // 28
	)
	res := browsertest.Run(t, browsertest.Program{Steps: steps})
	if got := res.String(6); !strings.HasPrefix(got, "Welcome to ") {
		t.Errorf("built-in subject: %q", got)
	}
	if got := res.String(13); got != "Your code for Web" {
		t.Errorf("previewed subject: %q", got)
	}
	if got := res.String(14); !strings.Contains(got, "Hello "+consoleOwnerEmail+", your code is 123456. ONE") {
		t.Errorf("previewed text: %q", got)
	}
	if got := res.String(15); got != "Example <login@example.com>" {
		t.Errorf("previewed from: %q", got)
	}
	if got := res.String(18); !strings.Contains(got, "your code is c-123456. TWO") {
		t.Errorf("live preview: %q", got)
	}
	if got := res.String(21); !strings.Contains(got, "email subject") {
		t.Errorf("syntax error: %q", got)
	}
	if got := res.String(25); !strings.HasPrefix(got, "Your code for ") {
		t.Errorf("saved subject: %q", got)
	}
	if got := res.String(28); got != "The test message is on its way." {
		t.Errorf("flash: %q", got)
	}
	// The test message, in the dev capture.
	m := e.lastMessage(consoleOwnerEmail)
	if !strings.HasPrefix(m.Subject, "Your code for ") || !strings.Contains(m.HTML, "c-123456. TWO") || !strings.Contains(m.Text, "TWO") {
		t.Errorf("test message: %+v", m)
	}
	// The saved template is what the next login gets.
	code := e.startEmail("next@example.com")
	if m := e.lastMessage("next@example.com"); m.Subject != "Your code for Web" || !strings.Contains(m.HTML, "c-"+code+". TWO") {
		t.Errorf("login message after the save: %+v", m)
	}
	if n := e.countLogs(`type:sapi AND user_name:"` + consoleOwnerEmail + `" AND description:"PATCH /api/v2/connections/{id}"`); n != 1 {
		t.Errorf("sapi events of the save: %d", n)
	}
}

// TestBrowserConsoleConnectionsCredentials: provider credentials are
// write-only: the page never shows them, a new value is stored, an empty
// field keeps the stored one. A test SMS goes to the number given.
func TestBrowserConsoleConnectionsCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	id := e.connectionID("sms")
	path := "/admin/connections/" + id
	const sid, token = "AC0123456789abcdef0123456789abcdef", "tok-0123456789abcdef0123456789abcdef"
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, path, consoleOwnerEmail),
		browsertest.Fill("#twilio_sid", sid),
		browsertest.Fill("#twilio_token", token),
		browsertest.Fill("#sms_from", "+14155550000"),
		browsertest.Click("#save-connection"),
		browsertest.WaitForURL("done=saved"), // 10
		browsertest.Eval(`[document.getElementById("twilio_token").value, document.getElementById("twilio_token-hint").textContent,
  document.documentElement.innerHTML.includes("`+token+`")]`), // 11
		browsertest.Fill("#totp_length", "7"),
		browsertest.Click("#save-connection"),
		browsertest.WaitForURL("done=saved"),
		// A test SMS of an unsaved template, through the stored provider.
		browsertest.Fill("#tpl-template", "Code @@password@@ for {{ application.name }}"),
		browsertest.Fill("#tpl-phone", "+14155550123"),
		browsertest.Click("#send-test"),
		browsertest.WaitForURL("done=sent"),
	)})
	if got := res.String(11); got != `["","A token is stored; it is never shown. Leave empty to keep it.",false]` {
		t.Errorf("token field after the save: %s", got)
	}
	conn, err := e.srv.Store.GetConnectionByName(context.Background(), "sms")
	if err != nil {
		t.Fatal(err)
	}
	if o := conn.Options; o.TwilioSID != sid || o.TwilioToken != token || o.From != "+14155550000" || o.TOTP.Length != 7 {
		t.Errorf("stored options: %+v", o)
	}
	if r := e.mgmt("GET", "connections/"+id, e.mgmtToken(""), nil); str(r.body, "options.twilio_token") != tenant.Redacted {
		t.Errorf("API shows the token: %s", r.raw)
	}
	if m := e.lastMessage("+14155550123"); m.Channel != "sms" || !strings.HasPrefix(m.Text, "Code 1234567 for ") {
		t.Errorf("test SMS: %+v", m)
	}
	if conn, _ := e.srv.Store.GetConnectionByName(context.Background(), "sms"); conn.Options.Template != "" {
		t.Errorf("the test saved the template: %q", conn.Options.Template)
	}
}

// TestBrowserConsoleProtectionUnblock: an identifier blocked by
// brute-force protection is found on the attack-protection page and
// unblocked there: the code it could not use now works. The brute-force
// and suspicious-IP settings and a rate limit are changed from the page too.
func TestBrowserConsoleProtectionUnblock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	e.updateSettings(func(s *store.TenantSettings) {
		bf := store.DefaultBruteForce()
		bf.MaxAttempts = 2
		s.AttackProtection.BruteForce = &bf
	})
	const target = "bf@example.com"
	for range 2 {
		e.startEmail(target)
		if r := e.otpGrant(webID, webSecret, "email", target, "000000x", nil); r.status != 403 {
			t.Fatalf("wrong code: %d %s", r.status, r.raw)
		}
	}
	code := e.startEmail(target)
	wantError(t, e.otpGrant(webID, webSecret, "email", target, code, nil), 429, "too_many_attempts", "")

	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, "/admin/attack-protection", consoleOwnerEmail),
		browsertest.Fill("#identifier", target),
		browsertest.Click("#lookup-identifier"),
		browsertest.Text("#identifier-blocks tbody"), // 8
		browsertest.Click("#unblock-identifier"),
		browsertest.WaitForURL("done=unlocked"),
		browsertest.Text("#identifier-clear"), // 11
		browsertest.Text(".flash"),            // 12
		browsertest.Fill("#bf-max", "7"),
		browsertest.Click("#save-brute-force"),
		browsertest.WaitForURL("done=saved"),
		browsertest.Eval(`document.getElementById("bf-max").value`), // 16
		browsertest.Fill("#ip", "198.51.100.9"),
		browsertest.Click("#lookup-ip"),
		browsertest.Text("#ip-clear"), // 19
		browsertest.Fill("#sit-login-max", "200"),
		browsertest.Click("#save-suspicious-ip"),
		browsertest.WaitForURL("done=saved"),
		browsertest.Goto(e.issuer+"admin/attack-protection?ip=198.51.100.9"), // a URL without done=saved
		browsertest.Fill("#passwordless_start_burst", "77"),
		browsertest.Click("#save-rate-limits"),
		browsertest.WaitForURL("done=saved"),
		browsertest.Eval(`document.getElementById("passwordless_start_burst").value`), // 27
	)})
	if got := res.String(8); !strings.Contains(got, target) || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("blocks: %q", got)
	}
	if got := res.String(11); !strings.HasPrefix(got, "Not blocked") {
		t.Errorf("after the unblock: %q", got)
	}
	if got := res.String(12); got != "The brute-force blocks were removed." {
		t.Errorf("flash: %q", got)
	}
	if got := res.String(16); got != "7" {
		t.Errorf("max attempts after the save: %q", got)
	}
	if got := res.String(19); got != "Not blocked." {
		t.Errorf("IP lookup: %q", got)
	}
	if r := e.otpGrant(webID, webSecret, "email", target, code, nil); r.status != 200 {
		t.Fatalf("after the unblock: %d %s", r.status, r.raw)
	}
	if r := e.mgmt("GET", "attack-protection/brute-force-protection", e.mgmtToken(""), nil); r.body["max_attempts"] != 7.0 {
		t.Errorf("brute force after the save: %s", r.raw)
	}
	var sit store.SuspiciousIPThrottling
	if r := e.mgmt("GET", "attack-protection/suspicious-ip-throttling", e.mgmtToken(""), nil); json.Unmarshal(r.raw, &sit) != nil ||
		sit.Stage.PreLogin.MaxAttempts != 200 || sit.Stage.PreUserRegistration.MaxAttempts != 50 {
		t.Errorf("suspicious IP throttling after the save: %s", r.raw)
	}
	// The limit changed is set; the others are as they were.
	r := e.mgmt("GET", "tenants/settings", e.mgmtToken(""), nil)
	var st struct {
		Latchkey struct {
			RateLimits store.RateLimits `json:"rate_limits"`
		} `json:"latchkey"`
	}
	if err := json.Unmarshal(r.raw, &st); err != nil {
		t.Fatal(err)
	}
	if rl := st.Latchkey.RateLimits; rl.PasswordlessStart == nil || rl.PasswordlessStart.Burst != 77 || rl.Token == nil || rl.Token.Burst != 100000 || rl.Global != nil {
		t.Errorf("rate limits after the save: %s", r.raw)
	}
	if got := res.String(27); got != "77" {
		t.Errorf("the start limit's row: %q", got)
	}
}

// TestBrowserConsoleUsersConnectionsProtectionViewer: a viewer sees the
// users, connection and attack-protection pages without a single action,
// and every change forged with their own CSRF token is refused (403; by
// the Management API, with a fapi event naming them) and changes nothing.
func TestBrowserConsoleUsersConnectionsProtectionViewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	e.addMember(consoleViewerEmail, tenant.RoleViewer)
	const target = "kept@example.com"
	e.login(target)
	id := e.userIDOf(target)
	conn := e.connectionID("email")
	actions := `[document.querySelector("h1").textContent,
  document.querySelectorAll("main form[method=post] button, main form[method=post] input[type=submit]").length]`
	forge := func(path string, form map[string]string) browsertest.Step {
		body, _ := json.Marshal(form)
		return browsertest.Eval(`(async () => {
  const body = new URLSearchParams(` + string(body) + `);
  body.set("csrf", document.querySelector("header input[name=csrf]").value);
  const r = await fetch(` + jsString(path) + `, {method: "POST", body});
  const text = await r.text();
  return [r.status, text.includes("Your role does not allow this")];
})()`)
	}
	rateLimitsForm := map[string]string{}
	for _, k := range []string{"passwordless_start", "token", "co_authenticate", "userinfo", "per_recipient", "global"} {
		rateLimitsForm[k+"_burst"], rateLimitsForm[k+"_rate"], rateLimitsForm[k+"_interval"] = "1", "1", "1"
	}
	userPath := consoleUserPath(id)
	res := browsertest.Run(t, browsertest.Program{Steps: append(consoleSignIn(e, userPath, consoleViewerEmail),
		browsertest.Eval(actions), // 6
		browsertest.Goto(e.issuer+"admin/connections/"+conn),
		browsertest.Eval(actions), // 8
		browsertest.Goto(e.issuer+"admin/attack-protection?identifier="+target+"&ip=127.0.0.1"),
		browsertest.Eval(actions),                                      // 10
		forge(userPath+"/block", map[string]string{"blocked": "true"}), // 11
		forge(userPath+"/delete", nil),                                 // 12
		forge(userPath+"/unblock-attempts", nil),                       // 13
		forge("/admin/connections/"+conn+"/template", map[string]string{"action": "save", "body": "x"}),                       // 14
		forge("/admin/connections/"+conn+"/template", map[string]string{"action": "test"}),                                    // 15
		forge("/admin/connections/"+conn, map[string]string{"disable_signup": "on"}),                                          // 16
		forge("/admin/attack-protection/brute-force", map[string]string{"max_attempts": "5", "mode": "count_per_identifier"}), // 17
		forge("/admin/attack-protection/rate-limits", rateLimitsForm),                                                         // 18
		forge("/admin/attack-protection/unblock-identifier", map[string]string{"identifier": target}),                         // 19
		forge("/admin/attack-protection/unblock-ip", map[string]string{"ip": "127.0.0.1"}),                                    // 20
	)})
	for i, want := range map[int]string{6: `["User ` + target + `",0]`, 8: `["Connection email",0]`, 10: `["Attack protection and rate limits",0]`} {
		if got := res.String(i); got != want {
			t.Errorf("a viewer's page: %s, want %s (no action buttons)", got, want)
		}
	}
	for i := 11; i <= 20; i++ {
		if got := res.String(i); got != "[403,true]" {
			t.Errorf("forged POST %d: %s, want 403 with the refusal", i, got)
		}
	}
	// Nothing changed.
	r := e.mgmt("GET", "users/"+url.PathEscape(id), e.mgmtToken(""), nil)
	if r.status != 200 || r.body["blocked"] != false {
		t.Errorf("user after the forged POSTs: %d %s", r.status, r.raw)
	}
	c, err := e.srv.Store.GetConnectionByName(context.Background(), "email")
	if err != nil || c.Options.Email != nil || c.Options.DisableSignup {
		t.Errorf("connection after the forged POSTs: %+v %v", c.Options, err)
	}
	if msgs := e.messages(consoleViewerEmail); len(msgs) != 1 { // the sign-in code only
		t.Errorf("messages to the viewer: %d", len(msgs))
	}
	// Each refusal of the API is a failed Management API call naming the
	// viewer (the test message is the console's own refusal: no API call).
	if n := e.countLogs(`type:fapi AND user_name:"` + consoleViewerEmail + `"`); n != 9 {
		t.Errorf("fapi events naming the viewer: %d, want 9", n)
	}
}

// pollFor waits until the JavaScript expression js is truthy (10 s at
// most). browsertest.WaitForFunction cannot run on the console's pages:
// it evaluates a string in the page, which their CSP (no unsafe-eval)
// forbids; an evaluated promise is not.
func pollFor(js string) browsertest.Step {
	return browsertest.Eval(`new Promise((resolve, reject) => {
  const end = Date.now() + 10000;
  (function poll() {
    const v = (() => ` + js + `)();
    if (v) { resolve(true); } else if (Date.now() > end) { reject(new Error("timed out waiting for: " + ` + jsString(js) + `)); } else { setTimeout(poll, 50); }
  })();
})`)
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserConsoleUsersConnectionsProtectionAccessible: axe-core finds
// no serious or critical violation on the users, user, connections,
// connection (email and sms) and attack-protection pages, nor on their
// empty and lookup states.
func TestBrowserConsoleUsersConnectionsProtectionAccessible(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsoleOwner(consoleOwnerEmail))
	e.login("someone@example.com")
	id := e.userIDOf("someone@example.com")
	pages := []string{
		"admin/users",
		"admin/users?q=" + url.QueryEscape("nobody@example.com"),
		"admin/users?q=nonsense",
		strings.TrimPrefix(consoleUserPath(id), "/"),
		"admin/connections",
		"admin/connections/" + e.connectionID("email"),
		"admin/connections/" + e.connectionID("sms"),
		"admin/attack-protection?identifier=someone%40example.com&ip=127.0.0.1",
	}
	axe := browsertest.InjectAxe(t)
	steps := consoleSignIn(e, "/admin/users", consoleOwnerEmail)
	first := len(steps)
	for _, p := range pages {
		steps = append(steps, browsertest.Goto(e.issuer+p), axe, browsertest.AxeViolations("serious", "critical"))
	}
	res := browsertest.Run(t, browsertest.Program{Steps: steps, Timeout: time.Minute})
	for i, p := range pages {
		var vs []browsertest.Violation
		if err := res.Decode(first+3*i+2, &vs); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, v := range vs {
			t.Errorf("%s: %s (%s): %s at %v", p, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}
