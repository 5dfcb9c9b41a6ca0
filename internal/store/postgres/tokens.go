package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

const insertRefreshTokenSQL = `INSERT INTO refresh_tokens (id, family_id, token_hash, client_id,
		user_id, audience, scope, created_at, expires_at, rotated_at, revoked)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func refreshTokenArgs(t store.RefreshToken) []any {
	return []any{t.ID, t.FamilyID, t.Hash, t.ClientID, t.UserID, t.Audience, t.Scope,
		ms(t.CreatedAt), ms(t.ExpiresAt), msNull(t.RotatedAt), t.Revoked}
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
	var created, expires int64
	var rotated *int64
	err := s.pool.QueryRow(ctx, `SELECT id, family_id, token_hash, client_id, user_id, audience,
			scope, created_at, expires_at, rotated_at, revoked
		FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(
		&t.ID, &t.FamilyID, &t.Hash, &t.ClientID, &t.UserID, &t.Audience,
		&t.Scope, &created, &expires, &rotated, &t.Revoked)
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("postgres: get refresh token: %w", mapErr(err))
	}
	t.CreatedAt, t.ExpiresAt, t.RotatedAt = fromMS(created), fromMS(expires), fromMSNull(rotated)
	return t, nil
}

// RotateRefreshToken exchanges the live token whose hash is oldHash for
// next, which inherits the old token's family, user, audience and scope; a
// next.ClientID other than the old token's changes nothing and gives
// ErrNotFound. Presenting a token that was already rotated revokes its whole
// family (committed) and gives ErrTokenReused.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	var old store.RefreshToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var created, expires int64
		var rotated *int64
		err := tx.QueryRow(ctx, `SELECT id, family_id, token_hash, client_id, user_id, audience,
				scope, created_at, expires_at, rotated_at, revoked
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, oldHash).Scan(
			&old.ID, &old.FamilyID, &old.Hash, &old.ClientID, &old.UserID, &old.Audience,
			&old.Scope, &created, &expires, &rotated, &old.Revoked)
		if err != nil {
			return err
		}
		old.CreatedAt, old.ExpiresAt, old.RotatedAt = fromMS(created), fromMS(expires), fromMSNull(rotated)
		switch {
		case next.ClientID != old.ClientID:
			// Another client's token: not even a reuse it may report.
			return store.ErrNotFound
		case !old.RotatedAt.IsZero():
			if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked",
				old.FamilyID); err != nil {
				return err
			}
			return commitThen{store.ErrTokenReused}
		case old.Revoked, !now.Before(old.ExpiresAt):
			return store.ErrNotFound
		}
		old.RotatedAt = norm(now)
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1",
			old.ID, ms(old.RotatedAt)); err != nil {
			return err
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

// CreateSigningKey stores a new signing key; ErrConflict if its kid is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed,
			created_at, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.KID, k.Alg, k.PublicJWK, k.PrivateSealed, ms(k.CreatedAt), msNull(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("postgres: create signing key %q: %w", k.KID, mapErr(err))
	}
	return nil
}

// ListSigningKeys returns every signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, alg, public_jwk, private_sealed, created_at, retired_at
		FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SigningKey, error) {
		var k store.SigningKey
		var created int64
		var retired *int64
		err := row.Scan(&k.KID, &k.Alg, &k.PublicJWK, &k.PrivateSealed, &created, &retired)
		k.CreatedAt, k.RetiredAt = fromMS(created), fromMSNull(retired)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list signing keys: %w", err)
	}
	return keys, nil
}
