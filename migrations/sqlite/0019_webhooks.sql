-- Webhook subscriptions (issue 21, docs/events.md). The transparency log is the outbox: an entry is
-- appended in the transaction of the change it records, so a subscription needs only a cursor into it
-- (and one into access_audit for `access`). URL and signing secret are sealed (AES-256-GCM under the
-- key every replica shares, --webhook-key-file); url_hash (SHA-256 of the URL) is what the log names.
CREATE TABLE webhooks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: log entries name webhook-<id>
    url_hash         TEXT NOT NULL,
    url_sealed       TEXT NOT NULL,
    secret_sealed    TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    events           TEXT NOT NULL,
    format           TEXT NOT NULL,
    paused           BIGINT NOT NULL DEFAULT 0,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    log_cursor       BIGINT NOT NULL,
    access_cursor    BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    failing_since    BIGINT,
    failing_seq      TEXT,   -- which sequence the failing event is in (log, access, open): its own clock
    next_attempt_at  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    delivered        BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0
);
-- Events given up on after the dead-letter time; they do not block the ones after them.
-- `registry webhook redeliver` sends them again (in order) and removes them once delivered.
CREATE TABLE webhook_dead (
    webhook_id  BIGINT NOT NULL,
    seq         TEXT NOT NULL,
    idx         BIGINT NOT NULL,
    failed_at   BIGINT NOT NULL,
    error       TEXT NOT NULL,
    retry       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, seq, idx)
);
