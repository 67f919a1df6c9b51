//! `ApiError`: the one place where a failure becomes an HTTP status and a `{code, message}` body.
//!
//! 4xx messages are written for the client. 5xx bodies always say "internal error"; the cause is kept
//! in the response's extensions and logged once by the trace layer's `on_response` hook.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use registry_core::api::{ErrorBody, codes};
use serde_json::json;

use crate::blob::BlobError;
use crate::db::DbError;
use crate::service::promote::MoveError;
use crate::service::push::PublishError;
use crate::service::uploads::UploadError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
    source: Option<String>,
}

/// The hidden cause of a 5xx, for the logging layer.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, source: None }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    /// 403: valid credentials without the right.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 409: the request conflicts with the stored state (`code` says how).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 404 with a more specific code than `not_found` (an upload that is gone, ...).
    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, message)
    }

    /// 507 `storage_full`: nothing was stored; send again once space is freed.
    pub fn storage_full(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, codes::STORAGE_FULL, message)
    }

    /// 500; `cause` is logged, never returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, "internal error");
        e.source = Some(cause.to_string());
        e
    }

    /// 503; `cause` is logged.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "service unavailable, retry later",
        );
        e.source = Some(cause.to_string());
        e
    }

    /// Replaces the machine code (for a more specific one than the status's default).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The hidden cause of a 5xx (logged, never sent).
    pub fn cause(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details, when there are some.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }
}

/// 400 `text_too_long` when a free-text field is over `registry_core::api::MAX_TEXT_LEN`.
pub fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    registry_core::api::check_text(field, value)
        .map_err(|m| ApiError::bad_request(codes::TEXT_TOO_LONG, m.to_string()))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // RFC 9110 §15.5.17: a 416 names the length the range was checked against.
        let content_range = (self.status == StatusCode::RANGE_NOT_SATISFIABLE)
            .then(|| self.details.as_ref().and_then(|d| d["size"].as_u64()))
            .flatten()
            .and_then(|n| axum::http::HeaderValue::try_from(format!("bytes */{n}")).ok());
        let retry_after = (self.status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| self.details.as_ref().and_then(|d| d["retry_after"].as_u64()))
            .flatten();
        let body = ErrorBody { code: self.code.to_owned(), message: self.message, details: self.details };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"registry\""),
            );
        }
        if let Some(v) = content_range {
            resp.headers_mut().insert(axum::http::header::CONTENT_RANGE, v);
        }
        // RFC 9110 §10.2.3: a 429 says when to come back.
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let Some(src) = self.source {
            resp.extensions_mut().insert(InternalCause(src));
        }
        resp
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ApiError::not_found("not found"),
            DbError::Conflict => {
                ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, "conflicting concurrent change, retry")
            }
            DbError::Other(sqlx::Error::PoolTimedOut) => ApiError::unavailable("database pool timed out"),
            e => ApiError::internal(e),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let message = e.to_string();
        match e {
            PublishError::VersionExists { stored, .. } => {
                let err = ApiError::new(StatusCode::CONFLICT, codes::VERSION_EXISTS, message);
                match stored {
                    Some(d) => err.with_details(json!({ "manifest_digest": d })),
                    None => err,
                }
            }
            PublishError::NameConflict(_) => {
                ApiError::new(StatusCode::CONFLICT, codes::NAME_CONFLICT, message)
            }
            PublishError::MissingBlobs { missing, .. } => {
                ApiError::bad_request(codes::MISSING_BLOBS, message)
                    .with_details(json!({ "missing": missing }))
            }
            PublishError::BlobCollected => ApiError::bad_request(codes::MISSING_BLOBS, message),
            PublishError::UnknownParent(missing) => ApiError::bad_request(codes::UNKNOWN_PARENT, message)
                .with_details(json!({ "missing": missing })),
            PublishError::Other(e) => e,
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let message = e.to_string();
        match e {
            UploadError::Gone(_) => ApiError::gone(codes::UPLOAD_GONE, message),
            UploadError::TooLarge { .. } => ApiError::too_large(message),
            UploadError::PartConflict(_) => ApiError::conflict(codes::PART_CONFLICT, message),
            UploadError::PartOutOfOrder { next, .. } => ApiError::conflict(codes::PART_OUT_OF_ORDER, message)
                .with_details(json!({ "next_part": next })),
            UploadError::StorageFull(_) => ApiError::storage_full(message),
            UploadError::Busy { retry_after } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::UPLOAD_BUSY, message)
                    .with_details(json!({ "retry_after": retry_after }))
            }
            UploadError::Incomplete { missing, .. } => ApiError::conflict(codes::UPLOAD_INCOMPLETE, message)
                .with_details(json!({ "missing": missing })),
            UploadError::Other(e) => e,
        }
    }
}

impl From<MoveError> for ApiError {
    fn from(e: MoveError) -> Self {
        let message = e.to_string();
        match e {
            MoveError::ShadowsVersion { .. } => ApiError::conflict(codes::NAME_CONFLICT, message),
            MoveError::AliasMoved { .. } => ApiError::conflict(codes::ALIAS_MOVED, message),
            MoveError::Denied { reasons, policies, .. } => {
                ApiError::new(StatusCode::FORBIDDEN, codes::POLICY_DENIED, message)
                    .with_details(json!({ "reasons": reasons, "policies": policies }))
            }
            MoveError::NoRollbackTarget { .. } => ApiError::conflict(codes::NO_ROLLBACK_TARGET, message),
            MoveError::KeptChanging { .. } => ApiError::unavailable(message),
            MoveError::Other(e) => e,
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        if e.is_storage_full() {
            let mut err = ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                codes::STORAGE_FULL,
                "the registry's storage is full; nothing was stored, send the bytes again once space is freed",
            );
            err.source = Some(e.to_string());
            return err;
        }
        match e {
            BlobError::Mismatch { .. } => ApiError::bad_request(codes::DIGEST_MISMATCH, e.to_string()),
            BlobError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, e.to_string())
            }
            BlobError::Body(_) => ApiError::bad_request(codes::BAD_REQUEST, e.to_string()),
            BlobError::NotFound => ApiError::not_found("blob not found"),
            BlobError::Range { size } => {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, codes::RANGE_NOT_SATISFIABLE, e.to_string())
                    .with_details(serde_json::json!({"size": size}))
            }
            BlobError::Timeout { .. } => ApiError::unavailable(e),
            e => ApiError::internal(e),
        }
    }
}
