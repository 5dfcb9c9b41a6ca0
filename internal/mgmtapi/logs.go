package mgmtapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/apierr"
	"github.com/latchkey/latchkey/internal/eventlog"
	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/store"
)

// LogStore is the tenant-log storage the logs endpoints read.
type LogStore interface {
	GetLog(ctx context.Context, id string) (store.LogEvent, error)
	SearchLogs(ctx context.Context, s store.LogSearch) (store.LogPage, error)
	LogsAfter(ctx context.Context, from string, take int) ([]store.LogEvent, error)
	ScanLogs(ctx context.Context, q query.Node, since, until time.Time, fn func(store.LogEvent) error) error
	LogCounts(ctx context.Context, since, until time.Time) ([]store.LogCount, error)
}

// Flusher stores the events this node has recorded but not yet written, so
// that a search sees them (read-your-writes for the operator).
type Flusher interface {
	Flush(ctx context.Context) error
}

// Bounds on the work one log read may do. Searches run on the same store
// as logins; a search that no index narrows must not take the readers away.
const (
	// SearchTimeout bounds one search, page or lookup.
	SearchTimeout = 5 * time.Second
	// ReportTimeout bounds the migration report's scan.
	ReportTimeout = 30 * time.Second
	// MaxConcurrentSearches is how many log reads run at once on a node;
	// more wait for a slot (until their own deadline).
	MaxConcurrentSearches = 2
)

// logRead runs f with a deadline once a search slot is free. A read that
// runs out of time is a 400 that says how to narrow it.
func (a *API) logRead(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case a.searchSlots <- struct{}{}:
		defer func() { <-a.searchSlots }()
	case <-ctx.Done():
		return errSearchBusy
	}
	err := f(ctx)
	if err != nil && ctx.Err() != nil {
		return errSearchTimeout
	}
	return err
}

var (
	errSearchTimeout = httpx.Errorf(http.StatusBadRequest, "query_timeout",
		"The log search took too long. Narrow it with exact fields (type:, client_id:, user_id:, connection:), a date range, or fewer *wildcards*")
	errSearchBusy = &httpx.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Description: "Too many log searches at once; try again shortly", Header: http.Header{"Retry-After": {"1"}}}
)

// CheckpointDelay is how old an event must be before checkpoint paging
// returns it (see logsCheckpoint).
const CheckpointDelay = 5 * time.Second

// MaxSearchResults is how deep page/per_page may reach into search results
// (Auth0's limit).
const MaxSearchResults = 1000

