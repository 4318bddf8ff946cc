-- Outbound webhooks (Standard Webhooks, issue 25): the endpoints admins register and an
-- outbox of deliveries, each retried on a schedule that survives restarts. Additive only.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    -- The event types it receives, separated by commas.
    events TEXT NOT NULL,
    -- `whsec_` + base64: deliveries are signed with it, so it is kept as given.
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when the endpoint answered 410 Gone: nothing more is sent to it.
    disabled_at BIGINT,
    removed_at BIGINT
);

CREATE TABLE webhook_deliveries (
    -- The `webhook-id` header, the same on every attempt.
    id TEXT PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    event TEXT NOT NULL,
    -- The body sent, exactly as signed.
    payload TEXT NOT NULL,
    -- `retrying` (not yet delivered), `delivered` or `failed`.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status_code BIGINT,
    -- On the database's clock, in milliseconds; NULL once delivered or failed.
    next_attempt_at BIGINT,
    -- Held by the instance sending it, until then (database clock).
    lease_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'retrying';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at);
