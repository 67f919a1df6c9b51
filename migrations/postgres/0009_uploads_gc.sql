-- Garbage collection: when a blob was last uploaded or asked about. GC removes only blobs that no
-- version references and nobody touched within its grace period.
ALTER TABLE blobs ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET last_seen = created_at;
CREATE INDEX blobs_last_seen ON blobs (last_seen);

-- Resumable uploads: a session per (blob, uploader), its parts hashed in order as they arrive
-- (hash_state is the SHA-256 state after `chained` parts), completed only if the digest matches.
CREATE TABLE upload_sessions (
    id              TEXT PRIMARY KEY,
    digest          TEXT NOT NULL,
    size            BIGINT NOT NULL,
    part_size       BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    store_upload_id TEXT NOT NULL,
    chained         BIGINT NOT NULL DEFAULT 0,
    hash_state      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX upload_sessions_digest ON upload_sessions (digest, actor);
CREATE INDEX upload_sessions_expires ON upload_sessions (expires_at);

CREATE TABLE upload_parts (
    session_id      TEXT NOT NULL,
    part            BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    store_part_id   TEXT,
    PRIMARY KEY (session_id, part)
);
