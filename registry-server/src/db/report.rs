//! The compliance report's reads: every version with its flags and dataset count, every
//! attestation's kind and signer, and which versions a promotion ever passed.
use super::{Db, DbError};

/// A version as the compliance report counts it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionFactsRow {
    /// Version id.
    pub id: i64,
    /// Model namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Nonzero when quarantined.
    pub quarantined: i64,
    /// Nonzero when the scrubber found it altered.
    pub corrupted: i64,
    /// Datasets its lineage names.
    pub datasets: i64,
}

/// An attestation as the compliance report counts it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttestationFactsRow {
    /// Owning version.
    pub version_id: i64,
    /// Predicate type.
    pub predicate_type: String,
    /// Hex key id of the verified signer.
    pub signer_key_id: String,
    /// `manifest`, `files` or `content`.
    pub binding: String,
    /// Keyless: JSON of the verified signer identity.
    pub signer_identity: Option<String>,
}

impl Db {
    /// Every version, in id order.
    pub async fn report_versions(&self) -> Result<Vec<VersionFactsRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT v.id, m.namespace, m.name, v.quarantined, v.corrupted, \
             (SELECT COUNT(*) FROM version_datasets d WHERE d.version_id = v.id) AS datasets \
             FROM versions v JOIN models m ON m.id = v.model_id ORDER BY v.id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every attestation.
    pub async fn report_attestations(&self) -> Result<Vec<AttestationFactsRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT version_id, predicate_type, signer_key_id, binding, signer_identity FROM attestations",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Ids of the versions some alias move passed a promotion policy for.
    pub async fn versions_promoted(&self) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT DISTINCT version_id FROM alias_history WHERE decision = 'passed'")
            .fetch_all(self.pool())
            .await?)
    }
}
