package mgmtapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/passwordless"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/tenant"
)

// identityJSON is one of a user's identities; a passwordless user has
// exactly one.
type identityJSON struct {
	Connection string `json:"connection"`
	UserID     string `json:"user_id"`
	Provider   string `json:"provider"`
	IsSocial   bool   `json:"isSocial"`
}

// userJSON is a user as Auth0's Management API shows it. The fields of the
// other channel (email on an sms user and the reverse) and the login
// fields of a user who never logged in are left out, as Auth0 does.
type userJSON struct {
	UserID        string         `json:"user_id"`
	Email         string         `json:"email,omitempty"`
	EmailVerified *bool          `json:"email_verified,omitempty"`
	PhoneNumber   string         `json:"phone_number,omitempty"`
	PhoneVerified *bool          `json:"phone_verified,omitempty"`
	Name          string         `json:"name"`
	Nickname      string         `json:"nickname"`
	Identities    []identityJSON `json:"identities"`
	CreatedAt     string         `json:"created_at"`
	UpdatedAt     string         `json:"updated_at"`
	LastLogin     string         `json:"last_login,omitempty"`
	LastIP        string         `json:"last_ip,omitempty"`
	LoginsCount   int            `json:"logins_count,omitempty"`
	Blocked       bool           `json:"blocked"`
}

// timeJSON is Auth0's timestamp format (UTC, milliseconds).
func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func userOut(u store.User) userJSON {
	provider, id, _ := strings.Cut(u.UserID, "|")
	profile := oauth.Profile(u, []string{"profile"})
	out := userJSON{
		UserID: u.UserID, Name: profile.Name, Nickname: profile.Nickname,
		Identities: []identityJSON{{Connection: u.Connection, UserID: id, Provider: provider}},
		CreatedAt:  timeJSON(u.CreatedAt), UpdatedAt: timeJSON(u.UpdatedAt),
		LastLogin: timeJSON(u.LastLogin), LastIP: u.LastIP, LoginsCount: u.LoginsCount, Blocked: u.Blocked,
	}
	if u.Email != "" {
		out.Email, out.EmailVerified = u.Email, &u.EmailVerified
	}
	if u.PhoneNumber != "" {
		out.PhoneNumber, out.PhoneVerified = u.PhoneNumber, &u.PhoneVerified
	}
	return out
}

func usersOut(us []store.User) []userJSON {
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, userOut(u))
	}
	return out
}

var (
	errNoUser     = httpx.Errorf(http.StatusNotFound, "inexistent_user", "The user does not exist.")
	errUserExists = httpx.Errorf(http.StatusConflict, "auth0_idp_error", "The user already exists.")
)

// checkUserID refuses a path id that cannot be a user id
// ("<provider>|<id>"), as Auth0 does, before any lookup.
func checkUserID(id string) error {
	provider, rest, ok := strings.Cut(id, "|")
	if !ok || provider == "" || rest == "" || len(id) > 512 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return httpx.Errorf(http.StatusBadRequest, "invalid_uri", "Path validation error: 'Object didn't pass validation for format user-id: %s' on property id (ID of the user).", id)
	}
	return nil
}

