-- A refresh token's idle expiry (the client's idle_token_lifetime after its
-- last use), NULL when the client sets none.
ALTER TABLE refresh_tokens ADD COLUMN idle_expires_at BIGINT;
