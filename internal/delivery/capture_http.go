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
<table><thead><tr><th scope="col">When</th><th scope="col">Channel</th><th scope="col">To</th><th scope="col">Subject</th><th scope="col">Code</th><th scope="col">Link</th></tr></thead><tbody>
{{range .}}<tr><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.Channel}}</td><td>{{.To}}</td><td>{{.Subject}}</td><td><strong>{{.Code}}</strong></td><td>{{if .Link}}<a href="{{.Link}}">open</a>{{end}}</td></tr>
{{else}}<tr><td colspan="6">No messages yet.</td></tr>{{end}}
</tbody></table></body></html>
`))

// RegisterCapture adds the dev outbox routes: GET /dev/outbox (a page) and
// GET /dev/outbox/messages?to=ADDRESS&limit=N (JSON).
func RegisterCapture(mux *http.ServeMux, c *Capture) {
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
