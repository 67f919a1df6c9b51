//! Models and versions: list, get, publish, and the exact manifest bytes.
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::api::{
    ErrorBody, ModelList, ModelResponse, PutVersionRequest, VersionList, VersionResponse, codes,
};
use registry_core::{Digest, ModelName, Reference, VersionLabel, manifest};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::routes::page_limit;
use crate::routes::params::{LabelPath, ModelPath, VersionPath};
use crate::service::{self, push::Published};
use crate::state::AppState;
use registry_core::auth::Scope;

impl FieldCodes for PutVersionRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[
        ("manifest", codes::INVALID_MANIFEST),
        ("lineage", codes::INVALID_LINEAGE),
        ("metadata", codes::INVALID_LINEAGE),
    ];
}

fn invalid_name(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(codes::INVALID_NAME, e.to_string())
}

fn model_name(ns: &str, name: &str) -> Result<ModelName, ApiError> {
    ModelName::new(ns, name).map_err(invalid_name)
}

/// A `{version}` path segment: a label, or `sha256:<manifest digest>`.
pub(crate) fn reference(s: &str) -> Result<Reference, ApiError> {
    if s.starts_with(Digest::PREFIX) {
        Digest::parse(s)
            .map(Reference::Digest)
            .map_err(|e| ApiError::bad_request(codes::INVALID_DIGEST, e.to_string()))
    } else {
        VersionLabel::parse(s).map(Reference::Label).map_err(invalid_name)
    }
}

/// Filters of `GET /v1/models`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListModelsQuery {
    /// Only this namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$")]
    namespace: Option<String>,
    /// Only names starting with this.
    #[param(max_length = 128)]
    prefix: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (`NAMESPACE/NAME`).
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}/[a-z0-9][a-z0-9._-]{0,127}$")]
    cursor: Option<String>,
}

/// Lists models by namespace and name.
#[utoipa::path(get, path = "/v1/models", tag = "models", security(("token" = ["read"])),
    params(ListModelsQuery),
    responses(
        (status = 200, description = "A page of models", body = ModelList),
        (status = 400, description = "Bad filter, limit or cursor", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list_models(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<ListModelsQuery>,
) -> Result<Json<ModelList>, ApiError> {
    let limit = page_limit(q.limit)?;
    let namespace =
        q.namespace.as_deref().map(registry_core::name::parse_namespace).transpose().map_err(invalid_name)?;
    if let Some(p) = &q.prefix
        && p.chars().count() > registry_core::name::MAX_NAME_LEN
    {
        return Err(invalid_name("prefix longer than 128 characters"));
    }
    let after = match &q.cursor {
        Some(c) => {
            let m = ModelName::parse(c)
                .map_err(|_| ApiError::bad_request(codes::BAD_REQUEST, "malformed cursor"))?;
            Some((m.namespace().to_owned(), m.name().to_owned()))
        }
        None => None,
    };
    Ok(Json(service::read::list_models_for(&state, &actor, namespace, q.prefix, after, limit).await?))
}

/// One model.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}", tag = "models", security(("token" = ["read"])),
    params(ModelPath),
    responses(
        (status = 200, description = "The model", body = ModelResponse),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such model (or not covered by the credential)", body = ErrorBody)
    )
)]
pub async fn get_model(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(ModelPath { namespace: ns, name }): ApiPath<ModelPath>,
) -> Result<Json<ModelResponse>, ApiError> {
    let m = model_name(&ns, &name)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    Ok(Json(service::read::get_model(&state, &m).await?))
}

/// Paging of `GET .../versions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[1-9][0-9]{0,18}$")]
    cursor: Option<String>,
}

