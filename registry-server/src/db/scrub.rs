//! The scrubber's queries: pages of what it re-checks (attestation bytes, log entries with their
//! leaves), which versions name a blob or are marked corrupted, and its writes (findings, marks).
use registry_core::Digest;
use sqlx::AnyConnection;

use super::{Db, DbError};

/// An attestation's stored bytes and the digest recorded for them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttestationBytesRow {
    /// Attestation id.
    pub id: i64,
    /// Owning version.
    pub version_id: i64,
    /// Hex SHA-256 recorded for `body`.
    pub digest: String,
    /// The stored bytes.
    pub body: String,
}

/// A log entry and the leaf hash the tree holds at its index.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogLeafRow {
    /// Entry index.
    pub idx: i64,
    /// The entry's stored bytes.
    pub body: String,
    /// Hex leaf hash at level 0 of the tree (`None` if the tree holds none).
    pub hash: Option<String>,
}

impl Db {
    /// Ids of the versions that name `digest`.
    pub async fn versions_with_blob(&self, digest: &Digest) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT version_id FROM version_blobs WHERE digest = $1")
            .bind(digest.hex())
            .fetch_all(self.pool())
            .await?)
    }

    /// Ids of the versions marked corrupted.
    pub async fn versions_corrupted(&self) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT id FROM versions WHERE corrupted <> 0 ORDER BY id")
            .fetch_all(self.pool())
            .await?)
    }

    /// The blobs (hex) a version names.
    pub async fn version_blob_digests(&self, version_id: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT digest FROM version_blobs WHERE version_id = $1")
            .bind(version_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Up to `limit` attestations with id above `after`, in id order.
    pub async fn attestation_bytes_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AttestationBytesRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, version_id, digest, body FROM attestations WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` log entries with index above `after`, in index order, each with its leaf hash.
    pub async fn log_leaves_after(&self, after: i64, limit: i64) -> Result<Vec<LogLeafRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT e.idx, e.body, n.hash FROM log_entries e LEFT JOIN log_nodes n ON n.level = 0 AND n.idx = e.idx \
             WHERE e.idx > $1 ORDER BY e.idx LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Records a scrub finding (inside the caller's transaction).
pub async fn insert_finding(
    conn: &mut AnyConnection,
    at: i64,
    kind: &str,
    target: &str,
    detail: &str,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO scrub_findings (at, kind, target, detail) VALUES ($1, $2, $3, $4)")
        .bind(at)
        .bind(kind)
        .bind(target)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a version corrupted (inside the caller's transaction).
pub async fn mark_corrupted(conn: &mut AnyConnection, version_id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE versions SET corrupted = 1 WHERE id = $1").bind(version_id).execute(conn).await?;
    Ok(())
}

/// Lifts a version's corrupted mark (inside the caller's transaction); false if it was not marked.
pub async fn clear_corrupted(conn: &mut AnyConnection, version_id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE versions SET corrupted = 0 WHERE id = $1 AND corrupted <> 0")
        .bind(version_id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}
