//! The access audit (`GET /v1/audit`): who downloaded which blob or audit bundle, when.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One access-audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`token:NAME`, `oidc:ISSUER#SUB`, `anonymous`).
    pub actor: String,
    /// `blob.download` or `bundle.download`.
    pub action: String,
    /// A blob digest or `NS/NAME@VERSION`.
    pub target: String,
}

/// `GET /v1/audit` page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
