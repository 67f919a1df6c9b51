-- Number kept in step with migrations/sqlite/0020_attestation_heads.sql, which adds a covering index for
-- attestation heads. PostgreSQL needs none: a body over ~2 KiB is TOASTed out of line and a heads query
-- never reads it.
SELECT 1;
