//! Attestation wire types: a stored attestation's record and status, and the per-namespace rule
//! that requires signed provenance.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::attest::Binding;
use crate::digest::Digest;

/// Most attestations in one push.
pub const MAX_PUSH_ATTESTATIONS: usize = 64;

/// A stored attestation and its verification status now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttestationInfo {
    /// Id (for `GET .../attestations/{id}`).
    pub id: i64,
    /// SHA-256 of the exact stored bytes.
    pub digest: Digest,
    /// `dsse` or `sigstore_bundle`.
    pub format: String,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// Key id of the signer whose signature verified.
    pub signer_key_id: Digest,
    /// How the statement is tied to the version: `manifest`, `files` or `content`.
    pub binding: Binding,
    /// The subject digest that tied it.
    pub subject_digest: Digest,
    /// `verified` while the signer is trusted for this model and predicate; `signer_revoked` or
    /// `signer_not_trusted` after the trust changed.
    pub status: String,
    /// Who added it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Index of its `attestation.added` entry in the transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// `GET .../attestations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttestationList {
    /// Oldest first.
    pub attestations: Vec<AttestationInfo>,
}

/// `PUT /v1/namespaces/{namespace}` and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSettings {
    /// Refuse pushes without signed SLSA provenance bound to the manifest (403 `provenance_required`).
    pub require_provenance: bool,
}
