package console

import (
	"html/template"
	"net/http"
	"time"
)

// stats is GET /api/v2/latchkey/stats.
type stats struct {
	Until        time.Time     `json:"until"`
	Hourly       []bucket      `json:"hourly"`
	Daily        []bucket      `json:"daily"`
	TopFailures  []clientCount `json:"top_failures"`
	Notices      []clientCount `json:"deprecation_notices"`
	OutboxDepth  int64         `json:"outbox_messages"`
	OutboxOldest *time.Time    `json:"outbox_oldest"`
}

// clientCount is a count of one application's events.
type clientCount struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	Count      int64  `json:"count"`
}

// totals adds up a series.
func totals(bs []bucket) bucket {
	var t bucket
	for _, b := range bs {
		t.Logins += b.Logins
		t.Failures += b.Failures
		t.Codes += b.Codes
		t.Limits += b.Limits
	}
	return t
}

// overviewData is the overview page's.
type overviewData struct {
	Applications int
	Stats        stats
	Day, Month   bucket
	HourChart    template.HTML
	DayChart     template.HTML
	Enforced     bool
	OutboxAge    string
}

func (c *Console) overviewData(r *http.Request, s *session) (overviewData, error) {
	var d overviewData
	var apps []map[string]any
	if err := c.call(r, s, http.MethodGet, "/api/v2/clients?fields=client_id", nil, &apps); err != nil {
		return d, err
	}
	d.Applications = len(apps)
	if err := c.call(r, s, http.MethodGet, "/api/v2/latchkey/stats", nil, &d.Stats); err != nil {
		return d, err
	}
	d.Day, d.Month = totals(d.Stats.Hourly), totals(d.Stats.Daily)
	d.HourChart = chart("Logins and failures per hour, last 24 hours", d.Stats.Hourly, func(t time.Time) string { return t.UTC().Format("15:04") })
	d.DayChart = chart("Logins and failures per day, last 30 days", d.Stats.Daily, func(t time.Time) string { return t.UTC().Format("Jan 2") })
	if o := d.Stats.OutboxOldest; o != nil {
		d.OutboxAge = c.d.Now().Sub(*o).Round(time.Second).String()
	}
	// The migration's state from the notices' counts: the page itself
	// builds the full report.
	var st struct {
		Flags struct {
			Enforce bool `json:"enforce_client_authentication_on_passwordless_start"`
		} `json:"flags"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/v2/tenants/settings", nil, &st); err != nil {
		return d, err
	}
	d.Enforced = st.Flags.Enforce
	return d, nil
}
