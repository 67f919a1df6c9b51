//! Attestations of a version (list, add, exact bytes), trusted keys, namespace settings.
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::api::{
    AddKeyRequest, AttestationInfo, AttestationList, ErrorBody, NamespaceSettings, TrustedKeyInfo,
    TrustedKeyList, codes,
};
use registry_core::attest::MAX_ATTESTATION_SIZE;
use registry_core::auth::{NamePattern, Scope};
use registry_core::{Digest, ModelName};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::routes::params::VersionPath;
use crate::service::{self, attest};
use crate::state::AppState;

impl FieldCodes for AddKeyRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("public_key", codes::INVALID_KEY)];
}
impl FieldCodes for NamespaceSettings {}

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
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().ends_with("json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "expected a JSON content type",
        ));
    }
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

/// Trusted signer keys (revoked ones included, with when).
#[utoipa::path(get, path = "/v1/keys", tag = "attestations", security(("token" = ["read"])),
    responses(
        (status = 200, description = "Keys", body = TrustedKeyList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list_keys(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
) -> Result<Json<TrustedKeyList>, ApiError> {
    Ok(Json(TrustedKeyList { keys: attest::list_keys(&state.db).await? }))
}

/// Trusts a signer key for a namespace pattern, optionally only for some predicate types (admin).
#[utoipa::path(post, path = "/v1/keys", tag = "attestations", security(("token" = ["admin"])),
    request_body = AddKeyRequest,
    responses(
        (status = 201, description = "Trusted", body = TrustedKeyInfo),
        (status = 400, description = "Not a supported public key (`invalid_key`), or bad JSON", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Already trusted for that pattern", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn add_key(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<AddKeyRequest>,
) -> Result<(StatusCode, Json<TrustedKeyInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(attest::add_key(&state.db, &actor.id, req).await?)))
}

/// `{key_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// `sha256:` key id.
    #[param(
        pattern = r"^sha256:[0-9a-f]{64}$",
        example = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )]
    pub key_id: String,
}

/// `?namespace=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// Revoke only for this pattern (default: every pattern).
    #[param(pattern = r"^(\*|[a-z0-9][a-z0-9._-]{0,127}/(\*|[a-z0-9][a-z0-9._-]{0,127}))$")]
    namespace: Option<String>,
}

/// Revokes a key: its attestations show `signer_revoked` and new ones signed by it are refused (admin).
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "attestations", security(("token" = ["admin"])),
    params(KeyPath, KeyQuery),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad key id or pattern", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Not trusted", body = ErrorBody)
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(KeyPath { key_id }): ApiPath<KeyPath>,
    ApiQuery(q): ApiQuery<KeyQuery>,
) -> Result<StatusCode, ApiError> {
    let id =
        Digest::parse(&key_id).map_err(|e| ApiError::bad_request(codes::INVALID_DIGEST, e.to_string()))?;
    let ns = q
        .namespace
        .as_deref()
        .map(NamePattern::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, e))?;
    attest::revoke_key(&state.db, &actor.id, &id, ns.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
