package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/tenant"
)

// runApply applies a tenant file to the store, as serve --bootstrap does.
// It works on the store only (local mode): the tenant file sets secrets
// and grants as a whole, in one transaction, which the Management API
// cannot do in one call.
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t := target{create: true}
	fs, err := t.newFlagSet("apply", stderr)
	if err != nil {
		return err
	}
	diff := fs.Bool("diff", false, "print what applying the file would change and the runtime changes (drift) it would keep, and write nothing")
	force := fs.Bool("force", false, "make the file win for every field it states, overwriting runtime changes (as serve --bootstrap-mode=enforce)")
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if t.server != "" {
		return usageError{errors.New("apply works on the store (--data-dir / --database-url), not with --server")}
	}
	return t.with(ctx, stderr, func(a *api) error {
		res, err := a.local.ApplyFile(ctx, pos[0], tenant.ApplyOptions{Enforce: *force, DryRun: *diff})
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if res.GeneratedSecrets == nil {
			res.GeneratedSecrets = map[string]string{}
		}
		if a.asJSON {
			return printJSON(stdout, map[string]any{"file": pos[0], "dry_run": *diff, "enforced": *force,
				"changed": res.Changed, "fields": res.Fields, "drift": res.Drift, "generated_secrets": res.GeneratedSecrets})
		}
		kept := 0
		if !res.Enforced {
			kept = len(res.Drift)
		}
		if *diff {
			fmt.Fprintf(stdout, "%s (dry run, nothing written): %d change(s) to apply, %d runtime change(s) to keep\n", pos[0], res.Changed, kept)
		} else {
			fmt.Fprintf(stdout, "applied %s: %d change(s)\n", pos[0], res.Changed)
		}
		if rows := applyRows(res); len(rows) > 0 {
			if err := printTable(stdout, []string{"ACTION", "FIELD", "FILE", "STORE", "WHY"}, rows); err != nil {
				return err
			}
		}
		if kept > 0 && !*diff {
			fmt.Fprintf(stdout, "kept %d runtime change(s): %s\n", kept, server.DriftHint)
		}
		ids := make([]string, 0, len(res.GeneratedSecrets))
		for id := range res.GeneratedSecrets {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(stdout, "generated secret (shown once): client_id=%s client_secret=%s\n", id, res.GeneratedSecrets[id])
		}
		return nil
	})
}

// applyRows is the report of an apply as table rows: what the file sets,
// then the runtime changes the store keeps.
func applyRows(res tenant.Applied) [][]string {
	var rows [][]string
	row := func(action string, f tenant.Field) {
		rows = append(rows, []string{action, f.Path, string(f.File), string(f.Store), f.Why})
	}
	for _, f := range res.Fields {
		switch {
		case f.File == nil && f.Why == tenant.WhyNew:
			row("create", f)
		case f.File == nil:
			row("recreate", f)
		case f.Why == tenant.WhyOverwritten:
			row("overwrite", f)
		default:
			row("set", f)
		}
	}
	if res.Enforced {
		return rows // the drift was overwritten: listed above
	}
	for _, f := range res.Drift {
		if f.File == nil {
			row("keep deleted", f)
		} else {
			row("keep", f)
		}
	}
	return rows
}
