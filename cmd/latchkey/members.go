package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

func runMembers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "members", []verb{
		{"list", "", "list the console's members and their roles", membersList},
		{"add", "EMAIL", "add a member, or change a member's role (--role owner|editor|viewer)", membersAdd},
		{"remove", "EMAIL", "remove a member", membersRemove},
	}, args, stdout, stderr)
}

// members reads the member list through the Management API.
func members(ctx context.Context, a *api) ([]store.Member, error) {
	var s struct {
		Latchkey struct {
			Members []store.Member `json:"members"`
		} `json:"latchkey"`
	}
	raw, err := a.call(ctx, "GET", "tenants/settings", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read the settings: %w", err)
	}
	return s.Latchkey.Members, nil
}

func printMembers(w io.Writer, a *api, ms []store.Member) error {
	if a.asJSON {
		return printJSON(w, ms)
	}
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{m.Email, m.Role})
	}
	return printTable(w, []string{"EMAIL", "ROLE"}, rows)
}

func membersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("members list", stderr)
	if err != nil {
		return err
	}
	if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	return t.with(ctx, stderr, func(a *api) error {
		ms, err := members(ctx, a)
		if err != nil {
			return err
		}
		return printMembers(stdout, a, ms)
	})
}

// changeMembers applies f to the member list and saves it (PATCH
// latchkey.members), then prints the list.
func changeMembers(ctx context.Context, t *target, stdout, stderr io.Writer, f func([]store.Member) ([]store.Member, error)) error {
	return t.with(ctx, stderr, func(a *api) error {
		ms, err := members(ctx, a)
		if err != nil {
			return err
		}
		if ms, err = f(ms); err != nil {
			return err
		}
		body := map[string]any{"latchkey": map[string]any{"members": ms}}
		if _, err := a.call(ctx, "PATCH", "tenants/settings", nil, body, nil); err != nil {
			return err
		}
		return printMembers(stdout, a, ms)
	})
}

func membersAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("members add", stderr)
	if err != nil {
		return err
	}
	role := fs.String("role", tenant.RoleViewer, "the member's role: owner, editor or viewer")
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if !slices.Contains(tenant.Roles, *role) {
		return usageError{fmt.Errorf("--role %q: want one of %s", *role, strings.Join(tenant.Roles, ", "))}
	}
	email := strings.ToLower(strings.TrimSpace(pos[0]))
	return changeMembers(ctx, &t, stdout, stderr, func(ms []store.Member) ([]store.Member, error) {
		if i := slices.IndexFunc(ms, func(m store.Member) bool { return m.Email == email }); i >= 0 {
			ms[i].Role = *role
			return ms, nil
		}
		return append(ms, store.Member{Email: email, Role: *role}), nil
	})
}

func membersRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs, err := t.newFlagSet("members remove", stderr)
	if err != nil {
		return err
	}
	pos, err := t.parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(pos[0]))
	return changeMembers(ctx, &t, stdout, stderr, func(ms []store.Member) ([]store.Member, error) {
		i := slices.IndexFunc(ms, func(m store.Member) bool { return m.Email == email })
		if i < 0 {
			return nil, fmt.Errorf("%s is not a member", email)
		}
		return slices.Delete(ms, i, i+1), nil
	})
}
