//! Rows of the `blobs` table: which digests the object store holds, and their sizes.
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use registry_core::Digest;

use super::{Db, DbError, now_ms, placeholders, to_i64};

/// Most digests per `IN (...)` query (well under SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 500;

impl Db {
    /// Records a stored blob. Returns false when it was already recorded.
    pub async fn blob_insert(&self, digest: &Digest, size: u64) -> Result<bool, DbError> {
        let r = sqlx::query(
            "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.hex())
        .bind(to_i64(size))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The recorded size of one blob.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, DbError> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.hex())
            .fetch_optional(self.pool())
            .await?;
        Ok(size.map(|s| s.max(0) as u64))
    }

    /// The recorded sizes of those of `digests` that are stored.
    pub async fn blob_sizes(&self, digests: &[Digest]) -> Result<HashMap<Digest, u64>, DbError> {
        let mut out = HashMap::with_capacity(digests.len());
        for chunk in digests.chunks(CHUNK) {
            let sql =
                format!("SELECT digest, size FROM blobs WHERE digest IN ({})", placeholders(1, chunk.len()));
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(d.hex());
            }
            for (hex, size) in q.fetch_all(self.pool()).await? {
                let d = Digest::from_hex(&hex).map_err(|e| DbError::Corrupt(format!("blobs.digest: {e}")))?;
                out.insert(d, size.max(0) as u64);
            }
        }
        Ok(out)
    }
}
