//! What the scrubber reads to replay the log's alias moves against the stored aliases.
use super::log::EntryRow;
use super::{Db, DbError};

impl Db {
    /// Entries of `kind` after index `after`, at most `limit`, in index order.
    pub async fn log_entries_by_kind(
        &self,
        kind: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EntryRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT idx, body FROM log_entries WHERE kind = $1 AND idx > $2 ORDER BY idx LIMIT $3",
        )
        .bind(kind)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every stored alias as `(NS/NAME, alias, version label)`.
    pub async fn aliases_all(&self) -> Result<Vec<(String, String, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT m.namespace || '/' || m.name, a.name, v.version FROM aliases a \
             JOIN models m ON m.id = a.model_id JOIN versions v ON v.id = a.version_id \
             ORDER BY m.namespace, m.name, a.name",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
