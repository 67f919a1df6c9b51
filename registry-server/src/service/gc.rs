//! Garbage collection: removes blobs no version references, upload sessions nobody finished, and
//! objects the database does not know — each only after a grace period.
//!
//! Safety against an in-flight push: a push touches every blob it is about to reference (`blobs:check`,
//! uploads), and GC only takes blobs nobody touched within the grace period. Beyond that, GC deletes in
//! a transaction holding the same lock a version write takes first, with the candidate rows locked,
//! and deletes the objects before the rows: a publish either commits before GC looks (the blob is
//! referenced, so kept) or re-checks its blobs after GC committed (finds them gone: `missing_blobs`,
//! and the client uploads again). A touch that waits on GC's lock finds no row and stores the bytes
//! again; an upload that raced GC re-checks its object after recording it (`push::record_blob`).
use std::time::Duration;

use registry_core::Digest;
use serde::Serialize;

use crate::db::{Backend, DbError, now_ms, uploads};
use crate::error::ApiError;
use crate::state::AppState;

/// Blobs removed per transaction (GC holds the write lock while it deletes their objects).
const BATCH: i64 = 64;
/// Objects with no row are removed only when at least this old, whatever the grace period: an upload
/// writes its object a moment before its row, and nothing else tells that moment from an orphan.
pub const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);

/// What a pass removed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    /// Unreferenced blobs removed.
    pub blobs_removed: u64,
    /// Their bytes.
    pub bytes_reclaimed: u64,
    /// Expired upload sessions discarded.
    pub uploads_expired: u64,
    /// Objects in the store that no blob row named (e.g. left by a crash), removed.
    pub orphans_removed: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Seconds the pass took.
    pub seconds: f64,
}

fn ago(d: Duration) -> i64 {
    now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One pass: removes blobs nobody touched for `grace`, and objects without a row older than
/// `orphan_age` (use at least [`ORPHAN_MIN_AGE`] on a live registry).
pub async fn pass(state: &AppState, grace: Duration, orphan_age: Duration) -> Result<GcReport, ApiError> {
    let started = std::time::Instant::now();
    let mut r = GcReport::default();
    let cutoff = ago(grace);
    let orphan_cutoff = ago(orphan_age);
    // Abandoned upload sessions (their expiry is the grace period).
    loop {
        let expired = state.db.uploads_expired(now_ms(), BATCH).await?;
        if expired.is_empty() {
            break;
        }
        for s in expired {
            let d = Digest::from_hex(&s.digest).map_err(ApiError::internal)?;
            state.blobs.session_abort(&d, &s.id, &s.store_upload_id).await?;
            state.db.upload_delete(&s.id).await?;
            r.uploads_expired += 1;
        }
    }
    // Proofs of possession older than the upload expiry prove nothing any more (service::blobs).
    let proof_age = i64::try_from(state.settings.upload_expiry.as_millis()).unwrap_or(i64::MAX);
    state.db.blob_uploads_expire(now_ms().saturating_sub(proof_age)).await?;
    // Unreferenced blobs, in batches, each under the write lock.
    let postgres = state.db.backend() == Backend::Postgres;
    loop {
        let mut tx = state.db.begin_write().await?;
        let batch = uploads::gc_candidates(&mut tx, postgres, cutoff, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for (d, _) in &batch {
            state.blobs.delete(d).await?;
        }
        let digests: Vec<Digest> = batch.iter().map(|(d, _)| *d).collect();
        uploads::gc_delete(&mut tx, &digests).await?;
        tx.commit().await.map_err(DbError::from)?;
        r.blobs_removed += batch.len() as u64;
        r.bytes_reclaimed += batch.iter().map(|(_, n)| n).sum::<u64>();
    }
    // Objects without a row, old enough that no upload in flight can be about to record them.
    let listed = state.blobs.list().await?;
    for chunk in listed.chunks(500) {
        let digests: Vec<Digest> = chunk.iter().map(|(d, _, _)| *d).collect();
        let known = state.db.blob_sizes(&digests).await?;
        for (d, size, modified) in chunk {
            if !known.contains_key(d) && *modified < orphan_cutoff {
                state.blobs.delete(d).await?;
                r.orphans_removed += 1;
                r.orphan_bytes += size;
            }
        }
    }
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

/// Runs passes forever, `interval` apart.
pub async fn run(state: AppState, interval: Duration, grace: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match pass(&state, grace, grace.max(ORPHAN_MIN_AGE)).await {
            Ok(r) => tracing::info!(
                blobs_removed = r.blobs_removed,
                bytes_reclaimed = r.bytes_reclaimed,
                uploads_expired = r.uploads_expired,
                orphans_removed = r.orphans_removed,
                "gc pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "gc pass failed; retrying after the interval"),
        }
    }
}
