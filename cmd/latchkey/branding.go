package main

import (
	"context"
	"io"
)

func runBranding(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "branding", []verb{
		{"get", "", "show the hosted login page's branding", oneless("branding get", "GET", "branding")},
		{"set", "PATH=VALUE…", "change it, e.g. colors.primary=#0059d6 logo_url=https://cdn.example.com/logo.png (VALUE null clears a field)", brandingSet},
	}, args, stdout, stderr)
}

func brandingSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("branding set", stderr)
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
		raw, err := a.call(ctx, "PATCH", "branding", nil, patch, nil)
		if err != nil {
			return err
		}
		return a.output(stdout, raw)
	})
}
