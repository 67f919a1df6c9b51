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
