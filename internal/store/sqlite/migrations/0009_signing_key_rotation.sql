-- Signing-key rotation: each key has a status (next → current → previous →
-- revoked), the time it became current and the time it was revoked
-- (retired_at, already there, is when it stopped being current). At most
-- one key is current and at most one is next, whatever node writes.
ALTER TABLE signing_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'previous'
    CHECK (status IN ('next', 'current', 'previous', 'revoked'));
ALTER TABLE signing_keys ADD COLUMN current_since INTEGER;
ALTER TABLE signing_keys ADD COLUMN revoked_at INTEGER;

-- Before rotation existed, the oldest key not retired signed: it is the
-- current key. The next-oldest one (two nodes that started together each
-- generated one) becomes the next key; any other key not retired, which
-- never signed, is retired as of its creation.
UPDATE signing_keys SET status = 'current', current_since = created_at
WHERE kid = (SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at, kid LIMIT 1);
UPDATE signing_keys SET status = 'next'
WHERE kid = (SELECT kid FROM signing_keys WHERE retired_at IS NULL AND status <> 'current' ORDER BY created_at, kid LIMIT 1);
UPDATE signing_keys SET retired_at = created_at WHERE retired_at IS NULL AND status = 'previous';

CREATE UNIQUE INDEX signing_keys_one_current_one_next ON signing_keys (status) WHERE status IN ('current', 'next');
