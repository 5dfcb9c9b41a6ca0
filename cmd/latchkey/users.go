package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
)

// userFields are the flags of users create.
var userFields = []field{
	{"connection", "connection", kindString, "`connection`: email or sms (required)"},
	{"email", "email", kindString, "email `address` (email connection)"},
	{"phone-number", "phone_number", kindString, "phone `number` in E.164 (sms connection)"},
	{"email-verified", "email_verified", kindBool, "mark the email address verified"},
	{"phone-verified", "phone_verified", kindBool, "mark the phone number verified"},
	{"user-id", "user_id", kindString, "identity `id` to use instead of the derived one (migrated users)"},
}

func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "users", []verb{
		{"list", "[--page N] [--per-page N]", "list users, a page at a time", usersList},
		{"get", "USER_ID", "show a user", oneID("users get", "GET", "users", "", nil)},
		{"block", "USER_ID", "block a user: no more logins", usersBlock(true)},
		{"unblock", "USER_ID", "unblock a user", usersBlock(false)},
		{"create", "--connection C --email E|--phone-number P", "create a user", createVerb("users create", "users", userFields, "connection", "--connection is required (email or sms)")},
		{"delete", "USER_ID", "delete a user", oneID("users delete", "DELETE", "users", "", nil)},
		{"logs", "USER_ID [--limit N]", "a user's log events, newest first", usersLogs},
		{"blocks", "USER_ID|--identifier X", "brute-force blocks of a user: which IPs may not log in", usersBlocks},
		{"unblock-attempts", "USER_ID|--identifier X", "lift a user's brute-force blocks", usersUnblockAttempts},
	}, args, stdout, stderr)
}

func usersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("users list", stderr)
	if err != nil {
		return err
	}
	page := fs.Int("page", 0, "page number, from 0")
	perPage := fs.Int("per-page", 50, "users per page (at most 100)")
	query := fs.String("q", "", `one exact lookup, e.g. 'email:"ana@example.com"'`)
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *page < 0 || *perPage < 1 || *perPage > 100 {
		return usageError{fmt.Errorf("--page must be ≥ 0 and --per-page 1–100")}
	}
	q := url.Values{"page": {fmt.Sprint(*page)}, "per_page": {fmt.Sprint(*perPage)}, "include_totals": {"true"}}
	if *query != "" {
		q.Set("q", *query)
	}
	return t.with(ctx, stderr, func(a *api) error {
		var res struct {
			Users []map[string]any `json:"users"`
			Total int              `json:"total"`
		}
		raw, err := a.call(ctx, "GET", "users", q, nil, &res)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		rows := make([][]string, 0, len(res.Users))
		for _, u := range res.Users {
			conn := ""
			if ids, ok := u["identities"].([]any); ok && len(ids) > 0 {
				if id, ok := ids[0].(map[string]any); ok {
					conn = str(id, "connection")
				}
			}
			rows = append(rows, []string{str(u, "user_id"), str(u, "email"), str(u, "phone_number"), conn,
				str(u, "blocked"), str(u, "last_login"), str(u, "logins_count")})
		}
		if err := printTable(stdout, []string{"USER_ID", "EMAIL", "PHONE_NUMBER", "CONNECTION", "BLOCKED", "LAST_LOGIN", "LOGINS"}, rows); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "page %d: %d of %d user(s)\n", *page, len(res.Users), res.Total)
		return err
	})
}

func usersBlock(blocked bool) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "users unblock"
	if blocked {
		name = "users block"
	}
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		var t target
		fs, err := t.newFlagSet(name, stderr)
		if err != nil {
			return err
		}
		pos, err := t.parseArgs(fs, args, 1, 1)
		if err != nil {
			return err
		}
		return t.with(ctx, stderr, func(a *api) error {
			raw, err := a.call(ctx, "PATCH", "users/"+url.PathEscape(pos[0]), nil, map[string]any{"blocked": blocked}, nil)
			if err != nil {
				return err
			}
			if a.asJSON {
				return printRaw(stdout, raw)
			}
			_, err = fmt.Fprintf(stdout, "%s: blocked=%v\n", pos[0], blocked)
			return err
		})
	}
}

func usersLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("users logs", stderr)
	if err != nil {
		return err
	}
	limit := fs.Int("limit", 50, fmt.Sprintf("how many events at most (1–%d)", logsMaxTotal))
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > logsMaxTotal {
		return usageError{fmt.Errorf("--limit must be 1–%d", logsMaxTotal)}
	}
	return t.with(ctx, stderr, func(a *api) error {
		events, err := searchLogs(ctx, a, "users/"+url.PathEscape(pos[0])+"/logs", "", *limit)
		if err != nil {
			return err
		}
		return printLogs(stdout, a.asJSON, events)
	})
}
