package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// usersPerPage is the users list's page size.
const usersPerPage = 50

// userView is a user as the Management API shows it.
type userView struct {
	UserID        string    `json:"user_id"`
	Email         string    `json:"email"`
	EmailVerified *bool     `json:"email_verified"`
	PhoneNumber   string    `json:"phone_number"`
	PhoneVerified *bool     `json:"phone_verified"`
	Identities    []ident   `json:"identities"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastLogin     time.Time `json:"last_login"`
	LastIP        string    `json:"last_ip"`
	LoginsCount   int       `json:"logins_count"`
	Blocked       bool      `json:"blocked"`
}

type ident struct {
	Connection string `json:"connection"`
}

// Label is what names the user: the address or number, else the id.
func (u userView) Label() string {
	switch {
	case u.Email != "":
		return u.Email
	case u.PhoneNumber != "":
		return u.PhoneNumber
	}
	return u.UserID
}

// Connection is the user's connection.
func (u userView) Connection() string {
	if len(u.Identities) > 0 {
		return u.Identities[0].Connection
	}
	return ""
}

// Verified reports whether the user's address or number is verified.
func (u userView) Verified() bool {
	if u.EmailVerified != nil {
		return *u.EmailVerified
	}
	return u.PhoneVerified != nil && *u.PhoneVerified
}

// usersData is the users page's.
type usersData struct {
	Query      string
	Users      []userView
	Total      int
	Page       int
	Prev, Next int // page numbers; -1 when there is none
}

// userSearchHelp is what the users page says to a search it cannot make.
const userSearchHelp = "Search by a whole email address (ana@example.com), a phone number with its country code (+14155550100) or a user id (email|…)."

// userSearch turns what the member typed into the Management API's user
// query: an email address, an E.164 phone number or a user id, found
// exactly (Latchkey's user search is one exact lookup); false when it is
// none of them.
func userSearch(q string) (string, bool) {
	var field string
	switch {
	case strings.Contains(q, "|"):
		field = "user_id"
	case strings.Contains(q, "@"):
		field = "email"
	case strings.HasPrefix(q, "+"):
		field = "phone_number"
		q = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "").Replace(q)
	default:
		return "", false
	}
	return field + `:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(q) + `"`, true
}

// users lists the users a page at a time, or finds one by email address,
// phone number or id.
func (c *Console) users(w http.ResponseWriter, r *http.Request, s *session) {
	d := usersData{Query: strings.TrimSpace(r.URL.Query().Get("q")), Prev: -1, Next: -1}
	p := page{Title: "Users", Nav: "users", Data: &d}
	if len(d.Query) > 512 {
		d.Query = d.Query[:512]
	}
	if d.Query != "" {
		q, ok := userSearch(d.Query)
		if !ok {
			p.Error = userSearchHelp
			c.render(w, r, s, "users.html", p, http.StatusBadRequest)
			return
		}
		if err := c.call(r, s, http.MethodGet, "/api/v2/users?"+url.Values{"q": {q}}.Encode(), nil, &d.Users); err != nil {
			c.pageError(w, r, s, "users.html", p, err)
			return
		}
		d.Total = len(d.Users)
		c.render(w, r, s, "users.html", p)
		return
	}
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = max(d.Page, 0)
	var list struct {
		Users []userView `json:"users"`
		Total int        `json:"total"`
	}
	v := url.Values{"page": {strconv.Itoa(d.Page)}, "per_page": {strconv.Itoa(usersPerPage)}, "include_totals": {"true"}}
	if err := c.call(r, s, http.MethodGet, "/api/v2/users?"+v.Encode(), nil, &list); err != nil {
		c.pageError(w, r, s, "users.html", p, err)
		return
	}
	d.Users, d.Total = list.Users, list.Total
	if d.Page > 0 {
		d.Prev = d.Page - 1
	}
	if (d.Page+1)*usersPerPage < d.Total {
		d.Next = d.Page + 1
	}
	c.render(w, r, s, "users.html", p)
}

// pageError shows a refused read on the page (with the API's status), or
// fails.
func (c *Console) pageError(w http.ResponseWriter, r *http.Request, s *session, name string, p page, err error) {
	msg, ok := refusal(err)
	if !ok {
		c.fail(w, r, err)
		return
	}
	p.Error = msg
	c.render(w, r, s, name, p, refusalStatus(err))
}

// refusalStatus is the status a refused call is shown with.
func refusalStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 {
		return ae.Status
	}
	return http.StatusBadRequest
}

// userData is the user page's.
type userData struct {
	User      userView
	Events    []logRow
	EventsErr string
	Sessions  []deviceCredential
	SessErr   string
	Blocks    []store.Block
	BlocksErr string
	LogSearch string
}

