//! Rows of the `blobs` table: which digests the object store holds, and their sizes.
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use registry_core::Digest;

use super::{Db, DbError, now_ms, placeholders, to_i64};

/// A blob row as garbage collection compares it with the store's listing.
#[derive(Debug, Clone)]
pub struct BlobRow {
    /// The digest.
    pub digest: Digest,
    /// Recorded size.
    pub size: u64,
    /// When a verified upload last wrote the object (unix ms).
    pub stored_at: i64,
    /// Whether the object was found missing or damaged.
    pub lost: bool,
}

/// Most digests per `IN (...)` query (well under SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 500;

impl Db {
    /// Records a stored blob whose object was just written and verified (or refreshes when it was
    /// last seen, which keeps GC away from it, and clears a lost mark). Returns false, recording
    /// nothing, while garbage collection holds a claim on the digest: its delete of the object may
    /// still land, so the caller must not acknowledge the bytes (they are sent again).
    ///
    /// The row goes through the group commit ([`Db::grouped`]): blobs stored by concurrent uploads
    /// (a push sends several files at once) share one transaction and one disk flush, and none is
    /// answered before that commit.
    pub async fn blob_insert(
        &self,
        digest: &Digest,
        size: u64,
        uploaded_by: Option<&str>,
    ) -> Result<bool, DbError> {
        let (digest, uploaded_by) = (*digest, uploaded_by.map(str::to_owned));
        self.grouped(move |mut tx| async move {
            let r = insert_in(&mut tx, &digest, size, uploaded_by.as_deref()).await;
            (tx, r)
        })
        .await
    }

