package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Log search paging: Auth0 pages search results 100 at a time and stops
// at 1,000.
const (
	logsPerPage  = 100
	logsMaxTotal = 1000
)

func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "logs", []verb{
		{"search", "['QUERY'] [--limit N]", "search tenant log events, newest first (the Management API's query language)", logsSearch},
		{"get", "LOG_ID", "show one log event", oneID("logs get", "GET", "logs", "", nil)},
		{"migration-report", "[--days N]", "who would break if client authentication were enforced on /passwordless/start", logsMigrationReport},
	}, args, stdout, stderr)
}

func logsSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("logs search", stderr)
	if err != nil {
		return err
	}
	limit := fs.Int("limit", 50, fmt.Sprintf("how many events at most (1–%d)", logsMaxTotal))
	pos, err := t.parseArgs(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > logsMaxTotal {
		return usageError{fmt.Errorf("--limit must be 1–%d", logsMaxTotal)}
	}
	query := ""
	if len(pos) == 1 {
		query = pos[0]
	}
	return t.with(ctx, stderr, func(a *api) error {
		events, err := searchLogs(ctx, a, "logs", query, *limit)
		if err != nil {
			return err
		}
		return printLogs(stdout, a.asJSON, events)
	})
}

// printLogs prints log events: JSON, or a table of their main fields.
func printLogs(stdout io.Writer, asJSON bool, events []map[string]any) error {
	if asJSON {
		return printJSON(stdout, events)
	}
	rows := make([][]string, 0, len(events))
	for _, e := range events {
		client := str(e, "client_name")
		if client == "" {
			client = str(e, "client_id")
		}
		user := str(e, "user_name")
		if user == "" {
			user = str(e, "user_id")
		}
		rows = append(rows, []string{str(e, "date"), str(e, "type"), str(e, "description"), client, str(e, "connection"), user, str(e, "ip"), str(e, "log_id")})
	}
	return printTable(stdout, []string{"DATE", "TYPE", "DESCRIPTION", "CLIENT", "CONNECTION", "USER", "IP", "LOG_ID"}, rows)
}

// searchLogs pages through GET path (logs, or users/{id}/logs) until limit
// events or the end. Pages are offsets from the newest event, so events
// written while it pages shift the later pages: an event seen on an
// earlier page is skipped when it shows up again.
func searchLogs(ctx context.Context, a *api, path, query string, limit int) ([]map[string]any, error) {
	perPage := min(limit, logsPerPage)
	events := []map[string]any{}
	seen := map[string]bool{}
	for page := 0; len(events) < limit && (page+1)*perPage <= logsMaxTotal; page++ {
		q := url.Values{"per_page": {fmt.Sprint(perPage)}, "page": {fmt.Sprint(page)}, "sort": {"date:-1"}}
		if query != "" {
			q.Set("q", query)
		}
		var batch []map[string]any
		if _, err := a.call(ctx, "GET", path, q, nil, &batch); err != nil {
			return nil, err
		}
		for _, e := range batch {
			id := str(e, "log_id")
			if len(events) == limit || (id != "" && seen[id]) {
				continue
			}
			seen[id] = true
			events = append(events, e)
		}
		if len(batch) < perPage {
			break
		}
	}
	return events, nil
}

func logsMigrationReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("logs migration-report", stderr)
	if err != nil {
		return err
	}
	days := fs.Int("days", 30, "how many days back to look")
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *days < 1 {
		return usageError{fmt.Errorf("--days must be at least 1")}
	}
	return t.with(ctx, stderr, func(a *api) error {
		var rep struct {
			Days          int              `json:"days"`
			Since         string           `json:"since"`
			Until         string           `json:"until"`
			Enforced      bool             `json:"enforced"`
			SafeToEnforce bool             `json:"safe_to_enforce"`
			Verdict       string           `json:"verdict"`
			Clients       []map[string]any `json:"clients"`
		}
		raw, err := a.call(ctx, "GET", "latchkey/migration-report", url.Values{"days": {fmt.Sprint(*days)}}, nil, &rep)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		fmt.Fprintf(stdout, "%s\nwindow: %s – %s (%d days); enforced: %v; safe to enforce: %v\n\n",
			rep.Verdict, rep.Since, rep.Until, rep.Days, rep.Enforced, rep.SafeToEnforce)
		rows := make([][]string, 0, len(rep.Clients))
		for _, c := range rep.Clients {
			var sdks []string
			if list, ok := c["sdks"].([]any); ok {
				for _, s := range list {
					if m, ok := s.(map[string]any); ok {
						sdks = append(sdks, fmt.Sprintf("%s@%s×%s", str(m, "name"), str(m, "version"), str(m, "count")))
					}
				}
			}
			name := str(c, "client_name")
			if c["deleted"] == true {
				name += " (deleted)"
			}
			rows = append(rows, []string{str(c, "client_id"), name, str(c, "app_type"), str(c, "unauthenticated_starts"),
				str(c, "first_seen"), str(c, "last_seen"), str(c, "ips"), strings.Join(sdks, ","), str(c, "would_break")})
		}
		return printTable(stdout, []string{"CLIENT_ID", "NAME", "APP_TYPE", "UNAUTH_STARTS", "FIRST_SEEN", "LAST_SEEN", "IPS", "SDKS", "WOULD_BREAK"}, rows)
	})
}
