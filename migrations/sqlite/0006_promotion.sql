-- Aliases (movable names -> versions), every promotion decision, versioned Rego policies, and the
-- quarantine flag promotion policies and pulls look at.
CREATE TABLE aliases (
    model_id    BIGINT NOT NULL REFERENCES models (id),
    name        TEXT NOT NULL,
    version_id  BIGINT NOT NULL REFERENCES versions (id),
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (model_id, name)
);

CREATE TABLE alias_history (
    id                   INTEGER PRIMARY KEY,
    model_id             BIGINT NOT NULL REFERENCES models (id),
    name                 TEXT NOT NULL,
    version_id           BIGINT NOT NULL REFERENCES versions (id),
    previous_version_id  BIGINT,
    kind                 TEXT NOT NULL,
    decision             TEXT NOT NULL,
    reasons              TEXT NOT NULL,
    policies             TEXT NOT NULL,
    actor                TEXT NOT NULL,
    reason               TEXT NOT NULL,
    vsa_attestation_id   BIGINT,
    log_index            BIGINT,
    at                   BIGINT NOT NULL
);
CREATE INDEX alias_history_by_alias ON alias_history (model_id, name, id);
CREATE INDEX alias_history_by_version ON alias_history (version_id);

CREATE TABLE policies (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT NOT NULL,
    alias       TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    rego        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    log_index   BIGINT,
    UNIQUE (namespace, alias, revision)
);

ALTER TABLE versions ADD COLUMN quarantined BIGINT NOT NULL DEFAULT 0;
