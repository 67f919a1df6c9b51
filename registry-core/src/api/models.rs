//! Model and version wire types: the publish request, version and model records, their pages.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::digest::Digest;
use crate::lineage::{Lineage, LineageError};
use crate::manifest::Manifest;

/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 16 * 1024;

/// Free-form description of a version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels (string to string).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Metadata {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), LineageError> {
        if let Some(d) = &self.description
            && d.len() > MAX_DESCRIPTION_LEN
        {
            return Err(LineageError::TooLong { what: "description".into(), max: MAX_DESCRIPTION_LEN });
        }
        crate::lineage::check_string_map("labels", &self.labels)
    }
}

/// `PUT /v1/models/{ns}/{name}/versions/{version}` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVersionRequest {
    /// The files.
    pub manifest: Manifest,
    /// What the version was made from.
    #[serde(default)]
    pub lineage: Lineage,
    /// Description and labels.
    #[serde(default)]
    pub metadata: Metadata,
    /// Attestations to verify and store with the version: each the base64 of the exact bytes of a DSSE
    /// envelope or a Sigstore bundle (at most 64).
    #[serde(default)]
    pub attestations: Vec<String>,
}

/// A version record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionResponse {
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Version label.
    pub version: String,
    /// SHA-256 of the manifest's canonical JSON: the version's identity.
    pub manifest_digest: Digest,
    /// OpenSSF Model Signing root digest of the files.
    pub oms_root_digest: Digest,
    /// Number of files.
    pub file_count: u64,
    /// Total bytes.
    pub total_size: u64,
    /// What it was made from.
    pub lineage: Lineage,
    /// Description and labels.
    pub metadata: Metadata,
    /// Who pushed it.
    pub created_by: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
    /// Index of its `version.created` entry in the transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Quarantined: pulls refuse it unless forced, promotion policies see it.
    #[serde(default)]
    pub quarantined: bool,
    /// The scrubber found its stored bytes, an attestation or a log entry altered.
    #[serde(default)]
    pub corrupted: bool,
    /// Digest of its OCI manifest under `/v2` (`registry_core::oci::model_artifact`, a pure function
    /// of the name, label and manifest: recompute it rather than trust it). Absent when the version
    /// has too many files for a 4 MiB OCI manifest (docs/oci.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_manifest_digest: Option<Digest>,
}

/// `GET .../versions` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub versions: Vec<VersionResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelResponse {
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Number of versions.
    pub version_count: u64,
    /// Newest version label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
}

/// `GET /v1/models` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Ordered by namespace, then name.
    pub models: Vec<ModelResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
