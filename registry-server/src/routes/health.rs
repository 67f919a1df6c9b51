//! `GET /v1/health`.
use axum::Json;
use axum::extract::State;
use registry_core::api::{ErrorBody, HealthResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness and database reachability.
#[utoipa::path(get, path = "/v1/health", tag = "meta",
    responses(
        (status = 200, description = "Serving", body = HealthResponse),
        (status = 503, description = "Database unreachable", body = ErrorBody)
    )
)]
pub async fn health(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state.db.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(HealthResponse { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }))
}
