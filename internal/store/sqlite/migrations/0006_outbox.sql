-- The outbox: messages written with their code (PutCode) and delivered by
-- workers. payload is sealed by the caller and kept as bytes. claimed_by is
-- '' and claimed_until NULL while no node holds the message. Times are Unix
-- milliseconds. A rowid table: rows carry a payload of some size.
CREATE TABLE outbox (
    id              TEXT NOT NULL PRIMARY KEY,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    client_id       TEXT NOT NULL DEFAULT '',
    connection      TEXT NOT NULL DEFAULT '',
    payload         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    claimed_by      TEXT NOT NULL DEFAULT '',
    claimed_until   INTEGER
) STRICT;

-- The claim: due messages in order of next attempt (ties by id); also the
-- earliest unclaimed one for NextOutboxDue.
CREATE INDEX outbox_next_attempt ON outbox (next_attempt_at, id);
-- The earliest lease end for NextOutboxDue: only messages in flight.
CREATE INDEX outbox_claimed_until ON outbox (claimed_until) WHERE claimed_until IS NOT NULL;
-- A new code drops the unsent messages of the code it replaces.
CREATE INDEX outbox_recipient ON outbox (connection, recipient);
-- No index on expires_at: the outbox holds minutes of unsent messages, the
-- worker gives up expired ones itself, and PurgeExpired's scan for those it
-- missed is cheaper than an index written on every login.