/// A model's versions, newest first.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions", tag = "models", security(("token" = ["read"])),
    params(ModelPath, PageQuery),
    responses(
        (status = 200, description = "A page of versions", body = VersionList),
        (status = 400, description = "Bad name, limit or cursor", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such model (or not covered by the credential)", body = ErrorBody)
    )
)]
pub async fn list_versions(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(ModelPath { namespace: ns, name }): ApiPath<ModelPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<VersionList>, ApiError> {
    let m = model_name(&ns, &name)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    let limit = page_limit(q.limit)?;
    let before = crate::routes::row_cursor(q.cursor.as_deref())?;
    Ok(Json(service::read::list_versions(&state, &m, before, limit).await?))
}

/// One version's record.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions/{version}", tag = "models", security(("token" = ["read"])),
    params(VersionPath),
    responses(
        (status = 200, description = "The version", body = VersionResponse),
        (status = 400, description = "Bad name or reference", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such version (or not covered by the credential)", body = ErrorBody)
    )
)]
pub async fn get_version(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(VersionPath { namespace: ns, name, version }): ApiPath<VersionPath>,
) -> Result<Json<VersionResponse>, ApiError> {
    let m = model_name(&ns, &name)?;
    let r = reference(&version)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    Ok(Json(service::read::get_version(&state, &m, &r).await?))
}

/// Publishes a version: every blob must be stored; the manifest is bound to the label forever.
#[utoipa::path(put, path = "/v1/models/{namespace}/{name}/versions/{version}", tag = "models", security(("token" = ["push"])),
    params(LabelPath),
    request_body = PutVersionRequest,
    responses(
        (status = 201, description = "Created", body = VersionResponse, links(
            ("GetVersion" = (operation_id = "get_version", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"), ("version" = "$request.path.version")))),
            ("GetManifest" = (operation_id = "get_manifest", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"), ("version" = "$response.body#/manifest_digest")))),
            ("GetModel" = (operation_id = "get_model", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name")))),
            ("ListVersions" = (operation_id = "list_versions", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"))))
        )),
        (status = 200, description = "Already exists, identical", body = VersionResponse, links(
            ("GetVersion" = (operation_id = "get_version", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"), ("version" = "$request.path.version")))),
            ("GetManifest" = (operation_id = "get_manifest", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"), ("version" = "$response.body#/manifest_digest")))),
            ("GetModel" = (operation_id = "get_model", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name")))),
            ("ListVersions" = (operation_id = "list_versions", parameters(("namespace" = "$request.path.namespace"), ("name" = "$request.path.name"))))
        )),
        (status = 400, description = "invalid_name, invalid_json, invalid_manifest (also: a path that breaks on other systems, unless the server allows them), invalid_lineage, missing_blobs or unknown_parent", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope or does not cover the model", body = ErrorBody),
        (status = 409, description = "The label exists with another manifest or lineage (`version_exists`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn put_version(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(LabelPath { namespace: ns, name, version }): ApiPath<LabelPath>,
    ApiJson(req): ApiJson<PutVersionRequest>,
) -> Result<Response, ApiError> {
    let m = model_name(&ns, &name)?;
    let label = VersionLabel::parse(&version).map_err(invalid_name)?;
    actor.check_write(Scope::Push, &m)?;
    if !state.settings.allow_unportable_paths {
        req.manifest.check_portable().map_err(|e| {
            ApiError::bad_request(
                codes::INVALID_MANIFEST,
                format!(
                    "{e} (the server refuses paths that break on other systems; see allow_unportable_paths)"
                ),
            )
        })?;
    }
    Ok(match service::push::publish_version(&state, &actor, &m, &label, req).await? {
        Published::Created(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Published::Existing(v) => (StatusCode::OK, Json(v)).into_response(),
    })
}

/// The exact canonical manifest bytes whose SHA-256 is the manifest digest.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/versions/{version}/manifest", tag = "models", security(("token" = ["read"])),
    params(VersionPath),
    responses(
        (status = 200, description = "Canonical manifest JSON (RFC 8785)", body = registry_core::Manifest,
            content_type = "application/vnd.registry.manifest.v1+json"),
        (status = 400, description = "Bad name or reference", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such version (or not covered by the credential)", body = ErrorBody)
    )
)]
pub async fn get_manifest(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(VersionPath { namespace: ns, name, version }): ApiPath<VersionPath>,
) -> Result<Response, ApiError> {
    let m = model_name(&ns, &name)?;
    let r = reference(&version)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    let (digest, text) = service::read::get_manifest(&state, &m, &r).await?;
    Ok((
        [(header::CONTENT_TYPE, manifest::MEDIA_TYPE.to_owned()), (header::ETAG, format!("\"{digest}\""))],
        text,
    )
        .into_response())
}
