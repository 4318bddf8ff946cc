-- Abuse limits (issue 22): accounts an admin has disabled, the secrets every instance
-- shares (the device-cookie key), and indexes for revoking a person's tokens and for
-- sweeping expired ones. Additive only: an older binary keeps working beside it.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX tokens_by_user ON tokens (user_id);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
