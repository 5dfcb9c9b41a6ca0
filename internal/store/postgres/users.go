package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

const userCols = `user_id, connection, identifier, email, phone_number, email_verified,
	phone_verified, blocked, logins_count, last_ip, created_at, updated_at, last_login`

// scanUser reads userCols (and any extra destinations after them).
func scanUser(row pgx.Row, extra ...any) (store.User, error) {
	var u store.User
	var created, updated int64
	var lastLogin *int64
	dest := append([]any{&u.UserID, &u.Connection, &u.Identifier, &u.Email, &u.PhoneNumber,
		&u.EmailVerified, &u.PhoneVerified, &u.Blocked, &u.LoginsCount, &u.LastIP,
		&created, &updated, &lastLogin}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLogin = fromMS(created), fromMS(updated), fromMSNull(lastLogin)
	return u, nil
}

// GetUser returns the user with userID.
func (s *Store) GetUser(ctx context.Context, userID string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE user_id = $1", userID))
	if err != nil {
		return u, fmt.Errorf("postgres: get user %q: %w", userID, mapErr(err))
	}
	return u, nil
}

// FindUser returns the user of identifier on connection.
func (s *Store) FindUser(ctx context.Context, connection, identifier string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		"SELECT "+userCols+" FROM users WHERE connection = $1 AND identifier = $2",
		connection, identifier))
	if err != nil {
		return u, fmt.Errorf("postgres: find user %s/%s: %w", connection, identifier, mapErr(err))
	}
	return u, nil
}

// ListUsers returns users oldest first, skipping offset and returning at most
// limit (all when limit <= 0).
func (s *Store) ListUsers(ctx context.Context, offset, limit int) ([]store.User, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx,
		"SELECT "+userCols+" FROM users ORDER BY created_at, user_id LIMIT $1 OFFSET $2",
		lim, max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.User, error) {
		return scanUser(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return users, nil
}

// CreateUser stores a new user; ErrConflict if its ID or its
// (connection, identifier) is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.UserID, u.Connection, u.Identifier, u.Email, u.PhoneNumber, u.EmailVerified,
		u.PhoneVerified, u.Blocked, u.LoginsCount, u.LastIP,
		ms(u.CreatedAt), ms(u.UpdatedAt), msNull(u.LastLogin))
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.UserID, mapErr(err))
	}
	return nil
}

// DeleteUser deletes the user with userID, their refresh tokens and their
// ephemeral records.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE user_id = $1", userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, "DELETE FROM refresh_tokens WHERE user_id = $1", userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM ephemerals WHERE subject = $1 AND subject <> ''", userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete user %q: %w", userID, mapErr(err))
	}
	return nil
}

// SetUserBlocked blocks or unblocks the user with userID.
func (s *Store) SetUserBlocked(ctx context.Context, userID string, blocked bool) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET blocked = $2, updated_at = $3 WHERE user_id = $1", userID, blocked, ms(time.Now()))
	if err != nil {
		return fmt.Errorf("postgres: block user %q: %w", userID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: block user %q: %w", userID, store.ErrNotFound)
	}
	return nil
}

