//! A version's auditor bundle: its record, manifest, attestations and log evidence in one download.
use axum::Json;
use axum::extract::State;
use registry_core::api::ErrorBody;
use registry_core::audit_bundle::AuditBundle;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::params::VersionPath;
use crate::state::AppState;

/// The auditor's bundle of a version: record, manifest, every attestation's exact bytes, every log
/// entry about the version (and, asked by alias, every move of that alias) with inclusion proofs, the
/// checkpoint and the log key. Downloads are audited.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions/{version}/bundle", tag = "log",
    security(("token" = ["read"])), params(VersionPath),
    responses(
        (status = 200, description = "The bundle", body = AuditBundle),
        (status = 400, description = "Bad name or reference", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such version (or not covered by the credential)", body = ErrorBody),
        (status = 503, description = "The access audit could not be written; retry", body = ErrorBody)
    )
)]
pub async fn bundle(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<VersionPath>,
) -> Result<Json<AuditBundle>, ApiError> {
    let m = registry_core::ModelName::new(&p.namespace, &p.name)
        .map_err(|e| ApiError::bad_request(registry_core::api::codes::INVALID_NAME, e.to_string()))?;
    let r = crate::routes::models::reference(&p.version)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    Ok(Json(crate::service::audit_bundle::download(&state, &actor.id, &m, &r).await?))
}
