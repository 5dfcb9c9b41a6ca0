package sqlite

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

const codeCols = `id, connection, identifier, hash, client_id, user_id_hint, send, auth_params,
	ip, user_agent, attempts, created_at, expires_at`

const (
	// qPutCode replaces the outstanding code of (connection, identifier).
	qPutCode = `INSERT INTO codes (` + codeCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (connection, identifier) DO UPDATE SET
		id = excluded.id, hash = excluded.hash, client_id = excluded.client_id,
		user_id_hint = excluded.user_id_hint, send = excluded.send, auth_params = excluded.auth_params,
		ip = excluded.ip, user_agent = excluded.user_agent, attempts = excluded.attempts,
		created_at = excluded.created_at, expires_at = excluded.expires_at`
	qGetCode      = `SELECT ` + codeCols + ` FROM codes WHERE connection = ? AND identifier = ?`
	qDeleteCode   = `DELETE FROM codes WHERE connection = ? AND identifier = ?`
	qCountAttempt = `UPDATE codes SET attempts = attempts + 1 WHERE connection = ? AND identifier = ?`

	tokenCols = `id, family_id, token_hash, client_id, user_id, audience, scope,
	created_at, expires_at, rotated_at, revoked, idle_expires_at`
	qCreateToken    = `INSERT INTO refresh_tokens (` + tokenCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qListUserTokens = `SELECT ` + tokenCols + ` FROM refresh_tokens WHERE user_id = ? AND (? = '' OR client_id = ?)
	AND NOT revoked AND rotated_at IS NULL AND expires_at > ? ORDER BY created_at, id`
	qTouchToken     = `UPDATE refresh_tokens SET idle_expires_at = ? WHERE id = ?`
	qRevokeUser     = `UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND (? = '' OR client_id = ?) AND (? = 0 OR audience = ?) AND NOT revoked`
	qGetTokenByHash = `SELECT ` + tokenCols + ` FROM refresh_tokens WHERE token_hash = ?`
	qRotateToken    = `UPDATE refresh_tokens SET rotated_at = ? WHERE id = ?`
	qRevokeFamily   = `UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND NOT revoked`
)

// txQueries are the statements used inside writer transactions; Open
// prepares them (see tx.stmt).
var txQueries = []string{
	qPutCode, qPutOutbox, qDropSuperseded,
	qGetCode, qDeleteCode, qCountAttempt,
	qGetTokenByHash, qRotateToken, qRevokeFamily, qCreateToken,
	qLoginUpdate, qLoginInsert, qFindUser,
	qDeleteUser, qDeleteUserTokens, qDeleteUserEphemerals,
}

// --- codes -----------------------------------------------------------------

// PutCode stores c, replacing any outstanding code for its identifier;
// with msg, c and msg are written in one immediate transaction. Without
// msg it is a single statement, as cheap as before the outbox.
func (s *Store) PutCode(ctx context.Context, c store.Code, msg *store.OutboxMessage) error {
	var params sql.NullString
	if len(c.AuthParams) > 0 {
		b, err := json.Marshal(c.AuthParams)
		if err != nil {
			return wrap("put code", err)
		}
		params = sql.NullString{String: string(b), Valid: true}
	}
	if msg == nil {
		_, err := s.w.exec(ctx, qPutCode, c.ID, c.Connection, c.Identifier, blob(c.Hash), c.ClientID,
			c.UserIDHint, c.Send, params, c.IP, c.UserAgent, c.Attempts, toMS(c.CreatedAt), toMS(c.ExpiresAt))
		return wrap("put code", err)
	}

	t, err := s.begin(ctx)
	if err != nil {
		return wrap("put code", err)
	}
	defer t.rollback()
	if _, err := t.exec(ctx, qPutCode, c.ID, c.Connection, c.Identifier, blob(c.Hash), c.ClientID,
		c.UserIDHint, c.Send, params, c.IP, c.UserAgent, c.Attempts, toMS(c.CreatedAt), toMS(c.ExpiresAt)); err != nil {
		return wrap("put code", err)
	}
	if _, err := t.exec(ctx, qDropSuperseded, msg.Connection, msg.Recipient); err != nil {
		return wrap("put code: drop superseded messages", err)
	}
	if _, err := t.exec(ctx, qPutOutbox, outboxArgs(*msg)...); err != nil {
		return wrap("put code: queue message "+msg.ID, err)
	}
	return wrap("put code", t.commit())
}

func scanCode(sc scanner, c *store.Code) error {
	var params sql.NullString
	var created, expires int64
	if err := sc.Scan(&c.ID, &c.Connection, &c.Identifier, &c.Hash, &c.ClientID, &c.UserIDHint, &c.Send,
		&params, &c.IP, &c.UserAgent, &c.Attempts, &created, &expires); err != nil {
		return err
	}
	c.AuthParams = nil
	if params.Valid {
		if err := json.Unmarshal([]byte(params.String), &c.AuthParams); err != nil {
			return fmt.Errorf("decode auth params: %w", err)
		}
	}
	c.CreatedAt, c.ExpiresAt = fromMS(created), fromMS(expires)
	return nil
}

// ConsumeCode checks hash against the outstanding code of (connection,
// identifier) and deletes it on a match (see judgeCode).
func (s *Store) ConsumeCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error) {
	return s.judgeCode(ctx, "consume code", connection, identifier, hash, now, true)
}

// CheckCode checks hash against the outstanding code of (connection,
// identifier) and leaves it outstanding on a match (see judgeCode).
func (s *Store) CheckCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error) {
	return s.judgeCode(ctx, "check code", connection, identifier, hash, now, false)
}

// judgeCode checks hash against the outstanding code of (connection,
// identifier) in one immediate transaction: the verdict is store.JudgeCode's;
// a match deletes the code when consume is set, a wrong code counts the
// attempt.
func (s *Store) judgeCode(ctx context.Context, op, connection, identifier string, hash []byte, now time.Time, consume bool) (store.Code, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.Code{}, wrap(op, err)
	}
	defer t.rollback()
	c, verdict, wrote, err := judgeTx(ctx, t, connection, identifier, hash, now, consume)
	if err != nil {
		return store.Code{}, wrap(op, err)
	}
	if wrote {
		if err := t.commit(); err != nil {
			return store.Code{}, wrap(op, err)
		}
	}
	if verdict != nil {
		return store.Code{}, fmt.Errorf("sqlite: %s: %w", op, verdict)
	}
	return c, nil
}

// judgeTx judges hash against the outstanding code within t (the verdict
// is store.JudgeCode's): a match deletes the code when consume is set, a
// wrong code counts the attempt. wrote says whether t must be committed.
func judgeTx(ctx context.Context, t *tx, connection, identifier string, hash []byte, now time.Time, consume bool) (c store.Code, verdict error, wrote bool, err error) {
	if err := t.queryRow(ctx, func(sc scanner) error { return scanCode(sc, &c) }, qGetCode, connection, identifier); err != nil {
		return c, nil, false, err
	}
	verdict = store.JudgeCode(c, hmac.Equal(hash, c.Hash), now)
	switch {
	case verdict == nil && !consume:
		return c, nil, false, nil // nothing to write
	case verdict == nil:
		_, err = t.exec(ctx, qDeleteCode, connection, identifier)
	case errors.Is(verdict, store.ErrCodeWrong),
		errors.Is(verdict, store.ErrCodeExhausted) && c.Attempts < store.MaxCodeAttempts:
		// A wrong code: count it (the one that reaches the cap kills the code).
		_, err = t.exec(ctx, qCountAttempt, connection, identifier)
	default:
		return c, verdict, false, nil // expired, or exhausted before this attempt
	}
	return c, verdict, err == nil, err
}

// RedeemCode consumes the code and records the login in one immediate
// transaction (see store.Store).
func (s *Store) RedeemCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time,
	login func(store.Code) store.Login, allowSignup bool) (store.Code, store.User, bool, error) {
	const op = "redeem code"
	t, err := s.begin(ctx)
	if err != nil {
		return store.Code{}, store.User{}, false, wrap(op, err)
	}
	defer t.rollback()
	c, verdict, wrote, err := judgeTx(ctx, t, connection, identifier, hash, now, true)
	if err != nil {
		return store.Code{}, store.User{}, false, wrap(op, err)
	}
	if verdict != nil {
		if wrote {
			if err := t.commit(); err != nil {
				return store.Code{}, store.User{}, false, wrap(op, err)
			}
		}
		return store.Code{}, store.User{}, false, fmt.Errorf("sqlite: %s: %w", op, verdict)
	}
	u, created, lerr := recordLoginTx(ctx, t, login(c), allowSignup)
	if lerr != nil && !errors.Is(lerr, store.ErrNotFound) {
		return store.Code{}, store.User{}, false, wrap(op, lerr) // rolled back: the code stays
	}
	if err := t.commit(); err != nil {
		return store.Code{}, store.User{}, false, wrap(op, err)
	}
	if lerr != nil {
		return c, store.User{}, false, fmt.Errorf("sqlite: %s: %w", op, lerr)
	}
	return c, u, created, nil
}

// --- refresh tokens --------------------------------------------------------

// CreateRefreshToken stores a new refresh token; an empty FamilyID starts a
// family named after the token's ID.
func (s *Store) CreateRefreshToken(ctx context.Context, rt store.RefreshToken) error {
	if rt.FamilyID == "" {
		rt.FamilyID = rt.ID
	}
	_, err := s.w.exec(ctx, qCreateToken, tokenArgs(rt)...)
	return wrap("create refresh token", err)
}

func tokenArgs(rt store.RefreshToken) []any {
	return []any{rt.ID, rt.FamilyID, blob(rt.Hash), rt.ClientID, rt.UserID, rt.Audience, rt.Scope,
		toMS(rt.CreatedAt), toMS(rt.ExpiresAt), toNullMS(rt.RotatedAt), rt.Revoked, toNullMS(rt.IdleExpiresAt)}
}

func scanToken(sc scanner, rt *store.RefreshToken) error {
	var created, expires int64
	var rotated, idle sql.NullInt64
	if err := sc.Scan(&rt.ID, &rt.FamilyID, &rt.Hash, &rt.ClientID, &rt.UserID, &rt.Audience, &rt.Scope,
		&created, &expires, &rotated, &rt.Revoked, &idle); err != nil {
		return err
	}
	rt.CreatedAt, rt.ExpiresAt, rt.RotatedAt, rt.IdleExpiresAt = fromMS(created), fromMS(expires), fromNullMS(rotated), fromNullMS(idle)
	return nil
}

// PurgeExpired deletes expired codes, refresh tokens, ephemeral records and
// outbox messages in batches of 500, each its own short write.
func (s *Store) PurgeExpired(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM codes WHERE (connection, identifier) IN (SELECT connection, identifier FROM codes WHERE expires_at < ? LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < ? LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE idle_expires_at < ? LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE revoked AND created_at < ? LIMIT 500)`,
		`DELETE FROM ephemerals WHERE rowid IN (SELECT rowid FROM ephemerals WHERE expires_at < ? LIMIT 500)`,
		`DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE expires_at < ? LIMIT 500)`,
	} {
		for {
			res, err := s.w.exec(ctx, q, toMS(before))
			if err != nil {
				return total, wrap("purge expired", err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n < 500 {
				break
			}
		}
	}
	return total, nil
}

// GetRefreshToken returns the token stored under hash.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	var rt store.RefreshToken
	err := s.r.queryRow(ctx, func(sc scanner) error { return scanToken(sc, &rt) }, qGetTokenByHash, blob(hash))
	return rt, wrap("get refresh token", err)
}

// RotateRefreshToken exchanges the live token with oldHash for next in one
// immediate transaction (see store.Store). A reuse revokes the family and
// commits that before returning ErrTokenReused.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time, leeway time.Duration) (store.RefreshToken, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.RefreshToken{}, wrap("rotate refresh token", err)
	}
	defer t.rollback()

	old, err := t.liveToken(ctx, oldHash, next.ClientID, now, leeway)
	if err != nil {
		return store.RefreshToken{}, wrap("rotate refresh token", err)
	}
	if old.RotatedAt.IsZero() {
		old.RotatedAt = norm(now)
		if _, err := t.exec(ctx, qRotateToken, toMS(old.RotatedAt), old.ID); err != nil {
			return store.RefreshToken{}, wrap("rotate refresh token", err)
		}
	}
	next.FamilyID, next.UserID, next.Audience, next.Scope = old.FamilyID, old.UserID, old.Audience, old.Scope
	if _, err := t.exec(ctx, qCreateToken, tokenArgs(next)...); err != nil {
		return store.RefreshToken{}, wrap("rotate refresh token: store next", err)
	}
	if err := t.commit(); err != nil {
		return store.RefreshToken{}, wrap("rotate refresh token", err)
	}
	return old, nil
}

