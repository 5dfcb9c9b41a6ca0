-- A refresh token's idle expiry (the client's idle_token_lifetime after its
-- last use), NULL when the client sets none. PurgeExpired takes tokens past
-- it, and revoked tokens, through these indexes.
ALTER TABLE refresh_tokens ADD COLUMN idle_expires_at INTEGER;
CREATE INDEX refresh_tokens_idle_expires_at ON refresh_tokens (idle_expires_at) WHERE idle_expires_at IS NOT NULL;
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (created_at) WHERE revoked;
