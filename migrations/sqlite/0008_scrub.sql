-- The scrubber: versions whose stored bytes, attestations or log entries no longer match their digests,
-- and what it found.
ALTER TABLE versions ADD COLUMN corrupted BIGINT NOT NULL DEFAULT 0;

CREATE TABLE scrub_findings (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
