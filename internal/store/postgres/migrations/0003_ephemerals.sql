-- Short-lived single-purpose records (authorization codes, login tickets,
-- hosted-login transactions, login sessions), named by the keyed hash of a
-- random token. data is the owner's JSON, kept as bytes (not JSONB, which
-- would rewrite it); subject is the user id or ''. Times are unix ms.
CREATE TABLE ephemerals (
    kind       TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    client_id  TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    data       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, hash)
);
-- A user's records, of one kind or of all (DeleteUser); records without a
-- subject stay out of the index.
CREATE INDEX ephemerals_subject_idx ON ephemerals (subject, kind) WHERE subject <> '';
CREATE INDEX ephemerals_expires_at_idx ON ephemerals (expires_at);
