//! Who may see and use which blob, and serving it: one rule for every route that checks, serves or
//! references bytes (visibility, storing verified uploads, audit-before-serve, dedup touch, ranges,
//! download redirects).
//!
//! A blob is *visible* to a credential that covers some model whose versions reference it. It is
//! *usable* in a new version by a caller that can see it or that uploaded it itself within the upload
//! expiry (proof of possession). Everything else answers exactly as a blob that is not stored, so
//! deduplication never tells a caller what other namespaces hold, or how big it is.
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use registry_core::Digest;
use registry_core::api::{BlobResponse, codes};

use crate::auth::Actor;
use crate::blob::{BlobError, BlobRead};
use crate::db::blobs::BlobViewer;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::service::{audit, read};
use crate::state::AppState;

fn viewer<'a>(state: &AppState, actor: &'a Actor) -> BlobViewer<'a> {
    let window = i64::try_from(state.settings.upload_expiry.as_millis()).unwrap_or(i64::MAX);
    BlobViewer {
        namespace: actor.pattern.namespace(),
        name: actor.pattern.name(),
        actor: &actor.id,
        uploaded_since: now_ms().saturating_sub(window),
    }
}

/// Whether `actor` may read blob `d` (a 404 otherwise, the same as for a blob that is not stored).
pub async fn visible(state: &AppState, actor: &Actor, d: &Digest) -> Result<bool, ApiError> {
    if actor.pattern.is_any() {
        return Ok(state.db.blob_size(d).await?.is_some());
    }
    Ok(state.db.blobs_visible(&[*d], &viewer(state, actor)).await?.contains(d))
}

/// Of `digests`, those `actor` may reference in a version, with their recorded sizes.
pub async fn usable(
    state: &AppState,
    actor: &Actor,
    digests: &[Digest],
) -> Result<HashMap<Digest, u64>, ApiError> {
    if actor.pattern.is_any() {
        return Ok(state.db.blob_sizes(digests).await?);
    }
    Ok(state.db.blobs_usable(digests, &viewer(state, actor)).await?)
}

/// The dedup check: of `digests` (distinct), those the caller must upload. The usable ones are
/// touched, because the push that asked is about to reference them and GC leaves touched blobs alone.
pub async fn missing(state: &AppState, actor: &Actor, digests: Vec<Digest>) -> Result<Vec<Digest>, ApiError> {
    let usable: Vec<Digest> = usable(state, actor, &digests).await?.into_keys().collect();
    let present: HashSet<Digest> = state.db.blob_touch(&usable).await?.into_keys().collect();
    Ok(digests.into_iter().filter(|d| !present.contains(d)).collect())
}

/// Records that `actor` just uploaded `d` (the bytes hashed to it), so it may reference it.
pub async fn record_upload(state: &AppState, actor: &Actor, d: &Digest) -> Result<(), ApiError> {
    Ok(state.db.blob_upload_record(d, &actor.id).await?)
}

/// Stores a blob from a streamed body. `created` is false only when the caller could already read
/// the blob: for bytes stored under models it cannot read the answer is the same as for new bytes,
/// so an upload tells nobody what others store. Either way the caller has now proven it holds them.
pub async fn put_blob<S, E>(
    state: &AppState,
    actor: &Actor,
    digest: Digest,
    content_length: Option<u64>,
    body: S,
) -> Result<BlobResponse, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let limit = begin_upload(state, content_length).await?;
    let readable = visible(state, actor, &digest).await?;
    // Touching the row (rather than reading it) keeps GC off this blob: if GC is deleting it right
    // now, the touch finds no row and the bytes are stored again below.
    let stored = match state.db.blob_touch(&[digest]).await?.get(&digest).copied() {
        Some(size) if state.blobs.size(&digest).await? == Some(size) => Some(size),
        _ => None,
    };
    let size = match stored {
        // Already stored: nothing to write, but the body is checked exactly as a fresh upload's
        // (same limit, same errors: none of them may depend on the stored blob).
        Some(size) => {
            hash_body(body, &digest, limit).await?;
            record_upload(state, actor, &digest).await?;
            size
        }
        None => {
            let size = state.blobs.put_stream(&digest, body, limit).await?;
            record_blob(state, actor, &digest, size).await?;
            size
        }
    };
    Ok(BlobResponse { digest, size, created: !(readable && stored.is_some()) })
}

/// Stores a body whose digest the caller did not state (an MLflow artifact upload): hashed while
/// it streams, recorded under the digest it hashed to, and recorded as uploaded by `actor`.
pub async fn put_unnamed<S, E>(
    state: &AppState,
    actor: &Actor,
    content_length: Option<u64>,
    body: S,
) -> Result<(Digest, u64), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let limit = begin_upload(state, content_length).await?;
    let (digest, size) = state.blobs.put_unnamed(body, limit).await?;
    record_blob(state, actor, &digest, size).await?;
    Ok((digest, size))
}

/// The start of every upload: a declared length over the limit is refused before a byte is read.
/// Returns the limit the body is then held to.
async fn begin_upload(state: &AppState, content_length: Option<u64>) -> Result<u64, ApiError> {
    let limit = state.settings.max_blob_size;
    if let Some(len) = content_length
        && len > limit
    {
        return Err(crate::blob::BlobError::TooLarge { limit }.into());
    }
    state.pauses.point("blob.upload").await;
    Ok(limit)
}

