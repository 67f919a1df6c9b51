-- Web UI sessions (issue 18): a session is an API token signed in through /ui/login. Only the SHA-256
-- of the cookie's secret is stored (a database leak yields no usable cookie); the token's scopes and
-- namespaces are re-read on every request, so revoking the token ends its sessions.
CREATE TABLE ui_sessions (
    secret_hash TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
