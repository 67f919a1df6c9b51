-- Reads by manifest digest within a model (`NS/NAME@sha256:...`, the web UI's version page): without
-- statistics, SQLite walked versions_model_order newest first checking each digest (22 ms for the
-- oldest of 10,000 versions, docs/benchmarks.md); this index makes it one lookup on both columns.
CREATE INDEX versions_model_manifest ON versions (model_id, manifest_digest);