// logJSON is a log record in the Management API's shape (auth0-compat.md §9.2).
type logJSON struct {
	Date         string          `json:"date"`
	Type         string          `json:"type"`
	Description  *string         `json:"description"`
	ClientID     string          `json:"client_id,omitempty"`
	ClientName   string          `json:"client_name,omitempty"`
	Connection   string          `json:"connection,omitempty"`
	ConnectionID string          `json:"connection_id,omitempty"`
	Strategy     string          `json:"strategy,omitempty"`
	StrategyType string          `json:"strategy_type,omitempty"`
	UserID       string          `json:"user_id,omitempty"`
	UserName     string          `json:"user_name,omitempty"`
	IP           string          `json:"ip,omitempty"`
	ClientIP     string          `json:"client_ip,omitempty"`
	Hostname     string          `json:"hostname,omitempty"`
	UserAgent    string          `json:"user_agent,omitempty"`
	IsMobile     bool            `json:"isMobile"`
	Audience     string          `json:"audience,omitempty"`
	Scope        string          `json:"scope,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	Auth0Client  json.RawMessage `json:"auth0_client,omitempty"`
	LogID        string          `json:"log_id"`
	ID           string          `json:"_id"`
}

// LogOut renders a stored event in the Management API's shape.
func LogOut(e store.LogEvent) map[string]any {
	b, _ := json.Marshal(logOut(e))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func logOut(e store.LogEvent) logJSON {
	j := logJSON{Date: e.Date.UTC().Format("2006-01-02T15:04:05.000Z"), Type: e.Type,
		ClientID: e.ClientID, ClientName: e.ClientName, Connection: e.Connection, ConnectionID: e.ConnectionID,
		Strategy: e.Strategy, StrategyType: e.StrategyType, UserID: e.UserID, UserName: e.UserName,
		IP: e.IP, ClientIP: e.ClientIP, Hostname: e.Hostname, UserAgent: e.UserAgent, IsMobile: e.IsMobile,
		Audience: e.Audience, Scope: e.Scope, Details: e.Details, Auth0Client: e.Auth0Client,
		LogID: e.ID, ID: e.ID}
	if e.Description != "" {
		d := e.Description
		j.Description = &d
	}
	return j
}

func queryError(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: "+format, args...)
}

// parseLogQuery parses q (or search): a syntax error names the position.
func parseLogQuery(s string) (query.Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	n, err := query.Parse(s)
	if err != nil {
		return nil, apierr.Answer(apierr.Management, err)
	}
	return n, nil
}

// readSort parses sort=field:1 (ascending) or field:-1 (descending).
func readSort(s string) (field string, asc bool, err error) {
	if s == "" {
		return "date", false, nil
	}
	f, dir, ok := strings.Cut(s, ":")
	if !ok || !slices.Contains(store.LogSortFields, f) || (dir != "1" && dir != "-1") {
		return "", false, queryError("'sort' must be one of %s followed by :1 or :-1", strings.Join(store.LogSortFields, ", "))
	}
	return f, dir == "1", nil
}

// projection is the fields/include_fields choice.
type projection struct {
	fields  []string
	include bool
}

func readProjection(q url.Values) (projection, error) {
	p := projection{include: true}
	switch q.Get("include_fields") {
	case "", "true":
	case "false":
		p.include = false
	default:
		return p, queryError("'include_fields' must be true or false")
	}
	if f := q.Get("fields"); f != "" {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				p.fields = append(p.fields, name)
			}
		}
	}
	return p, nil
}

func (p projection) apply(e store.LogEvent) any {
	if len(p.fields) == 0 {
		return logOut(e)
	}
	m := LogOut(e)
	for k := range m {
		if slices.Contains(p.fields, k) != p.include {
			delete(m, k)
		}
	}
	return m
}

func (a *API) flushLogs(ctx context.Context) {
	if a.Flush == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Flush.Flush(ctx); err != nil {
		a.Log.WarnContext(ctx, "tenant log flush before search failed", "err", err)
	}
}

func (a *API) listLogs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("from") || q.Has("take") {
		return a.logsCheckpoint(w, r)
	}
	qs := q.Get("q")
	if qs == "" {
		qs = q.Get("search")
	}
	n, err := parseLogQuery(qs)
	if err != nil {
		return err
	}
	return a.searchLogs(w, r, n)
}

// searchLogs answers a search with page/per_page/sort/fields/include_totals.
func (a *API) searchLogs(w http.ResponseWriter, r *http.Request, n query.Node) error {
	q := r.URL.Query()
	p, err := readPage(r)
	if err != nil {
		return err
	}
	if (p.Page+1)*p.PerPage > MaxSearchResults {
		return httpx.Errorf(http.StatusBadRequest, "invalid_paging",
			"You can only page through the first %d results: page * per_page must stay below %d", MaxSearchResults, MaxSearchResults)
	}
	field, asc, err := readSort(q.Get("sort"))
	if err != nil {
		return err
	}
	proj, err := readProjection(q)
	if err != nil {
		return err
	}
	a.flushLogs(r.Context())
	var res store.LogPage
	err = a.logRead(r.Context(), SearchTimeout, func(ctx context.Context) (err error) {
		res, err = a.Logs.SearchLogs(ctx, store.LogSearch{Query: n, Sort: field, Ascending: asc,
			Offset: p.Page * p.PerPage, Limit: p.PerPage, WithTotal: p.Totals})
		return err
	})
	var he *httpx.Error
	if errors.As(err, &he) {
		return err
	}
	if err != nil {
		return fmt.Errorf("search logs: %w", err)
	}
	list := make([]any, 0, len(res.Events))
	for _, e := range res.Events {
		list = append(list, proj.apply(e))
	}
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, list)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"logs": list, "start": p.Page * p.PerPage,
		"limit": p.PerPage, "length": len(list), "total": res.Total})
	return nil
}

// logsCheckpoint is checkpoint paging: events after from, oldest first; all
// other parameters are ignored (as in Auth0). The Link header names the next
// page, or repeats the request when there is nothing newer yet.
func (a *API) logsCheckpoint(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	take := 50
	if s := q.Get("take"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return queryError("'take' must be an integer between 1 and %d", MaxPerPage)
		}
		take = n
	}
	from := q.Get("from")
	if from != "" && !eventlog.ValidID(from) {
		return queryError("'from' must be a log_id of this tenant (%d digits)", eventlog.IDLength)
	}
	a.flushLogs(r.Context())
	var evs []store.LogEvent
	err := a.logRead(r.Context(), SearchTimeout, func(ctx context.Context) (err error) {
		evs, err = a.Logs.LogsAfter(ctx, from, take)
		return err
	})
	var he *httpx.Error
	if errors.As(err, &he) {
		return err
	}
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	// Events are numbered when recorded but stored in batches, node by
	// node: hold back the newest few seconds so that an event numbered
	// earlier but stored later cannot fall behind a reader's checkpoint.
	cutoff := eventlog.FirstID(a.Now().Add(-CheckpointDelay))
	for i, e := range evs {
		if e.ID >= cutoff {
			evs = evs[:i]
			break
		}
	}
	next := from
	if len(evs) > 0 {
		next = evs[len(evs)-1].ID
	}
	link := url.Values{"take": {strconv.Itoa(take)}}
	if next != "" {
		link.Set("from", next)
	}
	w.Header().Set("Link", fmt.Sprintf(`<%sapi/v2/logs?%s>; rel="next"`, a.Issuer, link.Encode()))
	list := make([]logJSON, 0, len(evs))
	for _, e := range evs {
		list = append(list, logOut(e))
	}
	httpx.WriteJSON(w, http.StatusOK, list)
	return nil
}

func (a *API) getLog(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) > 128 {
		return httpx.Errorf(http.StatusNotFound, "inexistent_log", "The log does not exist.")
	}
	a.flushLogs(r.Context())
	e, err := a.Logs.GetLog(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "inexistent_log", "The log does not exist.")
	}
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, logOut(e))
	return nil
}

// userLogs lists one user's events (GET /api/v2/users/{id}/logs).
func (a *API) userLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 256 {
		return httpx.Errorf(http.StatusNotFound, "inexistent_user", "The user does not exist.")
	}
	return a.searchLogs(w, r, query.Term{Field: "user_id", Value: id, Kind: query.Exact})
}

// migrationReport is Latchkey's migration report (beyond Auth0):
// GET /api/v2/latchkey/migration-report?days=N.
func (a *API) migrationReport(w http.ResponseWriter, r *http.Request) error {
	days := eventlog.DefaultReportDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > eventlog.MaxReportDays {
			return queryError("'days' must be an integer between 1 and %d", eventlog.MaxReportDays)
		}
		days = n
	}
	a.flushLogs(r.Context())
	var rep eventlog.MigrationReport
	err := a.logRead(r.Context(), ReportTimeout, func(ctx context.Context) (err error) {
		rep, err = eventlog.BuildMigrationReport(ctx, reportSource{a}, days, a.Now())
		return err
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

// reportSource joins the configuration and the log store for the report.
type reportSource struct{ a *API }

func (s reportSource) ListClients(ctx context.Context) ([]store.Client, error) {
	return s.a.Store.ListClients(ctx)
}

func (s reportSource) GetSettings(ctx context.Context) (store.TenantSettings, error) {
	return s.a.Store.GetSettings(ctx)
}

func (s reportSource) ScanLogs(ctx context.Context, q query.Node, since, until time.Time, fn func(store.LogEvent) error) error {
	return s.a.Logs.ScanLogs(ctx, q, since, until, fn)
}
