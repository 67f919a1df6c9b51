//! Signer keys: the keys trusted to sign attestations (list, add, revoke) and the server's own
//! attestation key that signs promotion decisions.
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::Digest;
use registry_core::api::{
    AddIdentityRequest, AddKeyRequest, ErrorBody, TrustRootInfo, TrustRootList, TrustedIdentityInfo,
    TrustedIdentityList, TrustedKeyInfo, TrustedKeyList, codes,
};
use registry_core::auth::NamePattern;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::service::{attest, keyless};
use crate::state::AppState;

impl FieldCodes for AddKeyRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("public_key", codes::INVALID_KEY)];
}

impl FieldCodes for AddIdentityRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("namespace", codes::INVALID_NAME)];
}

/// The public key (PEM SubjectPublicKeyInfo) that signs the server's promotion decisions (SLSA
/// VSAs). Pin it beside the log key to verify decisions offline.
#[utoipa::path(get, path = "/v1/attestation-key", tag = "promotion",
    responses((status = 200, description = "PEM public key", body = String, content_type = "application/x-pem-file")))]
pub async fn attestation_key(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], state.attestation_key.public().to_pem())
        .into_response()
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
        .map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, e.to_string()))?;
    attest::revoke_key(&state.db, &actor.id, &id, ns.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Installed Sigstore trust roots (names and digests; the files through `registry trust-root`).
#[utoipa::path(get, path = "/v1/trust-roots", tag = "attestations", security(("token" = ["read"])),
    responses(
        (status = 200, description = "Roots", body = TrustRootList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list_trust_roots(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
) -> Result<Json<TrustRootList>, ApiError> {
    Ok(Json(TrustRootList { roots: keyless::list_roots(&state.db).await? }))
}

/// `{name}` of a trust root.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TrustRootPath {
    /// The root's name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$", example = "public-good")]
    pub name: String,
}

/// Installs a Sigstore `trusted_root.json` under a name, replacing a root of that name (admin). The
/// exact bytes are stored; the change is logged with their digest.
#[utoipa::path(put, path = "/v1/trust-roots/{name}", tag = "attestations", security(("token" = ["admin"])),
    params(TrustRootPath),
    request_body(content = Object, content_type = "application/json", description = "The trusted_root.json file"),
    responses(
        (status = 201, description = "Installed (new, or replacing another file)", body = TrustRootInfo),
        (status = 200, description = "The same file was already installed", body = TrustRootInfo),
        (status = 400, description = "Not a trust root (`invalid_trust_root`), or a bad name", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 413, description = "Over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn put_trust_root(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(TrustRootPath { name }): ApiPath<TrustRootPath>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<TrustRootInfo>), ApiError> {
    crate::extract::require_json(&headers)?;
    let raw = axum::body::to_bytes(body, keyless::MAX_TRUST_ROOT_SIZE).await.map_err(|_| {
        ApiError::too_large(format!("trust root larger than {} bytes", keyless::MAX_TRUST_ROOT_SIZE))
    })?;
    let (info, changed) = keyless::put_root(&state.db, &actor.id, &name, &raw).await?;
    Ok((if changed { StatusCode::CREATED } else { StatusCode::OK }, Json(info)))
}

/// Removes a trust root (admin): bundles chaining only to it no longer verify; identities tied to it
/// match nothing.
#[utoipa::path(delete, path = "/v1/trust-roots/{name}", tag = "attestations", security(("token" = ["admin"])),
    params(TrustRootPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Not installed", body = ErrorBody),
        (status = 409, description = "Active identities are tied to it (`trust_root_in_use`)", body = ErrorBody)
    )
)]
pub async fn remove_trust_root(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(TrustRootPath { name }): ApiPath<TrustRootPath>,
) -> Result<StatusCode, ApiError> {
    keyless::remove_root(&state.db, &actor.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Trusted keyless identities (revoked ones included, with when).
#[utoipa::path(get, path = "/v1/identities", tag = "attestations", security(("token" = ["read"])),
    responses(
        (status = 200, description = "Identities", body = TrustedIdentityList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list_identities(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
) -> Result<Json<TrustedIdentityList>, ApiError> {
    Ok(Json(TrustedIdentityList { identities: keyless::list_identities(&state.db).await? }))
}

/// Trusts a keyless identity (OIDC issuer, subject or subject pattern, required certificate claims,
/// optionally one trust root) for a namespace pattern (admin).
#[utoipa::path(post, path = "/v1/identities", tag = "attestations", security(("token" = ["admin"])),
    request_body = AddIdentityRequest,
    responses(
        (status = 201, description = "Trusted", body = TrustedIdentityInfo),
        (status = 400, description = "Not a valid identity rule (`invalid_identity`), or bad JSON", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn add_identity(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<AddIdentityRequest>,
) -> Result<(StatusCode, Json<TrustedIdentityInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(keyless::add_identity(&state.db, &actor.id, &req).await?)))
}

/// `{id}` of an identity.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdentityPath {
    /// `identity-<n>`.
    #[param(pattern = r"^identity-[1-9][0-9]{0,17}$", example = "identity-1")]
    pub id: String,
}

/// Revokes a keyless identity (admin).
#[utoipa::path(delete, path = "/v1/identities/{id}", tag = "attestations", security(("token" = ["admin"])),
    params(IdentityPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such active identity", body = ErrorBody)
    )
)]
pub async fn revoke_identity(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(IdentityPath { id }): ApiPath<IdentityPath>,
) -> Result<StatusCode, ApiError> {
    keyless::revoke_identity(&state.db, &actor.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
