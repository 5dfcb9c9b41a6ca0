package server_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

// TestHostedPageLanguage: the hosted page speaks the authorization
// request's ui_locales (kept with the login transaction), else the
// browser's Accept-Language, on every step and in its errors.
func TestHostedPageLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setConnection("email", func(c *store.Connection) {
		c.Options.Email = &store.EmailTemplate{Syntax: "liquid", From: "codes@acme.test", Subject: "Your code",
			Body: `<p>Code: <b>{{ code }}</b> ({{ request_language | default: "none" }})</p>`}
	})
	for _, tc := range []struct {
		name, uiLocales, accept, lang string
		label, sent, wrong            string
		mailLang                      string // the message template's request_language
	}{
		{"english by default", "", "", "en", "Email address", "We sent a code to", "Wrong email or verification code.", "none"},
		{"ui_locales", "de", "en-US,en;q=0.9", "de", "E-Mail-Adresse", "Wir haben einen Code an", "Falsche E-Mail-Adresse oder falscher Bestätigungscode.", "de"},
		{"accept-language", "", "fr-CA,fr;q=0.9,en;q=0.5", "fr", "Adresse e-mail", "Nous avons envoyé un code à", "Adresse e-mail ou code de vérification incorrect.", "fr-CA"},
		{"ui_locales over accept-language", "ja", "es", "ja", "メールアドレス", "にコードを送信しました", "メールアドレスまたは確認コードが正しくありません。", "ja"},
		{"first supported of ui_locales", "nl pt-BR es", "de", "pt", "Endereço de e-mail", "Enviamos um código para", "E-mail ou código de verificação incorreto.", "nl"},
		{"accept-language weights", "", "it, es;q=0.8, de;q=0.7", "es", "Correo electrónico", "Hemos enviado un código a", "Correo electrónico o código de verificación incorrectos.", "it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := e.browser()
			hdr := map[string]string{}
			if tc.accept != "" {
				hdr["Accept-Language"] = tc.accept
			}
			q := url.Values{"state": {"s"}}
			if tc.uiLocales != "" {
				q.Set("ui_locales", tc.uiLocales)
			}
			toLogin := b.do("GET", authorizeURL(webID, webCallback, "code", q), nil, hdr)
			if toLogin.status != http.StatusFound || toLogin.loc.Path != "/login" {
				t.Fatalf("authorize: %d %v", toLogin.status, toLogin.loc)
			}
			has := func(step string, p page, want ...string) {
				t.Helper()
				for _, w := range want {
					if !strings.Contains(p.body, w) {
						t.Errorf("%s page lacks %q:\n%s", step, w, clipBody(p.body))
					}
				}
			}
			lp := b.do("GET", toLogin.loc.RequestURI(), nil, hdr)
			has("identifier", lp, `<html lang="`+tc.lang+`">`, html.EscapeString(tc.label))
			f := lp.hidden()
			email := strings.ReplaceAll(tc.name, " ", ".") + "@example.com"
			f.Set("username", email)
			f.Set("action", "start")
			cp := b.do("POST", "/login", f, hdr)
			has("code", cp, `<html lang="`+tc.lang+`">`, html.EscapeString(tc.sent))
			if m := e.lastMessage(email); !strings.Contains(m.HTML, "("+tc.mailLang+")") {
				t.Errorf("message request_language: %s, want %s", m.HTML, tc.mailLang)
			}
			g := cp.hidden()
			g.Set("action", "verify")
			g.Set("code", "000000x")
			wrong := b.do("POST", "/login", g, hdr)
			has("wrong code", wrong, `<html lang="`+tc.lang+`">`, html.EscapeString(tc.wrong), `aria-invalid="true"`, `aria-describedby="problem"`)
		})
	}
}
