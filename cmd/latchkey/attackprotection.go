package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// attackObjects are the attack-protection settings objects, by the name
// of their API path.
var attackObjects = []string{"brute-force-protection", "suspicious-ip-throttling"}

func runAttackProtection(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "attack-protection", []verb{
		{"get", "", "show brute-force protection and suspicious IP throttling", attackGet},
		{"set", "OBJECT.PATH=VALUE…", "change them, e.g. brute-force-protection.max_attempts=5 or suspicious-ip-throttling.stage.pre-login.rate=100000 (VALUE is JSON when it parses, else a string)", attackSet},
	}, args, stdout, stderr)
}

func attackGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("attack-protection get", stderr)
	if err != nil {
		return err
	}
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		return a.printAttackProtection(ctx, stdout, nil)
	})
}

// printAttackProtection prints both objects as one: {"brute-force-protection":
// {…}, "suspicious-ip-throttling": {…}}; known holds the ones already read.
func (a *api) printAttackProtection(ctx context.Context, stdout io.Writer, known map[string]json.RawMessage) error {
	all := map[string]json.RawMessage{}
	for _, name := range attackObjects {
		if raw, ok := known[name]; ok {
			all[name] = raw
			continue
		}
		raw, err := a.call(ctx, "GET", "attack-protection/"+name, nil, nil, nil)
		if err != nil {
			return err
		}
		all[name] = raw
	}
	raw, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	return a.output(stdout, raw)
}

func attackSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("attack-protection set", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	patch := map[string]any{}
	for _, assign := range pos {
		path, val, ok := strings.Cut(assign, "=")
		if !ok {
			return usageError{fmt.Errorf("%q is not OBJECT.PATH=VALUE", assign)}
		}
		// brute_force_protection (the tenant file's spelling) works too.
		obj, rest, nested := strings.Cut(path, ".")
		obj = strings.ReplaceAll(obj, "_", "-")
		if !slices.Contains(attackObjects, obj) {
			return usageError{fmt.Errorf("%q: the path must start with %s", assign, strings.Join(attackObjects, " or "))}
		}
		if nested {
			obj += "." + rest
		}
		if err := setPath(patch, obj+"="+val); err != nil {
			return usageError{err}
		}
	}
	bodies := map[string]map[string]any{}
	for name, v := range patch {
		body, ok := v.(map[string]any)
		if !ok {
			return usageError{fmt.Errorf("%s must be set to a JSON object or by its fields (%s.FIELD=VALUE)", name, name)}
		}
		bodies[name] = body
	}
	return t.with(ctx, stderr, func(a *api) error {
		done := map[string]json.RawMessage{}
		for _, name := range attackObjects {
			body, ok := bodies[name]
			if !ok {
				continue
			}
			raw, err := a.call(ctx, "PATCH", "attack-protection/"+name, nil, body, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			done[name] = raw
		}
		return a.printAttackProtection(ctx, stdout, done)
	})
}

// blockTarget reads USER_ID or --identifier X: the user-blocks path and
// query, and what to call it in messages.
func blockTarget(name string, args []string, stderr io.Writer) (*target, string, url.Values, string, error) {
	t := &target{}
	fs, err := t.newFlagSet(name, stderr)
	if err != nil {
		return nil, "", nil, "", err
	}
	identifier := fs.String("identifier", "", "an email `address` or phone number instead of a USER_ID")
	pos, err := t.parseArgs(fs, args, 0, 1)
	if err != nil {
		return nil, "", nil, "", err
	}
	switch {
	case len(pos) == 1 && *identifier != "":
		return nil, "", nil, "", usageError{errors.New("give a USER_ID or --identifier, not both")}
	case len(pos) == 1:
		return t, "user-blocks/" + url.PathEscape(pos[0]), nil, pos[0], nil
	case *identifier != "":
		return t, "user-blocks", url.Values{"identifier": {*identifier}}, *identifier, nil
	default:
		return nil, "", nil, "", usageError{errors.New("give a USER_ID or --identifier (an email address or phone number)")}
	}
}

func usersBlocks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, path, query, _, err := blockTarget("users blocks", args, stderr)
	if err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		var res struct {
			BlockedFor []map[string]any `json:"blocked_for"`
		}
		raw, err := a.call(ctx, "GET", path, query, nil, &res)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printRaw(stdout, raw)
		}
		rows := make([][]string, 0, len(res.BlockedFor))
		for _, b := range res.BlockedFor {
			ip := str(b, "ip")
			if ip == "" {
				ip = "(any)"
			}
			rows = append(rows, []string{str(b, "identifier"), ip, str(b, "connection")})
		}
		if err := printTable(stdout, []string{"IDENTIFIER", "IP", "CONNECTION"}, rows); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%d brute-force block(s)\n", len(rows))
		return err
	})
}

func usersUnblockAttempts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, path, query, who, err := blockTarget("users unblock-attempts", args, stderr)
	if err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		if _, err := a.call(ctx, "DELETE", path, query, nil, nil); err != nil {
			return err
		}
		if a.asJSON {
			return printJSON(stdout, map[string]any{"unblocked": who})
		}
		_, err := fmt.Fprintf(stdout, "lifted the brute-force blocks of %s\n", who)
		return err
	})
}

func runIPs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "ips", []verb{
		{"blocked", "IP", "whether suspicious IP throttling blocks an IP", ipsBlocked},
		{"unblock", "IP", "lift suspicious IP throttling of an IP", ipsUnblock},
	}, args, stdout, stderr)
}

func ipsBlocked(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("ips blocked", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ip := pos[0]
	return t.with(ctx, stderr, func(a *api) error {
		blocked := true
		_, err := a.call(ctx, "GET", "anomaly/blocks/ips/"+url.PathEscape(ip), nil, nil, nil)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.ErrorCode != "not_found":
			blocked = false // 404 is the answer "not blocked"; not_found is a missing route
		case err != nil:
			return err
		}
		if a.asJSON {
			return printJSON(stdout, map[string]any{"ip": ip, "blocked": blocked})
		}
		state := "not blocked"
		if blocked {
			state = "blocked"
		}
		_, err = fmt.Fprintf(stdout, "%s: %s\n", ip, state)
		return err
	})
}

func ipsUnblock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("ips unblock", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ip := pos[0]
	return t.with(ctx, stderr, func(a *api) error {
		if _, err := a.call(ctx, "DELETE", "anomaly/blocks/ips/"+url.PathEscape(ip), nil, nil, nil); err != nil {
			return err
		}
		if a.asJSON {
			return printJSON(stdout, map[string]any{"unblocked": ip})
		}
		_, err := fmt.Fprintf(stdout, "unblocked %s\n", ip)
		return err
	})
}
