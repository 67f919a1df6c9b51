-- Attestation heads (every column but the body) straight from an index (issue 22). SQLite stores a row's
-- columns in order and a body over ~4 KiB spills to overflow pages; the columns after `body` sit past
-- them, so listing a version's heads read every body's overflow chain: 0.69 ms for 120 attestations
-- (100 VSAs of ~10 KiB) per promotion decision, 0.34 ms from this covering index.
CREATE INDEX attestations_heads ON attestations (version_id, id, digest, format, predicate_type, signer_key_id,
    subject_digest, binding, created_by, created_at, log_index, signer_identity);
