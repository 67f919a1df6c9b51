//! Blast radius and quarantines.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use registry_core::Digest;
use registry_core::api::{ErrorBody, codes};
use registry_core::incident::{
    AffectedResponse, LiftRequest, QuarantineInfo, QuarantineList, QuarantineRequest,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, FieldCodes};
use crate::service::incident::{self, Seed};
use crate::state::AppState;

impl FieldCodes for QuarantineRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] =
        &[("dataset", codes::INVALID_DIGEST), ("key", codes::INVALID_DIGEST)];
}
impl FieldCodes for LiftRequest {}

/// `?dataset=|commit=|key=|version=` (exactly one).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AffectedQuery {
    /// A dataset digest.
    #[param(pattern = r"^sha256:[0-9a-f]{64}$")]
    dataset: Option<String>,
    /// A code commit (40 or 64 lowercase hex).
    #[param(pattern = r"^([0-9a-f]{40}|[0-9a-f]{64})$")]
    commit: Option<String>,
    /// A signer key id.
    #[param(pattern = r"^sha256:[0-9a-f]{64}$")]
    key: Option<String>,
    /// `NS/NAME@VERSION` (or `@alias`).
    #[param(example = "fraud/detector@1.4.0")]
    version: Option<String>,
}

fn digest(s: Option<&str>) -> Result<Option<Digest>, ApiError> {
    s.map(|d| Digest::parse(d).map_err(|e| ApiError::bad_request(codes::INVALID_DIGEST, e.to_string())))
        .transpose()
}

/// Every version a dataset, commit, signer key or version reached — directly, then transitively
/// through parent versions (fine-tuning, distillation) — each with the path that reaches it.
#[utoipa::path(get, path = "/v1/lineage/affected", tag = "incident", security(("token" = ["read"])),
    params(AffectedQuery),
    responses(
        (status = 200, description = "Versions reached, breadth first (those the credential covers)", body = AffectedResponse),
        (status = 400, description = "Not exactly one seed, or a malformed one", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "The seed version does not exist", body = ErrorBody)
    )
)]
pub async fn affected(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<AffectedQuery>,
) -> Result<Json<AffectedResponse>, ApiError> {
    let seed = Seed::one_of(
        digest(q.dataset.as_deref())?,
        q.commit.as_deref(),
        digest(q.key.as_deref())?,
        q.version.as_deref(),
    )?;
    if let Seed::Version(m, r) = &seed {
        actor.check_read(m, format_args!("version {m}@{r}"))?;
    }
    let reached = incident::affected(&state, &seed).await?;
    let versions = reached.iter().map(incident::affected_version).collect::<Result<Vec<_>, _>>()?;
    // The seed is the caller's own input: shown; steps through other namespaces are masked.
    let versions = incident::visible_versions(&actor, versions, true);
    Ok(Json(AffectedResponse { seed: seed.text(), versions }))
}

/// Quarantines every version the seed reached (admin): pulls refuse them, policies see them; with
/// `rollback`, every alias pointing at one moves back to its newest earlier unaffected target.
#[utoipa::path(post, path = "/v1/quarantines", tag = "incident", security(("token" = ["admin"])),
    request_body = QuarantineRequest,
    responses(
        (status = 201, description = "Quarantined", body = QuarantineInfo),
        (status = 400, description = "Not exactly one seed, a malformed one, no reason, or `text_too_long` (reason over 4 KiB)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "The seed reached no version", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn quarantine(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<QuarantineRequest>,
) -> Result<Response, ApiError> {
    crate::error::check_text("reason", &req.reason)?;
    let q = incident::quarantine(&state, &actor, &req).await?;
    Ok((StatusCode::CREATED, Json(q)).into_response())
}

/// `?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many (1..=500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Quarantines that cover a version the credential covers, newest first: only those versions and their
/// alias moves; the seed and reason only when reached through versions the credential can read.
#[utoipa::path(get, path = "/v1/quarantines", tag = "incident", security(("token" = ["read"])),
    params(ListQuery),
    responses(
        (status = 200, description = "Quarantines", body = QuarantineList),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<QuarantineList>, ApiError> {
    let limit = crate::routes::page_limit(q.limit)?;
    Ok(Json(QuarantineList { quarantines: incident::list_for(&state, &actor, limit).await? }))
}

/// `{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct QuarantinePath {
    /// Quarantine id.
    #[param(minimum = 1, example = 1)]
    pub id: i64,
}

/// One quarantine.
#[utoipa::path(get, path = "/v1/quarantines/{id}", tag = "incident", security(("token" = ["read"])),
    params(QuarantinePath),
    responses(
        (status = 200, description = "The quarantine", body = QuarantineInfo),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such quarantine, or none of its versions is covered by the credential", body = ErrorBody)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(p): ApiPath<QuarantinePath>,
) -> Result<Json<QuarantineInfo>, ApiError> {
    Ok(Json(incident::get_for(&state, &actor, p.id).await?))
}

/// Lifts a quarantine (admin); explicit and logged.
#[utoipa::path(post, path = "/v1/quarantines/{id}/lift", tag = "incident", security(("token" = ["admin"])),
    params(QuarantinePath), request_body = LiftRequest,
    responses(
        (status = 200, description = "Lifted", body = QuarantineInfo),
        (status = 400, description = "Bad id, no reason, or `text_too_long` (reason over 4 KiB)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such quarantine", body = ErrorBody),
        (status = 409, description = "`already_lifted`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn lift(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(p): ApiPath<QuarantinePath>,
    ApiJson(req): ApiJson<LiftRequest>,
) -> Result<Json<QuarantineInfo>, ApiError> {
    crate::error::check_text("reason", &req.reason)?;
    Ok(Json(incident::lift(&state, &actor, p.id, &req.reason).await?))
}

/// Provenance coverage per namespace (over the versions the credential covers): % with signed SLSA
/// provenance, % recording datasets, % with an OMS signature, % of promoted versions carrying this
/// registry's PASSED VSA, quarantined and corrupted counts.
#[utoipa::path(get, path = "/v1/reports/compliance", tag = "incident", security(("token" = ["read"])),
    responses(
        (status = 200, description = "The report", body = registry_core::incident::ComplianceReport),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn compliance(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
) -> Result<Json<registry_core::incident::ComplianceReport>, ApiError> {
    Ok(Json(crate::service::report::compliance(&state, &actor).await?))
}
