//! What the scrubber reads to replay the log's alias moves against the stored aliases.
use super::log::EntryRow;
use super::{Db, DbError};

impl Db {
    /// `alias.moved` entries after index `after`, at most `limit`, in index order. Read through the
    /// partial index of alias moves (migration 0023; the kind is spelled out so the planner can use
    /// it): without it each page scanned the log from `after`, the whole log per pass.
    pub async fn alias_moves_after(&self, after: i64, limit: i64) -> Result<Vec<EntryRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT idx, body FROM log_entries WHERE kind = 'alias.moved' AND idx > $1 ORDER BY idx LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every `alias.moved` entry below `size` of model `model` (`NS/NAME`; their subjects are
    /// `NS/NAME@VERSION`), in order: a byte-order range over the subjects of the partial index of
    /// alias moves, so the read is bounded by this model's moves, not by the log. `@` (0x40) ends the
    /// prefix, so `[NS/NAME@, NS/NAMEA)` holds exactly the subjects that start with it; PostgreSQL
    /// compares under `COLLATE "C"` (byte order; the index is built the same way), SQLite's default
    /// collation is byte order already. A range, not `LIKE`: names may hold `_`.
    pub async fn alias_moves_of_model(&self, model: &str, size: u64) -> Result<Vec<EntryRow>, DbError> {
        let col = match self.backend() {
            super::Backend::Postgres => "subject COLLATE \"C\"",
            super::Backend::Sqlite => "subject",
        };
        let sql = format!(
            "SELECT idx, body FROM log_entries WHERE kind = 'alias.moved' AND {col} >= $1 AND {col} < $2 \
             AND idx < $3 ORDER BY idx"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(format!("{model}@"))
            .bind(format!("{model}A"))
            .bind(size as i64)
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
