package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

const userCols = `user_id, connection, identifier, email, phone_number, email_verified, phone_verified,
	blocked, logins_count, last_ip, created_at, updated_at, last_login`

const (
	qGetUser  = `SELECT ` + userCols + ` FROM users WHERE user_id = ?`
	qFindUser = `SELECT ` + userCols + ` FROM users WHERE connection = ? AND identifier = ?`
	// qListUsers skips its offset in the (created_at, user_id) index alone
	// (a covering subquery), then reads the page's rows: a deep page costs
	// index steps, not row reads.
	qListUsers = `SELECT ` + userCols + ` FROM users WHERE user_id IN
		(SELECT user_id FROM users ORDER BY created_at, user_id LIMIT ? OFFSET ?)
	ORDER BY created_at, user_id`
	qCreateUser = `INSERT INTO users (` + userCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDeleteUser = `DELETE FROM users WHERE user_id = ?`
	// A deleted user's refresh tokens go with it.
	qDeleteUserTokens = `DELETE FROM refresh_tokens WHERE user_id = ?`
	qSetUserBlocked   = `UPDATE users SET blocked = ?, updated_at = ? WHERE user_id = ?`

	// qLoginUpdate records a login of an existing, unblocked user. Verified
	// flags only ever turn on; an empty email or phone number keeps the
	// stored one.
	qLoginUpdate = `UPDATE users SET
		email          = CASE WHEN ? <> '' THEN ? ELSE email END,
		phone_number   = CASE WHEN ? <> '' THEN ? ELSE phone_number END,
		email_verified = email_verified OR ?,
		phone_verified = phone_verified OR ?,
		logins_count   = logins_count + 1,
		last_ip        = ?,
		updated_at     = ?,
		last_login     = ?
	WHERE connection = ? AND identifier = ? AND NOT blocked
	RETURNING ` + userCols
	// qLoginInsert creates the user of a first login; no row comes back
	// when any unique key is taken.
	qLoginInsert = `INSERT INTO users (` + userCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING
	RETURNING ` + userCols
)

func scanUser(sc scanner, u *store.User) error {
	var created, updated int64
	var lastLogin sql.NullInt64
	if err := sc.Scan(&u.UserID, &u.Connection, &u.Identifier, &u.Email, &u.PhoneNumber,
		&u.EmailVerified, &u.PhoneVerified, &u.Blocked, &u.LoginsCount, &u.LastIP,
		&created, &updated, &lastLogin); err != nil {
		return err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLogin = fromMS(created), fromMS(updated), fromNullMS(lastLogin)
	return nil
}

// GetUser returns the user with userID.
func (s *Store) GetUser(ctx context.Context, userID string) (store.User, error) {
	var u store.User
	err := s.r.queryRow(ctx, func(sc scanner) error { return scanUser(sc, &u) }, qGetUser, userID)
	return u, wrap("get user", err)
}

// FindUser returns the user of connection with identifier.
func (s *Store) FindUser(ctx context.Context, connection, identifier string) (store.User, error) {
	var u store.User
	err := s.r.queryRow(ctx, func(sc scanner) error { return scanUser(sc, &u) }, qFindUser, connection, identifier)
	return u, wrap("find user", err)
}

// ListUsers returns up to limit users from offset, ordered by CreatedAt then
// UserID. A limit of zero or less means no limit.
func (s *Store) ListUsers(ctx context.Context, offset, limit int) ([]store.User, error) {
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.query(ctx, qListUsers, limit, offset)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		var u store.User
		if err := scanUser(rows, &u); err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, wrap("list users", rows.Err())
}

// CreateUser stores a new user.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.w.exec(ctx, qCreateUser, u.UserID, u.Connection, u.Identifier, u.Email, u.PhoneNumber,
		u.EmailVerified, u.PhoneVerified, u.Blocked, u.LoginsCount, u.LastIP,
		toMS(u.CreatedAt), toMS(u.UpdatedAt), toNullMS(u.LastLogin))
	return wrap("create user", err)
}

// DeleteUser deletes the user with userID, its refresh tokens and its
// ephemeral records.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	t, err := s.begin(ctx)
	if err != nil {
		return wrap("delete user", err)
	}
	defer t.rollback()
	if err := affected(t.exec(ctx, qDeleteUser, userID)); err != nil {
		return wrap("delete user", err)
	}
	if _, err := t.exec(ctx, qDeleteUserTokens, userID); err != nil {
		return wrap("delete user", err)
	}
	if _, err := t.exec(ctx, qDeleteUserEphemerals, userID); err != nil {
		return wrap("delete user", err)
	}
	return wrap("delete user", t.commit())
}

// SetUserBlocked blocks or unblocks the user with userID; UpdatedAt becomes
// the current time (the contract passes no clock here).
func (s *Store) SetUserBlocked(ctx context.Context, userID string, blocked bool) error {
	return wrap("set user blocked", affected(s.w.exec(ctx, qSetUserBlocked, blocked, toMS(time.Now()), userID)))
}

func loginUpdateArgs(l store.Login) []any {
	at := toMS(l.At)
	return []any{
		l.Email, l.Email, l.PhoneNumber, l.PhoneNumber,
		l.EmailVerified, l.PhoneVerified, l.IP, at, at,
		l.Connection, l.Identifier,
	}
}

// RecordLogin records a successful login (see store.Store).
//
// The common case, a returning user, is one UPDATE … RETURNING. Otherwise a
// transaction repeats the UPDATE (the user may have appeared meanwhile),
// then tries the INSERT when signup is allowed, and finally reads the user
// to tell a blocked user from a missing one.
func (s *Store) RecordLogin(ctx context.Context, l store.Login, allowSignup bool) (store.User, bool, error) {
	var u store.User
	scan := func(sc scanner) error { return scanUser(sc, &u) }
	err := s.w.queryRow(ctx, scan, qLoginUpdate, loginUpdateArgs(l)...)
	if err == nil {
		return u, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.User{}, false, wrap("record login", err)
	}

	t, err := s.begin(ctx)
	if err != nil {
		return store.User{}, false, wrap("record login", err)
	}
	defer t.rollback()
	u, created, err := recordLoginTx(ctx, t, l, allowSignup)
	if err != nil {
		return store.User{}, false, wrap("record login", err)
	}
	if err := t.commit(); err != nil {
		return store.User{}, false, wrap("record login", err)
	}
	return u, created, nil
}

func recordLoginTx(ctx context.Context, t *tx, l store.Login, allowSignup bool) (store.User, bool, error) {
	var u store.User
	scan := func(sc scanner) error { return scanUser(sc, &u) }
	err := t.queryRow(ctx, scan, qLoginUpdate, loginUpdateArgs(l)...)
	if err == nil {
		return u, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.User{}, false, err
	}
	if allowSignup {
		at := toMS(l.At)
		err = t.queryRow(ctx, scan, qLoginInsert, l.UserID, l.Connection, l.Identifier, l.Email, l.PhoneNumber,
			l.EmailVerified, l.PhoneVerified, l.IP, at, at, at)
		if err == nil {
			return u, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.User{}, false, err
		}
	}
	// Either the user is blocked, or it does not exist: then signup was
	// refused, or the insert hit another user's UserID.
	err = t.queryRow(ctx, scan, qFindUser, l.Connection, l.Identifier)
	switch {
	case err == nil:
		return u, false, nil // blocked: unchanged
	case !errors.Is(err, sql.ErrNoRows):
		return store.User{}, false, err
	case allowSignup:
		return store.User{}, false, store.ErrConflict
	default:
		return store.User{}, false, store.ErrNotFound
	}
}

const (
	qCountUsers = `SELECT count(*) FROM users`
	// qUpdateUserFlags: a NULL flag keeps the stored one.
	qUpdateUserFlags = `UPDATE users SET
		blocked        = COALESCE(?, blocked),
		email_verified = COALESCE(?, email_verified),
		phone_verified = COALESCE(?, phone_verified),
		updated_at     = ?
	WHERE user_id = ?
	RETURNING ` + userCols
)

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.queryRow(ctx, func(sc scanner) error { return sc.Scan(&n) }, qCountUsers)
	return n, wrap("count users", err)
}

// UpdateUserFlags applies f to the user with userID (see store.Store).
func (s *Store) UpdateUserFlags(ctx context.Context, userID string, f store.UserFlags) (store.User, error) {
	var u store.User
	err := s.w.queryRow(ctx, func(sc scanner) error { return scanUser(sc, &u) }, qUpdateUserFlags,
		nullBool(f.Blocked), nullBool(f.EmailVerified), nullBool(f.PhoneVerified), toMS(f.At), userID)
	if err != nil {
		return store.User{}, wrap("update user flags", err)
	}
	return u, nil
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}
