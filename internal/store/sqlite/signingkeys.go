package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

const (
	signingKeyCols    = `kid, alg, public_jwk, private_sealed, status, created_at, current_since, retired_at, revoked_at`
	qCreateSigningKey = `INSERT INTO signing_keys (` + signingKeyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qListSigningKeys  = `SELECT ` + signingKeyCols + ` FROM signing_keys ORDER BY created_at, kid`
	qGetSigningKey    = `SELECT ` + signingKeyCols + ` FROM signing_keys WHERE kid = ?`
	// The conditional updates of a rotation and a revocation: each changes
	// its row only from the status the caller saw.
	qRetireSigningKey  = `UPDATE signing_keys SET status = 'previous', retired_at = ? WHERE kid = ? AND status = 'current'`
	qPromoteSigningKey = `UPDATE signing_keys SET status = 'current', current_since = ? WHERE kid = ? AND status = 'next'`
	qRevokeSigningKey  = `UPDATE signing_keys SET status = 'revoked', revoked_at = ? WHERE kid = ? AND status = 'previous'`
)

func scanSigningKey(sc scanner, k *store.SigningKey) error {
	var created int64
	var since, retired, revoked sql.NullInt64
	var status string
	if err := sc.Scan(&k.KID, &k.Alg, &k.PublicJWK, &k.PrivateSealed, &status, &created, &since, &retired, &revoked); err != nil {
		return err
	}
	k.Status = store.SigningKeyStatus(status)
	k.CreatedAt, k.CurrentSince, k.RetiredAt, k.RevokedAt = fromMS(created), fromNullMS(since), fromNullMS(retired), fromNullMS(revoked)
	return nil
}

func signingKeyArgs(k store.SigningKey) []any {
	return []any{k.KID, k.Alg, blob(k.PublicJWK), blob(k.PrivateSealed), string(k.Status),
		toMS(k.CreatedAt), toNullMS(k.CurrentSince), toNullMS(k.RetiredAt), toNullMS(k.RevokedAt)}
}

// CreateSigningKey stores a new signing key; ErrConflict when its kid is
// taken, or when it is a second current or next key.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.w.exec(ctx, qCreateSigningKey, signingKeyArgs(k)...)
	return wrap("create signing key", err)
}

// ListSigningKeys returns every signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.r.query(ctx, qListSigningKeys)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := scanSigningKey(rows, &k); err != nil {
			return nil, wrap("list signing keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("list signing keys", rows.Err())
}

// RotateSigningKey retires current, promotes next and stores newNext in
// one immediate transaction; ErrConflict when either has moved on.
func (s *Store) RotateSigningKey(ctx context.Context, current, next string, newNext store.SigningKey, now time.Time) (store.SigningKey, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.SigningKey{}, wrap("rotate signing key", err)
	}
	defer t.rollback()
	for _, step := range []struct {
		query, kid, was string
	}{{qRetireSigningKey, current, "current"}, {qPromoteSigningKey, next, "next"}} {
		res, err := t.exec(ctx, step.query, toMS(now), step.kid)
		if err != nil {
			return store.SigningKey{}, wrap("rotate signing key", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return store.SigningKey{}, fmt.Errorf("sqlite: rotate signing key: %s is no longer the %s key: %w", step.kid, step.was, store.ErrConflict)
		}
	}
	newNext.Status = store.KeyNext
	if _, err := t.exec(ctx, qCreateSigningKey, signingKeyArgs(newNext)...); err != nil {
		return store.SigningKey{}, wrap("rotate signing key: store the next key", err)
	}
	var promoted store.SigningKey
	if err := t.queryRow(ctx, func(sc scanner) error { return scanSigningKey(sc, &promoted) }, qGetSigningKey, next); err != nil {
		return store.SigningKey{}, wrap("rotate signing key", err)
	}
	return promoted, wrap("rotate signing key", t.commit())
}

// RevokeSigningKey revokes the previous key kid.
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, now time.Time) (store.SigningKey, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.SigningKey{}, wrap("revoke signing key", err)
	}
	defer t.rollback()
	if _, err := t.exec(ctx, qRevokeSigningKey, toMS(now), kid); err != nil {
		return store.SigningKey{}, wrap("revoke signing key", err)
	}
	var k store.SigningKey
	if err := t.queryRow(ctx, func(sc scanner) error { return scanSigningKey(sc, &k) }, qGetSigningKey, kid); err != nil {
		return store.SigningKey{}, wrap("revoke signing key", err)
	}
	if k.Status != store.KeyRevoked {
		return store.SigningKey{}, fmt.Errorf("sqlite: revoke signing key: %s is the %s key: %w", kid, k.Status, store.ErrConflict)
	}
	return k, wrap("revoke signing key", t.commit())
}
