//! Rows of `ui_sessions`: web UI sign-ins, keyed by the SHA-256 of the cookie's secret.
use super::{Db, DbError};

/// Live sessions kept per token.
pub const MAX_PER_TOKEN: i64 = 64;

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Hex SHA-256 of the cookie's secret.
    pub secret_hash: String,
    /// The API token it signs in as.
    pub token_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

impl Db {
    /// Stores a session, drops sessions that expired before `now` (so the table holds only live
    /// ones without a sweeper), and keeps at most [`MAX_PER_TOKEN`] per token (the oldest go: signing
    /// in in a loop cannot grow the table).
    pub async fn session_insert(&self, row: &SessionRow, now: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        sqlx::query(
            "INSERT INTO ui_sessions (secret_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.secret_hash)
        .bind(&row.token_id)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "DELETE FROM ui_sessions WHERE token_id = $1 AND secret_hash NOT IN \
             (SELECT secret_hash FROM ui_sessions WHERE token_id = $1 ORDER BY created_at DESC, secret_hash LIMIT $2)",
        )
        .bind(&row.token_id)
        .bind(MAX_PER_TOKEN)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session with this secret hash, if it has not expired at `now`.
    pub async fn session_get(&self, secret_hash: &str, now: i64) -> Result<Option<SessionRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT secret_hash, token_id, created_at, expires_at FROM ui_sessions \
             WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Ends a session (sign-out). Unknown hashes are not an error.
    pub async fn session_delete(&self, secret_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM ui_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
