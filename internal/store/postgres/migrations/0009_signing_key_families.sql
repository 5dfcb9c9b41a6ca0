-- Signing keys come in families, one per key type (alg: RS256 for the RSA
-- keys that sign RS256, PS256 and RS512, ES256 for the P-256 keys): each
-- family has at most one current and at most one next key.
DROP INDEX signing_keys_one_current_one_next_idx;
CREATE UNIQUE INDEX signing_keys_one_current_one_next_per_alg_idx ON signing_keys (alg, status) WHERE status IN ('current', 'next');
