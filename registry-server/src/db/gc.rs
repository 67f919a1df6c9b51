//! Garbage collection's claims: a digest whose object a collector is deleting.
//!
//! A collector decides under the write lock (rows deleted, claims written, committed) and talks to
//! the store afterwards, outside any transaction. While a claim stands no blob row is written for its
//! digest ([`Db::blob_insert`] checks under the same lock), so an upload racing the delete is told to
//! send its bytes again instead of being acknowledged. A claim is released once its delete has
//! returned; one older than its lease belongs to a collector that died and is taken over.
use sqlx::AssertSqlSafe;

use registry_core::Digest;

use super::{Db, DbError, Tx, placeholders};

fn parse(hex: &str) -> Result<Digest, DbError> {
    Digest::from_hex(hex).map_err(|e| DbError::Corrupt(format!("gc_claims.digest: {e}")))
}

/// Whether a collector holds a claim on `digest`, inside a transaction.
pub async fn claimed(tx: &mut Tx, digest: &Digest) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gc_claims WHERE digest = $1")
        .bind(digest.hex())
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Under the write lock: up to `limit` blobs no version references and nobody touched since
/// `cutoff` lose their rows and are claimed by `owner`. Returns them with their sizes.
pub async fn claim_unreferenced(
    db: &Db,
    cutoff: i64,
    limit: i64,
    owner: &str,
    now: i64,
) -> Result<Vec<(Digest, u64)>, DbError> {
    let postgres = db.backend() == super::Backend::Postgres;
    let mut tx = db.begin_write().await?;
    let batch = super::uploads::gc_candidates(&mut tx, postgres, cutoff, limit).await?;
    let digests: Vec<Digest> = batch.iter().map(|(d, _)| *d).collect();
    super::uploads::gc_delete(&mut tx, &digests).await?;
    for d in &digests {
        insert(&mut tx, d, owner, now).await?;
    }
    tx.commit().await?;
    Ok(batch)
}

async fn insert(tx: &mut Tx, d: &Digest, owner: &str, now: i64) -> Result<bool, DbError> {
    let r = sqlx::query(
        "INSERT INTO gc_claims (digest, owner, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
    )
    .bind(d.hex())
    .bind(owner)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

impl Db {
    /// Under the write lock: claims those of `digests` that have no blob row and no claim (objects
    /// nothing records: orphans). Returns the claimed ones. A row recorded before this is seen; one
    /// recorded after finds the claim.
    pub async fn gc_claim_orphans(
        &self,
        digests: &[Digest],
        owner: &str,
        now: i64,
    ) -> Result<Vec<Digest>, DbError> {
        let mut tx = self.begin_write().await?;
        super::log::lock_global_writes(&mut tx).await?;
        let mut known = std::collections::HashSet::new();
        for chunk in digests.chunks(500) {
            let sql = format!("SELECT digest FROM blobs WHERE digest IN ({})", placeholders(1, chunk.len()));
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(d.hex());
            }
            known.extend(q.fetch_all(&mut *tx).await?);
        }
        let mut claimed = vec![];
        for d in digests.iter().filter(|d| !known.contains(&d.hex())) {
            if insert(&mut tx, d, owner, now).await? {
                claimed.push(*d);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Takes over claims older than `stale_before` (their collector died mid-delete) for `owner`.
    pub async fn gc_take_stale_claims(
        &self,
        stale_before: i64,
        owner: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Digest>, DbError> {
        let mut tx = self.begin_write().await?;
        super::log::lock_global_writes(&mut tx).await?;
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT digest FROM gc_claims WHERE claimed_at < $1 ORDER BY claimed_at LIMIT $2",
        )
        .bind(stale_before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for hex in &stale {
            sqlx::query("UPDATE gc_claims SET owner = $1, claimed_at = $2 WHERE digest = $3")
                .bind(owner)
                .bind(now)
                .bind(hex)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        stale.iter().map(|h| parse(h)).collect()
    }

    /// Releases `owner`'s claim on `digest` (its delete returned).
    pub async fn gc_release(&self, digest: &Digest, owner: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM gc_claims WHERE digest = $1 AND owner = $2")
            .bind(digest.hex())
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many claims stand (for tests and metrics).
    pub async fn gc_claims_count(&self) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gc_claims").fetch_one(self.pool()).await?;
        Ok(n.max(0) as u64)
    }
}
