package delivery

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"sync"

	"github.com/latchkey/latchkey/internal/liquid"
	"github.com/latchkey/latchkey/internal/store"
)

// Compose renders the notification n for the connection's own templates
// (Liquid: email from/subject/body, the SMS template with @@password@@), or
// the built-in ones when the connection has none. defaultFrom is the
// sender when the template names none (the SMTP URL's from).
func Compose(n Notification, conn store.Connection, defaultFrom string) (*Email, *SMS, error) {
	if n.Channel == "sms" {
		m := &SMS{To: n.To, IP: n.IP, UserAgent: n.UserAgent, Code: n.Code}
		tpl := conn.Options.Template
		if tpl == "" {
			m.Body = Render(n).Text
			return nil, m, nil
		}
		vars := templateVars(n, conn)
		vars["phone_number"] = n.To
		body, err := renderCached(strings.ReplaceAll(tpl, "@@password@@", "{{ code }}"), vars)
		if err != nil {
			return nil, nil, fmt.Errorf("sms template: %w", err)
		}
		m.Body = body
		return nil, m, nil
	}
	m := &Email{From: defaultFrom, To: n.To, Code: n.Code, Link: n.Link}
	t := conn.Options.Email
	if t == nil || t.Subject == "" || t.Body == "" {
		// The built-in message for whatever the connection leaves out.
		built := Render(n)
		m.Subject, m.Text, m.HTML = built.Subject, built.Text, built.HTML
	}
	if t == nil {
		return m, nil, nil
	}
	vars := templateVars(n, conn)
	vars["email"] = n.To
	if t.From != "" {
		from, err := renderCached(t.From, vars)
		if err != nil {
			return nil, nil, fmt.Errorf("email from: %w", err)
		}
		// Auth0's default "… <root@auth0.com>" means "our default sender".
		if from = strings.TrimSpace(from); from != "" && !strings.Contains(strings.ToLower(from), "@auth0.com") {
			m.From = from
		}
	}
	if t.Subject != "" {
		subject, err := renderCached(t.Subject, vars)
		if err != nil {
			return nil, nil, fmt.Errorf("email subject: %w", err)
		}
		m.Subject = strings.Join(strings.Fields(subject), " ")
	}
	if t.Body != "" {
		body, err := renderCached(t.Body, vars)
		if err != nil {
			return nil, nil, fmt.Errorf("email body: %w", err)
		}
		m.HTML, m.Text = body, TextFromHTML(body)
	}
	return m, nil, nil
}

// templateVars are the variables a connection's templates see.
func templateVars(n Notification, conn store.Connection) map[string]any {
	return map[string]any{
		"code": n.Code, "password": n.Code, "link": n.Link, "send": n.Send, "operation": n.Operation,
		"request_language": n.Language, "application": map[string]any{"name": n.AppName},
		"connection": map[string]any{"name": conn.Name},
	}
}

// templates caches parsed templates by source (tenants have few).
var templates = struct {
	sync.Mutex
	m map[string]*liquid.Template
}{m: map[string]*liquid.Template{}}

func renderCached(src string, vars map[string]any) (string, error) {
	templates.Lock()
	t, ok := templates.m[src]
	templates.Unlock()
	if !ok {
		var err error
		if t, err = liquid.Parse(src); err != nil {
			return "", err
		}
		templates.Lock()
		if len(templates.m) >= 256 {
			clear(templates.m)
		}
		templates.m[src] = t
		templates.Unlock()
	}
	return t.Render(vars)
}

var (
	dropBlocks = regexp.MustCompile(`(?is)<(style|script|head)\b.*?</(style|script|head)>`)
	breaks     = regexp.MustCompile(`(?i)<\s*(br|/p|/div|/h[1-6]|/li|/tr)\s*/?>`)
	anchors    = regexp.MustCompile(`(?is)<a\b[^>]*?href\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>`)
	tags       = regexp.MustCompile(`(?s)<[^>]*>`)
	blankLines = regexp.MustCompile(`\n{3,}`)
)

// TextFromHTML is the plain-text part of an HTML email: tags dropped, links
// kept as "text (url)", entities decoded.
func TextFromHTML(h string) string {
	s := dropBlocks.ReplaceAllString(h, "")
	s = anchors.ReplaceAllString(s, "$2 ($1)")
	s = breaks.ReplaceAllString(s, "\n")
	s = tags.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")) + "\n"
}
