package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/store"
)

const ephemeralCols = `kind, hash, client_id, subject, data, created_at, expires_at`

func scanEphemeral(row pgx.Row) (store.Ephemeral, error) {
	var e store.Ephemeral
	var created, expires int64
	if err := row.Scan(&e.Kind, &e.Hash, &e.ClientID, &e.Subject, &e.Data, &created, &expires); err != nil {
		return store.Ephemeral{}, err
	}
	e.CreatedAt, e.ExpiresAt = fromMS(created), fromMS(expires)
	return e, nil
}

// bytea keeps a nil slice from binding as NULL.
func bytea(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// PutEphemeral stores e; ErrConflict when a live record has its name. One
// that has expired by e.CreatedAt is replaced in the same statement.
func (s *Store) PutEphemeral(ctx context.Context, e store.Ephemeral) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO ephemerals AS x (`+ephemeralCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (kind, hash) DO UPDATE SET
			client_id = EXCLUDED.client_id, subject = EXCLUDED.subject, data = EXCLUDED.data,
			created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
		WHERE x.expires_at <= EXCLUDED.created_at`,
		e.Kind, bytea(e.Hash), e.ClientID, e.Subject, bytea(e.Data), ms(e.CreatedAt), ms(e.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres: put ephemeral %s: %w", e.Kind, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: put ephemeral %s: %w", e.Kind, store.ErrConflict)
	}
	return nil
}

// GetEphemeral returns the live record of kind named hash.
func (s *Store) GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	e, err := scanEphemeral(s.pool.QueryRow(ctx, `SELECT `+ephemeralCols+` FROM ephemerals
		WHERE kind = $1 AND hash = $2 AND expires_at > $3`, kind, bytea(hash), ms(now)))
	if err != nil {
		return store.Ephemeral{}, fmt.Errorf("postgres: get ephemeral %s: %w", kind, mapErr(err))
	}
	return e, nil
}

// TakeEphemeral deletes the record of kind named hash and returns it (one
// DELETE … RETURNING: concurrent takers wait on the row lock and then find
// nothing). An expired record is deleted and reported as ErrNotFound.
func (s *Store) TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	e, err := scanEphemeral(s.pool.QueryRow(ctx, `DELETE FROM ephemerals WHERE kind = $1 AND hash = $2
		RETURNING `+ephemeralCols, kind, bytea(hash)))
	if err != nil {
		return store.Ephemeral{}, fmt.Errorf("postgres: take ephemeral %s: %w", kind, mapErr(err))
	}
	if !now.Before(e.ExpiresAt) {
		return store.Ephemeral{}, fmt.Errorf("postgres: take ephemeral %s: %w", kind, store.ErrNotFound)
	}
	return e, nil
}

// DeleteEphemeral deletes the record of kind named hash, if there is one.
func (s *Store) DeleteEphemeral(ctx context.Context, kind string, hash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ephemerals WHERE kind = $1 AND hash = $2`, kind, bytea(hash)); err != nil {
		return fmt.Errorf("postgres: delete ephemeral %s: %w", kind, err)
	}
	return nil
}

// DeleteEphemeralsBySubject deletes the records of kind whose subject is
// subject; an empty subject matches nothing (the query says so, which also
// lets the partial index serve it).
func (s *Store) DeleteEphemeralsBySubject(ctx context.Context, kind, subject string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM ephemerals WHERE subject = $1 AND kind = $2 AND subject <> ''`,
		subject, kind)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete %s ephemerals of %q: %w", kind, subject, err)
	}
	return tag.RowsAffected(), nil
}

// ListEphemeralsBySubject lists the live records of kind whose subject is
// subject, oldest first (at most 1,000); an empty subject matches nothing.
func (s *Store) ListEphemeralsBySubject(ctx context.Context, kind, subject string, now time.Time) ([]store.Ephemeral, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ephemeralCols+` FROM ephemerals
		WHERE subject = $1 AND kind = $2 AND subject <> '' AND expires_at > $3 ORDER BY created_at LIMIT 1000`,
		subject, kind, ms(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s ephemerals of %q: %w", kind, subject, err)
	}
	defer rows.Close()
	var out []store.Ephemeral
	for rows.Next() {
		e, err := scanEphemeral(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list %s ephemerals of %q: %w", kind, subject, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
