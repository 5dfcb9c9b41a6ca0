package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/internal/store"
)

const insertRefreshTokenSQL = `INSERT INTO refresh_tokens (id, family_id, token_hash, client_id,
		user_id, audience, scope, created_at, expires_at, rotated_at, revoked, idle_expires_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

const refreshTokenCols = `id, family_id, token_hash, client_id, user_id, audience,
		scope, created_at, expires_at, rotated_at, revoked, idle_expires_at`

func scanRefreshToken(row pgx.Row, t *store.RefreshToken) error {
	var created, expires int64
	var rotated, idle *int64
	if err := row.Scan(&t.ID, &t.FamilyID, &t.Hash, &t.ClientID, &t.UserID, &t.Audience,
		&t.Scope, &created, &expires, &rotated, &t.Revoked, &idle); err != nil {
		return err
	}
	t.CreatedAt, t.ExpiresAt, t.RotatedAt, t.IdleExpiresAt = fromMS(created), fromMS(expires), fromMSNull(rotated), fromMSNull(idle)
	return nil
}

func refreshTokenArgs(t store.RefreshToken) []any {
	return []any{t.ID, t.FamilyID, t.Hash, t.ClientID, t.UserID, t.Audience, t.Scope,
		ms(t.CreatedAt), ms(t.ExpiresAt), msNull(t.RotatedAt), t.Revoked, msNull(t.IdleExpiresAt)}
}

// CreateRefreshToken stores a new refresh token; ErrConflict if its ID or
// hash is taken.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if _, err := s.pool.Exec(ctx, insertRefreshTokenSQL, refreshTokenArgs(t)...); err != nil {
		return fmt.Errorf("postgres: create refresh token %q: %w", t.ID, mapErr(err))
	}
	return nil
}

// PurgeExpired deletes expired codes, refresh tokens, ephemeral records and
// outbox messages in batches of 500.
func (s *Store) PurgeExpired(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM codes WHERE (connection, identifier) IN (SELECT connection, identifier FROM codes WHERE expires_at < $1 LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < $1 LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE idle_expires_at < $1 LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE revoked AND created_at < $1 LIMIT 500)`,
		`DELETE FROM ephemerals WHERE (kind, hash) IN (SELECT kind, hash FROM ephemerals WHERE expires_at < $1 LIMIT 500)`,
		`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE expires_at < $1 LIMIT 500)`,
	} {
		for {
			tag, err := s.pool.Exec(ctx, q, ms(before))
			if err != nil {
				return total, fmt.Errorf("postgres: purge expired: %w", err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < 500 {
				break
			}
		}
	}
	return total, nil
}

// GetRefreshToken returns the token stored under hash.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	var t store.RefreshToken
	if err := scanRefreshToken(s.pool.QueryRow(ctx, `SELECT `+refreshTokenCols+` FROM refresh_tokens WHERE token_hash = $1`, hash), &t); err != nil {
		return store.RefreshToken{}, fmt.Errorf("postgres: get refresh token: %w", mapErr(err))
	}
	return t, nil
}

// liveToken locks the token with hash and judges it for an exchange by
// clientID at now: a rotated token within leeway of its rotation passes;
// one rotated earlier revokes its family (committed) and gives
// ErrTokenReused.
func liveToken(ctx context.Context, tx pgx.Tx, hash []byte, clientID string, now time.Time, leeway time.Duration) (store.RefreshToken, error) {
	var old store.RefreshToken
	if err := scanRefreshToken(tx.QueryRow(ctx, `SELECT `+refreshTokenCols+` FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, hash), &old); err != nil {
		return old, err
	}
	switch {
	case clientID != old.ClientID:
		// Another client's token: not even a reuse it may report.
		return old, store.ErrNotFound
	case !old.RotatedAt.IsZero() && !old.Revoked && now.Before(old.RotatedAt.Add(leeway)):
		// Within the reuse interval: exchanged again, no breach.
	case !old.RotatedAt.IsZero():
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked",
			old.FamilyID); err != nil {
			return old, err
		}
		return old, commitThen{store.ErrTokenReused}
	}
	judged := old
	judged.RotatedAt = time.Time{} // a rotation within the leeway passed above
	if !judged.Live(now) {
		return old, store.ErrNotFound
	}
	return old, nil
}

// RotateRefreshToken exchanges the live token whose hash is oldHash for
// next, which inherits the old token's family, user, audience and scope (see
// store.Store).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time, leeway time.Duration) (store.RefreshToken, error) {
	var old store.RefreshToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if old, err = liveToken(ctx, tx, oldHash, next.ClientID, now, leeway); err != nil {
			return err
		}
		if old.RotatedAt.IsZero() {
			old.RotatedAt = norm(now)
			if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1",
				old.ID, ms(old.RotatedAt)); err != nil {
				return err
			}
		}
		next.FamilyID, next.UserID, next.Audience, next.Scope = old.FamilyID, old.UserID, old.Audience, old.Scope
		_, err = tx.Exec(ctx, insertRefreshTokenSQL, refreshTokenArgs(next)...)
		return err
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("postgres: rotate refresh token: %w", mapErr(err))
	}
	return old, nil
}

// UseRefreshToken records a use of a non-rotating token (see store.Store).
func (s *Store) UseRefreshToken(ctx context.Context, hash []byte, clientID string, now, idleExpiresAt time.Time) (store.RefreshToken, error) {
	var rt store.RefreshToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if rt, err = liveToken(ctx, tx, hash, clientID, now, 0); err != nil {
			return err
		}
		rt.IdleExpiresAt = norm(idleExpiresAt)
		_, err = tx.Exec(ctx, "UPDATE refresh_tokens SET idle_expires_at = $2 WHERE id = $1", rt.ID, msNull(rt.IdleExpiresAt))
		return err
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("postgres: use refresh token: %w", mapErr(err))
	}
	return rt, nil
}

// ListRefreshTokens lists a user's live tokens, one per family (see store.Store).
func (s *Store) ListRefreshTokens(ctx context.Context, f store.RefreshTokenFilter, now time.Time) ([]store.RefreshToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+refreshTokenCols+` FROM refresh_tokens
		WHERE user_id = $1 AND ($2 = '' OR client_id = $2) AND NOT revoked AND rotated_at IS NULL AND expires_at > $3
		ORDER BY created_at, id`, f.UserID, f.ClientID, ms(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list refresh tokens: %w", mapErr(err))
	}
	defer rows.Close()
	var all []store.RefreshToken
	for rows.Next() {
		var rt store.RefreshToken
		if err := scanRefreshToken(rows, &rt); err != nil {
			return nil, fmt.Errorf("postgres: list refresh tokens: %w", mapErr(err))
		}
		all = append(all, rt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list refresh tokens: %w", mapErr(err))
	}
	return store.LatestPerFamily(all, now), nil
}

// RevokeRefreshTokens revokes a family or a user's tokens (see store.Store).
func (s *Store) RevokeRefreshTokens(ctx context.Context, f store.RefreshTokenFilter) (int, error) {
	var tag pgconn.CommandTag
	var err error
	switch {
	case f.FamilyID != "":
		tag, err = s.pool.Exec(ctx, "UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked", f.FamilyID)
	case f.UserID != "":
		tag, err = s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked = true
			WHERE user_id = $1 AND ($2 = '' OR client_id = $2) AND ($3::text IS NULL OR audience = $3) AND NOT revoked`,
			f.UserID, f.ClientID, f.Audience)
	default:
		return 0, errors.New("postgres: revoke refresh tokens: no family or user")
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke refresh tokens: %w", mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}
