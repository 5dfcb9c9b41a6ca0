package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

func TestRender(t *testing.T) {
	code := Render(Notification{Channel: "email", To: "a@example.com", Code: "123456", Send: "code", AppName: "Acme <Web>", ExpiresIn: 3 * time.Minute})
	if code.Subject != "Welcome to Acme <Web>" || !strings.Contains(code.Text, "123456") || !strings.Contains(code.Text, "3 minutes") || code.Link != "" {
		t.Errorf("code email %+v", code)
	}
	if !strings.Contains(code.HTML, "Acme &lt;Web&gt;") || strings.Contains(code.HTML, "<Web>") {
		t.Errorf("HTML does not escape the application name: %s", code.HTML)
	}
	link := Render(Notification{Channel: "email", To: "a@example.com", Code: "654321", Send: "link",
		Link: "https://id.example.com/passwordless/verify_redirect?a=1&b=2", ExpiresIn: time.Hour})
	if !strings.Contains(link.Text, link.Link) || !strings.Contains(link.Text, "654321") || !strings.Contains(link.HTML, "a=1&amp;b=2") || !strings.Contains(link.Text, "1 hour") {
		t.Errorf("link email %+v", link)
	}
	sms := Render(Notification{Channel: "sms", To: "+15550001111", Code: "42424242", AppName: "Acme"})
	if sms.Subject != "" || sms.HTML != "" || sms.Text != "Your verification code for Acme is: 42424242" {
		t.Errorf("sms %+v", sms)
	}
}

func TestCaptureRingAndHTTP(t *testing.T) {
	c := NewCapture(slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, 3)
	for i := range 5 {
		if err := c.SendEmail(t.Context(), Email{To: fmt.Sprintf("u%d@example.com", i%2), Subject: "S", Text: "T",
			HTML: `<p style="color:red">Hi <script>alert(1)</script></p>`, Code: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	all := c.Messages("", 10)
	if len(all) != 3 || all[0].Code != "4" || all[2].Code != "2" {
		t.Fatalf("ring keeps %+v", all)
	}
	if got := c.Messages("u0@example.com", 10); len(got) != 2 || got[0].Code != "4" {
		t.Errorf("filtered %+v", got)
	}
	mux := http.NewServeMux()
	RegisterCapture(mux, c)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/dev/outbox/messages?to=u0@example.com&limit=1")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []map[string]any
	err = json.NewDecoder(res.Body).Decode(&msgs)
	res.Body.Close()
	if err != nil || len(msgs) != 1 || msgs[0]["code"] != "4" || msgs[0]["channel"] != "email" {
		t.Fatalf("messages %v %v", msgs, err)
	}
	for _, k := range []string{"id", "channel", "to", "subject", "text", "html", "code", "link", "created_at"} {
		if _, ok := msgs[0][k]; !ok {
			t.Errorf("message lacks %q", k)
		}
	}
	for _, bad := range []string{"0", "x", "501"} {
		res, err := http.Get(srv.URL + "/dev/outbox/messages?limit=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("limit=%s: %d", bad, res.StatusCode)
		}
	}
	res, err = http.Get(srv.URL + "/dev/outbox")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "u0@example.com") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("outbox page: %s", page)
	}

	// Each message as the recipient would see it: the page, and the HTML
	// part sandboxed (no script runs, whatever a template holds).
	id := all[0].ID
	res, err = http.Get(srv.URL + "/dev/outbox/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `src="/dev/outbox/`+id+`/html"`) || !strings.Contains(string(page), "<strong>4</strong>") {
		t.Errorf("message page %d: %s", res.StatusCode, page)
	}
	res, err = http.Get(srv.URL + "/dev/outbox/" + id + "/html")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); res.StatusCode != 200 || !strings.HasPrefix(csp, "sandbox;") || strings.Contains(csp, "script") ||
		string(page) != all[0].HTML {
		t.Errorf("HTML part %d, CSP %q: %s", res.StatusCode, csp, page)
	}
	for _, path := range []string{"/dev/outbox/nope", "/dev/outbox/nope/html"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
}

// TestCaptureIsATransport: SMS of any provider are kept with their code;
// Await returns a message kept after it began waiting.
func TestCaptureIsATransport(t *testing.T) {
	c := NewCapture(slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, 10)
	var conn store.Connection
	conn.Options.Provider = "sms_gateway"
	if c.Provider("sms", conn) != "dev_capture" {
		t.Error("provider name")
	}
	got := make(chan Message, 1)
	go func() {
		m, err := c.Await(t.Context(), "+15550001111")
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	if err := c.SendSMS(t.Context(), conn, SMS{To: "+15550001111", Body: "Your code is 424242", Code: "424242"}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.Channel != "sms" || m.Code != "424242" || m.Text != "Your code is 424242" || m.Subject != "" {
		t.Errorf("kept %+v", m)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Await(ctx, "nobody@example.com"); err == nil {
		t.Error("Await without a message returned none")
	}
}
