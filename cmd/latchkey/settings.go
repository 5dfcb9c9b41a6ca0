package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

func runSettings(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "settings", []verb{
		{"get", "", "show the tenant settings", oneless("settings get", "GET", "tenants/settings")},
		{"set", "PATH=VALUE…", "change settings, e.g. flags.enforce_client_authentication_on_passwordless_start=true (VALUE is JSON when it parses, else a string)", patchPaths("settings set", "tenants/settings")},
	}, args, stdout, stderr)
}

// oneless runs a verb without arguments: method on path, printing the response.
func oneless(name, method, path string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		var t target
		fs, err := t.newFlagSet(name, stderr)
		if err != nil {
			return err
		}
		if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
			return err
		}
		return t.with(ctx, stderr, func(a *api) error {
			raw, err := a.call(ctx, method, path, nil, nil, nil)
			if err != nil {
				return err
			}
			return a.output(stdout, raw)
		})
	}
}

// patchPaths is a "set PATH=VALUE…" verb: it builds a JSON patch from the
// arguments (setPath) and sends it to the Management API's endpoint.
func patchPaths(name, endpoint string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		var t target
		fs, err := t.newFlagSet(name, stderr)
		if err != nil {
			return err
		}
		pos, err := t.parseArgs(fs, args, 1, -1)
		if err != nil {
			return err
		}
		patch := map[string]any{}
		for _, a := range pos {
			if err := setPath(patch, a); err != nil {
				return usageError{err}
			}
		}
		return t.with(ctx, stderr, func(a *api) error {
			raw, err := a.call(ctx, "PATCH", endpoint, nil, patch, nil)
			if err != nil {
				return err
			}
			return a.output(stdout, raw)
		})
	}
}

// setPath sets a dotted PATH=VALUE assignment in obj, creating the objects
// on the way. VALUE is JSON when it parses as JSON, a string otherwise.
func setPath(obj map[string]any, assign string) error {
	path, raw, ok := strings.Cut(assign, "=")
	if !ok || path == "" {
		return fmt.Errorf("%q is not PATH=VALUE", assign)
	}
	var val any
	if json.Unmarshal([]byte(raw), &val) != nil {
		val = raw
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		if k == "" {
			return fmt.Errorf("%q: empty path segment", path)
		}
		if i == len(keys)-1 {
			if _, dup := obj[k]; dup {
				return fmt.Errorf("%q is set twice", path)
			}
			obj[k] = val
			break
		}
		next, ok := obj[k].(map[string]any)
		if !ok {
			if _, taken := obj[k]; taken {
				return fmt.Errorf("%q: %s is already set to a value", path, strings.Join(keys[:i+1], "."))
			}
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	return nil
}
