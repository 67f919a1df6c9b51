//! Promotion: move an alias to a version only if every Rego policy attached to the model and alias
//! allows it; record every decision (passed or failed) in the history and the log; sign a SLSA
//! Verification Summary Attestation for each allowed move; roll back to the newest earlier target that
//! still passes. Moves of one alias serialize on the global write lock.
//!
//! `policy`: which Rego policies apply and what they decide (and their admin API); `decide`: moving
//! an alias (promote, rollback) and recording the decision; `read`: where aliases point and their
//! history.
use registry_core::api::codes;
use registry_core::promote::{AliasName, AliasResponse};
use registry_core::{Digest, ModelName};

use crate::db::aliases::AliasRow;
use crate::db::{DbError, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;

mod cache;
mod decide;
mod policy;
mod read;

pub use cache::Predicates;
pub use decide::{Move, MoveError, promote, rollback};
pub use policy::{
    Evidence, MAX_POLICY_LEN, applicable, check_policy, dry_run, evaluate, get_policy, list_policies,
    policy_input, policy_revisions, set_policy,
};
pub use read::{get, history, list};

/// The server's attestation (VSA) key; loading lives in [`crate::service::keys`].
pub use crate::service::keys::load_or_create_attestation_key as load_or_create_key;

pub(super) fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(e.to_string()))
}

/// The model's row: 404 when it does not exist, any other database failure as itself.
pub(super) async fn model_row(
    state: &AppState,
    model: &ModelName,
) -> Result<crate::db::models::ModelRow, ApiError> {
    state.db.model_get(model).await.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("model {model} not found")),
        e => e.into(),
    })
}

pub(super) fn parse_alias(s: &str) -> Result<AliasName, ApiError> {
    AliasName::parse(s).map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))
}

pub fn alias(s: &str) -> Result<AliasName, ApiError> {
    parse_alias(s)
}

pub(super) fn alias_response(a: &AliasRow) -> Result<AliasResponse, ApiError> {
    Ok(AliasResponse {
        alias: a.name.clone(),
        version: a.version.clone(),
        manifest_digest: Digest::from_hex(&a.manifest_digest).map_err(corrupt)?,
        updated_by: a.updated_by.clone(),
        updated_at: rfc3339(a.updated_at),
    })
}
