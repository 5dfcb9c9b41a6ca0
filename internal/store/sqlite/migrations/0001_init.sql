-- Configuration records: the natural keys as columns, the whole record as
-- JSON in data (the record types carry JSON tags).
CREATE TABLE settings (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    data TEXT NOT NULL
) STRICT;

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    data      TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE connections (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE resource_servers (
    id         TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    data       TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE client_grants (
    id        TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    audience  TEXT NOT NULL,
    data      TEXT NOT NULL,
    UNIQUE (client_id, audience)
) STRICT, WITHOUT ROWID;

-- Times are Unix milliseconds; NULL stands for the zero time.
CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    connection     TEXT NOT NULL,
    identifier     TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    phone_number   TEXT NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0,
    phone_verified INTEGER NOT NULL DEFAULT 0,
    blocked        INTEGER NOT NULL DEFAULT 0,
    logins_count   INTEGER NOT NULL DEFAULT 0,
    last_ip        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_login     INTEGER,
    UNIQUE (connection, identifier)
) STRICT, WITHOUT ROWID;

CREATE INDEX users_created_at ON users (created_at, user_id);

-- One outstanding code per (connection, identifier): PutCode upserts.
CREATE TABLE codes (
    connection   TEXT NOT NULL,
    identifier   TEXT NOT NULL,
    id           TEXT NOT NULL,
    hash         BLOB NOT NULL,
    client_id    TEXT NOT NULL,
    user_id_hint TEXT NOT NULL,
    send         TEXT NOT NULL,
    auth_params  TEXT,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (connection, identifier)
) STRICT, WITHOUT ROWID;

CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    audience   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    public_jwk     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX signing_keys_created_at ON signing_keys (created_at);
