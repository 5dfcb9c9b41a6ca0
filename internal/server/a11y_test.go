package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// TestBrowserHostedPageAccessible: axe-core in Chromium finds no serious or
// critical WCAG violation on the hosted page's identifier step, its code
// step and its error state, plain and branded; the error is announced
// (role=alert) and tied to the field it is about, which has the focus.
func TestBrowserHostedPageAccessible(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		branding  map[string]any
		uiLocales string
	}{
		{"plain", nil, ""},
		// A light primary colour and a dark page: the page keeps its text readable.
		{"branded", map[string]any{"colors": map[string]any{"primary": "#ffd54f", "page_background": "#101820"}}, "de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			app := newAppServer(t, e)
			if tc.branding != nil {
				cdn := imageServer(t)
				tc.branding["logo_url"] = cdn.URL + "/logo.png"
				if r := e.mgmt("PATCH", "branding", e.mgmtToken("update:branding"), tc.branding); r.status != 200 {
					t.Fatalf("PATCH branding: %d %s", r.status, r.raw)
				}
			}
			q := url.Values{"state": {"app-state"}, "scope": {"openid email"}}
			if tc.uiLocales != "" {
				q.Set("ui_locales", tc.uiLocales)
			}
			authz := e.issuer + strings.TrimPrefix(authorizeURL(browserWeb, app.origin+"/callback", "code", q), "/")
			const email = "a11y@example.com"
			axe := browsertest.InjectAxe(t)
			focused := browsertest.Eval(`(() => { const a = document.activeElement; return a.getAttribute("value") || a.tagName.toLowerCase(); })()`)
			check := browsertest.AxeViolations("serious", "critical")
			res := browsertest.Run(t, browsertest.Program{Steps: []browsertest.Step{
				browsertest.Goto(authz),
				axe,   // 1
				check, // 2: the identifier step
				browsertest.Eval(`[document.activeElement.id, document.querySelector("label[for=username]") !== null]`), // 3
				browsertest.Fill("#username", email),
				browsertest.Click("button[value=start]"),
				browsertest.Text("#code + button"),   // 6: waits for the code step
				axe,                                  // 7
				check,                                // 8: the code step
				browsertest.Fill("#code", "0000000"), // seven digits: never the six-digit code
				browsertest.Click("button[value=verify]"),
				browsertest.Text("#problem"), // 11: waits for the error
				axe,                          // 12
				check,                        // 13: the error state
				browsertest.Eval(`(() => { const c = document.getElementById("code");
  return [document.activeElement.id, c.getAttribute("aria-invalid"), c.getAttribute("aria-describedby"),
    document.getElementById(c.getAttribute("aria-describedby")).getAttribute("role"), document.documentElement.lang]; })()`), // 14
				// Focus order: the field, the primary button, the resend button, the link.
				browsertest.Press("#code", "Tab"), focused, // 16
				browsertest.Press(":focus", "Tab"), focused, // 18
				browsertest.Press(":focus", "Tab"), focused, // 20
			}})
			for _, step := range []struct {
				name string
				i    int
			}{{"identifier step", 2}, {"code step", 8}, {"error state", 13}} {
				var vs []browsertest.Violation
				if err := res.Decode(step.i, &vs); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				for _, v := range vs {
					t.Errorf("%s: %s (%s): %s at %v", step.name, v.ID, v.Impact, v.Help, v.Nodes)
				}
			}
			if got := []string{res.String(16), res.String(18), res.String(20)}; strings.Join(got, ",") != "verify,start,a" {
				t.Errorf("tab order from the code field: %v, want verify, start, a", got)
			}
			if got := res.String(3); got != `["username",true]` {
				t.Errorf("identifier step: focus and label %s", got)
			}
			lang := tc.uiLocales
			if lang == "" {
				lang = "en"
			}
			var state []string
			if err := res.Decode(14, &state); err != nil {
				t.Fatal(err)
			}
			if want := []string{"code", "true", "problem", "alert", lang}; strings.Join(state, ",") != strings.Join(want, ",") {
				t.Errorf("error state: focus, aria-invalid, aria-describedby, its role, lang = %v, want %v", state, want)
			}
		})
	}
}
