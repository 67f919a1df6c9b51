-- Quarantines: a seed (dataset, commit, key or version), everything it reached, and how it ended.
CREATE TABLE quarantines (
    id           INTEGER PRIMARY KEY,
    seed         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    rollbacks    TEXT NOT NULL,
    log_index    BIGINT NOT NULL,
    lifted_by    TEXT,
    lifted_at    BIGINT,
    lift_reason  TEXT
);

CREATE TABLE quarantine_versions (
    quarantine_id  BIGINT NOT NULL REFERENCES quarantines (id),
    version_id     BIGINT NOT NULL REFERENCES versions (id),
    path           TEXT NOT NULL,
    log_index      BIGINT NOT NULL,
    PRIMARY KEY (quarantine_id, version_id)
);
CREATE INDEX quarantine_versions_version ON quarantine_versions (version_id);
