//! `GET /v1/whoami` and token management (admin): `POST|GET /v1/tokens`, `DELETE /v1/tokens/{id}`.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use registry_core::api::ErrorBody;
use registry_core::auth::{CreateTokenRequest, CreatedToken, TokenInfo, TokenList, WhoAmI};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::db::rfc3339;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::service;
use crate::state::AppState;

impl FieldCodes for CreateTokenRequest {}

/// The caller as the server sees it.
#[utoipa::path(get, path = "/v1/whoami", tag = "auth", security(("token" = [])),
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No or bad credentials", body = ErrorBody)
    )
)]
pub async fn whoami(actor: Auth<need::Authenticated>) -> Json<WhoAmI> {
    Json(WhoAmI {
        actor: actor.id.clone(),
        scopes: actor.scopes.clone(),
        namespace: actor.pattern.clone(),
        expires_at: actor.expires_at.map(rfc3339),
    })
}

/// Creates a token. The secret is in this answer only; store it.
#[utoipa::path(post, path = "/v1/tokens", tag = "auth", security(("token" = ["admin"])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Bad name, scopes or expiry", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "A token with that name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    Ok((StatusCode::CREATED, Json(service::tokens::create(&state.db, &actor, req).await?)))
}

/// Every token's public record (never a secret).
#[utoipa::path(get, path = "/v1/tokens", tag = "auth", security(("token" = ["admin"])),
    responses(
        (status = 200, description = "Tokens, newest first", body = TokenList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)
    )
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    _actor: Auth<need::Admin>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { tokens: service::tokens::list(&state.db).await? }))
}

/// `{id}` of a token: its public id or its name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// Public id or name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$", example = "ci-fraud")]
    pub id: String,
}

/// Revokes a token (by id or name); it stops working at once.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "auth", security(("token" = ["admin"])),
    params(TokenPath),
    responses(
        (status = 200, description = "Revoked", body = TokenInfo),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody)
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    _actor: Auth<need::Admin>,
    ApiPath(TokenPath { id }): ApiPath<TokenPath>,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(service::tokens::revoke(&state.db, &id).await?))
}
