package liquid

import (
	"os"
	"strings"
	"testing"
)

// defaultEmail is a passwordless email body modelled on Auth0's default
// (written for these tests, not copied): it branches on send and operation
// and uses application.name, code, link and request_language.
func defaultEmail(tb testing.TB) *Template {
	tb.Helper()
	src, err := os.ReadFile("testdata/passwordless_email.liquid")
	if err != nil {
		tb.Fatal(err)
	}
	tpl, err := Parse(string(src))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return tpl
}

func emailVars(send, operation, lang string) map[string]any {
	return map[string]any{
		"application":      map[string]any{"name": "Acme & Co"},
		"code":             "042137",
		"link":             "https://login.example.com/passwordless/verify_redirect?client_id=abc&connection=email&verification_code=042137",
		"request_language": lang,
		"send":             send,
		"operation":        operation,
	}
}

func TestDefaultEmail(t *testing.T) {
	tpl := defaultEmail(t)
	const escapedLink = `href="https://login.example.com/passwordless/verify_redirect?client_id=abc&amp;connection=email&amp;verification_code=042137"`
	tests := []struct {
		send, operation, lang string
		want, notWant         []string
	}{
		{"link", "", "en",
			[]string{`<html lang="en">`, "<title>Sign in to Acme &amp; Co</title>", "<h1>Sign in to Acme &amp; Co</h1>", escapedLink, ">Sign in</a>",
				"enter this code instead: <strong>042137</strong>", "expires in three minutes"},
			[]string{"Your one-time code", "Confirm", "Vous"}},
		{"link_ios", "", "fr-FR",
			[]string{`<html lang="fr-FR">`, escapedLink, "<strong>042137</strong>", "(Vous pouvez ignorer ce message.)"},
			[]string{"Your one-time code", "Sie können"}},
		{"link_android", "", "de",
			[]string{escapedLink, "(Sie können diese Nachricht ignorieren.)"},
			[]string{"Your one-time code"}},
		{"code", "", "en",
			[]string{"<h1>Sign in to Acme &amp; Co</h1>", "Your one-time code:", "<strong>042137</strong>", "expires in three minutes"},
			[]string{"href=", "link works once", "Vous"}},
		{"link", "change_email", "",
			[]string{`<html lang="en">`, "<title>Confirm your new address</title>", "<h1>Confirm your new email address</h1>",
				"use this address with Acme &amp; Co.", escapedLink, ">Confirm my address</a>"},
			[]string{"Sign in", "Your one-time code"}},
		{"code", "change_email", "en",
			[]string{"<h1>Confirm your new email address</h1>", "Your one-time code:", "<strong>042137</strong>"},
			[]string{"Sign in", "href="}},
		{"", "", "en", // neither: no code and no link
			[]string{"<h1>Sign in to Acme &amp; Co</h1>", "you can ignore it."},
			[]string{"042137", "href="}},
	}
	for _, tt := range tests {
		t.Run(tt.send+"/"+tt.operation+"/"+tt.lang, func(t *testing.T) {
			got, err := tpl.Render(emailVars(tt.send, tt.operation, tt.lang))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestDefaultEmailExact pins the whole output of one case, so that
// whitespace control is checked too.
func TestDefaultEmailExact(t *testing.T) {
	got, err := defaultEmail(t).Render(emailVars("code", "", "en"))
	if err != nil {
		t.Fatal(err)
	}
	const want = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sign in to Acme &amp; Co</title>
</head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto;">
  <h1>Sign in to Acme &amp; Co</h1>
  <p>Your one-time code:</p>
  <p style="font-size: 2em; letter-spacing: 0.2em;"><strong>042137</strong></p>
  <p>Enter it where you started. It expires in three minutes.</p>
  <p style="color: #666;">If you did not ask for this email, you can ignore it.</p>
</body>
</html>
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func BenchmarkRenderDefaultEmail(b *testing.B) {
	tpl := defaultEmail(b)
	vars := emailVars("link", "", "fr-FR")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDefaultEmail(b *testing.B) {
	src, err := os.ReadFile("testdata/passwordless_email.liquid")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(string(src)); err != nil {
			b.Fatal(err)
		}
	}
}
