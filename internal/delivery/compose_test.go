package delivery

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/store"
)

func TestCompose(t *testing.T) {
	n := Notification{Channel: "email", To: "a@example.com", Code: "123456", Send: "link", Operation: "login",
		Link: "https://login.example.com/passwordless/verify_redirect?a=1&b=2", AppName: "Acme", Language: "fr"}
	// Built-in.
	e, s, err := Compose(n, store.Connection{Name: "email"}, "Login <login@example.com>")
	if err != nil || s != nil || e.From != "Login <login@example.com>" || !strings.Contains(e.Text, "123456") ||
		!strings.Contains(e.HTML, "123456") || e.Subject == "" {
		t.Fatalf("built-in: %+v %v", e, err)
	}
	// The connection's templates; Auth0's root@auth0.com sender means ours.
	conn := store.Connection{Name: "email", Options: store.ConnectionOptions{Email: &store.EmailTemplate{
		From: "{{ application.name }} <root@auth0.com>", Subject: "Code  for\n{{ application.name }}",
		Body: `<p>{% if send == 'link' %}<a href="{{ link }}">Log in</a>{% endif %} {{ code }} {{ request_language }}</p>`}}}
	e, _, err = Compose(n, conn, "Login <login@example.com>")
	if err != nil || e.From != "Login <login@example.com>" || e.Subject != "Code for Acme" {
		t.Fatalf("templated: %+v %v", e, err)
	}
	if !strings.Contains(e.HTML, `href="`+n.Link+`"`) || !strings.Contains(e.Text, "Log in ("+n.Link+") 123456 fr") {
		t.Fatalf("templated parts: html %q text %q", e.HTML, e.Text)
	}
	// SMS with Auth0's placeholder.
	n.Channel, n.To = "sms", "+14155550100"
	_, s, err = Compose(n, store.Connection{Name: "sms", Options: store.ConnectionOptions{Template: "@@password@@ is your {{ application.name }} code"}}, "")
	if err != nil || s.Body != "123456 is your Acme code" || s.To != "+14155550100" {
		t.Fatalf("sms: %+v %v", s, err)
	}
	// A template that fails to render is an error (the outbox falls back).
	_, _, err = Compose(n, store.Connection{Name: "sms", Options: store.ConnectionOptions{Template: "{{ 1 | divided_by: 0 }}"}}, "")
	if err == nil {
		t.Fatal("a failing template rendered")
	}
}

func TestTextFromHTML(t *testing.T) {
	for in, want := range map[string]string{
		`<html><head><style>p{color:red}</style></head><body><p>Hi &amp; welcome</p><p>Code: <b>42</b></p></body></html>`: "Hi & welcome\nCode: 42\n",
		`<a href="https://x.test/?a=1&amp;b=2">Log in</a><br>done`:                                                        "Log in (https://x.test/?a=1&b=2)\ndone\n",
		`<script>alert(1)</script>plain`: "plain\n",
	} {
		if got := TextFromHTML(in); got != want {
			t.Errorf("TextFromHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
