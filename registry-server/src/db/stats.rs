//! Counts read at scrape time for the `/metrics` gauges.
use super::versions::version_count_of_m;
use super::{Db, DbError};

/// Which versions a gauge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionCount {
    /// Every stored version.
    All,
    /// Versions quarantined now.
    Quarantined,
    /// Versions the scrubber found altered.
    Corrupted,
}

impl Db {
    /// How many versions `which` counts.
    pub async fn versions_count(&self, which: VersionCount) -> Result<u64, DbError> {
        let sql = match which {
            // One index probe per model instead of a count over every version.
            VersionCount::All => {
                concat!("SELECT CAST(COALESCE(SUM(", version_count_of_m!(), "), 0) AS BIGINT) FROM models m")
            }
            // Partial indexes (migration 0022) hold only the flagged rows.
            VersionCount::Quarantined => "SELECT COUNT(*) FROM versions WHERE quarantined <> 0",
            VersionCount::Corrupted => "SELECT COUNT(*) FROM versions WHERE corrupted <> 0",
        };
        let n: i64 = sqlx::query_scalar(sql).fetch_one(self.pool()).await?;
        u64::try_from(n).map_err(|_| DbError::Corrupt("negative count".into()))
    }
}
