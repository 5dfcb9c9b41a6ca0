package eventlog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/eventlog/query"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// ReportSource is what the migration report reads.
type ReportSource interface {
	ListClients(ctx context.Context) ([]store.Client, error)
	GetSettings(ctx context.Context) (store.TenantSettings, error)
	ScanLogs(ctx context.Context, q query.Node, since, until time.Time, fn func(store.LogEvent) error) error
}

// Report limits.
const (
	// MaxReportDays is the longest window a report covers.
	MaxReportDays = 365
	// DefaultReportDays is the window when none is given.
	DefaultReportDays = 30
	maxReportIPs      = 20
	maxReportSDKs     = 20
)

// MigrationReport says, per confidential application, how often it started
// a passwordless login without authenticating in the window, and whether
// turning on "Enforce client authentication for passwordless connections"
// would break any of them.
type MigrationReport struct {
	Days          int            `json:"days"`
	Since         time.Time      `json:"since"`
	Until         time.Time      `json:"until"`
	Enforced      bool           `json:"enforced"`
	SafeToEnforce bool           `json:"safe_to_enforce"`
	Verdict       string         `json:"verdict"`
	Clients       []ReportClient `json:"clients"`
}

// ReportClient is one application's line of the report.
type ReportClient struct {
	ClientID              string      `json:"client_id"`
	ClientName            string      `json:"client_name"`
	AppType               string      `json:"app_type"`
	Deleted               bool        `json:"deleted,omitempty"`
	UnauthenticatedStarts int         `json:"unauthenticated_starts"`
	FirstSeen             *time.Time  `json:"first_seen"`
	LastSeen              *time.Time  `json:"last_seen"`
	IPs                   []string    `json:"ips"`
	SDKs                  []ReportSDK `json:"sdks"`
	WouldBreak            bool        `json:"would_break"`
}

// ReportSDK counts the starts made by one SDK version (from Auth0-Client).
type ReportSDK struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Count   int    `json:"count"`
}

// depnoteQuery selects the depnotes of unauthenticated passwordless starts.
var depnoteQuery query.Node = query.And{Nodes: []query.Node{
	query.Term{Field: "type", Value: TypeDeprecationNotice, Kind: query.Exact},
	query.Term{Field: "description", Value: PasswordlessFeature["name"], Kind: query.Prefix},
}}

// BuildMigrationReport builds the report over the days before now.
func BuildMigrationReport(ctx context.Context, src ReportSource, days int, now time.Time) (MigrationReport, error) {
	if days <= 0 {
		days = DefaultReportDays
	}
	days = min(days, MaxReportDays)
	now = now.UTC().Truncate(time.Millisecond)
	rep := MigrationReport{Days: days, Until: now, Since: now.Add(-time.Duration(days) * 24 * time.Hour)}
	settings, err := src.GetSettings(ctx)
	if err != nil {
		return rep, fmt.Errorf("read settings: %w", err)
	}
	rep.Enforced = settings.Flags.EnforceClientAuthOnPasswordlessStart
	clients, err := src.ListClients(ctx)
	if err != nil {
		return rep, fmt.Errorf("list clients: %w", err)
	}
	lines := map[string]*ReportClient{}
	confidential := map[string]bool{}
	sdks := map[string]map[ReportSDK]int{}
	for _, c := range clients {
		if tenant.IsConfidential(c) {
			confidential[c.ClientID] = true
			lines[c.ClientID] = &ReportClient{ClientID: c.ClientID, ClientName: c.Name, AppType: c.AppType, IPs: []string{}}
		}
	}
	// Until is inclusive: an event dated this very millisecond counts.
	err = src.ScanLogs(ctx, depnoteQuery, rep.Since, rep.Until.Add(time.Millisecond), func(e store.LogEvent) error {
		l := lines[e.ClientID]
		if l == nil {
			// The application was deleted (or is no longer confidential).
			l = &ReportClient{ClientID: e.ClientID, ClientName: e.ClientName, Deleted: true, IPs: []string{}}
			if i := slices.IndexFunc(clients, func(c store.Client) bool { return c.ClientID == e.ClientID }); i >= 0 {
				// Still there but public now: it is not asked for proof.
				l.Deleted, l.ClientName, l.AppType = false, clients[i].Name, clients[i].AppType
			}
			lines[e.ClientID] = l
		}
		l.UnauthenticatedStarts++
		at := e.Date.UTC().Truncate(time.Millisecond)
		if l.FirstSeen == nil || at.Before(*l.FirstSeen) {
			l.FirstSeen = &at
		}
		if l.LastSeen == nil || at.After(*l.LastSeen) {
			l.LastSeen = &at
		}
		if e.IP != "" && !slices.Contains(l.IPs, e.IP) && len(l.IPs) < maxReportIPs {
			l.IPs = append(l.IPs, e.IP)
		}
		var sdk ReportSDK
		if len(e.Auth0Client) > 0 && json.Unmarshal(e.Auth0Client, &sdk) == nil && sdk.Name != "" {
			m := sdks[e.ClientID]
			if m == nil {
				m = map[ReportSDK]int{}
				sdks[e.ClientID] = m
			}
			if _, ok := m[sdk]; ok || len(m) < maxReportSDKs {
				m[sdk]++
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("scan logs: %w", err)
	}

	var breaking []string
	for id, l := range lines {
		l.SDKs = []ReportSDK{}
		for s, n := range sdks[id] {
			s.Count = n
			l.SDKs = append(l.SDKs, s)
		}
		slices.SortFunc(l.SDKs, func(a, b ReportSDK) int {
			return cmp.Or(b.Count-a.Count, strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
		})
		slices.Sort(l.IPs)
		l.WouldBreak = !l.Deleted && confidential[id] && l.UnauthenticatedStarts > 0
		if l.WouldBreak {
			breaking = append(breaking, fmt.Sprintf("%s (%s)", l.ClientName, l.ClientID))
		}
		rep.Clients = append(rep.Clients, *l)
	}
	slices.SortFunc(rep.Clients, func(a, b ReportClient) int {
		return cmp.Or(b.UnauthenticatedStarts-a.UnauthenticatedStarts, strings.Compare(a.ClientID, b.ClientID))
	})
	if rep.Clients == nil {
		rep.Clients = []ReportClient{}
	}
	slices.Sort(breaking)
	rep.SafeToEnforce = len(breaking) == 0
	switch {
	case rep.Enforced && len(breaking) == 0:
		rep.Verdict = fmt.Sprintf("Enforcement is on, and no confidential application called /passwordless/start without authenticating in the last %d days.", days)
	case rep.Enforced:
		rep.Verdict = fmt.Sprintf("Enforcement is on; before it was turned on, %d application(s) started passwordless logins without authenticating in the last %d days: %s.",
			len(breaking), days, strings.Join(breaking, ", "))
	case len(breaking) == 0:
		rep.Verdict = fmt.Sprintf("Safe to enforce: no confidential application called /passwordless/start without authenticating in the last %d days.", days)
	default:
		rep.Verdict = fmt.Sprintf("Not safe to enforce yet: %d application(s) would break: %s. Make them send client_secret (or a client assertion), then enforce.",
			len(breaking), strings.Join(breaking, ", "))
	}
	return rep, nil
}
