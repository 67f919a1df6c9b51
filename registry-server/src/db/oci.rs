//! The OCI view's index columns (`versions.oci_*`, `attestations.oci_manifest_digest`, migration 0018)
//! and the lookups `/v2` makes within one model. The columns only index: every serve regenerates the
//! bytes from the stored manifest and compares.
use sqlx::{AnyConnection, AssertSqlSafe};

use super::attestations::{ATT, AttestationRow};
use super::versions::{SELECT, VersionRow};
use super::{Db, DbError};

/// What a version's OCI manifest is, as stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciColumns {
    /// Hex digest of the OCI manifest; `None` when too large for one.
    pub manifest_digest: Option<String>,
    /// Its size in bytes.
    pub manifest_size: Option<i64>,
    /// Hex digest of its config blob.
    pub config_digest: Option<String>,
    /// The generator that made them (`registry_core::oci::GENERATOR`).
    pub generator: String,
}

/// Records a version's OCI columns.
pub async fn set_version(conn: &mut AnyConnection, version_id: i64, c: &OciColumns) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE versions SET oci_manifest_digest = $1, oci_manifest_size = $2, oci_config_digest = $3, \
         oci_generator = $4 WHERE id = $5",
    )
    .bind(&c.manifest_digest)
    .bind(c.manifest_size)
    .bind(&c.config_digest)
    .bind(&c.generator)
    .bind(version_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A version's OCI manifest digest (hex) and size, when it has one.
pub async fn version_subject(
    conn: &mut AnyConnection,
    version_id: i64,
) -> Result<Option<(String, i64)>, DbError> {
    let row: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT oci_manifest_digest, oci_manifest_size FROM versions WHERE id = $1")
            .bind(version_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.and_then(|(d, s)| Some((d?, s?))))
}

/// Records the digest of an attestation's OCI referrer manifest.
pub async fn set_attestation(conn: &mut AnyConnection, id: i64, hex: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE attestations SET oci_manifest_digest = $1 WHERE id = $2")
        .bind(hex)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Versions whose OCI columns were never computed (made before migration 0018), at most `limit`.
pub async fn versions_pending(conn: &mut AnyConnection, limit: i64) -> Result<Vec<VersionRow>, DbError> {
    let sql = format!("{SELECT} WHERE v.oci_generator IS NULL ORDER BY v.id LIMIT $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(limit).fetch_all(&mut *conn).await?)
}

/// Attestations without a referrer digest whose version has an OCI manifest, with its digest (hex)
/// and size, at most `limit`.
pub async fn attestations_pending(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(AttestationRow, String, i64)>, DbError> {
    let sql = format!(
        "SELECT {ATT} FROM attestations WHERE oci_manifest_digest IS NULL AND version_id IN \
         (SELECT id FROM versions WHERE oci_manifest_digest IS NOT NULL) ORDER BY id LIMIT $1"
    );
    let rows: Vec<AttestationRow> =
        sqlx::query_as(AssertSqlSafe(sql)).bind(limit).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some((d, s)) = version_subject(conn, r.version_id).await? {
            out.push((r, d, s));
        }
    }
    Ok(out)
}

impl Db {
    /// The version of model `model_id` whose OCI manifest digest is `hex`.
    pub async fn oci_version_by_digest(
        &self,
        model_id: i64,
        hex: &str,
    ) -> Result<Option<VersionRow>, DbError> {
        let sql =
            format!("{SELECT} WHERE v.model_id = $1 AND v.oci_manifest_digest = $2 ORDER BY v.id LIMIT 1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(hex).fetch_optional(self.pool()).await?)
    }

    /// The versions of model `model_id` whose OCI config digest is `hex` (at most a few: the config
    /// names the label, so only versions sharing a label could share one, and labels are unique).
    pub async fn oci_version_by_config(
        &self,
        model_id: i64,
        hex: &str,
    ) -> Result<Option<VersionRow>, DbError> {
        let sql =
            format!("{SELECT} WHERE v.model_id = $1 AND v.oci_config_digest = $2 ORDER BY v.id LIMIT 1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(hex).fetch_optional(self.pool()).await?)
    }

    /// The version an OCI tag names in model `model_id`: a label (exact first, then with `+` written
    /// `_`, the oldest of those), else an alias.
    pub async fn oci_version_by_tag(&self, model_id: i64, tag: &str) -> Result<Option<VersionRow>, DbError> {
        let sql = format!(
            "{SELECT} WHERE v.model_id = $1 AND REPLACE(v.version, '+', '_') = $2 \
             ORDER BY CASE WHEN v.version = $2 THEN 0 ELSE 1 END, v.id LIMIT 1"
        );
        let label =
            sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(tag).fetch_optional(self.pool()).await?;
        if label.is_some() {
            return Ok(label);
        }
        let sql = format!(
            "{SELECT} WHERE v.id = (SELECT a.version_id FROM aliases a WHERE a.model_id = $1 AND a.name = $2)"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(tag).fetch_optional(self.pool()).await?)
    }

    /// Every tag of model `model_id`: its labels with `+` written `_`, and its aliases (unsorted,
    /// possibly repeated).
    pub async fn oci_tags(&self, model_id: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT REPLACE(version, '+', '_') FROM versions WHERE model_id = $1 \
             UNION SELECT name FROM aliases WHERE model_id = $1",
        )
        .bind(model_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The attestation of a version of model `model_id` whose OCI referrer manifest digest is `hex`.
    pub async fn oci_referrer(&self, model_id: i64, hex: &str) -> Result<Option<AttestationRow>, DbError> {
        let sql = format!(
            "SELECT {ATT} FROM attestations WHERE oci_manifest_digest = $2 AND version_id IN \
             (SELECT id FROM versions WHERE model_id = $1) ORDER BY id LIMIT 1"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(hex).fetch_optional(self.pool()).await?)
    }

    /// An attestation of a version of model `model_id` whose body's digest is `hex`.
    pub async fn oci_attestation_body(
        &self,
        model_id: i64,
        hex: &str,
    ) -> Result<Option<AttestationRow>, DbError> {
        let sql = format!(
            "SELECT {ATT} FROM attestations WHERE digest = $2 AND version_id IN \
             (SELECT id FROM versions WHERE model_id = $1) ORDER BY id LIMIT 1"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(hex).fetch_optional(self.pool()).await?)
    }

    /// Whether some version of model `model_id` has an attestation (so serves the empty config).
    pub async fn oci_has_referrers(&self, model_id: i64) -> Result<bool, DbError> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM attestations WHERE oci_manifest_digest IS NOT NULL AND version_id IN \
             (SELECT id FROM versions WHERE model_id = $1) LIMIT 1",
        )
        .bind(model_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(n.is_some())
    }

    /// The versions of model `model_id` holding blob `hex` as a file: (quarantined, corrupted) of
    /// each, at most 16.
    pub async fn oci_blob_holders(&self, model_id: i64, hex: &str) -> Result<Vec<(bool, bool)>, DbError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT v.quarantined, v.corrupted FROM version_blobs vb JOIN versions v ON v.id = vb.version_id \
             WHERE vb.digest = $2 AND v.model_id = $1 LIMIT 16",
        )
        .bind(model_id)
        .bind(hex)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(q, c)| (q != 0, c != 0)).collect())
    }
}
