//! Rows of resumable upload sessions and their parts, and the garbage collector's queries.
use sqlx::AssertSqlSafe;

use registry_core::Digest;

use super::{Db, DbError, Tx, now_ms, placeholders, to_i64};

/// A resumable upload session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Server-made uuid.
    pub id: String,
    /// The blob being uploaded (hex).
    pub digest: String,
    /// Its size.
    pub size: i64,
    /// Bytes per part (the last may be shorter).
    pub part_size: i64,
    /// Who opened it; only they may use it.
    pub actor: String,
    /// The object store's multipart upload id.
    pub store_upload_id: String,
    /// Parts hashed in order so far.
    pub chained: i64,
    /// Hex of the SHA-256 state after `chained` parts.
    pub hash_state: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// When a part last arrived (unix ms).
    pub touched_at: i64,
}

/// A part the server has hashed into its session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartRow {
    /// Index from 0.
    pub part: i64,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the part (to recognise an identical resend).
    pub sha256: String,
    /// The store's id of the written part; `None` until it is written.
    pub store_part_id: Option<String>,
}

const SESSION_COLS: &str = "id, digest, size, part_size, actor, store_upload_id, chained, hash_state, \
                            created_at, expires_at, touched_at";

impl Db {
    /// Records a new session.
    pub async fn upload_insert(&self, s: &SessionRow) -> Result<(), DbError> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO upload_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(&s.id)
        .bind(&s.digest)
        .bind(s.size)
        .bind(s.part_size)
        .bind(&s.actor)
        .bind(&s.store_upload_id)
        .bind(s.chained)
        .bind(&s.hash_state)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.touched_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A session by id.
    pub async fn upload_get(&self, id: &str) -> Result<Option<SessionRow>, DbError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!("SELECT {SESSION_COLS} FROM upload_sessions WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The newest live session of `actor` for this blob and size, to resume.
    pub async fn upload_find(
        &self,
        digest: &Digest,
        size: u64,
        actor: &str,
    ) -> Result<Option<SessionRow>, DbError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM upload_sessions WHERE digest = $1 AND size = $2 AND actor = $3 \
             AND expires_at > $4 ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(digest.hex())
        .bind(to_i64(size))
        .bind(actor)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?)
    }

    /// The live sessions of `actor`, newest first (at most 1000).
    pub async fn uploads_of(&self, actor: &str, now: i64) -> Result<Vec<SessionRow>, DbError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM upload_sessions WHERE actor = $1 AND expires_at > $2 \
             ORDER BY created_at DESC LIMIT 1000"
        )))
        .bind(actor)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    /// The parts hashed into a session, in order.
    pub async fn upload_parts(&self, id: &str) -> Result<Vec<PartRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT part, size, sha256, store_part_id FROM upload_parts WHERE session_id = $1 ORDER BY part",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Advances the session from `from` chained parts to `from + 1` with the new hash state and
    /// records the part — only if nobody else advanced it first. Returns whether this call did.
    pub async fn upload_chain(
        &self,
        id: &str,
        from: i64,
        state_hex: &str,
        part: &PartRow,
        expires_at: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE upload_sessions SET chained = $1, hash_state = $2, expires_at = $3, touched_at = $6 \
             WHERE id = $4 AND chained = $5",
        )
        .bind(from + 1)
        .bind(state_hex)
        .bind(expires_at)
        .bind(id)
        .bind(from)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO upload_parts (session_id, part, size, sha256, store_part_id) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(id)
        .bind(part.part)
        .bind(part.size)
        .bind(&part.sha256)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records where the store put a part.
    pub async fn upload_part_stored(&self, id: &str, part: i64, store_part_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE upload_parts SET store_part_id = $1 WHERE session_id = $2 AND part = $3")
            .bind(store_part_id)
            .bind(id)
            .bind(part)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes a session and its parts.
    pub async fn upload_delete(&self, id: &str) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM upload_parts WHERE session_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM upload_sessions WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sessions that expired before `now`, or saw no part since `idle_before`.
    pub async fn uploads_expired(
        &self,
        now: i64,
        idle_before: i64,
        limit: i64,
    ) -> Result<Vec<SessionRow>, DbError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM upload_sessions WHERE expires_at <= $1 OR touched_at < $2 \
             ORDER BY expires_at LIMIT $3"
        )))
        .bind(now)
        .bind(idle_before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Locks every blob row GC may delete in this transaction (all writers wait on the log head; on
/// PostgreSQL the candidate rows are also locked) and returns up to `limit` blobs that no version
/// references and nobody touched since `cutoff`. A row another transaction holds is skipped, never
/// waited for: that is a push touching it (so it is not garbage), and waiting while holding the
/// global lock could deadlock with it.
pub async fn gc_candidates(
    tx: &mut Tx,
    postgres: bool,
    cutoff: i64,
    limit: i64,
) -> Result<Vec<(Digest, u64)>, DbError> {
    super::log::lock_global_writes(tx).await?;
    let sql = format!(
        "SELECT digest, size FROM blobs b WHERE last_seen < $1 \
         AND NOT EXISTS (SELECT 1 FROM version_blobs vb WHERE vb.digest = b.digest) \
         AND NOT EXISTS (SELECT 1 FROM mlflow_artifacts ma WHERE ma.digest = b.digest) \
         ORDER BY last_seen LIMIT $2{}",
        if postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
    );
    let rows: Vec<(String, i64)> =
        sqlx::query_as(AssertSqlSafe(sql)).bind(cutoff).bind(limit).fetch_all(&mut **tx).await?;
    rows.into_iter()
        .map(|(h, n)| {
            Ok((
                Digest::from_hex(&h).map_err(|e| DbError::Corrupt(format!("blobs.digest: {e}")))?,
                n.max(0) as u64,
            ))
        })
        .collect()
}

/// Deletes blob rows in GC's transaction.
pub async fn gc_delete(tx: &mut Tx, digests: &[Digest]) -> Result<(), DbError> {
    for chunk in digests.chunks(500) {
        let sql = format!("DELETE FROM blobs WHERE digest IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for d in chunk {
            q = q.bind(d.hex());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
