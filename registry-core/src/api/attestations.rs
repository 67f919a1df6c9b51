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
    /// Key id of the signer whose signature verified (keyless: the certificate's ephemeral key).
    pub signer_key_id: Digest,
    /// Keyless: the workload identity the Fulcio certificate named, and what proved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_identity: Option<SignerIdentity>,
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

/// Who signed a keyless attestation, as verified at ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignerIdentity {
    /// OIDC issuer named by the certificate.
    pub issuer: String,
    /// The certificate's subject (SAN: an email, or a URI such as a workflow).
    pub subject: String,
    /// Fulcio CI claims in the certificate, by snake_case name.
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
    /// The installed trust root it chained to.
    pub trust_root: String,
    /// SHA-256 of that root's `trusted_root.json` at verification.
    pub trust_root_digest: Digest,
    /// When it was signed, as the transparency log or a timestamp authority proved (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
}

impl SignerIdentity {
    /// The record of what a keyless verification proved.
    pub fn of(v: &crate::keyless::Verified) -> Self {
        Self {
            issuer: v.signer.issuer.clone(),
            subject: v.signer.subject.clone(),
            claims: v.signer.claims.clone(),
            trust_root: v.trust_root.clone(),
            trust_root_digest: v.trust_root_digest,
            signed_at: v.signed_at.clone(),
        }
    }

    /// The signer, for matching against trusted identities.
    pub fn signer(&self) -> crate::keyless::Signer {
        crate::keyless::Signer {
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
            claims: self.claims.clone(),
        }
    }
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
