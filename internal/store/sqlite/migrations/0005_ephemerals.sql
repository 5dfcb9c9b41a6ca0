-- Short-lived single-purpose records (authorization codes, login tickets,
-- hosted-login transactions, login sessions), named by the keyed hash of a
-- random token. data is the owner's JSON, kept as bytes; subject is the user
-- id or ''. Times are Unix milliseconds. A rowid table, unlike the others:
-- rows carry JSON of some size, and without rowid the planner answers
-- (subject, kind) lookups from the primary key's kind prefix instead of the
-- subject index.
CREATE TABLE ephemerals (
    kind       TEXT NOT NULL,
    hash       BLOB NOT NULL,
    client_id  TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, hash)
) STRICT;

-- A user's records, of one kind or of all (DeleteUser); records without a
-- subject stay out of the index.
CREATE INDEX ephemerals_subject ON ephemerals (subject, kind) WHERE subject <> '';
CREATE INDEX ephemerals_expires_at ON ephemerals (expires_at);
