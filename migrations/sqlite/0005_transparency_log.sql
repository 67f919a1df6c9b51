-- The transparency log: entries (canonical JSON), every complete subtree hash as it completes, the
-- head (size, bumped under a row lock so appends serialize across replicas), and the checkpoints
-- signed so far (one per size, never two roots for one size).
CREATE TABLE log_head (
    id    BIGINT PRIMARY KEY,
    size  BIGINT NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

CREATE TABLE log_entries (
    idx         BIGINT PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX log_entries_subject ON log_entries (subject);

CREATE TABLE log_nodes (
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoints (
    size        BIGINT PRIMARY KEY,
    root        TEXT NOT NULL,
    note        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

ALTER TABLE versions ADD COLUMN log_index BIGINT;
ALTER TABLE attestations ADD COLUMN log_index BIGINT;
