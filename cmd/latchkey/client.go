package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// clientFields are the flags of client create and update (Auth0's field names).
var clientFields = []field{
	{"client-id", "client_id", kindString, "`id` to use (create only; generated when absent)"},
	{"client-secret", "client_secret", kindString, "`secret` to use (create only; generated for confidential apps when absent)"},
	{"name", "name", kindString, "display `name`"},
	{"description", "description", kindString, "`text` describing the application"},
	{"app-type", "app_type", kindString, "`type`: regular_web, native, spa or non_interactive"},
	{"token-endpoint-auth-method", "token_endpoint_auth_method", kindString, "`method`: none, client_secret_post or client_secret_basic"},
	{"grant-types", "grant_types", kindList, "comma-separated grant `types`"},
	{"callbacks", "callbacks", kindList, "comma-separated callback `URLs`"},
	{"allowed-logout-urls", "allowed_logout_urls", kindList, "comma-separated logout `URLs`"},
	{"web-origins", "web_origins", kindList, "comma-separated web `origins`"},
	{"allowed-origins", "allowed_origins", kindList, "comma-separated allowed `origins` (CORS)"},
	{"cross-origin-authentication", "cross_origin_authentication", kindBool, "allow cross-origin authentication"},
	{"is-token-endpoint-ip-header-trusted", "is_token_endpoint_ip_header_trusted", kindBool, "trust auth0-forwarded-for from this client"},
	{"refresh-token", "refresh_token", kindJSON, "refresh-token settings as a `JSON` object in Auth0's shape (rotation_type, expiration_type, leeway, token_lifetime, idle_token_lifetime, infinite_*; replaces them all)"},
}

func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "client", []verb{
		{"create", "[flags]", "create an application (prints its secret once)", createVerb("client create", "clients", clientFields, "name", "--name is required")},
		{"list", "", "list the applications", clientList},
		{"get", "CLIENT_ID", "show an application", clientGet},
		{"update", "CLIENT_ID [flags]", "change the fields given", clientUpdate},
		{"delete", "CLIENT_ID", "delete an application", clientDelete},
		{"rotate-secret", "CLIENT_ID", "give an application a new secret (prints it once)", clientRotate},
	}, args, stdout, stderr)
}

// with opens the API, runs f and closes it.
func (t *target) with(ctx context.Context, stderr io.Writer, f func(*api) error) error {
	a, err := t.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}

func clientList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("client list", stderr)
	if err != nil {
		return err
	}
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		all, err := a.listAll(ctx, "clients", nil)
		if err != nil {
			return err
		}
		if a.asJSON {
			return printJSON(stdout, all)
		}
		rows := make([][]string, 0, len(all))
		for _, c := range all {
			rows = append(rows, []string{str(c, "client_id"), str(c, "name"), str(c, "app_type"), str(c, "token_endpoint_auth_method"), str(c, "grant_types")})
		}
		return printTable(stdout, []string{"CLIENT_ID", "NAME", "APP_TYPE", "AUTH_METHOD", "GRANT_TYPES"}, rows)
	})
}

// oneID runs a verb that takes one id: method on path/ID, printing the response.
func oneID(name, method, path, suffix string, resolve resolver) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
		var body any
		if method == "POST" {
			body = map[string]any{}
		}
		return t.with(ctx, stderr, func(a *api) error {
			id, err := resolve.id(ctx, a, pos[0])
			if err != nil {
				return err
			}
			raw, err := a.call(ctx, method, path+"/"+url.PathEscape(id)+suffix, nil, body, nil)
			if err != nil {
				return err
			}
			if method == "DELETE" {
				if a.asJSON {
					return printJSON(stdout, map[string]any{"deleted": pos[0]})
				}
				_, err := fmt.Fprintf(stdout, "deleted %s\n", pos[0])
				return err
			}
			return a.output(stdout, raw)
		})
	}
}

var (
	clientGet    = oneID("client get", "GET", "clients", "", nil)
	clientDelete = oneID("client delete", "DELETE", "clients", "", nil)
	clientRotate = oneID("client rotate-secret", "POST", "clients", "/rotate-secret", nil)
)

func clientUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return patchByID(ctx, "client update", "clients", clientFields, nil, args, stdout, stderr)
}

// patchByID runs an update verb: PATCH path/ID with the fields the flags give.
func patchByID(ctx context.Context, name, path string, fields []field, resolve resolver, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet(name, stderr)
	if err != nil {
		return err
	}
	ff := newFieldFlags(fs, fields)
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	body, err := ff.body()
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return usageError{errors.New("nothing to change: give some field flags or --data")}
	}
	return t.with(ctx, stderr, func(a *api) error {
		id, err := resolve.id(ctx, a, pos[0])
		if err != nil {
			return err
		}
		raw, err := a.call(ctx, "PATCH", path+"/"+url.PathEscape(id), nil, body, nil)
		if err != nil {
			return err
		}
		return a.output(stdout, raw)
	})
}

// resolver turns what the user typed into an id (nil: as typed).
type resolver func(ctx context.Context, a *api, arg string) (string, error)

func (r resolver) id(ctx context.Context, a *api, arg string) (string, error) {
	if r == nil {
		return arg, nil
	}
	return r(ctx, a, arg)
}