    /// Marks a blob's object as missing or damaged (found so by the scrubber, GC or a read): until a
    /// verified upload or a clean scrub clears the mark, pushes do not count the blob as present.
    pub async fn blob_mark_lost(&self, digest: &Digest) -> Result<bool, DbError> {
        let r = sqlx::query("UPDATE blobs SET lost_at = $1 WHERE digest = $2 AND lost_at = 0")
            .bind(now_ms().max(1))
            .bind(digest.hex())
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// [`Db::blob_mark_lost`] for a row GC found missing from a listing that began at `listed_at`:
    /// only if no verified upload stored the object since (the listing could not have shown it).
    pub async fn blob_mark_lost_listed(&self, digest: &Digest, listed_at: i64) -> Result<bool, DbError> {
        let r =
            sqlx::query("UPDATE blobs SET lost_at = $1 WHERE digest = $2 AND lost_at = 0 AND stored_at < $3")
                .bind(now_ms().max(1))
                .bind(digest.hex())
                .bind(listed_at)
                .execute(self.pool())
                .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Clears a lost mark (the scrubber found the object whole again).
    pub async fn blob_mark_found(&self, digest: &Digest) -> Result<bool, DbError> {
        let r = sqlx::query("UPDATE blobs SET lost_at = 0 WHERE digest = $1 AND lost_at <> 0")
            .bind(digest.hex())
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// A page of blob rows after `after` (hex) in digest order: digest, size, stored_at, lost_at.
    pub async fn blob_rows_after(&self, after: &str, limit: i64) -> Result<Vec<BlobRow>, DbError> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT digest, size, stored_at, lost_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(hex, size, stored_at, lost_at)| {
                Ok(BlobRow {
                    digest: Digest::from_hex(&hex)
                        .map_err(|e| DbError::Corrupt(format!("blobs.digest: {e}")))?,
                    size: size.max(0) as u64,
                    stored_at,
                    lost: lost_at != 0,
                })
            })
            .collect()
    }

    /// Marks blobs as just seen (a push is about to reference them); returns those that are recorded.
    /// A blob GC is deleting right now is not returned: the update waits for GC's lock and then finds
    /// no row, so the caller uploads it again instead of referencing bytes that are going away. Nor is
    /// a blob whose object was found lost: the caller uploads it again, which heals it.
    ///
    /// On PostgreSQL the rows are locked in digest order first, so two pushes touching overlapping
    /// blobs never lock them in opposite orders (a deadlock); GC skips rows a touch holds.
    pub async fn blob_touch(&self, digests: &[Digest]) -> Result<HashMap<Digest, u64>, DbError> {
        let mut out = HashMap::with_capacity(digests.len());
        let now = now_ms();
        for chunk in digests.chunks(CHUNK) {
            let list = placeholders(2, chunk.len());
            let sql = if self.backend() == super::Backend::Postgres {
                format!(
                    "UPDATE blobs SET last_seen = $1 WHERE digest IN (SELECT digest FROM blobs \
                     WHERE digest IN ({list}) AND lost_at = 0 ORDER BY digest FOR NO KEY UPDATE) \
                     RETURNING digest, size"
                )
            } else {
                format!(
                    "UPDATE blobs SET last_seen = $1 WHERE digest IN ({list}) AND lost_at = 0 RETURNING digest, size"
                )
            };
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

    /// The recorded size of one blob.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, DbError> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.hex())
            .fetch_optional(self.pool())
            .await?;
        Ok(size.map(|s| s.max(0) as u64))
    }

    /// The recorded sizes of those of `digests` that are stored (and not found lost).
    pub async fn blob_sizes(&self, digests: &[Digest]) -> Result<HashMap<Digest, u64>, DbError> {
        let mut out = HashMap::with_capacity(digests.len());
        for chunk in digests.chunks(CHUNK) {
            let sql = format!(
                "SELECT digest, size FROM blobs WHERE lost_at = 0 AND digest IN ({})",
                placeholders(1, chunk.len())
            );
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

/// Which blobs a caller may see or use: the credential's model pattern, and for uploads its identity.
#[derive(Debug, Clone, Copy)]
pub struct BlobViewer<'a> {
    /// Namespace the credential covers (`None`: every namespace).
    pub namespace: Option<&'a str>,
    /// Model name within it (`None`: every model).
    pub name: Option<&'a str>,
    /// The caller's identity, as recorded in `blob_uploads.actor`.
    pub actor: &'a str,
    /// Uploads at or after this time (unix ms) count as the caller holding the bytes.
    pub uploaded_since: i64,
}

impl Db {
    /// Of `digests`, the stored ones `viewer` may read: referenced by a version of a covered model.
    pub async fn blobs_visible(
        &self,
        digests: &[Digest],
        viewer: &BlobViewer<'_>,
    ) -> Result<std::collections::HashSet<Digest>, DbError> {
        Ok(self.blobs_where(digests, viewer, false).await?.into_keys().collect())
    }

    /// Of `digests`, the stored ones `viewer` may reference in a version, with their sizes: readable
    /// (as in [`Db::blobs_visible`]) or uploaded by the viewer itself since `uploaded_since`.
    pub async fn blobs_usable(
        &self,
        digests: &[Digest],
        viewer: &BlobViewer<'_>,
    ) -> Result<HashMap<Digest, u64>, DbError> {
        self.blobs_where(digests, viewer, true).await
    }

    async fn blobs_where(
        &self,
        digests: &[Digest],
        viewer: &BlobViewer<'_>,
        uploads: bool,
    ) -> Result<HashMap<Digest, u64>, DbError> {
        // Each branch is a probe of a primary key by the digests (blob_models: digest, namespace,
        // name; blob_uploads: digest, actor), with only the filters the viewer has, so no plan can
        // walk the versions of a namespace or the referrers of a blob (migration 0021).
        let mut out = HashMap::new();
        for chunk in digests.chunks(CHUNK) {
            let mut binds: Vec<String> = chunk.iter().map(Digest::hex).collect();
            let list = placeholders(1, chunk.len());
            let mut param = |v: &str| {
                binds.push(v.to_owned());
                format!("${}", binds.len())
            };
            let mut sql = format!(
                "SELECT b.digest, b.size FROM blob_models r JOIN blobs b ON b.digest = r.digest \
                 WHERE r.digest IN ({list})"
            );
            if let Some(ns) = viewer.namespace {
                sql += &format!(" AND r.namespace = {}", param(ns));
            }
            if let Some(name) = viewer.name {
                sql += &format!(" AND r.name = {}", param(name));
            }
            if uploads {
                let (actor, since) = (param(viewer.actor), binds.len() + 1);
                sql += &format!(
                    " UNION SELECT b.digest, b.size FROM blob_uploads u JOIN blobs b ON b.digest = u.digest \
                     WHERE u.digest IN ({list}) AND u.actor = {actor} AND u.uploaded_at >= ${since}"
                );
            }
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(b);
            }
            if uploads {
                q = q.bind(viewer.uploaded_since);
            }
            for (hex, size) in q.fetch_all(self.pool()).await? {
                let d = Digest::from_hex(&hex).map_err(|e| DbError::Corrupt(format!("blobs.digest: {e}")))?;
                out.insert(d, size.max(0) as u64);
            }
        }
        Ok(out)
    }

    /// Records that `actor` uploaded `digest` (its bytes hashed to it): proof that it holds them.
    pub async fn blob_upload_record(&self, digest: &Digest, actor: &str) -> Result<(), DbError> {
        let mut conn = self.pool().acquire().await?;
        upload_record(&mut conn, digest, actor, now_ms()).await
    }

    /// Forgets upload records older than `before` (unix ms); they no longer prove anything.
    pub async fn blob_uploads_expire(&self, before: i64) -> Result<u64, DbError> {
        let r = sqlx::query("DELETE FROM blob_uploads WHERE uploaded_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected())
    }
}

/// [`Db::blob_insert`] inside a transaction holding the global write lock: GC claims and deletes
/// rows under the same lock, so the claim check and the insert are one step.
async fn insert_in(
    tx: &mut super::Tx,
    digest: &Digest,
    size: u64,
    uploaded_by: Option<&str>,
) -> Result<bool, DbError> {
    if super::gc::claimed(tx, digest).await? {
        return Ok(false);
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at, last_seen, lost_at, stored_at) \
         VALUES ($1, $2, $3, $3, 0, $3) \
         ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen, lost_at = 0, \
         stored_at = excluded.stored_at",
    )
    .bind(digest.hex())
    .bind(to_i64(size))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if let Some(actor) = uploaded_by {
        upload_record(tx, digest, actor, now).await?;
    }
    Ok(true)
}

/// Records that `actor` uploaded bytes hashing to `digest` at `now` (unix ms).
async fn upload_record(
    conn: &mut sqlx::AnyConnection,
    digest: &Digest,
    actor: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO blob_uploads (digest, actor, uploaded_at) VALUES ($1, $2, $3) \
         ON CONFLICT (digest, actor) DO UPDATE SET uploaded_at = excluded.uploaded_at",
    )
    .bind(digest.hex())
    .bind(actor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many of `digests` (distinct) have a blob row not found lost, inside a transaction.
pub async fn count_in(tx: &mut super::Tx, digests: &[Digest]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in digests.chunks(CHUNK) {
        let sql = format!(
            "SELECT COUNT(*) FROM blobs WHERE lost_at = 0 AND digest IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for d in chunk {
            q = q.bind(d.hex());
        }
        n += q.fetch_one(&mut **tx).await?.max(0) as usize;
    }
    Ok(n)
}
