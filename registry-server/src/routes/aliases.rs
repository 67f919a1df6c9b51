//! Aliases (promotion, history, rollback) and the Rego policies that gate them.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use registry_core::api::{ErrorBody, codes};
use registry_core::auth::Scope;
use registry_core::promote::{
    AliasHistory, AliasList, AliasName, AliasResponse, Decision, PolicyInfo, PolicyList, PolicyTestRequest,
    PromoteRequest, PromoteResponse, RollbackRequest, SetPolicyRequest,
};
use registry_core::{ModelName, Reference};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::routes::params::ModelPath;
use crate::service::promote::{self, Move};
use crate::state::AppState;

impl FieldCodes for PromoteRequest {}
impl FieldCodes for RollbackRequest {}
impl FieldCodes for SetPolicyRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("namespace", codes::INVALID_NAME)];
}
impl FieldCodes for PolicyTestRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("version", codes::INVALID_NAME)];
}

/// `{namespace}/{name}/aliases/{alias}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AliasPath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
    /// Model name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "detector")]
    pub name: String,
    /// Alias: a lowercase letter, then lowercase letters, digits, `_` or `-` (at most 64).
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", example = "production")]
    pub alias: String,
}

/// The alias segment's action, checked before anything else is read: `.../aliases/{alias}` takes
/// GET and PUT, `.../aliases/{alias}:rollback` only POST (both share one router path).
pub struct Action<const ROLLBACK: bool>;

impl<const ROLLBACK: bool, S: Send + Sync> axum::extract::FromRequestParts<S> for Action<ROLLBACK> {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Response> {
        let rollback = parts.uri.path().ends_with(":rollback");
        if rollback == ROLLBACK {
            return Ok(Self);
        }
        let allow = if rollback { "POST" } else { "GET, HEAD, PUT" };
        let e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
        );
        Err(([(axum::http::header::ALLOW, allow)], e).into_response())
    }
}

/// `Allow` for the one router path that serves two documented resources (`{alias}` and
/// `{alias}:rollback`); `None` for every other path.
pub fn allow_of(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/v1/models/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [_, _, "aliases", alias] if alias.ends_with(":rollback") => Some("POST"),
        [_, _, "aliases", _] => Some("GET, HEAD, PUT"),
        _ => None,
    }
}

fn model_of(namespace: &str, name: &str) -> Result<ModelName, ApiError> {
    ModelName::new(namespace, name).map_err(|e| ApiError::bad_request(codes::INVALID_NAME, e.to_string()))
}

fn target(p: &AliasPath) -> Result<(ModelName, AliasName), ApiError> {
    Ok((model_of(&p.namespace, &p.name)?, promote::alias(&p.alias)?))
}

/// `?at=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// RFC 3339 time: where the alias pointed then.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-01T12:00:00Z")]
    at: Option<String>,
}

/// Where an alias points now, or (`?at=`) where it pointed at a past time.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/aliases/{alias}", tag = "promotion",
    security(("token" = ["read"])), params(AliasPath, AtQuery),
    responses(
        (status = 200, description = "The target", body = AliasResponse),
        (status = 400, description = "Bad name, alias or time", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such model or alias (then)", body = ErrorBody)
    )
)]
pub async fn get_alias(
    _: Action<false>,
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<AliasPath>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Json<AliasResponse>, ApiError> {
    let (m, a) = target(&p)?;
    actor.check_read(&m, format_args!("alias {m}@{a}"))?;
    let at = match q.at {
        None => None,
        Some(t) => Some(crate::db::parse_rfc3339_ms(&t).ok_or_else(|| {
            ApiError::bad_request(codes::BAD_REQUEST, format!("at {t:?} is not an RFC 3339 time"))
        })?),
    };
    Ok(Json(promote::get(&state, &m, &a, at).await?))
}

/// Promotes a version to an alias: every policy attached to the model and alias is evaluated over
/// the version's verified evidence. Allowed: the alias moves, the decision is logged and a signed
/// SLSA VSA is stored with the version. Denied: 403 `policy_denied` with the reasons (logged too).
#[utoipa::path(put, path = "/v1/models/{namespace}/{name}/aliases/{alias}", tag = "promotion",
    security(("token" = ["promote"])), params(AliasPath), request_body = PromoteRequest,
    responses(
        (status = 200, description = "Moved", body = PromoteResponse),
        (status = 400, description = "Bad name, alias or version reference, the alias is a version label, or `text_too_long` (reason over 4 KiB)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Denied by policy (`policy_denied`, with reasons), or credential lacks promote on the model", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 409, description = "`alias_moved`: the alias no longer points at `expected_current`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn put_alias(
    _: Action<false>,
    State(state): State<AppState>,
    actor: Auth<need::Promote>,
    ApiPath(p): ApiPath<AliasPath>,
    ApiJson(req): ApiJson<PromoteRequest>,
) -> Result<Json<PromoteResponse>, ApiError> {
    let (m, a) = target(&p)?;
    actor.check_write(Scope::Promote, &m)?;
    crate::error::check_text("reason", &req.reason)?;
    let version = crate::routes::models::reference(&req.version)?;
    let mv = Move {
        model: &m,
        alias: &a,
        reason: &req.reason,
        expected_current: req.expected_current.as_deref(),
        kind: "promote",
    };
    Ok(Json(promote::promote(&state, &actor, &mv, &version).await?))
}

/// Every alias of a model.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/aliases", tag = "promotion",
    security(("token" = ["read"])), params(ModelPath),
    responses(
        (status = 200, description = "Aliases by name", body = AliasList),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody)
    )
)]
pub async fn list_aliases(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<ModelPath>,
) -> Result<Json<AliasList>, ApiError> {
    let m = model_of(&p.namespace, &p.name)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    Ok(Json(promote::list(&state, &m).await?))
}

