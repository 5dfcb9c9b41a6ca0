package delivery

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
)

var outboxPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Latchkey dev outbox</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}</style></head>
<body><h1>Dev outbox</h1><p>Messages captured by <code>latchkey serve --dev</code>, newest first. Nothing here was sent. JSON: <a href="/dev/outbox/messages">/dev/outbox/messages</a>.</p>
<table><thead><tr><th scope="col">When</th><th scope="col">Channel</th><th scope="col">To</th><th scope="col">Subject</th><th scope="col">Code</th><th scope="col">Link</th><th scope="col">Message</th></tr></thead><tbody>
{{range .}}<tr><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.Channel}}</td><td>{{.To}}</td><td>{{.Subject}}</td><td><strong>{{.Code}}</strong></td><td>{{if .Link}}<a href="{{.Link}}">open</a>{{end}}</td><td><a href="/dev/outbox/{{.ID}}">view</a></td></tr>
{{else}}<tr><td colspan="7">No messages yet.</td></tr>{{end}}
</tbody></table></body></html>
`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{if .Subject}}{{.Subject}}{{else}}{{.Channel}} to {{.To}}{{end}} · Latchkey dev outbox</title>
<style>body{font-family:sans-serif;margin:2em}dt{font-weight:bold}iframe{width:100%;height:32em;border:1px solid #ccc}pre{white-space:pre-wrap;border:1px solid #ccc;padding:1em}</style></head>
<body><p><a href="/dev/outbox">← Dev outbox</a></p><h1>{{if .Subject}}{{.Subject}}{{else}}Text message{{end}}</h1>
<dl><dt>To</dt><dd>{{.To}}</dd><dt>Kept</dt><dd>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</dd><dt>Code</dt><dd><strong>{{.Code}}</strong></dd>{{if .Link}}<dt>Link</dt><dd><a href="{{.Link}}">{{.Link}}</a></dd>{{end}}</dl>
{{if .HTML}}<h2>As the recipient sees it</h2><iframe title="The HTML part" sandbox src="/dev/outbox/{{.ID}}/html"></iframe>{{end}}
<h2>{{if .HTML}}Text part{{else}}Text{{end}}</h2><pre>{{.Text}}</pre></body></html>
`))

// previewCSP lets a captured HTML body show as a mail client would show it
// (inline styles, remote and inline images) and nothing more: no script,
// no form, no navigation of the page around it, its own opaque origin.
const previewCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; font-src data:"

// RegisterCapture adds the dev outbox routes: GET /dev/outbox (a page),
// GET /dev/outbox/messages?to=ADDRESS&limit=N (JSON), and each message as
// the recipient would see it: GET /dev/outbox/{id} (a page) and
// GET /dev/outbox/{id}/html (the HTML part, sandboxed).
func RegisterCapture(mux *http.ServeMux, c *Capture) {
	mux.HandleFunc("GET /dev/outbox/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := c.Message(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; frame-ancestors 'none'")
		_ = messagePage.Execute(w, m)
	})
	mux.HandleFunc("GET /dev/outbox/{id}/html", func(w http.ResponseWriter, r *http.Request) {
		m, ok := c.Message(r.PathValue("id"))
		if !ok || m.HTML == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", previewCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write([]byte(m.HTML))
	})
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = outboxPage.Execute(w, c.Messages("", 200))
	})
	mux.HandleFunc("GET /dev/outbox/messages", func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 500 {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"invalid_request","error_description":"limit must be an integer from 1 to 500"}`))
				return
			}
			limit = n
		}
		b, _ := json.Marshal(c.Messages(r.URL.Query().Get("to"), limit))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
}
