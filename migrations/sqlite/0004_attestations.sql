-- Trusted signer keys (per namespace pattern, optionally per predicate type), attestations stored
-- byte for byte as received, and per-namespace settings.
CREATE TABLE trusted_keys (
    key_id           TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    public_key       TEXT NOT NULL,
    predicate_types  TEXT NOT NULL,
    added_by         TEXT NOT NULL,
    added_at         BIGINT NOT NULL,
    revoked_at       BIGINT,
    PRIMARY KEY (key_id, namespace)
);

CREATE TABLE attestations (
    id              INTEGER PRIMARY KEY,
    version_id      BIGINT NOT NULL REFERENCES versions (id),
    digest          TEXT NOT NULL,
    body            TEXT NOT NULL,
    format          TEXT NOT NULL,
    predicate_type  TEXT NOT NULL,
    signer_key_id   TEXT NOT NULL,
    subject_digest  TEXT NOT NULL,
    binding         TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (version_id, digest)
);
CREATE INDEX attestations_predicate ON attestations (predicate_type);
CREATE INDEX attestations_signer ON attestations (signer_key_id);
CREATE INDEX attestations_subject ON attestations (subject_digest);

CREATE TABLE namespace_settings (
    namespace           TEXT PRIMARY KEY,
    require_provenance  BIGINT NOT NULL,
    updated_by          TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);
