//! `GET /v1/events`: the pull feed of log entries (docs/events.md).
use axum::Json;
use axum::extract::State;
use registry_core::api::{ErrorBody, EventsPage};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::service::events;
use crate::state::AppState;

/// `?after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Entries with a larger index (default -1: from the first).
    #[param(minimum = -1)]
    after: Option<i64>,
    /// Most events in the page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// The log entries after `after` that the caller may see, in log order: every entry for a credential
/// covering `*`; otherwise those about the models it covers (creations, attestations, alias moves and
/// denials, quarantines, corruption, annotations). At most 10,000 entries are looked at per request,
/// so a page may be short or empty before the end of the log: continue from `next_after`.
#[utoipa::path(get, path = "/v1/events", tag = "log", security(("token" = ["read"])),
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events and where the next begins", body = EventsPage),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    Ok(Json(events::page(&state, &actor, q.after.unwrap_or(-1), q.limit.unwrap_or(100)).await?))
}
