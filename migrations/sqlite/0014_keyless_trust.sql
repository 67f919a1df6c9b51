-- Keyless trust (issue 17): Sigstore trust roots (trusted_root.json files, kept byte for byte, with
-- their SHA-256) and trusted workload identities per namespace pattern. Each change is a log entry.
CREATE TABLE trust_roots (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    added_at    BIGINT NOT NULL
);

-- subject_regex: 1 when subject is a pattern (matched against the whole certificate subject).
-- claims: JSON object of required Fulcio claims (snake_case name -> exact value).
-- trust_root: the only root this identity is accepted through, if set.
CREATE TABLE trusted_identities (
    id             INTEGER PRIMARY KEY,
    namespace      TEXT NOT NULL,
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    subject_regex  BIGINT NOT NULL,
    claims         TEXT NOT NULL,
    trust_root     TEXT,
    added_by       TEXT NOT NULL,
    added_at       BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX trusted_identities_namespace ON trusted_identities (namespace);
