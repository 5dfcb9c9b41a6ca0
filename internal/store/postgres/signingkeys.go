package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

const signingKeyCols = `kid, alg, public_jwk, private_sealed, status, created_at, current_since, retired_at, revoked_at`

func scanSigningKey(row pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	var created int64
	var since, retired, revoked *int64
	var status string
	err := row.Scan(&k.KID, &k.Alg, &k.PublicJWK, &k.PrivateSealed, &status, &created, &since, &retired, &revoked)
	k.Status = store.SigningKeyStatus(status)
	k.CreatedAt, k.CurrentSince, k.RetiredAt, k.RevokedAt = fromMS(created), fromMSNull(since), fromMSNull(retired), fromMSNull(revoked)
	return k, err
}

func signingKeyArgs(k store.SigningKey) []any {
	return []any{k.KID, k.Alg, k.PublicJWK, k.PrivateSealed, string(k.Status),
		ms(k.CreatedAt), msNull(k.CurrentSince), msNull(k.RetiredAt), msNull(k.RevokedAt)}
}

const qCreateSigningKey = `INSERT INTO signing_keys (` + signingKeyCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// CreateSigningKey stores a new signing key; ErrConflict when its kid is
// taken, or when it is a second current or next key.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if _, err := s.pool.Exec(ctx, qCreateSigningKey, signingKeyArgs(k)...); err != nil {
		return fmt.Errorf("postgres: create signing key %q: %w", k.KID, mapErr(err))
	}
	return nil
}

// ListSigningKeys returns every signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SigningKey, error) { return scanSigningKey(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list signing keys: %w", err)
	}
	return keys, nil
}

// RotateSigningKey retires current, promotes next and stores newNext in
// one transaction. Each update is conditional on the status the caller
// saw: of two concurrent rotations the second waits for the first's row
// lock, then finds the row changed and gives ErrConflict.
func (s *Store) RotateSigningKey(ctx context.Context, current, next string, newNext store.SigningKey, now time.Time) (store.SigningKey, error) {
	var promoted store.SigningKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, step := range []struct {
			query, kid, was string
		}{
			{`UPDATE signing_keys SET status = 'previous', retired_at = $1 WHERE kid = $2 AND status = 'current'`, current, "current"},
			{`UPDATE signing_keys SET status = 'current', current_since = $1 WHERE kid = $2 AND status = 'next'`, next, "next"},
		} {
			tag, err := tx.Exec(ctx, step.query, ms(now), step.kid)
			if err != nil {
				return fmt.Errorf("postgres: rotate signing key: %w", mapErr(err))
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("postgres: rotate signing key: %s is no longer the %s key: %w", step.kid, step.was, store.ErrConflict)
			}
		}
		newNext.Status = store.KeyNext
		if _, err := tx.Exec(ctx, qCreateSigningKey, signingKeyArgs(newNext)...); err != nil {
			return fmt.Errorf("postgres: rotate signing key: store the next key: %w", mapErr(err))
		}
		var err error
		promoted, err = scanSigningKey(tx.QueryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE kid = $1`, next))
		if err != nil {
			return fmt.Errorf("postgres: rotate signing key: %w", mapErr(err))
		}
		return nil
	})
	return promoted, err
}

// RevokeSigningKey revokes the previous key kid.
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, now time.Time) (store.SigningKey, error) {
	k, err := scanSigningKey(s.pool.QueryRow(ctx, `UPDATE signing_keys SET status = 'revoked', revoked_at = $1
		WHERE kid = $2 AND status = 'previous' RETURNING `+signingKeyCols, ms(now), kid))
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.SigningKey{}, fmt.Errorf("postgres: revoke signing key: %w", err)
	}
	// Not a previous key: say what it is.
	k, err = scanSigningKey(s.pool.QueryRow(ctx, `SELECT `+signingKeyCols+` FROM signing_keys WHERE kid = $1`, kid))
	switch {
	case err != nil:
		return store.SigningKey{}, fmt.Errorf("postgres: revoke signing key: %w", mapErr(err))
	case k.Status != store.KeyRevoked:
		return store.SigningKey{}, fmt.Errorf("postgres: revoke signing key: %s is the %s key: %w", kid, k.Status, store.ErrConflict)
	}
	return k, nil
}