/// `?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// At most this many events (1..=500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Every decision about an alias, passed and failed, newest first.
#[utoipa::path(get, path = "/v1/models/{namespace}/{name}/aliases/{alias}/history", tag = "promotion",
    security(("token" = ["read"])), params(AliasPath, HistoryQuery),
    responses(
        (status = 200, description = "Decisions, newest first", body = AliasHistory),
        (status = 400, description = "Bad name, alias or limit", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody)
    )
)]
pub async fn alias_history(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<AliasPath>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<AliasHistory>, ApiError> {
    let (m, a) = target(&p)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    let limit = crate::routes::page_limit(q.limit)?;
    Ok(Json(promote::history(&state, &m, &a, limit).await?))
}

/// Moves the alias back to the newest earlier target that is not quarantined and still passes
/// policy (a new, signed decision). The router serves it as `POST .../aliases/{alias}` whose last
/// segment ends in `:rollback`.
#[utoipa::path(post, path = "/v1/models/{namespace}/{name}/aliases/{alias}:rollback", tag = "promotion",
    security(("token" = ["promote"])), params(AliasPath), request_body = RollbackRequest,
    responses(
        (status = 200, description = "Moved back", body = PromoteResponse),
        (status = 400, description = "Bad name or alias, or `text_too_long` (reason over 4 KiB)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks promote on the model", body = ErrorBody),
        (status = 404, description = "No such model or alias", body = ErrorBody),
        (status = 409, description = "`no_rollback_target`: no earlier target passes", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn rollback_alias(
    _: Action<true>,
    State(state): State<AppState>,
    actor: Auth<need::Promote>,
    ApiPath(mut p): ApiPath<AliasPath>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<Json<PromoteResponse>, ApiError> {
    let Some(alias) = p.alias.strip_suffix(":rollback") else {
        return Err(ApiError::not_found(
            "no such route: POST on an alias needs an action, .../aliases/{alias}:rollback",
        ));
    };
    p.alias = alias.to_owned();
    let (m, a) = target(&p)?;
    actor.check_write(Scope::Promote, &m)?;
    crate::error::check_text("reason", &req.reason)?;
    Ok(Json(promote::rollback(&state, &actor, &m, &a, &req.reason).await?))
}

/// Attaches a new revision of the Rego policy for a namespace pattern and alias pattern (admin).
/// It must compile as `package registry.promote`; the change is a log entry with its digest.
#[utoipa::path(post, path = "/v1/policies", tag = "promotion", security(("token" = ["admin"])),
    request_body = SetPolicyRequest,
    responses(
        (status = 201, description = "Stored as the next revision", body = PolicyInfo),
        (status = 400, description = "`invalid_policy` (with the compiler's message) or bad pattern", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn set_policy(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<SetPolicyRequest>,
) -> Result<Response, ApiError> {
    let info = promote::set_policy(&state, &actor, &req).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// The policy revisions in force.
#[utoipa::path(get, path = "/v1/policies", tag = "promotion", security(("token" = ["read"])),
    responses(
        (status = 200, description = "Newest revision of each pattern pair", body = PolicyList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list_policies(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
) -> Result<Json<PolicyList>, ApiError> {
    Ok(Json(PolicyList { policies: promote::list_policies(&state).await? }))
}

/// `{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PolicyPath {
    /// Policy revision id.
    #[param(minimum = 1, example = 1)]
    pub id: i64,
}

/// One policy revision (current or superseded).
#[utoipa::path(get, path = "/v1/policies/{id}", tag = "promotion", security(("token" = ["read"])),
    params(PolicyPath),
    responses(
        (status = 200, description = "The revision", body = PolicyInfo),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody)
    )
)]
pub async fn get_policy(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
    ApiPath(p): ApiPath<PolicyPath>,
) -> Result<Json<PolicyInfo>, ApiError> {
    Ok(Json(promote::get_policy(&state, p.id).await?))
}

/// Dry run: evaluates the policies for promoting a version to an alias without moving anything.
/// Needs promote on the model (evaluation costs CPU, and the decision depends on the caller).
#[utoipa::path(post, path = "/v1/policies:test", tag = "promotion", security(("token" = ["promote"])),
    request_body = PolicyTestRequest,
    responses(
        (status = 200, description = "What a promotion would decide now", body = Decision),
        (status = 400, description = "Bad reference or alias", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks promote on the model", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn test_policy(
    State(state): State<AppState>,
    actor: Auth<need::Promote>,
    ApiJson(req): ApiJson<PolicyTestRequest>,
) -> Result<Json<Decision>, ApiError> {
    let m = req.version.model.clone();
    actor.check_write(Scope::Promote, &m)?;
    let a = promote::alias(&req.alias)?;
    let r: Reference = req.version.reference.clone();
    Ok(Json(promote::dry_run(&state, &actor, &m, &r, &a).await?))
}
