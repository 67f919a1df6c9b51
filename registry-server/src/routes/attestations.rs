//! Attestations of a version: list, add, exact bytes.
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::ModelName;
use registry_core::api::{AttestationInfo, AttestationList, ErrorBody, codes};
use registry_core::attest::MAX_ATTESTATION_SIZE;
use registry_core::auth::Scope;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::params::VersionPath;
use crate::service::{self, attest};
use crate::state::AppState;

fn model_of(p: &VersionPath) -> Result<ModelName, ApiError> {
    ModelName::new(&p.namespace, &p.name)
        .map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))
}

fn reference(s: &str) -> Result<registry_core::Reference, ApiError> {
    crate::routes::models::reference(s)
}

/// A version's attestations and whether each still verifies against the keys trusted now.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions/{version}/attestations", tag = "attestations",
    security(("token" = ["read"])), params(VersionPath),
    responses(
        (status = 200, description = "Attestations, oldest first", body = AttestationList),
        (status = 400, description = "Bad name or reference", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such version (or not covered by the credential)", body = ErrorBody)
    )
)]
pub async fn list_attestations(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<VersionPath>,
) -> Result<Json<AttestationList>, ApiError> {
    let m = model_of(&p)?;
    let r = reference(&p.version)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    let v = service::read::resolve(&state, &m, &r).await?;
    Ok(Json(AttestationList { attestations: attest::list(&state, &m, v.id).await? }))
}

/// Adds an attestation (a DSSE envelope or a Sigstore bundle, sent as its exact JSON bytes) to a
/// version. It is verified against the keys trusted for the model before anything is stored.
#[utoipa::path(post, path = "/v1/models/{namespace}/{name}/versions/{version}/attestations", tag = "attestations",
    security(("token" = ["attest"])), params(VersionPath),
    request_body(content = Object, content_type = "application/json",
        description = "A DSSE envelope or a Sigstore bundle (a JSON object), as the exact bytes to store"),
    responses(
        (status = 201, description = "Stored", body = AttestationInfo),
        (status = 200, description = "The same bytes were already stored", body = AttestationInfo),
        (status = 400, description = "Does not verify (`invalid_attestation`), or bad name", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the attest scope or does not cover the model", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 413, description = "Over 4 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn add_attestation(
    State(state): State<AppState>,
    actor: Auth<need::Attest>,
    ApiPath(p): ApiPath<VersionPath>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let m = model_of(&p)?;
    let r = reference(&p.version)?;
    actor.check_write(Scope::Attest, &m)?;
    crate::extract::require_json(&headers)?;
    let raw: Bytes = axum::body::to_bytes(body, MAX_ATTESTATION_SIZE)
        .await
        .map_err(|_| ApiError::too_large(format!("attestation larger than {MAX_ATTESTATION_SIZE} bytes")))?;
    let v = service::read::resolve(&state, &m, &r).await?;
    let (info, created) = attest::add(&state, &actor.id, &m, &v, &raw).await?;
    Ok(((if created { StatusCode::CREATED } else { StatusCode::OK }), Json(info)).into_response())
}

/// `.../attestations/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AttestationPath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
    /// Model name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "detector")]
    pub name: String,
    /// A version label, or `sha256:<manifest digest>`.
    #[param(pattern = r"^([A-Za-z0-9][A-Za-z0-9._+-]{0,127}|sha256:[0-9a-f]{64})$", example = "1.4.0")]
    pub version: String,
    /// Attestation id.
    #[param(minimum = 1, example = 1)]
    pub id: i64,
}

/// The exact bytes of one attestation, as received.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions/{version}/attestations/{id}", tag = "attestations",
    security(("token" = ["read"])), params(AttestationPath),
    responses(
        (status = 200, description = "The exact bytes (a DSSE envelope or a Sigstore bundle)", body = serde_json::Value,
            content_type = "application/json"),
        (status = 400, description = "Bad name or reference", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such version or attestation", body = ErrorBody)
    )
)]
pub async fn get_attestation(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<AttestationPath>,
) -> Result<Response, ApiError> {
    let m = ModelName::new(&p.namespace, &p.name)
        .map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))?;
    let r = reference(&p.version)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    let v = service::read::resolve(&state, &m, &r).await?;
    let (format, body) = attest::raw(&state, v.id, p.id).await?;
    let ct = if format == "sigstore_bundle" {
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, ct)], body).into_response())
}
