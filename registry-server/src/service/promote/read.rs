//! Reading aliases: where one points (now or at a time), every alias of a model, an alias's history.

use registry_core::ModelName;
use registry_core::promote::{AliasEvent, AliasHistory, AliasList, AliasName, AliasResponse};

use super::{alias_response, corrupt, model_row};
use crate::db::aliases::AliasRow;
use crate::db::rfc3339;
use crate::error::ApiError;
use crate::state::AppState;

/// Where the alias points now, or pointed at `at` (unix ms).
pub async fn get(
    state: &AppState,
    model: &ModelName,
    alias: &AliasName,
    at: Option<i64>,
) -> Result<AliasResponse, ApiError> {
    let model_row = model_row(state, model).await?;
    let missing = || ApiError::not_found(format!("alias {model}@{alias} not found"));
    match at {
        None => alias_response(&state.db.alias_get(model_row.id, alias.as_str()).await?.ok_or_else(missing)?),
        Some(t) => {
            let h = state.db.alias_at(model_row.id, alias.as_str(), t).await?.ok_or_else(missing)?;
            let v = state.db.version_by_id(h.version_id).await?;
            alias_response(&AliasRow {
                name: h.name,
                version_id: h.version_id,
                version: h.version,
                manifest_digest: v.manifest_digest,
                updated_by: h.actor,
                updated_at: h.at,
            })
        }
    }
}

pub async fn history(
    state: &AppState,
    model: &ModelName,
    alias: &AliasName,
    limit: u32,
) -> Result<AliasHistory, ApiError> {
    let model_row = model_row(state, model).await?;
    let rows = state.db.alias_history(model_row.id, alias.as_str(), false, limit).await?;
    let events = rows
        .into_iter()
        .map(|h| {
            Ok(AliasEvent {
                id: h.id,
                kind: h.kind,
                version: h.version,
                previous: h.previous,
                decision: h.decision,
                reasons: serde_json::from_str(&h.reasons).map_err(corrupt)?,
                policies: serde_json::from_str(&h.policies).map_err(corrupt)?,
                actor: h.actor,
                reason: h.reason,
                at: rfc3339(h.at),
                log_index: h.log_index.map(|i| i.max(0) as u64),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(AliasHistory { events })
}

/// Every alias of a model.
pub async fn list(state: &AppState, model: &ModelName) -> Result<AliasList, ApiError> {
    let model_row = model_row(state, model).await?;
    let aliases =
        state.db.aliases_of(model_row.id).await?.iter().map(alias_response).collect::<Result<_, _>>()?;
    Ok(AliasList { aliases })
}
