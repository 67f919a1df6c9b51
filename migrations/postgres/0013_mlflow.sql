-- The MLflow-compatible API (issue 16).
-- seq: the version's per-model sequence number (MLflow version numbers are integers). Existing
-- versions are numbered in creation order; new ones take MAX + 1 under the global write lock.
ALTER TABLE versions ADD COLUMN seq BIGINT;
UPDATE versions SET seq = (SELECT COUNT(*) FROM versions w WHERE w.model_id = versions.model_id AND w.id <= versions.id);
CREATE UNIQUE INDEX versions_model_seq ON versions (model_id, seq);

-- Experiments: names only. Experiment 0 ("Default") always exists (the client uses it without asking).
CREATE TABLE mlflow_experiments (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
INSERT INTO mlflow_experiments (id, name, created_by, created_at) VALUES (0, 'Default', 'registry', 0);

-- Runs belong to the credential that created them.
CREATE TABLE mlflow_runs (
    id             TEXT PRIMARY KEY,
    experiment_id  BIGINT NOT NULL REFERENCES mlflow_experiments (id),
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    start_time     BIGINT NOT NULL,
    end_time       BIGINT,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX mlflow_runs_experiment ON mlflow_runs (experiment_id, created_at);

-- Parameters are write-once (MLflow refuses changing a logged parameter).
CREATE TABLE mlflow_params (
    run_id  TEXT NOT NULL REFERENCES mlflow_runs (id),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Metric history; identical (key, value, timestamp, step) points are one point, as on MLflow.
-- NaN is stored as value 0 with is_nan 1 (SQLite turns a NaN REAL into NULL); infinities are
-- clamped to the largest finite doubles, as MLflow's server does.
CREATE TABLE mlflow_metrics (
    run_id     TEXT NOT NULL REFERENCES mlflow_runs (id),
    key        TEXT NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    is_nan     BIGINT NOT NULL DEFAULT 0,
    timestamp  BIGINT NOT NULL,
    step       BIGINT NOT NULL,
    PRIMARY KEY (run_id, key, timestamp, step, value, is_nan)
);

-- Dataset inputs of a run (log_input).
CREATE TABLE mlflow_inputs (
    run_id       TEXT NOT NULL REFERENCES mlflow_runs (id),
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL,
    source_type  TEXT NOT NULL,
    source       TEXT NOT NULL,
    context      TEXT NOT NULL,
    PRIMARY KEY (run_id, name, digest)
);

-- Logged models (MLflow 3's log_model): files under their own artifact root until registered.
CREATE TABLE mlflow_logged_models (
    id             TEXT PRIMARY KEY,
    experiment_id  BIGINT NOT NULL REFERENCES mlflow_experiments (id),
    name           TEXT NOT NULL,
    source_run_id  TEXT,
    status         TEXT NOT NULL,
    params         TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Mutable string annotations of runs, logged models, registered models and versions: `kind` says
-- which (`run`, `logged_model`, `model`, `version`; descriptions are kind `description.model` /
-- `description.version` with key ''), `owner` is its id. None is part of a version's identity.
CREATE TABLE mlflow_tags (
    kind   TEXT NOT NULL,
    owner  TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (kind, owner, key)
);

-- Artifact files uploaded through mlflow-artifacts: a path under a run's or logged model's root,
-- naming a blob. Write-once. Garbage collection keeps every blob named here.
CREATE TABLE mlflow_artifacts (
    root        TEXT NOT NULL,
    path        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (root, path)
);
CREATE INDEX mlflow_artifacts_digest ON mlflow_artifacts (digest);

-- Where a version registered through MLflow came from.
CREATE TABLE mlflow_sources (
    version_id  BIGINT PRIMARY KEY REFERENCES versions (id),
    source      TEXT NOT NULL,
    run_id      TEXT,
    model_id    TEXT
);
CREATE INDEX mlflow_sources_model ON mlflow_sources (model_id);
CREATE INDEX mlflow_sources_run ON mlflow_sources (run_id);

-- "Which aliases point at this version" (every MLflow version record lists them).
CREATE INDEX aliases_by_version ON aliases (version_id);
