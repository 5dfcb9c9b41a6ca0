-- Latchkey PostgreSQL schema, version 1.
-- Every table is created unqualified, so it lands in the first schema of the
-- connection's search_path. Every time is a BIGINT of unix milliseconds (UTC);
-- NULL where the record's time is zero.

-- Configuration kinds: the key and the natural keys as columns, the whole
-- record as JSONB.
CREATE TABLE settings (
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    data JSONB NOT NULL
);

CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    data       JSONB NOT NULL
);

CREATE TABLE connections (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    data       JSONB NOT NULL
);

CREATE TABLE resource_servers (
    id         TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    data       JSONB NOT NULL
);

CREATE TABLE client_grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    audience   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    data       JSONB NOT NULL,
    UNIQUE (client_id, audience)
);

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    connection     TEXT NOT NULL,
    identifier     TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    phone_number   TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT false,
    phone_verified BOOLEAN NOT NULL DEFAULT false,
    blocked        BOOLEAN NOT NULL DEFAULT false,
    logins_count   INTEGER NOT NULL DEFAULT 0,
    last_ip        TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    last_login     BIGINT,
    UNIQUE (connection, identifier)
);
CREATE INDEX users_created_at_idx ON users (created_at, user_id);

-- One outstanding code per identifier: PutCode replaces it.
CREATE TABLE codes (
    connection   TEXT NOT NULL,
    identifier   TEXT NOT NULL,
    id           TEXT NOT NULL,
    hash         BYTEA NOT NULL,
    client_id    TEXT NOT NULL DEFAULT '',
    user_id_hint TEXT NOT NULL DEFAULT '',
    send         TEXT NOT NULL DEFAULT '',
    auth_params  JSONB,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (connection, identifier)
);
CREATE INDEX codes_expires_at_idx ON codes (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    client_id  TEXT NOT NULL DEFAULT '',
    user_id    TEXT NOT NULL DEFAULT '',
    audience   TEXT NOT NULL DEFAULT '',
    scope      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    public_jwk     BYTEA NOT NULL,
    private_sealed BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT
);
