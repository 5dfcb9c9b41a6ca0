package postgres

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

// putCodeSQL stores a code as the outstanding one of its (connection,
// identifier), replacing any older one.
const putCodeSQL = `INSERT INTO codes (connection, identifier, id, hash, client_id,
		user_id_hint, send, auth_params, ip, user_agent, attempts, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (connection, identifier) DO UPDATE SET
		id = EXCLUDED.id, hash = EXCLUDED.hash, client_id = EXCLUDED.client_id,
		user_id_hint = EXCLUDED.user_id_hint, send = EXCLUDED.send,
		auth_params = EXCLUDED.auth_params, ip = EXCLUDED.ip,
		user_agent = EXCLUDED.user_agent, attempts = EXCLUDED.attempts,
		created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`

// putCodeWithMessageSQL stores a code and queues its message in one
// statement (so one round trip, and atomic): the code's upsert runs as a
// data-modifying WITH, which is carried out whether or not it is read, and
// so does dropping the unsent, unclaimed messages of the code it replaces.
const putCodeWithMessageSQL = `WITH code AS (` + putCodeSQL + `),
	dropped AS (DELETE FROM outbox WHERE connection = $18 AND recipient = $16 AND claimed_by = '')
	INSERT INTO outbox (` + outboxCols + `)
	VALUES ($14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`

// PutCode stores c as the outstanding code of its (Connection, Identifier),
// replacing any older one, and queues msg (if any) in the same statement.
func (s *Store) PutCode(ctx context.Context, c store.Code, msg *store.OutboxMessage) error {
	var params *string
	if c.AuthParams != nil {
		b, err := json.Marshal(c.AuthParams)
		if err != nil {
			return fmt.Errorf("postgres: encode code auth params: %w", err)
		}
		p := string(b)
		params = &p
	}
	args := []any{c.Connection, c.Identifier, c.ID, c.Hash, c.ClientID, c.UserIDHint, c.Send, params,
		c.IP, c.UserAgent, c.Attempts, ms(c.CreatedAt), ms(c.ExpiresAt)}
	query := putCodeSQL
	if msg != nil {
		query = putCodeWithMessageSQL
		args = append(args, outboxArgs(*msg)...)
	}
	if _, err := s.pool.Exec(ctx, query, args...); err != nil {
		return fmt.Errorf("postgres: put code for %s/%s: %w", c.Connection, c.Identifier, mapErr(err))
	}
	return nil
}

// ConsumeCode checks hash against the outstanding code of
// (connection, identifier) and, on a match, deletes and returns it (see
// judgeCode).
func (s *Store) ConsumeCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error) {
	return s.judgeCode(ctx, "consume", connection, identifier, hash, now, true)
}

// CheckCode checks hash against the outstanding code of
// (connection, identifier) and, on a match, returns it and leaves it
// outstanding (see judgeCode).
func (s *Store) CheckCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time) (store.Code, error) {
	return s.judgeCode(ctx, "check", connection, identifier, hash, now, false)
}

// judgeCode checks hash against the outstanding code of
// (connection, identifier); a match deletes the code when consume is set.
// The row is locked while judged, so of concurrent consumers exactly one
// wins and every failed attempt is counted.
func (s *Store) judgeCode(ctx context.Context, op, connection, identifier string, hash []byte, now time.Time, consume bool) (store.Code, error) {
	var code store.Code
	err := s.inTx(ctx, func(tx pgx.Tx) (err error) {
		code, err = judgeTx(ctx, tx, connection, identifier, hash, now, consume)
		return err
	})
	if err != nil {
		return store.Code{}, fmt.Errorf("postgres: %s code for %s/%s: %w", op, connection, identifier, mapErr(err))
	}
	return code, nil
}

// judgeTx judges hash against the outstanding code, locked within tx (the
// verdict is store.JudgeCode's): a match deletes the code when consume is
// set; a failed attempt is counted and returned as commitThen (the count
// is kept).
func judgeTx(ctx context.Context, tx pgx.Tx, connection, identifier string, hash []byte, now time.Time, consume bool) (store.Code, error) {
	c, err := lockCode(ctx, tx, connection, identifier)
	if err != nil {
		return store.Code{}, err
	}
	verdict := store.JudgeCode(c, hmac.Equal(hash, c.Hash), now)
	switch {
	case verdict == nil:
		if consume {
			if _, err := tx.Exec(ctx, "DELETE FROM codes WHERE connection = $1 AND identifier = $2",
				connection, identifier); err != nil {
				return store.Code{}, err
			}
		}
		return c, nil
	case errors.Is(verdict, store.ErrCodeWrong),
		errors.Is(verdict, store.ErrCodeExhausted) && c.Attempts < store.MaxCodeAttempts:
		// A failed attempt (possibly the one that exhausts the code).
		if _, err := tx.Exec(ctx, `UPDATE codes SET attempts = attempts + 1
			WHERE connection = $1 AND identifier = $2`, connection, identifier); err != nil {
			return store.Code{}, err
		}
		return store.Code{}, commitThen{verdict}
	default:
		return store.Code{}, verdict
	}
}

// RedeemCode consumes the code and records the login in one transaction
// (see store.Store).
func (s *Store) RedeemCode(ctx context.Context, connection, identifier string, hash []byte, now time.Time,
	login func(store.Code) store.Login, allowSignup bool) (store.Code, store.User, bool, error) {
	var (
		code    store.Code
		user    store.User
		created bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		code = store.Code{} // a retried transaction starts over
		// Judged without deleting: the statement that records the login
		// deletes the code too.
		c, err := judgeTx(ctx, tx, connection, identifier, hash, now, false)
		if err != nil {
			return err
		}
		code = c
		user, created, err = recordLoginWith(ctx, tx, login(c), allowSignup, &spend{connection, identifier})
		if errors.Is(err, store.ErrNotFound) {
			return commitThen{err} // signup refused; the code is spent all the same
		}
		return err
	})
	if err != nil {
		return code, store.User{}, false, fmt.Errorf("postgres: redeem code for %s/%s: %w", connection, identifier, mapErr(err))
	}
	return code, user, created, nil
}

func lockCode(ctx context.Context, tx pgx.Tx, connection, identifier string) (store.Code, error) {
	c := store.Code{Connection: connection, Identifier: identifier}
	var params []byte
	var created, expires int64
	err := tx.QueryRow(ctx, `SELECT id, hash, client_id, user_id_hint, send, auth_params, ip,
			user_agent, attempts, created_at, expires_at
		FROM codes WHERE connection = $1 AND identifier = $2 FOR UPDATE`,
		connection, identifier).Scan(&c.ID, &c.Hash, &c.ClientID, &c.UserIDHint, &c.Send,
		&params, &c.IP, &c.UserAgent, &c.Attempts, &created, &expires)
	if err != nil {
		return c, err
	}
	if params != nil {
		if err := json.Unmarshal(params, &c.AuthParams); err != nil {
			return c, fmt.Errorf("decode auth params: %w", err)
		}
	}
	c.CreatedAt, c.ExpiresAt = fromMS(created), fromMS(expires)
	return c, nil
}