const (
	// recordLoginUpsert: $1 user_id, $2 connection, $3 identifier, $4 email,
	// $5 phone_number, $6 email_verified, $7 phone_verified, $8 ip, $9 at.
	recordLoginUpsert = `INSERT INTO users AS u (` + userCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, false, 1, $8, $9, $9, $9)
	ON CONFLICT (connection, identifier) DO UPDATE SET
		logins_count = u.logins_count + 1,
		last_ip = EXCLUDED.last_ip,
		last_login = EXCLUDED.last_login,
		updated_at = EXCLUDED.updated_at,
		email_verified = u.email_verified OR EXCLUDED.email_verified,
		phone_verified = u.phone_verified OR EXCLUDED.phone_verified
	WHERE NOT u.blocked
	RETURNING ` + userCols + `, (u.xmax = 0)`

	// recordLoginUpdate: $1 connection, $2 identifier, $3 email_verified,
	// $4 phone_verified, $5 ip, $6 at.
	recordLoginUpdate = `UPDATE users AS u SET
		logins_count = u.logins_count + 1,
		last_ip = $5,
		last_login = $6,
		updated_at = $6,
		email_verified = u.email_verified OR $3,
		phone_verified = u.phone_verified OR $4
	WHERE u.connection = $1 AND u.identifier = $2 AND NOT u.blocked
	RETURNING ` + userCols + `, false`
)

// RecordLogin records a successful login, creating the user when
// allowSignup. A blocked user comes back unchanged.
func (s *Store) RecordLogin(ctx context.Context, l store.Login, allowSignup bool) (store.User, bool, error) {
	query := recordLoginUpdate
	args := []any{l.Connection, l.Identifier, l.EmailVerified, l.PhoneVerified, l.IP, ms(l.At)}
	if allowSignup {
		query = recordLoginUpsert
		args = []any{l.UserID, l.Connection, l.Identifier, l.Email, l.PhoneNumber,
			l.EmailVerified, l.PhoneVerified, l.IP, ms(l.At)}
	}
	// The statement skips a blocked user; FindUser then tells a blocked user
	// from a missing one. A user deleted or unblocked in between sends us
	// round again.
	for range 3 {
		var created bool
		u, err := scanUser(s.pool.QueryRow(ctx, query, args...), &created)
		if err == nil {
			return u, created, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.User{}, false, fmt.Errorf("postgres: record login %s/%s: %w",
				l.Connection, l.Identifier, mapErr(err))
		}
		u, err = s.FindUser(ctx, l.Connection, l.Identifier)
		switch {
		case err == nil && u.Blocked:
			return u, false, nil
		case errors.Is(err, store.ErrNotFound) && !allowSignup:
			return store.User{}, false, fmt.Errorf("postgres: record login %s/%s: %w",
				l.Connection, l.Identifier, store.ErrNotFound)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return store.User{}, false, err
		}
	}
	return store.User{}, false, fmt.Errorf("postgres: record login %s/%s: user keeps changing",
		l.Connection, l.Identifier)
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}

// UpdateUserFlags applies f to the user with userID (see store.Store); a
// nil flag keeps the stored one.
func (s *Store) UpdateUserFlags(ctx context.Context, userID string, f store.UserFlags) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE users SET
		blocked        = COALESCE($2::boolean, blocked),
		email_verified = COALESCE($3::boolean, email_verified),
		phone_verified = COALESCE($4::boolean, phone_verified),
		updated_at     = $5
	WHERE user_id = $1
	RETURNING `+userCols, userID, f.Blocked, f.EmailVerified, f.PhoneVerified, ms(f.At)))
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: update user flags %q: %w", userID, mapErr(err))
	}
	return u, nil
}

// spend names the code a login spends in the same statement that records
// it (RedeemCode): one round trip fewer.
type spend struct{ connection, identifier string }

// recordLoginWith is RecordLogin inside tx; with spent set, the statement also
// deletes that code, as a data-modifying WITH, which runs whether or not
// the login is recorded (a refused signup spends the code all the same).
func recordLoginWith(ctx context.Context, tx pgx.Tx, l store.Login, allowSignup bool, spent *spend) (store.User, bool, error) {
	query := recordLoginUpdate
	args := []any{l.Connection, l.Identifier, l.EmailVerified, l.PhoneVerified, l.IP, ms(l.At)}
	if allowSignup {
		query = recordLoginUpsert
		args = []any{l.UserID, l.Connection, l.Identifier, l.Email, l.PhoneNumber,
			l.EmailVerified, l.PhoneVerified, l.IP, ms(l.At)}
	}
	if spent != nil {
		n := len(args)
		query = fmt.Sprintf("WITH spent AS (DELETE FROM codes WHERE connection = $%d AND identifier = $%d) ", n+1, n+2) + query
		args = append(args, spent.connection, spent.identifier)
	}
	var created bool
	u, err := scanUser(tx.QueryRow(ctx, query, args...), &created)
	if err == nil {
		return u, created, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, false, err
	}
	// Skipped: a blocked user (returned unchanged), or none and signup
	// refused, or an insert that hit another user's id.
	u, err = scanUser(tx.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE connection = $1 AND identifier = $2",
		l.Connection, l.Identifier))
	switch {
	case err == nil && u.Blocked:
		return u, false, nil
	case err == nil:
		return store.User{}, false, store.ErrConflict // changed under us: the caller may try again
	case errors.Is(err, pgx.ErrNoRows) && !allowSignup:
		return store.User{}, false, store.ErrNotFound
	case errors.Is(err, pgx.ErrNoRows):
		return store.User{}, false, store.ErrConflict
	}
	return store.User{}, false, err
}
