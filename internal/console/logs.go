package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// logShortcuts are the common searches offered beside the search box.
var logShortcuts = []struct{ Name, Query string }{
	{"Unauthenticated passwordless starts", depnoteSearch},
	{"Failed logins", "type:f OR type:fepotpft OR type:fcoa OR type:feacft"},
	{"Blocked users and IPs", "type:limit_wc OR type:limit_mu"},
	{"Rate-limited calls", "type:api_limit"},
	{"Console and API changes", "type:sapi OR type:fapi"},
}

// logsData is the logs page's.
type logsData struct {
	Query     string
	Logs      []map[string]any
	Total     int
	Page      int
	PerPage   int
	More      bool
	Shortcuts []struct{ Name, Query string }
	// The query around the position a parse error names.
	Before, At, After string
	ErrorAt           bool
}

var positionRe = regexp.MustCompile(`at position (\d+):`)

// markError splits the query around the position the API's parse error
// names (the character there, or the end).
func (d *logsData) markError(msg string) {
	m := positionRe.FindStringSubmatch(msg)
	if m == nil {
		return
	}
	pos, err := strconv.Atoi(m[1])
	if err != nil || pos < 0 || pos > len(d.Query) {
		return
	}
	end := pos
	if end < len(d.Query) {
		_, size := utf8.DecodeRuneInString(d.Query[end:])
		end += size
	}
	d.Before, d.At, d.After, d.ErrorAt = d.Query[:pos], d.Query[pos:end], d.Query[end:], true
	if d.At == "" {
		d.At = " " // the end of the query: mark the place after it
	}
}

const logsPerPage = 50

func (c *Console) logs(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := logsData{Query: q.Get("q"), PerPage: logsPerPage, Shortcuts: logShortcuts}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 0)
	v := url.Values{"q": {d.Query}, "page": {strconv.Itoa(d.Page)}, "per_page": {strconv.Itoa(logsPerPage)}, "include_totals": {"true"}, "sort": {"date:-1"}}
	var lp logPage
	if err := c.call(r, s, http.MethodGet, "/api/v2/logs?"+v.Encode(), nil, &lp); err != nil {
		if msg, ok := refusal(err); ok {
			// A query that does not parse says where: the API's message,
			// and the query marked at that position.
			d.markError(msg)
			c.render(w, r, s, "logs.html", page{Title: "Logs", Nav: "logs", Error: "The search could not run: " + msg, Data: d}, http.StatusBadRequest)
			return
		}
		c.fail(w, r, err)
		return
	}
	d.Logs, d.Total = lp.Logs, lp.Total
	d.More = (d.Page+1)*logsPerPage < d.Total
	c.render(w, r, s, "logs.html", page{Title: "Logs", Nav: "logs", Data: d})
}

// logEvent shows one event.
func (c *Console) logEvent(w http.ResponseWriter, r *http.Request, s *session) {
	var ev map[string]any
	if err := c.call(r, s, http.MethodGet, "/api/v2/logs/"+url.PathEscape(r.PathValue("id")), nil, &ev); err != nil {
		c.apiFailure(w, r, s, "logevent.html", "Log event", "logs", err)
		return
	}
	raw, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, s, "logevent.html", page{Title: fmt.Sprintf("Log event %v", ev["type"]), Nav: "logs",
		Data: map[string]any{"Event": ev, "JSON": string(raw)}})
}

// tailPoll is how often the live tail reads new events.
const tailPoll = time.Second

// tail streams new events as server-sent events ("event" messages with
// the event's JSON), from the newest event when it starts.
func (c *Console) tail(w http.ResponseWriter, r *http.Request, s *session) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	var newest []map[string]any
	v := url.Values{"per_page": {"1"}, "sort": {"date:-1"}}
	if err := c.call(r, s, http.MethodGet, "/api/v2/logs?"+v.Encode(), nil, &newest); err != nil {
		http.Error(w, "logs unavailable", http.StatusForbidden)
		return
	}
	from := ""
	if len(newest) > 0 {
		from, _ = newest[0]["log_id"].(string)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": tail\n\n")
	_ = rc.Flush()
	t := time.NewTicker(tailPoll)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		if _, ok := c.current(r); !ok {
			return // signed out or timed out: the stream ends
		}
		q := url.Values{"take": {"100"}}
		if from != "" {
			q.Set("from", from)
		}
		var evs []map[string]any
		if err := c.call(r, s, http.MethodGet, "/api/v2/logs?"+q.Encode(), nil, &evs); err != nil {
			return
		}
		for _, ev := range evs {
			raw, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: event\ndata: %s\n\n", raw)
			if id, ok := ev["log_id"].(string); ok {
				from = id
			}
		}
		_ = rc.Flush()
	}
}
