-- The tenant log lives in a database file of its own (latchkey-logs.db next
-- to latchkey.db): SQLite has one writer per file, and log batches must not
-- hold up the writes of logins.
-- Tenant log events. The empty string stands for an absent text field;
-- details and auth0_client are JSON objects or NULL; date is Unix ms.
-- seq is the rowid; id (log_id) orders by date, so sorting by date uses it.
CREATE TABLE logs (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    date          INTEGER NOT NULL,
    type          TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    client_id     TEXT NOT NULL DEFAULT '',
    client_name   TEXT NOT NULL DEFAULT '',
    connection    TEXT NOT NULL DEFAULT '',
    connection_id TEXT NOT NULL DEFAULT '',
    strategy      TEXT NOT NULL DEFAULT '',
    strategy_type TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    user_name     TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    client_ip     TEXT NOT NULL DEFAULT '',
    hostname      TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    is_mobile     INTEGER NOT NULL DEFAULT 0,
    audience      TEXT NOT NULL DEFAULT '',
    scope         TEXT NOT NULL DEFAULT '',
    details       TEXT,
    auth0_client  TEXT
) STRICT;

-- The fields searches filter on, each with id so that a filtered search
-- walks the index in date order and stops at the page's end.
CREATE INDEX logs_date ON logs (date, id);
CREATE INDEX logs_type ON logs (type, id);
CREATE INDEX logs_user_id ON logs (user_id, id);
CREATE INDEX logs_user_name ON logs (user_name, id);
CREATE INDEX logs_client_id ON logs (client_id, id);
CREATE INDEX logs_connection ON logs (connection, id);
CREATE INDEX logs_ip ON logs (ip, id);

-- A dictionary of the distinct log descriptions. A tenant log has few of
-- them ("Successful login", one per error, one per deprecation), so a *word*
-- search (description:*passwordless*) matches the pattern against the
-- dictionary and then finds the events through the index on description.
-- (A trigram index kept in step with every event cost more than half of each
-- log write, on the one writer that logins also need.)
CREATE TABLE log_descriptions (
    description TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

CREATE INDEX logs_description ON logs (description, id);
