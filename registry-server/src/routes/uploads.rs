//! Resumable uploads: `GET`/`POST /v1/uploads`, `PUT /v1/uploads/{id}/parts/{part}`,
//! `POST /v1/uploads/{id}/complete`, `GET`/`DELETE /v1/uploads/{id}`.
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use registry_core::api::{BlobResponse, CreateUploadRequest, ErrorBody, UploadList, UploadSession, codes};

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::routes::blobs::Binary;
use crate::routes::params::{UploadPartPath, UploadPath};
use crate::service::uploads;
use crate::state::AppState;

impl FieldCodes for CreateUploadRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("digest", codes::INVALID_DIGEST)];
}

/// Opens a resumable upload of one blob, or returns the caller's live session for the same blob
/// (so a rerun after a crash or a network cut resumes from the last confirmed part).
#[utoipa::path(post, path = "/v1/uploads", tag = "blobs", security(("token" = ["push"])),
    request_body = CreateUploadRequest,
    responses(
        (status = 201, description = "A new session", body = UploadSession),
        (status = 200, description = "The caller's live session for this blob, to resume", body = UploadSession),
        (status = 400, description = "Malformed body or digest, or an empty blob", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 413, description = "Over the server's blob size limit", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn create_upload(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiJson(req): ApiJson<CreateUploadRequest>,
) -> Result<Response, ApiError> {
    let (s, created) = uploads::create(&state, &actor, req).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(s)).into_response())
}

/// The caller's live sessions, newest first (e.g. to abort them: `registry push --abort-uploads`).
#[utoipa::path(get, path = "/v1/uploads", tag = "blobs", security(("token" = ["push"])),
    responses(
        (status = 200, description = "The caller's sessions", body = UploadList),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody)
    )
)]
pub async fn list_uploads(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
) -> Result<Json<UploadList>, ApiError> {
    Ok(Json(uploads::list(&state, &actor).await?))
}

/// A session's state: which parts are confirmed.
#[utoipa::path(get, path = "/v1/uploads/{id}", tag = "blobs", security(("token" = ["push"])),
    params(UploadPath),
    responses(
        (status = 200, description = "The session", body = UploadSession),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 404, description = "No such session of this caller, or it expired (`upload_gone`)", body = ErrorBody)
    )
)]
pub async fn get_upload(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(UploadPath { id }): ApiPath<UploadPath>,
) -> Result<Json<UploadSession>, ApiError> {
    Ok(Json(uploads::get(&state, &actor, &id).await?))
}

/// Sends one part (exactly `part_size` bytes; the last part the rest). Parts are hashed in order: a
/// part waits for the one before it, so send them in order, a few at a time.
#[utoipa::path(put, path = "/v1/uploads/{id}/parts/{part}", tag = "blobs", security(("token" = ["push"])),
    params(UploadPartPath),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The part's bytes"),
    responses(
        (status = 200, description = "Confirmed; the session after it", body = UploadSession),
        (status = 400, description = "Part out of range or of the wrong length", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 404, description = "No such session of this caller, or it expired (`upload_gone`)", body = ErrorBody),
        (status = 409, description = "The part before has not arrived (`part_out_of_order`), or this part was confirmed with other bytes (`part_conflict`)", body = ErrorBody),
        (status = 503, description = "The store failed; send the part again", body = ErrorBody),
        (status = 429, description = "The server holds as many parts as its memory budget allows (`upload_busy`): send the part again after `Retry-After` seconds", body = ErrorBody),
        (status = 507, description = "The store is full (`storage_full`): the session was discarded and its staged parts freed", body = ErrorBody)
    )
)]
pub async fn put_part(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(UploadPartPath { id, part }): ApiPath<UploadPartPath>,
    body: Body,
) -> Result<Json<UploadSession>, ApiError> {
    Ok(Json(uploads::put_part(&state, &actor, &id, part, body.into_data_stream()).await?))
}

/// Completes the upload: the parts, hashed in order, must give the session's digest; then the blob is
/// stored (and the session ends either way).
#[utoipa::path(post, path = "/v1/uploads/{id}/complete", tag = "blobs", security(("token" = ["push"])),
    params(UploadPath),
    responses(
        (status = 201, description = "Stored", body = BlobResponse),
        (status = 400, description = "The parts do not hash to the digest (`digest_mismatch`); the session is discarded", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 404, description = "No such session of this caller, or it expired (`upload_gone`)", body = ErrorBody),
        (status = 409, description = "Parts are missing (`upload_incomplete`, `details.missing`)", body = ErrorBody)
    )
)]
pub async fn complete_upload(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(UploadPath { id }): ApiPath<UploadPath>,
) -> Result<Response, ApiError> {
    let r = uploads::complete(&state, &actor, &id).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

/// Abandons an upload; its parts are discarded.
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "blobs", security(("token" = ["push"])),
    params(UploadPath),
    responses(
        (status = 204, description = "Aborted"),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 404, description = "No such session of this caller, or it expired (`upload_gone`)", body = ErrorBody)
    )
)]
pub async fn abort_upload(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(UploadPath { id }): ApiPath<UploadPath>,
) -> Result<StatusCode, ApiError> {
    uploads::abort(&state, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
