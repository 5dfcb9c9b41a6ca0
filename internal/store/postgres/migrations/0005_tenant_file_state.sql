-- What the tenant files applied said, field by field (see
-- store.TenantConfig.FileState): the field's path and the keyed hash of the
-- value the file gave it, never the value (a file carries client secrets
-- and provider tokens). Written by ApplyTenant with the records it applies.
CREATE TABLE tenant_file_state (
    path TEXT PRIMARY KEY,
    hash BYTEA NOT NULL
);
