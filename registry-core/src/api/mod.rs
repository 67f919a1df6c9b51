//! The HTTP API's wire types (JSON bodies) and error codes, shared by server and client.
//!
//! These are not database rows: the server converts its rows into these, the client decodes them.
//! One submodule per resource; every type is re-exported here, so `registry_core::api::X` is the path
//! to use. Promotion, incident and token types live with their vocabulary in `promote`, `incident`
//! and `auth`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod attestations;
mod audit;
mod blobs;
pub mod codes;
mod keys;
mod log;
mod models;
pub mod paths;
mod webhooks;

pub use attestations::{
    AttestationInfo, AttestationList, MAX_PUSH_ATTESTATIONS, NamespaceSettings, SignerIdentity,
};
pub use audit::{AuditEntry, AuditList};
pub use blobs::{
    BlobCheckRequest, BlobCheckResponse, BlobResponse, CreateUploadRequest, MAX_CHECK_DIGESTS, UploadList,
    UploadSession,
};
pub use keys::{
    AddIdentityRequest, AddKeyRequest, TrustRootInfo, TrustRootList, TrustedIdentityInfo,
    TrustedIdentityList, TrustedKeyInfo, TrustedKeyList,
};
pub use log::{ConsistencyProof, EventsPage, InclusionProof, LogEntries, LogEntryItem, MAX_LOG_PAGE};
pub use models::{
    MAX_DESCRIPTION_LEN, Metadata, ModelList, ModelResponse, PutVersionRequest, VersionList, VersionResponse,
};
pub use webhooks::{CreateWebhookRequest, WebhookCreated, WebhookInfo, WebhookList};

/// Default page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size of list endpoints.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Largest JSON request body (a manifest of 100k files fits).
pub const MAX_JSON_BODY: usize = 32 * 1024 * 1024;
/// Longest free-text field (a promotion, rollback, quarantine or lift `reason`), in bytes.
pub const MAX_TEXT_LEN: usize = 4 * 1024;

/// A free-text field longer than [`MAX_TEXT_LEN`] (code [`codes::TEXT_TOO_LONG`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {len} bytes; at most {MAX_TEXT_LEN} are accepted")]
pub struct TextTooLong {
    /// The field (`reason`).
    pub field: String,
    /// Its length in bytes.
    pub len: usize,
}

/// Checks a free-text field against [`MAX_TEXT_LEN`]; the error names the field and the bound.
pub fn check_text(field: &str, value: &str) -> Result<(), TextTooLong> {
    if value.len() > MAX_TEXT_LEN {
        return Err(TextTooLong { field: field.to_owned(), len: value.len() });
    }
    Ok(())
}

/// Every error response: a stable code for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (see the API docs for the list).
    #[schema(example = "invalid_manifest")]
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured detail for some codes (e.g. `missing_blobs` lists `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` when the database answers.
    pub status: String,
    /// Server version.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_over_the_bound_is_refused_with_field_and_length() {
        assert_eq!(check_text("reason", &"x".repeat(MAX_TEXT_LEN)), Ok(()));
        let e = check_text("reason", &"x".repeat(MAX_TEXT_LEN + 1)).expect_err("too long");
        assert_eq!(e, TextTooLong { field: "reason".into(), len: MAX_TEXT_LEN + 1 });
        assert_eq!(
            e.to_string(),
            format!("reason is {} bytes; at most {MAX_TEXT_LEN} are accepted", MAX_TEXT_LEN + 1)
        );
    }
}
