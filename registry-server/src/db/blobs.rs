//! Rows of the `blobs` table: which digests the object store holds, and their sizes.
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use registry_core::Digest;

use super::{Db, DbError, now_ms, placeholders, to_i64};

/// Most digests per `IN (...)` query (well under SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 500;

impl Db {
    /// Records a stored blob (or refreshes when it was last seen, which keeps GC away from it).
    pub async fn blob_insert(&self, digest: &Digest, size: u64) -> Result<(), DbError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_at, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(digest.hex())
        .bind(to_i64(size))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks blobs as just seen (a push is about to reference them); returns those that are recorded.
    /// A blob GC is deleting right now is not returned: the update waits for GC's lock and then finds
    /// no row, so the caller uploads it again instead of referencing bytes that are going away.
    pub async fn blob_touch(&self, digests: &[Digest]) -> Result<HashMap<Digest, u64>, DbError> {
        let mut out = HashMap::with_capacity(digests.len());
        let now = now_ms();
        for chunk in digests.chunks(CHUNK) {
            let sql = format!(
                "UPDATE blobs SET last_seen = $1 WHERE digest IN ({}) RETURNING digest, size",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)).bind(now);
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

    /// Forgets a blob row unless a version references it (after its object turned out missing).
    pub async fn blob_forget_unreferenced(&self, digest: &Digest) -> Result<(), DbError> {
        sqlx::query(
            "DELETE FROM blobs WHERE digest = $1 \
             AND NOT EXISTS (SELECT 1 FROM version_blobs vb WHERE vb.digest = blobs.digest)",
        )
        .bind(digest.hex())
        .execute(self.pool())
        .await?;
        Ok(())
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

impl Db {
    /// Of `digests`, the stored ones a credential covering `(namespace, name)` may see: referenced by
    /// a version of a covered model, or (when `unreferenced` is true) referenced by no version at all.
    pub async fn blobs_visible(
        &self,
        digests: &[Digest],
        namespace: Option<&str>,
        name: Option<&str>,
        unreferenced: bool,
    ) -> Result<std::collections::HashSet<Digest>, DbError> {
        let mut out = std::collections::HashSet::new();
        for chunk in digests.chunks(CHUNK) {
            let sql = format!(
                "SELECT b.digest FROM blobs b WHERE b.digest IN ({}) AND ( \
                   ($3 = 1 AND NOT EXISTS (SELECT 1 FROM version_blobs vb WHERE vb.digest = b.digest)) \
                   OR EXISTS (SELECT 1 FROM version_blobs vb JOIN versions v ON v.id = vb.version_id \
                              JOIN models m ON m.id = v.model_id WHERE vb.digest = b.digest \
                              AND ($1 IS NULL OR m.namespace = $1) AND ($2 IS NULL OR m.name = $2)))",
                placeholders(4, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
                .bind(namespace.map(str::to_owned))
                .bind(name.map(str::to_owned))
                .bind(i64::from(unreferenced));
            for d in chunk {
                q = q.bind(d.hex());
            }
            for hex in q.fetch_all(self.pool()).await? {
                out.insert(
                    Digest::from_hex(&hex).map_err(|e| DbError::Corrupt(format!("blobs.digest: {e}")))?,
                );
            }
        }
        Ok(out)
    }
}

/// How many of `digests` (distinct) have a blob row, inside a transaction.
pub async fn count_in(tx: &mut super::Tx, digests: &[Digest]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in digests.chunks(CHUNK) {
        let sql = format!("SELECT COUNT(*) FROM blobs WHERE digest IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for d in chunk {
            q = q.bind(d.hex());
        }
        n += q.fetch_one(&mut **tx).await?.max(0) as usize;
    }
    Ok(n)
}
