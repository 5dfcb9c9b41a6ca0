package server

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// consoleOwner is the address --console-owner names, or in --dev by
// default the person running the server ($USER@latchkey.localhost); ""
// for none.
func consoleOwner(cfg config.Config) string {
	if cfg.ConsoleOwner != "" || !cfg.Dev {
		return strings.ToLower(strings.TrimSpace(cfg.ConsoleOwner))
	}
	u := strings.ToLower(os.Getenv("USER"))
	if !userName.MatchString(u) {
		u = "dev"
	}
	return u + "@latchkey.localhost"
}

// ensureOwner makes email an owner of the console unless it is a member
// already (whatever its role: a change made since is kept).
func ensureOwner(ctx context.Context, st store.Store, email string) (added bool, err error) {
	s, err := st.GetSettings(ctx)
	if err != nil {
		return false, fmt.Errorf("read settings: %w", err)
	}
	if tenant.MemberRole(s.Latchkey.Members, email) != "" {
		return false, nil
	}
	s.Latchkey.Members = append(s.Latchkey.Members, store.Member{Email: email, Role: tenant.RoleOwner})
	if err := tenant.CheckMembers(s.Latchkey.Members); err != nil {
		return false, fmt.Errorf("--console-owner: %w", err)
	}
	if err := st.PutSettings(ctx, s); err != nil {
		return false, fmt.Errorf("write settings: %w", err)
	}
	return true, nil
}
