//! Blobs: `HEAD|GET|PUT /v1/blobs/{digest}` and `POST /v1/blobs:check`.
use std::collections::HashSet;
use std::ops::Range;

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

use crate::auth::{Actor, Auth, need};
use crate::blob::BlobError;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, FieldCodes};
use crate::routes::params::DigestPath;
use crate::service;
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
    let d = parse_digest(&digest)?;
    check_visible(&state, &actor, &d).await?;
    match state.db.blob_size(&d).await? {
        Some(size) => Ok((
            [(header::CONTENT_LENGTH, size.to_string()), (header::ACCEPT_RANGES, "bytes".into())],
            Body::empty(),
        )
            .into_response()),
        None => Err(ApiError::not_found(format!("blob {d} not stored"))),
    }
}

/// A blob is readable by a credential that covers some model whose versions reference it; others get
/// the same 404 as for a blob that does not exist.
async fn check_visible(state: &AppState, actor: &Actor, d: &Digest) -> Result<(), ApiError> {
    if service::blobs::visible(state, actor, d).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("blob {d} not stored")))
    }
}

/// Parses a single `bytes=` range against a blob of `size` bytes. `Ok(None)`: serve it whole (no
/// header, or a form we do not serve such as several ranges, which RFC 9110 lets a server ignore).
fn parse_range(h: &str, size: u64) -> Result<Option<Range<u64>>, BlobError> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| BlobError::Range { size })?;
        if n == 0 {
            return Err(BlobError::Range { size });
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().map_err(|_| BlobError::Range { size })?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>().map_err(|_| BlobError::Range { size })?.saturating_add(1)
        };
        start..end.min(size)
    };
    if range.start >= range.end {
        return Err(BlobError::Range { size });
    }
    Ok(Some(range))
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
    check_visible(&state, &actor, &d).await?;
    if state.settings.direct_downloads {
        return redirect_to_store(&state, &actor, &d).await;
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match range_header {
        Some(h) => {
            let Some(size) = state.blobs.size(&d).await? else {
                service::read::blob_object_missing(&state, &d).await;
                return Err(ApiError::not_found(format!("blob {d} not stored")));
            };
            parse_range(h, size)?
        }
        None => None,
    };
    let partial = range.is_some();
    let read = match state.blobs.get(&d, range).await {
        Err(BlobError::NotFound) => {
            service::read::blob_object_missing(&state, &d).await;
            return Err(ApiError::not_found(format!("blob {d} not stored")));
        }
        r => r?,
    };
    // The audit record is written before any byte leaves: no record, no download.
    state
        .db
        .audit_insert(crate::db::now_ms(), &actor.id, "blob.download", &d.to_string())
        .await
        .map_err(|e| ApiError::unavailable(format!("access audit write failed: {e}")))?;
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

/// Direct download: a redirect to a short-lived presigned URL of the object, after the same
/// visibility check and access audit record as a proxied download. The client follows it (a `Range`
/// header travels with it) and hashes every byte as always; the credential is not sent to the store.
async fn redirect_to_store(state: &AppState, actor: &Actor, d: &Digest) -> Result<Response, ApiError> {
    if state.db.blob_size(d).await?.is_none() {
        return Err(ApiError::not_found(format!("blob {d} not stored")));
    }
    let url = state.blobs.presign_get(d, state.settings.presign_ttl).await?;
    state
        .db
        .audit_insert(crate::db::now_ms(), &actor.id, "blob.download", &d.to_string())
        .await
        .map_err(|e| ApiError::unavailable(format!("access audit write failed: {e}")))?;
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
    let r = service::push::put_blob(&state, &actor, d, len, body.into_data_stream()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100).ok().flatten(), Some(0..10));
        assert_eq!(parse_range("bytes=90-", 100).ok().flatten(), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100).ok().flatten(), Some(90..100));
        assert_eq!(parse_range("bytes=-1000", 100).ok().flatten(), Some(0..100));
        assert_eq!(parse_range("bytes=50-5000", 100).ok().flatten(), Some(50..100));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=9-3", 100).is_err());
        assert!(parse_range("bytes=x-3", 100).is_err());
        assert_eq!(parse_range("bytes=0-1,5-6", 100).ok().flatten(), None);
        assert_eq!(parse_range("items=0-1", 100).ok().flatten(), None);
    }
}