// liveToken reads the token with hash in the transaction and judges it for
// an exchange by clientID at now: a rotated token within leeway of its
// rotation passes; one rotated earlier revokes its family, commits that and
// gives ErrTokenReused.
func (t *tx) liveToken(ctx context.Context, hash []byte, clientID string, now time.Time, leeway time.Duration) (store.RefreshToken, error) {
	var old store.RefreshToken
	if err := t.queryRow(ctx, func(sc scanner) error { return scanToken(sc, &old) }, qGetTokenByHash, blob(hash)); err != nil {
		return old, err
	}
	switch {
	case old.ClientID != clientID:
		return old, store.ErrNotFound
	case !old.RotatedAt.IsZero() && !old.Revoked && now.Before(old.RotatedAt.Add(leeway)):
		// Within the reuse interval: exchanged again, no breach.
	case !old.RotatedAt.IsZero():
		if _, err := t.exec(ctx, qRevokeFamily, old.FamilyID); err != nil {
			return old, fmt.Errorf("revoke family: %w", err)
		}
		if err := t.commit(); err != nil {
			return old, fmt.Errorf("revoke family: %w", err)
		}
		return old, store.ErrTokenReused
	}
	judged := old
	judged.RotatedAt = time.Time{} // a rotation within the leeway passed above
	if !judged.Live(now) {
		return old, store.ErrNotFound
	}
	return old, nil
}

