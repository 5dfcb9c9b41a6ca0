package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
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
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if t.server != "" {
		return usageError{errors.New("apply works on the store (--data-dir / --database-url), not with --server")}
	}
	return t.with(ctx, stderr, func(a *api) error {
		res, err := a.local.ApplyFile(ctx, pos[0])
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if res.GeneratedSecrets == nil {
			res.GeneratedSecrets = map[string]string{}
		}
		if a.asJSON {
			return printJSON(stdout, map[string]any{"file": pos[0], "changed": res.Changed, "generated_secrets": res.GeneratedSecrets})
		}
		fmt.Fprintf(stdout, "applied %s: %d change(s)\n", pos[0], res.Changed)
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