// logRow is a log event in the Management API's shape (the fields shown).
type logRow struct {
	LogID       string    `json:"log_id"`
	Date        time.Time `json:"date"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	ClientID    string    `json:"client_id"`
	ClientName  string    `json:"client_name"`
	IP          string    `json:"ip"`
}

// deviceCredential is one of the user's refresh-token families.
type deviceCredential struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
}

// userEvents is how many of the user's events the page shows.
const userEvents = 20

func userPath(id string) string { return "/api/v2/users/" + url.PathEscape(id) }

func consoleUserPath(id string) string { return "/admin/users/" + url.PathEscape(id) }

// user shows one user: profile, recent events, sessions (refresh tokens),
// brute-force blocks, and the actions the member's role allows.
func (c *Console) user(w http.ResponseWriter, r *http.Request, s *session) {
	c.showUser(w, r, s, "", http.StatusOK)
}

func (c *Console) showUser(w http.ResponseWriter, r *http.Request, s *session, msg string, status int) {
	id := r.PathValue("id")
	p := page{Title: "User", Nav: "users", Error: msg}
	var d userData
	if err := c.call(r, s, http.MethodGet, userPath(id), nil, &d.User); err != nil {
		if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			p.Error = "There is no user " + id + ": it was deleted, or the id is mistyped."
			c.render(w, r, s, "user.html", p, http.StatusNotFound)
			return
		}
		c.pageError(w, r, s, "user.html", p, err)
		return
	}
	p.Title = "User " + d.User.Label()
	d.LogSearch = `user_id:"` + d.User.UserID + `"`
	// The sections below are read one by one: a refused read (a role
	// without the scope, blocks that live in another node) leaves a note
	// in its section and the rest of the page.
	v := url.Values{"per_page": {strconv.Itoa(userEvents)}, "sort": {"date:-1"}}
	if err := c.call(r, s, http.MethodGet, userPath(id)+"/logs?"+v.Encode(), nil, &d.Events); err != nil {
		if d.EventsErr, _ = refusal(err); d.EventsErr == "" {
			c.fail(w, r, err)
			return
		}
	}
	if err := c.call(r, s, http.MethodGet, "/api/v2/device-credentials?"+url.Values{"user_id": {id}}.Encode(), nil, &d.Sessions); err != nil {
		if d.SessErr, _ = refusal(err); d.SessErr == "" {
			c.fail(w, r, err)
			return
		}
	}
	var blocks struct {
		BlockedFor []store.Block `json:"blocked_for"`
	}
	if err := c.call(r, s, http.MethodGet, "/api/v2/user-blocks/"+url.PathEscape(id), nil, &blocks); err != nil {
		if d.BlocksErr, _ = refusal(err); d.BlocksErr == "" {
			c.fail(w, r, err)
			return
		}
	}
	d.Blocks = blocks.BlockedFor
	p.Data = d
	c.render(w, r, s, "user.html", p, status)
}

// userAction makes one change to the user through the API and comes back
// to the user's page with its message, or shows the refusal there.
func (c *Console) userAction(w http.ResponseWriter, r *http.Request, s *session, method, path string, body any, flash string) {
	if err := c.call(r, s, method, path, body, nil); err != nil {
		msg, ok := refusal(err)
		if !ok {
			c.fail(w, r, err)
			return
		}
		c.showUser(w, r, s, msg, refusalStatus(err))
		return
	}
	redirectFlash(w, r, consoleUserPath(r.PathValue("id")), flash)
}

// blockUser blocks or unblocks the user (no more logins; a block also
// revokes their refresh tokens).
func (c *Console) blockUser(w http.ResponseWriter, r *http.Request, s *session) {
	block := r.PostFormValue("blocked") == "true"
	flash := "unblocked"
	if block {
		flash = "blocked"
	}
	c.userAction(w, r, s, http.MethodPatch, userPath(r.PathValue("id")), map[string]bool{"blocked": block}, flash)
}

// unblockUserAttempts lifts the user's brute-force blocks.
func (c *Console) unblockUserAttempts(w http.ResponseWriter, r *http.Request, s *session) {
	c.userAction(w, r, s, http.MethodDelete, "/api/v2/user-blocks/"+url.PathEscape(r.PathValue("id")), nil, "unlocked")
}

// revokeSession revokes one refresh-token family of the user (a fresh
// sign-in first: it deletes).
func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request, s *session) {
	c.userAction(w, r, s, http.MethodDelete, "/api/v2/device-credentials/"+url.PathEscape(r.PathValue("cred")), nil, "revoked")
}

// deleteUser deletes the user (a fresh sign-in first).
func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := c.call(r, s, http.MethodDelete, userPath(id), nil, nil); err != nil {
		msg, ok := refusal(err)
		if !ok {
			c.fail(w, r, err)
			return
		}
		c.showUser(w, r, s, msg, refusalStatus(err))
		return
	}
	redirectFlash(w, r, "/admin/users", "deleted")
}
