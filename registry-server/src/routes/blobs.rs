//! Blobs: `HEAD|GET|PUT /v1/blobs/{digest}` and `POST /v1/blobs:check`.
use std::collections::HashSet;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::Digest;
use registry_core::api::{
    BlobCheckRequest, BlobCheckResponse, BlobResponse, ErrorBody, MAX_CHECK_DIGESTS, codes,
};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::routes::params::DigestPath;
use crate::service;
use crate::service::blobs::Download;
use crate::state::AppState;

/// Raw bytes (`application/octet-stream`), for the OpenAPI document.
pub struct Binary;
impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}
impl utoipa::ToSchema for Binary {}

impl FieldCodes for BlobCheckRequest {
    const FIELD_CODES: &'static [(&'static str, &'static str)] = &[("digests", codes::INVALID_DIGEST)];
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| ApiError::bad_request(codes::INVALID_DIGEST, e.to_string()))
}

/// Whether a blob is stored, and its size.
#[utoipa::path(head, path = "/v1/blobs/{digest}", tag = "blobs", security(("token" = ["read"])),
    params(DigestPath),
    responses(
        (status = 200, description = "Stored; Content-Length is its size"),
        (status = 400, description = "Malformed digest"),
        (status = 401, description = "No or bad credentials"),
        (status = 403, description = "Credential lacks the read scope"),
        (status = 404, description = "Not stored, or not in a model the credential covers")
    )
)]
pub async fn head_blob(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(DigestPath { digest }): ApiPath<DigestPath>,
) -> Result<Response, ApiError> {
    let size = service::blobs::size(&state, &actor, &parse_digest(&digest)?).await?;
    Ok(([(header::CONTENT_LENGTH, size.to_string()), (header::ACCEPT_RANGES, "bytes".into())], Body::empty())
        .into_response())
}

/// Downloads a blob; honours a single `Range: bytes=` (206 with `Content-Range`).
#[utoipa::path(get, path = "/v1/blobs/{digest}", tag = "blobs", security(("token" = ["read"])),
    params(
        DigestPath,
        ("Range" = Option<String>, Header, description = "bytes=START-END, bytes=START- or bytes=-SUFFIX")
    ),
    responses(
        (status = 200, description = "The blob", body = Binary, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", body = Binary, content_type = "application/octet-stream"),
        (status = 307, description = "Direct downloads are on: `Location` is a short-lived presigned URL of the bytes (verify them as always)"),
        (status = 400, description = "Malformed digest", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody),
        (status = 404, description = "Not stored, or not in a model the credential covers", body = ErrorBody),
        (status = 416, description = "Range outside the blob", body = ErrorBody),
        (status = 503, description = "The access audit could not be written; retry", body = ErrorBody)
    )
)]
pub async fn get_blob(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiPath(DigestPath { digest }): ApiPath<DigestPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = parse_digest(&digest)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    respond(service::blobs::download(&state, &actor, &d, range).await?)
}

/// The answer to a download: the bytes (`206` with `Content-Range` for a range), or a redirect.
pub fn respond(download: Download) -> Result<Response, ApiError> {
    let (read, partial) = match download {
        Download::Bytes { read, partial } => (read, partial),
        Download::Redirect(url) => return redirect(&url),
    };
    let len = read.range.end - read.range.start;
    let mut resp = Response::new(Body::from_stream(read.stream));
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {}-{}/{}", read.range.start, read.range.end - 1, read.size);
        resp.headers_mut()
            .insert(header::CONTENT_RANGE, header::HeaderValue::try_from(cr).map_err(ApiError::internal)?);
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    Ok(resp)
}

/// Direct download: a `307` to the presigned URL. The client follows it (a `Range` header travels
/// with it); the credential is not sent to the store.
fn redirect(url: &url::Url) -> Result<Response, ApiError> {
    let location = header::HeaderValue::try_from(url.as_str()).map_err(ApiError::internal)?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Uploads a blob. The body is hashed as it streams and stored only if it hashes to `digest`.
#[utoipa::path(put, path = "/v1/blobs/{digest}", tag = "blobs", security(("token" = ["push"])),
    params(DigestPath),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The blob's bytes"),
    responses(
        (status = 201, description = "Stored (also when the same bytes were stored for a model the caller cannot read)", body = BlobResponse),
        (status = 200, description = "Already stored, and readable by the caller", body = BlobResponse),
        (status = 400, description = "Malformed digest, or the body does not hash to it (`digest_mismatch`)", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 413, description = "Over the server's blob size limit", body = ErrorBody)
    )
)]
pub async fn put_blob(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiPath(DigestPath { digest }): ApiPath<DigestPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let d = parse_digest(&digest)?;
    let len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let r = service::blobs::put_blob(&state, &actor, d, len, body.into_data_stream()).await?;
    let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(r)).into_response())
}

/// Which of these blobs are not stored (so a client uploads only those).
#[utoipa::path(post, path = "/v1/blobs:check", tag = "blobs", security(("token" = ["push"])),
    request_body = BlobCheckRequest,
    responses(
        (status = 200, description = "The digests to upload: not stored, or not readable by the caller nor uploaded by it within the upload expiry", body = BlobCheckResponse),
        (status = 400, description = "Malformed body or digest, or too many digests", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the push scope", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)
    )
)]
pub async fn check_blobs(
    State(state): State<AppState>,
    actor: Auth<need::Push>,
    ApiJson(req): ApiJson<BlobCheckRequest>,
) -> Result<Json<BlobCheckResponse>, ApiError> {
    if req.digests.len() > MAX_CHECK_DIGESTS {
        return Err(ApiError::bad_request(
            codes::BAD_REQUEST,
            format!("{} digests; at most {MAX_CHECK_DIGESTS} per call", req.digests.len()),
        ));
    }
    let mut seen = HashSet::new();
    let unique: Vec<Digest> = req.digests.into_iter().filter(|d| seen.insert(*d)).collect();
    // Reported present only if the caller could already read the blob or uploaded it itself: dedup
    // must not tell anyone what other namespaces store. Re-uploading costs bandwidth, not storage.
    Ok(Json(BlobCheckResponse { missing: service::blobs::missing(&state, &actor, unique).await? }))
}
