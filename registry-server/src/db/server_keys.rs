//! Rows of `server_keys`: the public half of each key the server signs with, recorded on first use.
use super::{Db, DbError};

impl Db {
    /// Records `public_key` for `purpose` unless one is recorded; returns the recorded one (this or
    /// the earlier) and when it was recorded (unix ms).
    pub async fn server_key_pin(
        &self,
        purpose: &str,
        public_key: &str,
        now: i64,
    ) -> Result<(String, i64), DbError> {
        sqlx::query(
            "INSERT INTO server_keys (purpose, public_key, recorded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(purpose)
        .bind(public_key)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(sqlx::query_as("SELECT public_key, recorded_at FROM server_keys WHERE purpose = $1")
            .bind(purpose)
            .fetch_one(self.pool())
            .await?)
    }

    /// The recorded key of `purpose`, if any.
    pub async fn server_key_get(&self, purpose: &str) -> Result<Option<(String, i64)>, DbError> {
        Ok(sqlx::query_as("SELECT public_key, recorded_at FROM server_keys WHERE purpose = $1")
            .bind(purpose)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Records `public_key` for `purpose`, replacing what was recorded (a deliberate rotation).
    pub async fn server_key_replace(&self, purpose: &str, public_key: &str, now: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO server_keys (purpose, public_key, recorded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose) DO UPDATE SET public_key = $2, recorded_at = $3",
        )
        .bind(purpose)
        .bind(public_key)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
