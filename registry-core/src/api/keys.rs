//! Trusted signer keys (`/v1/keys`): the record of a key and the request that adds one.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::NamePattern;
use crate::digest::Digest;

/// A trusted signer key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyInfo {
    /// `sha256:` of the SPKI DER.
    pub key_id: Digest,
    /// Models whose attestations it may sign.
    pub namespace: NamePattern,
    /// `ecdsa-p256` or `ed25519`.
    pub kind: String,
    /// PEM.
    pub public_key: String,
    /// Predicate types it may sign (empty: any).
    pub predicate_types: Vec<String>,
    /// Who added it.
    pub added_by: String,
    /// When (RFC 3339).
    pub added_at: String,
    /// When revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyList {
    /// Every key, revoked ones included.
    pub keys: Vec<TrustedKeyInfo>,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKeyRequest {
    /// Models whose attestations it may sign.
    pub namespace: NamePattern,
    /// PEM `PUBLIC KEY` (ECDSA P-256 or Ed25519).
    pub public_key: String,
    /// Predicate types it may sign (empty: any).
    #[serde(default)]
    pub predicate_types: Vec<String>,
}

/// An installed Sigstore trust root (`trusted_root.json`): Fulcio CAs, Rekor, CT logs, TSAs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustRootInfo {
    /// The name identities refer to it by.
    pub name: String,
    /// `sha256:` of the file's exact bytes (as stored and logged).
    pub digest: Digest,
    /// Who installed it.
    pub added_by: String,
    /// When (RFC 3339).
    pub added_at: String,
}

/// `GET /v1/trust-roots`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustRootList {
    /// Every installed root.
    pub roots: Vec<TrustRootInfo>,
}

/// A trusted keyless signer: who may sign attestations of a namespace pattern without a key file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustedIdentityInfo {
    /// `identity-<n>`: what `DELETE /v1/identities/{id}` takes.
    pub id: String,
    /// Models whose attestations it may sign.
    pub namespace: NamePattern,
    /// Exact OIDC issuer URL.
    pub issuer: String,
    /// Exact certificate subject, if the identity names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Rust `regex` the whole subject must match, if the identity is a pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regex: Option<String>,
    /// Fulcio certificate claims required, by snake_case name.
    pub claims: std::collections::BTreeMap<String, String>,
    /// The only trust root it is accepted through, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_root: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// When (RFC 3339).
    pub added_at: String,
    /// When revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// `GET /v1/identities`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedIdentityList {
    /// Every identity, revoked ones included.
    pub identities: Vec<TrustedIdentityInfo>,
}

/// `POST /v1/identities`: exactly one of `subject` and `subject_regex`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddIdentityRequest {
    /// Models whose attestations it may sign.
    pub namespace: NamePattern,
    /// Exact OIDC issuer URL (e.g. `https://token.actions.githubusercontent.com`).
    #[schema(min_length = 1, max_length = 1024, pattern = r"^\S+$")]
    pub issuer: String,
    /// Exact certificate subject (SAN).
    #[serde(default)]
    pub subject: Option<String>,
    /// Rust `regex` the whole subject must match (implicitly anchored).
    #[serde(default)]
    pub subject_regex: Option<String>,
    /// Fulcio certificate claims required, by snake_case name (`source_repository_ref`, ...).
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
    /// Accept it only through this installed trust root.
    #[serde(default)]
    pub trust_root: Option<String>,
}