// UseRefreshToken records a use of a non-rotating token (see store.Store).
func (s *Store) UseRefreshToken(ctx context.Context, hash []byte, clientID string, now, idleExpiresAt time.Time) (store.RefreshToken, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return store.RefreshToken{}, wrap("use refresh token", err)
	}
	defer t.rollback()
	rt, err := t.liveToken(ctx, hash, clientID, now, 0)
	if err != nil {
		return store.RefreshToken{}, wrap("use refresh token", err)
	}
	rt.IdleExpiresAt = norm(idleExpiresAt)
	if _, err := t.exec(ctx, qTouchToken, toNullMS(rt.IdleExpiresAt), rt.ID); err != nil {
		return store.RefreshToken{}, wrap("use refresh token", err)
	}
	if err := t.commit(); err != nil {
		return store.RefreshToken{}, wrap("use refresh token", err)
	}
	return rt, nil
}

// ListRefreshTokens lists a user's live tokens, one per family (see store.Store).
func (s *Store) ListRefreshTokens(ctx context.Context, f store.RefreshTokenFilter, now time.Time) ([]store.RefreshToken, error) {
	rows, err := s.r.query(ctx, qListUserTokens, f.UserID, f.ClientID, f.ClientID, toMS(now))
	if err != nil {
		return nil, wrap("list refresh tokens", err)
	}
	defer rows.Close()
	var all []store.RefreshToken
	for rows.Next() {
		var rt store.RefreshToken
		if err := scanToken(rows, &rt); err != nil {
			return nil, wrap("list refresh tokens", err)
		}
		all = append(all, rt)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list refresh tokens", err)
	}
	return store.LatestPerFamily(all, now), nil
}

// RevokeRefreshTokens revokes a family or a user's tokens (see store.Store).
func (s *Store) RevokeRefreshTokens(ctx context.Context, f store.RefreshTokenFilter) (int, error) {
	var res sql.Result
	var err error
	switch {
	case f.FamilyID != "":
		res, err = s.w.exec(ctx, qRevokeFamily, f.FamilyID)
	case f.UserID != "":
		var aud string
		if f.Audience != nil {
			aud = *f.Audience
		}
		res, err = s.w.exec(ctx, qRevokeUser, f.UserID, f.ClientID, f.ClientID, f.Audience != nil, aud)
	default:
		return 0, errors.New("sqlite: revoke refresh tokens: no family or user")
	}
	if err != nil {
		return 0, wrap("revoke refresh tokens", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
