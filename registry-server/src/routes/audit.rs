//! `GET /v1/audit`: the access audit (admin).
use axum::Json;
use axum::extract::State;
use registry_core::api::{AuditList, ErrorBody, codes};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::db::audit::AuditFilter;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::{page_limit, row_cursor};
use crate::service;
use crate::service::tokens::parse_time;
use crate::state::AppState;

/// Filters of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this actor (`token:NAME`, ...).
    #[param(max_length = 512)]
    actor: Option<String>,
    /// Only this target (a digest or `NS/NAME@VERSION`).
    #[param(max_length = 512)]
    target: Option<String>,
    /// From this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-01T00:00:00Z")]
    since: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[1-9][0-9]{0,18}$")]
    cursor: Option<String>,
}

/// Who downloaded which blob or bundle, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "auth", security(("token" = ["admin"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of accesses", body = AuditList),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    _actor: Auth<need::Admin>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let limit = page_limit(q.limit)?;
    let bad = |m: String| ApiError::bad_request(codes::BAD_REQUEST, m);
    for (what, v) in [("actor", &q.actor), ("target", &q.target)] {
        if v.as_ref().is_some_and(|v| v.len() > 512) {
            return Err(bad(format!("{what} is longer than 512 bytes")));
        }
    }
    let since = q.since.as_deref().map(parse_time).transpose().map_err(bad)?;
    let before = row_cursor(q.cursor.as_deref())?;
    let f = AuditFilter { actor: q.actor, target: q.target, since, before };
    Ok(Json(service::audit::list(&state, &f, limit).await?))
}
