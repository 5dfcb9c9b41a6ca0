package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/latchkey/latchkey/internal/buildinfo"
)

// runVersion prints the build: version, commit and Go version.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	info := buildinfo.Read()
	if *asJSON {
		return printJSON(stdout, info)
	}
	fmt.Fprintln(stdout, info)
	return nil
}
