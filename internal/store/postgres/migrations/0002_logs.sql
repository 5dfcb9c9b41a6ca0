-- Tenant log events. The empty string stands for an absent text field;
-- details and auth0_client are JSON objects or NULL; date is Unix ms. Text
-- compares byte by byte (COLLATE "C"): case sensitive, the same order as
-- SQLite's, and LIKE 'prefix%' can use the indexes.
CREATE TABLE logs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    date          BIGINT NOT NULL,
    type          TEXT COLLATE "C" NOT NULL DEFAULT '',
    description   TEXT COLLATE "C" NOT NULL DEFAULT '',
    client_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
    client_name   TEXT COLLATE "C" NOT NULL DEFAULT '',
    connection    TEXT COLLATE "C" NOT NULL DEFAULT '',
    connection_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    strategy      TEXT COLLATE "C" NOT NULL DEFAULT '',
    strategy_type TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id       TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_name     TEXT COLLATE "C" NOT NULL DEFAULT '',
    ip            TEXT COLLATE "C" NOT NULL DEFAULT '',
    client_ip     TEXT COLLATE "C" NOT NULL DEFAULT '',
    hostname      TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_agent    TEXT COLLATE "C" NOT NULL DEFAULT '',
    is_mobile     BOOLEAN NOT NULL DEFAULT FALSE,
    audience      TEXT COLLATE "C" NOT NULL DEFAULT '',
    scope         TEXT COLLATE "C" NOT NULL DEFAULT '',
    details       JSONB,
    auth0_client  JSONB
);

CREATE INDEX logs_date ON logs (date, id);
CREATE INDEX logs_type ON logs (type, id);
CREATE INDEX logs_user_id ON logs (user_id, id);
CREATE INDEX logs_user_name ON logs (user_name, id);
CREATE INDEX logs_client_id ON logs (client_id, id);
CREATE INDEX logs_connection ON logs (connection, id);
CREATE INDEX logs_ip ON logs (ip, id);

-- A trigram index for *word* searches of description, when pg_trgm can be
-- had: it is created if missing (needs the CREATE privilege on the
-- database), once per database under a lock since schemas share it, and
-- used from whichever schema it lives in. Without it searches still work,
-- by scanning.
DO $$
DECLARE
    ext_schema text;
BEGIN
    PERFORM pg_advisory_xact_lock(7395184270112233);
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
            ext_schema := 'public';
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable (%); log searches for *word* will scan', SQLERRM;
            RETURN;
        END;
    END IF;
    EXECUTE format('CREATE INDEX logs_description_trgm ON logs USING gin (description %s.gin_trgm_ops)',
        quote_ident(ext_schema));
END
$$;
