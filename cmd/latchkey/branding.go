package main

import (
	"context"
	"io"
)

func runBranding(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "branding", []verb{
		{"get", "", "show the hosted login page's branding", oneless("branding get", "GET", "branding")},
		{"set", "PATH=VALUE…", "change it, e.g. colors.primary=#0059d6 logo_url=https://cdn.example.com/logo.png (VALUE null clears a field)", patchPaths("branding set", "branding")},
	}, args, stdout, stderr)
}
