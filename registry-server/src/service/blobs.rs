//! Who may see and use which blob: one rule for every route that checks, serves or references bytes.
//!
//! A blob is *visible* to a credential that covers some model whose versions reference it. It is
//! *usable* in a new version by a caller that can see it or that uploaded it itself within the upload
//! expiry (proof of possession). Everything else answers exactly as a blob that is not stored, so
//! deduplication never tells a caller what other namespaces hold, or how big it is.
use std::collections::{HashMap, HashSet};

use registry_core::Digest;

use crate::auth::Actor;
use crate::db::blobs::BlobViewer;
use crate::db::now_ms;
use crate::error::ApiError;
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