/// Hashes an upload body whose bytes are already stored, failing as `put_stream` would.
async fn hash_body<S, E>(body: S, digest: &Digest, limit: u64) -> Result<(), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut hasher = registry_core::Hasher::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, format!("upload body failed: {e}")))?;
        if hasher.len() + chunk.len() as u64 > limit {
            return Err(crate::blob::BlobError::TooLarge { limit }.into());
        }
        hasher.update(&chunk);
    }
    let got = hasher.len();
    let actual = hasher.finalize();
    if actual != *digest {
        return Err(crate::blob::BlobError::Mismatch { actual, size: got }.into());
    }
    Ok(())
}

/// Records a blob whose bytes were just stored and verified. If garbage collection is deleting the
/// object right now (it holds a claim on the digest), nothing is recorded; if it removed the object
/// between the write and the record, the row is marked lost (never deleted: another upload of the
/// same bytes may have recorded it meanwhile, and something may reference it; a lost row is not
/// counted as present, and the next verified upload or a clean scrub heals it). Either way the
/// client is told to send the bytes again, never acknowledged with nothing stored.
///
/// `actor`'s upload is recorded in the same transaction as the row (one commit, one disk flush per
/// stored blob fewer: pushing 10,000 small files paid four flushes each): the bytes hashed to the
/// digest, so the actor has proven it holds them even if the object is then found gone.
pub async fn record_blob(
    state: &AppState,
    actor: &Actor,
    digest: &Digest,
    size: u64,
) -> Result<(), ApiError> {
    if !state.db.blob_insert(digest, size, Some(&actor.id)).await? {
        return Err(ApiError::unavailable(format!(
            "blob {digest} is being removed by garbage collection; send it again"
        )));
    }
    if state.blobs.size(digest).await? != Some(size) {
        state.db.blob_mark_lost(digest).await?;
        return Err(ApiError::unavailable(format!(
            "blob {digest} was removed by garbage collection while it was stored; send it again"
        )));
    }
    Ok(())
}

/// The 404 of a blob the caller may not see or that is not stored (one answer for both).
fn not_stored(d: &Digest) -> ApiError {
    ApiError::not_found(format!("blob {d} not stored"))
}

/// `HEAD`: the recorded size of blob `d`, if `actor` may see it (404 otherwise).
pub async fn size(state: &AppState, actor: &Actor, d: &Digest) -> Result<u64, ApiError> {
    if !visible(state, actor, d).await? {
        return Err(not_stored(d));
    }
    state.db.blob_size(d).await?.ok_or_else(|| not_stored(d))
}

/// What a download answers with.
pub enum Download {
    /// The bytes, streamed through the server; `partial` when a range was asked and is served.
    Bytes {
        /// The stream and the range it covers.
        read: BlobRead,
        /// A `206` rather than a `200`.
        partial: bool,
    },
    /// Direct downloads are on: a short-lived presigned URL of the object.
    Redirect(url::Url),
}

/// Downloads blob `d` for `actor`, honouring a single `Range: bytes=` header value. The caller may
/// see it, and the access audit is written before any byte (or URL) leaves: no record, no download.
/// With direct downloads on, the answer is a presigned URL (the client hashes every byte as always).
pub async fn download(
    state: &AppState,
    actor: &Actor,
    d: &Digest,
    range_header: Option<&str>,
) -> Result<Download, ApiError> {
    if !visible(state, actor, d).await? {
        return Err(not_stored(d));
    }
    serve(state, actor, d, range_header).await
}

/// Serves blob `d` to `actor`, who the caller has checked may read it (through a version it may
/// read, or an artifact of its own): the audit record is written before any byte leaves.
pub async fn serve(
    state: &AppState,
    actor: &Actor,
    d: &Digest,
    range_header: Option<&str>,
) -> Result<Download, ApiError> {
    if state.settings.direct_downloads {
        if state.db.blob_size(d).await?.is_none() {
            return Err(not_stored(d));
        }
        let url = state.blobs.presign_get(d, state.settings.presign_ttl).await?;
        audit::record(state, &actor.id, audit::BLOB_DOWNLOAD, &d.to_string()).await?;
        return Ok(Download::Redirect(url));
    }
    let range = match range_header {
        Some(h) => {
            let Some(size) = state.blobs.size(d).await? else {
                read::blob_object_missing(state, d).await;
                return Err(not_stored(d));
            };
            parse_range(h, size)?
        }
        None => None,
    };
    let partial = range.is_some();
    let read = match state.blobs.get(d, range).await {
        Err(BlobError::NotFound) => {
            read::blob_object_missing(state, d).await;
            return Err(not_stored(d));
        }
        r => r?,
    };
    audit::record(state, &actor.id, audit::BLOB_DOWNLOAD, &d.to_string()).await?;
    Ok(Download::Bytes { read, partial })
}

/// Parses a single `bytes=` range against a blob of `size` bytes. `Ok(None)`: serve it whole (no
/// header, or a form we do not serve such as several ranges, which RFC 9110 lets a server ignore).
pub fn parse_range(h: &str, size: u64) -> Result<Option<Range<u64>>, BlobError> {
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
