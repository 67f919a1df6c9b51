//! Extractors whose rejections are `ApiError`s, so even a malformed path, query or body gets the
//! documented `{code, message}` JSON answer instead of axum's plain-text default.
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use bytes::Bytes;
use registry_core::api::{MAX_JSON_BODY, codes};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, e.body_text()))
    }
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, e.body_text()))
    }
}

/// A JSON body, at most `MAX_JSON_BODY` bytes. Errors name the field that failed, and a failure inside
/// a field listed in `FIELD_CODES` gets that field's code (e.g. `manifest` -> `invalid_manifest`).
pub struct ApiJson<T>(pub T);

/// Maps a top-level field name to the error code a bad value there deserves.
pub trait FieldCodes {
    /// `(field, code)` pairs.
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[];
}

impl<S: Send + Sync, T: DeserializeOwned + FieldCodes> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = read_limited(req, MAX_JSON_BODY).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        format!("JSON body over {limit} bytes"),
    )
}

/// Reads a whole body of at most `limit` bytes. The limit is ours, not axum's `DefaultBodyLimit` (2 MiB,
/// which would otherwise apply to `Bytes`): a declared `Content-Length` over it is refused before a
/// byte is read, an undeclared (chunked) body as soon as it crosses it.
pub async fn read_limited(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let body = http_body_util::Limited::new(req.into_body(), limit);
    match http_body_util::BodyExt::collect(body).await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(e) => Err(ApiError::bad_request(codes::BAD_REQUEST, format!("reading the body: {e}"))),
    }
}

/// Parses JSON with the field-aware error mapping of [`ApiJson`].
/// Refuses a body whose `Content-Type` is not JSON (415), for routes that keep a body's exact bytes.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().unwrap_or("").trim().ends_with("json") {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        registry_core::api::codes::UNSUPPORTED_MEDIA_TYPE,
        "expected a JSON content type",
    ))
}

pub fn parse_json<T: DeserializeOwned + FieldCodes>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    // serde_json bounds nesting depth at 128, so hostile nesting is an error, not a stack overflow.
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let top = path.split(['.', '[']).next().unwrap_or("");
        let inner = e.into_inner();
        // Broken JSON is `invalid_json` wherever it breaks; a well-formed but wrong value gets the
        // code of the field it sits in.
        let code = match inner.classify() {
            serde_json::error::Category::Data => {
                T::FIELD_CODES.iter().find(|(f, _)| *f == top).map_or(codes::INVALID_JSON, |(_, c)| *c)
            }
            _ => codes::INVALID_JSON,
        };
        let msg = if path == "." || path.is_empty() { inner.to_string() } else { format!("{path}: {inner}") };
        ApiError::bad_request(code, msg)
    })
}
