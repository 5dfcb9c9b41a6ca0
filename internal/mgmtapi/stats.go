package mgmtapi

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
)

// StatsSource is what the tenant statistics read beyond the log: the
// outbox's depth.
type StatsSource interface {
	OutboxStats(ctx context.Context) (messages int64, oldest time.Time, err error)
}

// Event kinds the statistics count, by log type.
var (
	loginTypes   = []string{eventlog.TypeSuccessLogin}
	failureTypes = []string{eventlog.TypeFailedLogin, eventlog.TypeFailedOTPExchange, eventlog.TypeFailedCrossOrigin,
		eventlog.TypeFailedCodeExchange}
	codeTypes  = []string{eventlog.TypeCodeLinkSent, eventlog.TypeCodeSent}
	limitTypes = []string{"api_limit", "limit_wc", "limit_mu"}
)

// statsBucket is one bar of a series.
type statsBucket struct {
	Start    time.Time `json:"start"`
	Logins   int64     `json:"logins"`
	Failures int64     `json:"failures"`
	Codes    int64     `json:"codes_sent"`
	Limits   int64     `json:"limit_refusals"`
}

// statsClient is a count of one application's events over the last 30 days.
type statsClient struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	Count      int64  `json:"count"`
}

type statsJSON struct {
	Until       time.Time     `json:"until"`
	Hourly      []statsBucket `json:"hourly"` // the last 24 hours, oldest first
	Daily       []statsBucket `json:"daily"`  // the last 30 days
	TopFailures []statsClient `json:"top_failures"`
	// Notices are the deprecation notices of the last 30 days by
	// application: its unauthenticated passwordless starts.
	Notices      []statsClient `json:"deprecation_notices"`
	OutboxDepth  int64         `json:"outbox_messages"`
	OutboxOldest *time.Time    `json:"outbox_oldest,omitempty"`
}

// stats is Latchkey's tenant statistics (beyond Auth0), from the tenant
// log's hourly counts: GET /api/v2/latchkey/stats.
func (a *API) stats(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a.flushLogs(ctx)
	now := a.Now().UTC()
	hourEnd := now.Truncate(time.Hour).Add(time.Hour)
	dayEnd := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	since := dayEnd.Add(-30 * 24 * time.Hour)
	counts, err := a.Logs.LogCounts(ctx, since, hourEnd)
	if err != nil {
		return err
	}
	out := statsJSON{Until: now, Hourly: make([]statsBucket, 24), Daily: make([]statsBucket, 30)}
	for i := range out.Hourly {
		out.Hourly[i].Start = hourEnd.Add(time.Duration(i-24) * time.Hour)
	}
	for i := range out.Daily {
		out.Daily[i].Start = dayEnd.Add(time.Duration(i-30) * 24 * time.Hour)
	}
	add := func(b *statsBucket, c store.LogCount) {
		switch {
		case slices.Contains(loginTypes, c.Type):
			b.Logins += c.N
		case slices.Contains(failureTypes, c.Type):
			b.Failures += c.N
		case slices.Contains(codeTypes, c.Type):
			b.Codes += c.N
		case slices.Contains(limitTypes, c.Type):
			b.Limits += c.N
		}
	}
	fails, notices := map[string]int64{}, map[string]int64{}
	for _, c := range counts {
		if h := int(c.Hour.Sub(hourEnd.Add(-24*time.Hour)) / time.Hour); h >= 0 && h < 24 {
			add(&out.Hourly[h], c)
		}
		if d := int(c.Hour.Sub(since) / (24 * time.Hour)); d >= 0 && d < 30 {
			add(&out.Daily[d], c)
		}
		if c.Hour.Before(since) {
			continue
		}
		if slices.Contains(failureTypes, c.Type) && c.ClientID != "" {
			fails[c.ClientID] += c.N
		}
		if c.Type == eventlog.TypeDeprecationNotice {
			notices[c.ClientID] += c.N
		}
	}
	out.TopFailures = a.byClient(ctx, fails, 5)
	out.Notices = a.byClient(ctx, notices, 0)
	if a.Stats != nil {
		n, oldest, err := a.Stats.OutboxStats(ctx)
		if err != nil {
			return err
		}
		out.OutboxDepth = n
		if n > 0 {
			out.OutboxOldest = &oldest
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// byClient lists counts by application, most first (at most limit when
// limit > 0), with the applications' names.
func (a *API) byClient(ctx context.Context, counts map[string]int64, limit int) []statsClient {
	out := []statsClient{}
	for id, n := range counts {
		out = append(out, statsClient{ClientID: id, ClientName: id, Count: n})
	}
	slices.SortFunc(out, func(x, y statsClient) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.ClientID, y.ClientID))
	})
	if limit > 0 {
		out = out[:min(len(out), limit)]
	}
	for i, c := range out {
		if cl, err := a.Store.GetClient(ctx, c.ClientID); err == nil {
			out[i].ClientName = cl.Name
		}
	}
	return out
}
