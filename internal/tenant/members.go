package tenant

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// Console member roles, from the most to the least powerful.
const (
	RoleOwner  = "owner"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// Roles lists the console roles.
var Roles = []string{RoleOwner, RoleEditor, RoleViewer}

// MaxMembers bounds the console's member list.
const MaxMembers = 200

// CheckMembers checks the console members: a plausible email address
// each (lower case, as sign-in compares it), a known role, no one twice.
func CheckMembers(ms []store.Member) error {
	if len(ms) > MaxMembers {
		return fmt.Errorf("latchkey.members: %d members, at most %d", len(ms), MaxMembers)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		local, domain, ok := strings.Cut(m.Email, "@")
		switch {
		case !ok || local == "" || domain == "" || strings.ContainsAny(m.Email, " \t\r\n<>,;") || len(m.Email) > 254:
			return fmt.Errorf("latchkey.members[%d].email: %q is not an email address", i, m.Email)
		case m.Email != strings.ToLower(m.Email):
			return fmt.Errorf("latchkey.members[%d].email: %q must be lower case", i, m.Email)
		case !slices.Contains(Roles, m.Role):
			return fmt.Errorf("latchkey.members[%d].role: %q is not one of %s", i, m.Role, strings.Join(Roles, ", "))
		case seen[m.Email]:
			return fmt.Errorf("latchkey.members[%d]: %s is listed twice", i, m.Email)
		}
		seen[m.Email] = true
	}
	return nil
}

// MemberRole is the console role of email ("" when it is no member).
func MemberRole(ms []store.Member, email string) string {
	email = strings.ToLower(email)
	for _, m := range ms {
		if m.Email == email {
			return m.Role
		}
	}
	return ""
}

// ConsoleClientID is the operator console's application: built in, never
// stored (so it is in no list, tenant file or export), public, and allowed
// the email connection whatever its enabled_clients say. Members sign in
// through it with Latchkey's own hosted page.
const ConsoleClientID = "latchkey-console"

// ConsoleCallbackPath is the console's callback, under the issuer.
const ConsoleCallbackPath = "admin/callback"

// ConsoleClient is the console's application for the issuer (with its
// trailing slash).
func ConsoleClient(issuer string) store.Client {
	return store.Client{ClientID: ConsoleClientID, Name: "Latchkey console", AppType: "spa",
		TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code"},
		Callbacks: []string{issuer + ConsoleCallbackPath}, IsFirstParty: true}
}
