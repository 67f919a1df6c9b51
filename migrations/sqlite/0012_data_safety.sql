-- Data safety (issue 23).
-- lost_at: when the blob's object was found missing or damaged (by the scrubber, GC's listing or a
-- failed read); 0 = not seen so. Such a row is not "present" to a push, which uploads the bytes again
-- and so heals it. stored_at: when a verified upload last wrote the object.
ALTER TABLE blobs ADD COLUMN lost_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE blobs ADD COLUMN stored_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET stored_at = created_at;

-- Objects garbage collection is deleting: their rows are gone, the objects are going. No blob row is
-- written for a claimed digest; a claim older than its lease belongs to a collector that died.
CREATE TABLE gc_claims (
    digest      TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    claimed_at  BIGINT NOT NULL
);

-- When a part last arrived: GC reclaims sessions idle longer than a bound shorter than their expiry.
ALTER TABLE upload_sessions ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE upload_sessions SET touched_at = created_at;
