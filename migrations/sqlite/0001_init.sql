-- Blobs, models and versions. Timestamps are unix milliseconds (UTC); digests lowercase hex without prefix.
CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (namespace, name)
);

CREATE TABLE versions (
    id               INTEGER PRIMARY KEY,
    model_id         BIGINT NOT NULL REFERENCES models (id),
    version          TEXT NOT NULL,
    manifest_digest  TEXT NOT NULL,
    oms_root_digest  TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    lineage          TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    file_count       BIGINT NOT NULL,
    total_size       BIGINT NOT NULL,
    code_commit      TEXT,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (model_id, version)
);
CREATE INDEX versions_manifest_digest ON versions (manifest_digest);
CREATE INDEX versions_oms_root_digest ON versions (oms_root_digest);
CREATE INDEX versions_code_commit ON versions (code_commit);

-- Distinct blobs per version: garbage collection and "which versions hold this blob".
CREATE TABLE version_blobs (
    version_id  BIGINT NOT NULL REFERENCES versions (id),
    digest      TEXT NOT NULL,
    PRIMARY KEY (version_id, digest)
);
CREATE INDEX version_blobs_digest ON version_blobs (digest);

CREATE TABLE version_datasets (
    version_id  BIGINT NOT NULL REFERENCES versions (id),
    digest      TEXT NOT NULL,
    uri         TEXT NOT NULL,
    role        TEXT NOT NULL
);
CREATE INDEX version_datasets_version ON version_datasets (version_id);
CREATE INDEX version_datasets_digest ON version_datasets (digest);

CREATE TABLE version_parents (
    version_id  BIGINT NOT NULL REFERENCES versions (id),
    parent_id   BIGINT NOT NULL REFERENCES versions (id),
    PRIMARY KEY (version_id, parent_id)
);
CREATE INDEX version_parents_parent ON version_parents (parent_id);
