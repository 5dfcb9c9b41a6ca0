package main

import (
	"context"
	"io"
	"net/url"
)

// connectionFields are the flags of connection create and update.
var connectionFields = []field{
	{"name", "name", kindString, "connection `name` (create only): email or sms, like the strategy"},
	{"strategy", "strategy", kindString, "`strategy`: email or sms (create only)"},
	{"enabled-clients", "enabled_clients", kindList, "comma-separated `client_ids` that may use the connection"},
	{"options", "options", kindJSON, "options as a `JSON` object (replaces them all)"},
}

func runConnection(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "connection", []verb{
		{"create", "[flags]", "create a connection", createVerb("connection create", "connections", connectionFields, "strategy", "--strategy is required (email or sms)")},
		{"list", "", "list the connections", connectionList},
		{"get", "ID|NAME", "show a connection", oneID("connection get", "GET", "connections", "", connectionID)},
		{"update", "ID|NAME [flags]", "change the fields given", connectionUpdate},
		{"delete", "ID|NAME", "delete a connection", oneID("connection delete", "DELETE", "connections", "", connectionID)},
	}, args, stdout, stderr)
}

// connectionID accepts a connection's name as well as its id.
func connectionID(ctx context.Context, a *api, arg string) (string, error) {
	var found []map[string]any
	if _, err := a.call(ctx, "GET", "connections", url.Values{"name": {arg}}, nil, &found); err != nil {
		return "", err
	}
	if len(found) == 1 {
		return str(found[0], "id"), nil
	}
	return arg, nil
}

func connectionList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("connection list", stderr)
	if err != nil {
		return err
	}
	strategy := fs.String("strategy", "", "only connections of this strategy")
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if *strategy != "" {
		q.Set("strategy", *strategy)
	}
	return t.with(ctx, stderr, func(a *api) error {
		all, err := a.listAll(ctx, "connections", q)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printJSON(stdout, all)
		}
		rows := make([][]string, 0, len(all))
		for _, c := range all {
			rows = append(rows, []string{str(c, "id"), str(c, "name"), str(c, "strategy"), str(c, "enabled_clients")})
		}
		return printTable(stdout, []string{"ID", "NAME", "STRATEGY", "ENABLED_CLIENTS"}, rows)
	})
}

func connectionUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return patchByID(ctx, "connection update", "connections", connectionFields, connectionID, args, stdout, stderr)
}
