//! Namespace settings (`require_provenance`).
use axum::Json;
use axum::extract::State;
use registry_core::api::{ErrorBody, NamespaceSettings, codes};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::service::attest;
use crate::state::AppState;

impl FieldCodes for NamespaceSettings {}

/// `{namespace}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct NamespacePath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
}

/// A namespace's settings.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}", tag = "attestations", security(("token" = ["read"])),
    params(NamespacePath),
    responses(
        (status = 200, description = "Settings (defaults if never set)", body = NamespaceSettings),
        (status = 400, description = "Bad namespace", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn get_namespace(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
    ApiPath(NamespacePath { namespace }): ApiPath<NamespacePath>,
) -> Result<Json<NamespaceSettings>, ApiError> {
    let ns = registry_core::name::parse_namespace(&namespace)
        .map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))?;
    Ok(Json(attest::namespace(&state.db, &ns).await?))
}

/// Sets a namespace's settings (admin).
#[utoipa::path(put, path = "/v1/namespaces/{namespace}", tag = "attestations", security(("token" = ["admin"])),
    params(NamespacePath), request_body = NamespaceSettings,
    responses(
        (status = 200, description = "Set", body = NamespaceSettings),
        (status = 400, description = "Bad namespace or body", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn put_namespace(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(NamespacePath { namespace }): ApiPath<NamespacePath>,
    ApiJson(req): ApiJson<NamespaceSettings>,
) -> Result<Json<NamespaceSettings>, ApiError> {
    let ns = registry_core::name::parse_namespace(&namespace)
        .map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))?;
    attest::set_namespace(&state.db, &actor.id, &ns, req.require_provenance).await?;
    Ok(Json(req))
}
