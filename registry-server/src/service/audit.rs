//! The access audit: written before bytes a caller downloads leave the server (no record, no
//! download), and read back by admins.
use registry_core::api::{AuditEntry, AuditList};

use crate::db::audit::AuditFilter;
use crate::db::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

/// The action of a blob download (proxied or redirected).
pub const BLOB_DOWNLOAD: &str = "blob.download";
/// The action of an auditor bundle download.
pub const BUNDLE_DOWNLOAD: &str = "bundle.download";

/// Records that `actor` is about to receive `target`. Fails (503, retry) when the record cannot be
/// written, and the caller then serves nothing.
pub async fn record(state: &AppState, actor: &str, action: &str, target: &str) -> Result<(), ApiError> {
    state
        .db
        .audit_insert(now_ms(), actor, action, target)
        .await
        .map_err(|e| ApiError::unavailable(format!("access audit write failed: {e}")))
}

/// A page of accesses matching `f`, newest first, with the cursor of the next page.
pub async fn list(state: &AppState, f: &AuditFilter, limit: u32) -> Result<AuditList, ApiError> {
    // One extra row tells whether another page exists.
    let mut rows = state.db.audit_list(f, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
    let entries = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: rfc3339(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
        })
        .collect();
    Ok(AuditList { entries, next_cursor })
}
