//! The scrubber's queries: which versions name a blob, which are marked corrupted.
use registry_core::Digest;

use super::{Db, DbError};

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
}
