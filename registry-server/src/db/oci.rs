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

/// A label of model `model_id` served under OCI tag `tag` (`+` written `_`), if any: the tag's only
/// possible holders are the label `tag` itself and labels with `+` where `tag` has `_`.
pub async fn label_with_tag(
    conn: &mut AnyConnection,
    model_id: i64,
    tag: &str,
) -> Result<Option<String>, DbError> {
    if !tag.contains('_') {
        return Ok(sqlx::query_scalar("SELECT version FROM versions WHERE model_id = $1 AND version = $2")
            .bind(model_id)
            .bind(tag)
            .fetch_optional(&mut *conn)
            .await?);
    }
    Ok(sqlx::query_scalar(
        "SELECT version FROM versions WHERE model_id = $1 AND REPLACE(version, '+', '_') = $2 \
         ORDER BY id LIMIT 1",
    )
    .bind(model_id)
    .bind(tag)
    .fetch_optional(&mut *conn)
    .await?)
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

    /// The version an OCI tag names in model `model_id`: the label `tag`, else the alias `tag`, else
    /// a label with `+` written `_` (the oldest). Pushes and promotions refuse names whose tags
    /// collide (docs/oci.md); the order only settles versions made before that rule, and puts an
    /// alias (moved only through policy) before a label anyone with push could have chosen.
    pub async fn oci_version_by_tag(&self, model_id: i64, tag: &str) -> Result<Option<VersionRow>, DbError> {
        if tag.contains('+') {
            return Ok(None); // no tag holds `+`
        }
        let exact = format!("{SELECT} WHERE v.model_id = $1 AND v.version = $2");
        let row =
            sqlx::query_as(AssertSqlSafe(exact)).bind(model_id).bind(tag).fetch_optional(self.pool()).await?;
        if row.is_some() {
            return Ok(row);
        }
        let alias = format!(
            "{SELECT} WHERE v.id = (SELECT a.version_id FROM aliases a WHERE a.model_id = $1 AND a.name = $2)"
        );
        let row =
            sqlx::query_as(AssertSqlSafe(alias)).bind(model_id).bind(tag).fetch_optional(self.pool()).await?;
        if row.is_some() || !tag.contains('_') {
            return Ok(row);
        }
        let mapped = format!(
            "{SELECT} WHERE v.model_id = $1 AND REPLACE(v.version, '+', '_') = $2 ORDER BY v.id LIMIT 1"
        );
        Ok(sqlx::query_as(AssertSqlSafe(mapped)).bind(model_id).bind(tag).fetch_optional(self.pool()).await?)
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
            "SELECT id FROM attestations WHERE oci_manifest_digest IS NOT NULL AND version_id IN \
             (SELECT id FROM versions WHERE model_id = $1) LIMIT 1",
        )
        .bind(model_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(n.is_some())
    }

    /// Whether versions of model `model_id` hold blob `hex` as a file: `None` when none does, else
    /// whether one is usable (neither quarantined nor corrupted), and whether any is corrupted.
    pub async fn oci_blob_holders(&self, model_id: i64, hex: &str) -> Result<Option<BlobHolders>, DbError> {
        let usable: Option<i64> = sqlx::query_scalar(
            "SELECT v.id FROM version_blobs vb JOIN versions v ON v.id = vb.version_id \
             WHERE vb.digest = $2 AND v.model_id = $1 AND v.quarantined = 0 AND v.corrupted = 0 LIMIT 1",
        )
        .bind(model_id)
        .bind(hex)
        .fetch_optional(self.pool())
        .await?;
        if usable.is_some() {
            return Ok(Some(BlobHolders { usable: true, corrupted: false }));
        }
        let (any, corrupted): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT MAX(v.id), MAX(v.corrupted) FROM version_blobs vb JOIN versions v ON v.id = vb.version_id \
             WHERE vb.digest = $2 AND v.model_id = $1",
        )
        .bind(model_id)
        .bind(hex)
        .fetch_one(self.pool())
        .await?;
        Ok(any.map(|_| BlobHolders { usable: false, corrupted: corrupted.unwrap_or(0) != 0 }))
    }
}

/// Who holds a blob within one model (see [`Db::oci_blob_holders`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHolders {
    /// Some holder is neither quarantined nor corrupted.
    pub usable: bool,
    /// Some holder is corrupted (when none is usable).
    pub corrupted: bool,
}
