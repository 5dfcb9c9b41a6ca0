package console

import (
	"context"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/delivery"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

func TestUserSearch(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ana@example.com", `email:"ana@example.com"`},
		{"+1 (415) 555-0100", `phone_number:"+14155550100"`},
		{"email|abc123", `user_id:"email|abc123"`},
		{`x"y\z@example.com`, `email:"x\"y\\z@example.com"`},
		{"ana", ""},
	} {
		if got, ok := userSearch(tc.in); got != tc.want || ok != (tc.want != "") {
			t.Errorf("userSearch(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestFormList(t *testing.T) {
	if got := strings.Join(formList("10.0.0.0/8\r\n 192.0.2.1, 2001:db8::/32\n\n"), "|"); got != "10.0.0.0/8|192.0.2.1|2001:db8::/32" {
		t.Errorf("formList: %q", got)
	}
	if got := formList(" \n"); got == nil || len(got) != 0 {
		t.Errorf("formList of nothing: %#v (an empty list, not nil: the API takes [] and refuses null)", got)
	}
}

func TestSampleCode(t *testing.T) {
	for n, want := range map[int]string{4: "1234", 6: "123456", 11: "12345678912"} {
		if got := sampleCode(n); got != want {
			t.Errorf("sampleCode(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTemplatePreview: the preview is delivery.Compose's rendering of the
// form's templates: the connection's own, the built-in message when they
// are empty, and the syntax error when they do not parse.
func TestTemplatePreview(t *testing.T) {
	c := &Console{d: Deps{Issuer: "https://login.example.com/"}}
	clients := []clientRef{{"m2m", "Machines"}, {"web", "Web"}}
	email := connectionView{ID: "con_1", Name: "email", Strategy: "email", EnabledClients: []string{"web"},
		Options: store.ConnectionOptions{TOTP: store.TOTP{Length: 6, TimeStep: 300}}}
	sms := connectionView{ID: "con_2", Name: "sms", Strategy: "sms", EnabledClients: []string{"web", "m2m"},
		Options: store.ConnectionOptions{TOTP: store.TOTP{Length: 8}}}
	for _, tc := range []struct {
		name string
		conn connectionView
		form templateForm
		to   string
		want preview
	}{
		{"built-in email", email, templateForm{Send: "code"}, "ana@example.com",
			preview{Channel: "email", To: "ana@example.com", Subject: "Welcome to Web"}},
		{"custom email", email, templateForm{From: "{{ application.name }} <login@example.com>", Subject: "Code {{ code }}",
			Body: "<p>{{ email }}: {{ code }} via {{ link }}</p>", Send: "link"}, "ana@example.com",
			preview{Channel: "email", To: "ana@example.com", From: "Web <login@example.com>", Subject: "Code 123456",
				Text: "ana@example.com: 123456 via https://login.example.com/passwordless/verify_redirect?client_id=web&connection=email&email=ana%40example.com&verification_code=123456\n"}},
		{"syntax error", email, templateForm{From: "x", Subject: "{% if %}", Body: "y", Send: "code"}, "ana@example.com",
			preview{Channel: "email", To: "ana@example.com", Err: "email subject: "}},
		{"built-in sms, the chosen application", sms, templateForm{Send: "code", ClientID: "m2m"}, "+14155550100",
			preview{Channel: "sms", To: "+14155550100", Text: "Your verification code for Machines is: 12345678"}},
		{"custom sms", sms, templateForm{Template: "@@password@@ for {{ application.name }} ({{ request_language }})", Send: "code", Language: "fr"}, "+14155550100",
			preview{Channel: "sms", To: "+14155550100", Text: "12345678 for Machines (fr)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.form.render(tc.conn, c.notification(tc.conn, tc.form, clients, tc.to))
			if tc.want.Err != "" {
				if !strings.HasPrefix(got.Err, tc.want.Err) {
					t.Fatalf("error: %q, want %q…", got.Err, tc.want.Err)
				}
				return
			}
			if got.Err != "" {
				t.Fatal(got.Err)
			}
			if tc.want.Channel == "email" && tc.form.Body == "" {
				// The built-in message: its subject is the check; its body is delivery's.
				got.HTML, got.Text = "", ""
			}
			got.HTML = ""
			if got != tc.want {
				t.Errorf("preview:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// fakeAPI answers the Management API calls the pages make with canned
// JSON, and refuses every write with 403 (the viewer's fate).
type fakeAPI map[string]string

func (f fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"statusCode":403,"message":"Insufficient scope"}`)
		return
	}
	best := ""
	for prefix := range f {
		if strings.HasPrefix(r.URL.RequestURI(), prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best != "" {
		_, _ = io.WriteString(w, f[best])
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"statusCode":404,"message":"Not Found"}`)
}

var api = fakeAPI{
	"/api/v2/users/email%7C1/logs":                       `[{"log_id":"1","date":"2026-01-02T03:04:05.000Z","type":"s","description":"Successful login","client_name":"Web","ip":"192.0.2.1"}]`,
	"/api/v2/users/email%7C1":                            `{"user_id":"email|1","email":"ana@example.com","email_verified":true,"identities":[{"connection":"email"}],"created_at":"2026-01-01T00:00:00.000Z","logins_count":2,"blocked":false}`,
	"/api/v2/users?":                                     `{"users":[{"user_id":"email|1","email":"ana@example.com","identities":[{"connection":"email"}],"created_at":"2026-01-01T00:00:00.000Z"}],"total":1}`,
	"/api/v2/device-credentials":                         `[{"id":"dcr_1","type":"refresh_token","client_id":"web"}]`,
	"/api/v2/user-blocks/":                               `{"blocked_for":[{"identifier":"ana@example.com","ip":"192.0.2.1","connection":"email"}]}`,
	"/api/v2/user-blocks?":                               `{"blocked_for":[{"identifier":"ana@example.com","ip":"192.0.2.1","connection":"email"}]}`,
	"/api/v2/connections/con_1":                          `{"id":"con_1","name":"sms","strategy":"sms","options":{"totp":{"length":6,"time_step":300},"twilio_token":"[REDACTED]","provider":"twilio"},"enabled_clients":["web"]}`,
	"/api/v2/connections?":                               `[{"id":"con_1","name":"sms","strategy":"sms","options":{"totp":{"length":6}},"enabled_clients":["web"]}]`,
	"/api/v2/clients?":                                   `[{"client_id":"web","name":"Web"}]`,
	"/api/v2/attack-protection/brute-force-protection":   `{"enabled":true,"shields":["block"],"allowlist":[],"mode":"count_per_identifier_and_ip","max_attempts":10}`,
	"/api/v2/attack-protection/suspicious-ip-throttling": `{"enabled":true,"shields":["block"],"allowlist":[],"stage":{"pre-login":{"max_attempts":100,"rate":864000},"pre-user-registration":{"max_attempts":50,"rate":1728000}}}`,
	"/api/v2/tenants/settings":                           `{"latchkey":{"rate_limits":{"token":{"burst":1,"rate":1,"interval_seconds":1}}}}`,
	"/api/v2/anomaly/blocks/ips/192.0.2.1":               ``,
}

type noSender struct{}

func (noSender) SendTest(context.Context, delivery.Notification, string, *store.EmailTemplate, string) error {
	return nil
}

// TestPagesByRole renders the users, connections and attack-protection
// pages for each role: every page renders, and shows exactly the
// actions the role may take (a viewer none); a viewer's forged POST
// comes back with the API's refusal and its status.
func TestPagesByRole(t *testing.T) {
	now := time.Now()
	c := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Issuer: "https://login.example.com/", Mgmt: api,
		Scopes: []string{"read:users", "update:users", "delete:users", "read:logs", "read:device_credentials", "delete:device_credentials",
			"read:connections", "update:connections", "read:clients", "read:attack_protection", "update:attack_protection",
			"read:anomaly_blocks", "delete:anomaly_blocks", "read:tenant_settings", "update:tenant_settings"},
		Now: func() time.Time { return now }, Sender: noSender{}})
	button := regexp.MustCompile(`<button[^>]*id="([^"]+)"`)
	for _, tc := range []struct {
		role string
		want map[string]string // path → the buttons' ids
	}{
		{tenant.RoleViewer, map[string]string{
			"/admin/users":             "search",
			"/admin/users/email%7C1":   "",
			"/admin/connections/con_1": "",
			"/admin/attack-protection?identifier=ana@example.com&ip=192.0.2.1": "lookup-identifier lookup-ip",
		}},
		{tenant.RoleEditor, map[string]string{
			"/admin/users/email%7C1":   "block-user unblock-attempts delete-user",
			"/admin/connections/con_1": "save-connection preview-template save-template send-test",
			"/admin/attack-protection?identifier=ana@example.com&ip=192.0.2.1": "lookup-identifier lookup-ip unblock-identifier unblock-ip save-brute-force save-suspicious-ip",
		}},
		{tenant.RoleOwner, map[string]string{
			"/admin/attack-protection": "lookup-identifier lookup-ip save-brute-force save-suspicious-ip save-rate-limits",
		}},
	} {
		s := &session{Email: "m@example.com", CSRF: "csrf", AuthTime: now, role: tc.role}
		for path, want := range tc.want {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			w := httptest.NewRecorder()
			var h memberHandler
			switch {
			case strings.HasPrefix(path, "/admin/users/"):
				h = c.user
			case strings.HasPrefix(path, "/admin/users"):
				h = c.users
			case strings.HasPrefix(path, "/admin/connections/"):
				h = c.connection
			default:
				h = c.protection
			}
			// The mux sets the path values.
			mux := http.NewServeMux()
			mux.HandleFunc("GET /admin/users/{id}", func(w http.ResponseWriter, r *http.Request) { h(w, r, s) })
			mux.HandleFunc("GET /admin/connections/{id}", func(w http.ResponseWriter, r *http.Request) { h(w, r, s) })
			mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { h(w, r, s) })
			mux.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != http.StatusOK {
				t.Errorf("%s %s: %d %s", tc.role, path, w.Code, body)
				continue
			}
			var ids []string
			for _, m := range button.FindAllStringSubmatch(body, -1) {
				ids = append(ids, m[1])
			}
			// The sign-out button is the layout's, not the page's.
			if got := strings.Join(ids, " "); got != want {
				t.Errorf("%s %s: buttons %q, want %q", tc.role, path, got, want)
			}
		}
	}
	// A viewer's forged block: the API's 403, shown on the user's page.
	s := &session{Email: "v@example.com", CSRF: "csrf", AuthTime: now, role: tenant.RoleViewer}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/users/{id}/block", func(w http.ResponseWriter, r *http.Request) { c.blockUser(w, r, s) })
	r := httptest.NewRequest(http.MethodPost, "/admin/users/email%7C1/block", strings.NewReader("blocked=true"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Your role does not allow this") {
		t.Errorf("forged block: %d %s", w.Code, w.Body)
	}
}

// TestQueryLinks: a search put in a link with q is escaped once.
func TestQueryLinks(t *testing.T) {
	tpl := template.Must(template.New("").Funcs(funcs).Parse(`<a href="/admin/logs?q={{q .}}&amp;page=1">logs</a>`))
	var b strings.Builder
	if err := tpl.Execute(&b, `user_id:"email|1"`); err != nil {
		t.Fatal(err)
	}
	if want := `<a href="/admin/logs?q=user_id%3A%22email%7C1%22&amp;page=1">logs</a>`; b.String() != want {
		t.Errorf("link: %s, want %s", b.String(), want)
	}
}
