// Package delivery renders and delivers passwordless messages (email and
// SMS). This file holds the message model and the built-in templates; the
// dev capture keeps messages instead of sending them.
package delivery

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Notification is what a login asks to deliver.
type Notification struct {
	Channel   string // "email" or "sms"
	To        string
	Code      string
	Link      string // empty unless send is a link
	Send      string // code, link, link_ios, link_android
	Operation string // "login"
	Language  string
	AppName   string
	ExpiresIn time.Duration
	// IP and UserAgent are the end user's, for an SMS gateway's req.
	IP, UserAgent string
	ClientID      string
	// Withheld marks a message rendered and queued like any other but
	// never sent: enumeration-safe mode's stand-in for a start that must
	// not go out, so that its answer costs what a sending start costs.
	Withheld bool
}

// Message is a rendered message.
type Message struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	HTML      string    `json:"html"`
	Code      string    `json:"code"`
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"created_at"`
}

var emailHTML = template.Must(template.New("email").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:2em auto">
<h1 style="font-size:1.25em">{{.Subject}}</h1>
{{if .Link}}<p><a href="{{.Link}}">Log in to {{.AppName}}</a></p>
<p>Or enter this code where you started:</p>{{else}}<p>Your verification code is:</p>{{end}}
<p style="font-size:2em;letter-spacing:.2em;font-weight:bold">{{.Code}}</p>
<p>It expires in {{.Expires}}. If you did not ask for it, ignore this message.</p>
</body></html>
`))

// Render produces the message for n with the built-in templates.
func Render(n Notification) Message {
	m := Message{Channel: n.Channel, To: n.To, Code: n.Code, Link: n.Link}
	app := n.AppName
	if app == "" {
		app = "your application"
	}
	exp := humanDuration(n.ExpiresIn)
	if n.Channel == "sms" {
		m.Text = fmt.Sprintf("Your verification code for %s is: %s", app, n.Code)
		return m
	}
	m.Subject = "Welcome to " + app
	var t strings.Builder
	if n.Link != "" {
		fmt.Fprintf(&t, "Log in to %s with this link:\n\n%s\n\nOr enter this code where you started: %s\n", app, n.Link, n.Code)
	} else {
		fmt.Fprintf(&t, "Your verification code for %s is: %s\n", app, n.Code)
	}
	fmt.Fprintf(&t, "\nIt expires in %s. If you did not ask for it, ignore this message.\n", exp)
	m.Text = t.String()
	var h bytes.Buffer
	_ = emailHTML.Execute(&h, struct {
		Subject, AppName, Code, Expires string
		Link                            template.URL
	}{m.Subject, app, n.Code, exp, template.URL(n.Link)})
	m.HTML = h.String()
	return m
}

func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "a few minutes"
	case d%time.Hour == 0 && d >= time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
