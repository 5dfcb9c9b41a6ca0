package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

const ephemeralCols = `kind, hash, client_id, subject, data, created_at, expires_at`

const (
	// qPutEphemeral inserts a record, replacing one of the same name only
	// when that one has expired by the new record's creation: no row
	// changes when a live one is in the way.
	qPutEphemeral = `INSERT INTO ephemerals (` + ephemeralCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (kind, hash) DO UPDATE SET
		client_id = excluded.client_id, subject = excluded.subject, data = excluded.data,
		created_at = excluded.created_at, expires_at = excluded.expires_at
	WHERE ephemerals.expires_at <= excluded.created_at`
	qGetEphemeral = `SELECT ` + ephemeralCols + ` FROM ephemerals
	WHERE kind = ? AND hash = ? AND expires_at > ?`
	qTakeEphemeral = `DELETE FROM ephemerals WHERE kind = ? AND hash = ?
	RETURNING ` + ephemeralCols
	qDeleteEphemeral = `DELETE FROM ephemerals WHERE kind = ? AND hash = ?`
	// subject <> '' keeps records without a subject out of reach and lets
	// the partial index serve the query.
	qDeleteEphemeralsBySubject = `DELETE FROM ephemerals WHERE subject = ? AND kind = ? AND subject <> ''`
	qDeleteUserEphemerals      = `DELETE FROM ephemerals WHERE subject = ? AND subject <> ''`
	qListEphemeralsBySubject   = `SELECT ` + ephemeralCols + ` FROM ephemerals
	WHERE subject = ? AND kind = ? AND subject <> '' AND expires_at > ? ORDER BY created_at LIMIT 1000`
)

func scanEphemeral(sc scanner, e *store.Ephemeral) error {
	var created, expires int64
	if err := sc.Scan(&e.Kind, &e.Hash, &e.ClientID, &e.Subject, &e.Data, &created, &expires); err != nil {
		return err
	}
	e.CreatedAt, e.ExpiresAt = fromMS(created), fromMS(expires)
	return nil
}

// PutEphemeral stores e; ErrConflict when a live record has its name (an
// expired one is replaced).
func (s *Store) PutEphemeral(ctx context.Context, e store.Ephemeral) error {
	res, err := s.w.exec(ctx, qPutEphemeral, e.Kind, blob(e.Hash), e.ClientID, e.Subject, blob(e.Data),
		toMS(e.CreatedAt), toMS(e.ExpiresAt))
	if err != nil {
		return wrap("put ephemeral "+e.Kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("put ephemeral "+e.Kind, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: put ephemeral %s: %w", e.Kind, store.ErrConflict)
	}
	return nil
}

// GetEphemeral returns the live record of kind named hash.
func (s *Store) GetEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	var e store.Ephemeral
	err := s.r.queryRow(ctx, func(sc scanner) error { return scanEphemeral(sc, &e) }, qGetEphemeral,
		kind, blob(hash), toMS(now))
	if err != nil {
		return store.Ephemeral{}, wrap("get ephemeral "+kind, err)
	}
	return e, nil
}

// TakeEphemeral deletes the record of kind named hash and returns it, in
// one DELETE … RETURNING on the writer; an expired record is deleted and
// reported as ErrNotFound.
func (s *Store) TakeEphemeral(ctx context.Context, kind string, hash []byte, now time.Time) (store.Ephemeral, error) {
	var e store.Ephemeral
	err := s.w.queryRow(ctx, func(sc scanner) error { return scanEphemeral(sc, &e) }, qTakeEphemeral, kind, blob(hash))
	if err != nil {
		return store.Ephemeral{}, wrap("take ephemeral "+kind, err)
	}
	if !now.Before(e.ExpiresAt) {
		return store.Ephemeral{}, fmt.Errorf("sqlite: take ephemeral %s: %w", kind, store.ErrNotFound)
	}
	return e, nil
}

// DeleteEphemeral deletes the record of kind named hash, if there is one.
func (s *Store) DeleteEphemeral(ctx context.Context, kind string, hash []byte) error {
	_, err := s.w.exec(ctx, qDeleteEphemeral, kind, blob(hash))
	return wrap("delete ephemeral "+kind, err)
}

// DeleteEphemeralsBySubject deletes the records of kind whose subject is
// subject; an empty subject matches nothing.
func (s *Store) DeleteEphemeralsBySubject(ctx context.Context, kind, subject string) (int64, error) {
	res, err := s.w.exec(ctx, qDeleteEphemeralsBySubject, subject, kind)
	if err != nil {
		return 0, wrap("delete ephemerals by subject", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete ephemerals by subject", err)
}

// ListEphemeralsBySubject lists the live records of kind whose subject is
// subject, oldest first (at most 1,000); an empty subject matches nothing.
func (s *Store) ListEphemeralsBySubject(ctx context.Context, kind, subject string, now time.Time) ([]store.Ephemeral, error) {
	rows, err := s.r.query(ctx, qListEphemeralsBySubject, subject, kind, toMS(now))
	if err != nil {
		return nil, wrap("list ephemerals by subject", err)
	}
	defer rows.Close()
	var out []store.Ephemeral
	for rows.Next() {
		var e store.Ephemeral
		if err := scanEphemeral(rows, &e); err != nil {
			return nil, wrap("list ephemerals by subject", err)
		}
		out = append(out, e)
	}
	return out, wrap("list ephemerals by subject", rows.Err())
}
