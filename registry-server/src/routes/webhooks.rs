//! `/v1/webhooks`: subscriptions to the registry's events (admin; docs/events.md).
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use registry_core::api::{CreateWebhookRequest, ErrorBody, WebhookCreated, WebhookInfo, WebhookList};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::service::webhooks::{self as svc, Change};
use crate::state::AppState;

impl FieldCodes for CreateWebhookRequest {}

/// `{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// `webhook-<n>`.
    #[param(pattern = r"^webhook-[1-9][0-9]{0,17}$", example = "webhook-1")]
    pub id: String,
}

/// Subscribes a URL to events (admin). The answer holds the signing secret, shown only here. The
/// URL is checked now (http or https; its addresses public unless `--webhooks-allow-private`) and
/// again at every delivery.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("token" = ["admin"])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Subscribed; the secret is in the answer only", body = WebhookCreated),
        (status = 400, description = "Bad URL, refused address, unknown event type, namespace or format (`invalid_webhook`)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(svc::add(&state, &actor, req).await?)))
}

/// Every subscription with its delivery state (never a URL or secret).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("token" = ["admin"])),
    responses(
        (status = 200, description = "Subscriptions, oldest first", body = WebhookList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)
    )
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _actor: Auth<need::Admin>,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(svc::list(&state).await?))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("token" = ["admin"])),
    params(WebhookPath),
    responses(
        (status = 200, description = "The subscription", body = WebhookInfo),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody)
    )
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    _actor: Auth<need::Admin>,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<Json<WebhookInfo>, ApiError> {
    Ok(Json(svc::get(&state, &id).await?))
}

/// Removes a subscription and its dead letters.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("token" = ["admin"])),
    params(WebhookPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody)
    )
)]
pub async fn remove_webhook(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<StatusCode, ApiError> {
    svc::change(&state, &actor, &id, Change::Remove).await?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! change_route {
    ($fn:ident, $path:literal, $change:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "webhooks", security(("token" = ["admin"])),
                            params(WebhookPath),
                            responses(
                                (status = 204, description = "Done"),
                                (status = 401, description = "No or bad credentials", body = ErrorBody),
                                (status = 403, description = "Not an admin", body = ErrorBody),
                                (status = 404, description = "No such subscription", body = ErrorBody)
                            )
                        )]
        pub async fn $fn(
            State(state): State<AppState>,
            actor: Auth<need::Admin>,
            ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
        ) -> Result<StatusCode, ApiError> {
            svc::change(&state, &actor, &id, $change).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

change_route!(pause_webhook, "/v1/webhooks/{id}/pause", Change::Pause, "Stops deliveries; the cursor stays.");
change_route!(
    resume_webhook,
    "/v1/webhooks/{id}/resume",
    Change::Resume,
    "Resumes deliveries from the cursor."
);
change_route!(
    redeliver_webhook,
    "/v1/webhooks/{id}/redeliver",
    Change::Redeliver,
    "Queues the subscription's dead-lettered events for delivery again (oldest first)."
);

/// Replaces the signing secret; the new one is in the answer only.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("token" = ["admin"])),
    params(WebhookPath),
    responses(
        (status = 200, description = "The subscription and its new secret", body = WebhookCreated),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody)
    )
)]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    actor: Auth<need::Admin>,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<Json<WebhookCreated>, ApiError> {
    Ok(Json(svc::rotate_secret(&state, &actor, &id).await?))
}