func (a *API) user(r *http.Request) (store.User, error) {
	id := r.PathValue("id")
	if err := checkUserID(id); err != nil {
		return store.User{}, err
	}
	u, err := a.Store.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return u, errNoUser
	}
	if err != nil {
		return u, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// userQuery is the subset of Auth0's user search syntax Latchkey answers:
// one exact lookup, field:"value" or field:value.
var userQuery = regexp.MustCompile(`^\s*(email|phone_number|user_id)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"():*]+))\s*$`)

func parseUserQuery(q string) (field, value string, err error) {
	m := userQuery.FindStringSubmatch(q)
	if m == nil {
		return "", "", httpx.Errorf(http.StatusBadRequest, "invalid_query_string",
			`Query validation error: Latchkey supports only q=email:"…", q=phone_number:"…" or q=user_id:"…"`)
	}
	value = m[3]
	if m[3] == "" {
		value = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
	}
	return m[1], value, nil
}

// findUsers returns the users whose field equals value exactly (emails
// compared in lower case, as they are stored).
func (a *API) findUsers(ctx context.Context, field, value string) ([]store.User, error) {
	if field == "user_id" {
		u, err := a.Store.GetUser(ctx, value)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("read user: %w", err)
		}
		return []store.User{u}, nil
	}
	strategy, ident := "sms", value
	if field == "email" {
		strategy = "email"
		var err error
		if ident, err = passwordless.NormalizeEmail(value); err != nil {
			return nil, nil // no user can have it
		}
	} else if !passwordless.ValidPhoneNumber(value) {
		return nil, nil
	}
	conns, err := a.Store.ListConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	var out []store.User
	for _, c := range conns {
		if c.Strategy != strategy {
			continue
		}
		u, err := a.Store.FindUser(ctx, c.Name, ident)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find user: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// listUsers pages by offset (oldest first). q may make one exact lookup;
// search_engine is accepted and ignored.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := readPage(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	start := p.Page * p.PerPage
	var users []store.User
	var total int
	if q := r.URL.Query().Get("q"); q != "" {
		field, value, err := parseUserQuery(q)
		if err != nil {
			return err
		}
		all, err := a.findUsers(ctx, field, value)
		if err != nil {
			return err
		}
		from, to := p.slice(len(all))
		users, total = all[from:to], len(all)
	} else {
		if p.PerPage > 0 {
			if users, err = a.Store.ListUsers(ctx, start, p.PerPage); err != nil {
				return fmt.Errorf("list users: %w", err)
			}
		}
		if p.Totals {
			if total, err = a.Store.CountUsers(ctx); err != nil {
				return fmt.Errorf("count users: %w", err)
			}
		}
	}
	out := usersOut(users)
	if !p.Totals {
		httpx.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"users": out, "start": start, "limit": p.PerPage, "length": len(out), "total": total})
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, userOut(u))
	return nil
}

// usersByEmail is GET /api/v2/users-by-email: an array, without paging.
func (a *API) usersByEmail(w http.ResponseWriter, r *http.Request) error {
	email := r.URL.Query().Get("email")
	if email == "" {
		return httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'Missing required property: email'")
	}
	if _, err := passwordless.NormalizeEmail(email); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_query_string", "Query validation error: 'Object didn't pass validation for format email: %s' on property email", email)
	}
	users, err := a.findUsers(r.Context(), "email", email)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, usersOut(users))
	return nil
}

// userCreate is the body of POST /api/v2/users that Latchkey takes. Other
// Auth0 fields (names, picture, metadata, password) are refused: Latchkey
// does not store them.
type userCreate struct {
	Connection    string  `json:"connection"`
	Email         *string `json:"email"`
	PhoneNumber   *string `json:"phone_number"`
	EmailVerified *bool   `json:"email_verified"`
	PhoneVerified *bool   `json:"phone_verified"`
	Blocked       *bool   `json:"blocked"`
	VerifyEmail   *bool   `json:"verify_email"`
	// UserID is the identity id to use instead of the derived one (for
	// users migrated from another tenant).
	UserID *string `json:"user_id"`
}

var identityIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// buildUser validates a create body against its connection and returns the
// new user (without times).
func (a *API) buildUser(conn store.Connection, b userCreate) (store.User, error) {
	u := store.User{Connection: conn.Name}
	switch conn.Strategy {
	case "email":
		if b.Email == nil || *b.Email == "" {
			return u, badRequest("'Missing required property: email'")
		}
		if b.PhoneNumber != nil || b.PhoneVerified != nil {
			return u, badRequest("phone_number and phone_verified are only valid for users of an sms connection")
		}
		ident, err := passwordless.NormalizeEmail(*b.Email)
		if err != nil {
			return u, badRequest("'Object didn't pass validation for format email: %s' on property email", *b.Email)
		}
		u.Identifier, u.Email = ident, ident
		u.EmailVerified = b.EmailVerified != nil && *b.EmailVerified
	case "sms":
		if b.PhoneNumber == nil || *b.PhoneNumber == "" {
			return u, badRequest("'Missing required property: phone_number'")
		}
		if b.Email != nil || b.EmailVerified != nil || b.VerifyEmail != nil {
			return u, badRequest("email, email_verified and verify_email are only valid for users of an email connection")
		}
		if !passwordless.ValidPhoneNumber(*b.PhoneNumber) {
			return u, badRequest(`'String does not match pattern: ^\+[0-9]{1,15}$' on property phone_number`)
		}
		u.Identifier, u.PhoneNumber = *b.PhoneNumber, *b.PhoneNumber
		u.PhoneVerified = b.PhoneVerified != nil && *b.PhoneVerified
	}
	if b.VerifyEmail != nil && *b.VerifyEmail {
		return u, badRequest("verify_email: Latchkey sends no verification emails; the first login with a code verifies the address")
	}
	u.Blocked = b.Blocked != nil && *b.Blocked
	u.UserID = passwordless.UserID(a.Seal, conn, u.Identifier)
	if b.UserID != nil {
		if !identityIDPattern.MatchString(*b.UserID) {
			return u, badRequest("user_id: %q must be 1 to 64 letters, digits, '_', '.' or '-' (the part after %q)", *b.UserID, conn.Strategy+"|")
		}
		u.UserID = conn.Strategy + "|" + *b.UserID
	}
	return u, nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var b userCreate
	if err := decodeStrict(raw, &b); err != nil {
		return err
	}
	if b.Connection == "" {
		return badRequest("'Missing required property: connection'")
	}
	conn, err := a.Store.GetConnectionByName(r.Context(), b.Connection)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tenant.IsPasswordless(conn)) {
		return httpx.Errorf(http.StatusBadRequest, "inexistent_connection", "The connection does not exist.")
	}
	if err != nil {
		return fmt.Errorf("read connection: %w", err)
	}
	u, err := a.buildUser(conn, b)
	if err != nil {
		return err
	}
	u.CreatedAt = a.Now()
	u.UpdatedAt = u.CreatedAt
	if err := a.Store.CreateUser(r.Context(), u); errors.Is(err, store.ErrConflict) {
		return errUserExists
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, userOut(u))
	return nil
}

// userPatch is the body of PATCH /api/v2/users/{id} that Latchkey takes.
type userPatch struct {
	Blocked       *bool `json:"blocked"`
	EmailVerified *bool `json:"email_verified"`
	PhoneVerified *bool `json:"phone_verified"`
	// Connection may name the user's own connection (Auth0 clients send it
	// with email and phone changes).
	Connection *string `json:"connection"`
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) error {
	raw, err := readObject(r)
	if err != nil {
		return err
	}
	var p userPatch
	if err := decodeStrict(raw, &p); err != nil {
		return err
	}
	if err := needFields(raw); err != nil {
		return err
	}
	old, err := a.user(r)
	if err != nil {
		return err
	}
	switch {
	case p.Connection != nil && *p.Connection != old.Connection:
		return badRequest("connection: the user belongs to %q", old.Connection)
	case p.EmailVerified != nil && old.Email == "":
		return badRequest("email_verified: the user has no email")
	case p.PhoneVerified != nil && old.PhoneNumber == "":
		return badRequest("phone_verified: the user has no phone_number")
	}
	u, err := a.Store.UpdateUserFlags(r.Context(), old.UserID, store.UserFlags{
		Blocked: p.Blocked, EmailVerified: p.EmailVerified, PhoneVerified: p.PhoneVerified, At: a.Now()})
	if errors.Is(err, store.ErrNotFound) {
		return errNoUser
	}
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if p.Blocked != nil && *p.Blocked {
		// A blocked user's refresh tokens die with the block: unblocking
		// does not bring them back.
		if _, err := a.Store.RevokeRefreshTokens(r.Context(), store.RefreshTokenFilter{UserID: u.UserID}); err != nil {
			return fmt.Errorf("revoke the blocked user's refresh tokens: %w", err)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, userOut(u))
	return nil
}

// deleteUser deletes the user and their refresh tokens. As in Auth0, it is
// idempotent: deleting an unknown (well-formed) id is a 204 too.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkUserID(id); err != nil {
		return err
	}
	if err := a.Store.DeleteUser(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete user: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// needFields refuses an empty JSON object, as Auth0 does for a PATCH.
func needFields(raw []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(fields) == 0 {
		return badRequest("'Too few properties defined (0), minimum 1'")
	}
	return nil
}
