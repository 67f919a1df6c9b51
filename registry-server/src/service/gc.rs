//! Garbage collection: removes blobs no version references, upload sessions nobody finished (or
//! nobody touched for a while), and objects the database does not know — each only after a grace
//! period — and marks rows whose objects turned out missing so the next push heals them.
//!
//! Order, so that a pass stopped anywhere (a crash, an I/O error, a store that stops answering) never
//! leaves a row naming a missing object: under the write lock GC deletes the rows and writes a claim
//! on each digest (`db::gc`), commits, and only then deletes the objects, outside any transaction, each
//! call bounded by the store timeout. While a claim stands no row is recorded for its digest, so an
//! upload racing the delete is told to send again rather than acknowledged; a claim is released when
//! its delete returned, and a dead collector's claims are taken over after their lease. A publish
//! re-checks its blobs under the same lock (`push::insert_version`), so it either commits before GC
//! looks (the blob is referenced, so kept) or finds the rows gone (`missing_blobs`, and the client
//! uploads again). A push touches every blob it is about to reference; GC only takes untouched ones.
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use registry_core::Digest;
use serde::Serialize;

use crate::blob::{BlobError, key};
use crate::db::{DbError, now_ms};
use crate::state::AppState;

/// Blobs claimed per transaction.
const BATCH: i64 = 64;
/// Causes kept in a report.
const MAX_ERRORS: usize = 20;
/// Objects with no row are removed only when at least this old, whatever the grace period: an upload
/// writes its object a moment before its row, and nothing else tells that moment from an orphan.
pub const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);
/// Upload sessions that saw no part for this long are discarded, whatever their expiry.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(3600);
/// How long a claim protects a delete in flight; older claims belong to a collector that died.
pub const LEASE: Duration = Duration::from_secs(600);

/// What a pass does.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Blobs touched within this are kept.
    pub grace: Duration,
    /// Objects without a row younger than this are kept (use at least [`ORPHAN_MIN_AGE`] live).
    pub orphan_age: Duration,
    /// Upload sessions idle this long are discarded.
    pub upload_idle: Duration,
    /// Claim lease (at least three store timeouts).
    pub lease: Duration,
}

impl GcOptions {
    /// The defaults with this grace period and orphan age.
    pub fn new(grace: Duration, orphan_age: Duration) -> Self {
        Self { grace, orphan_age, upload_idle: UPLOAD_IDLE, lease: LEASE }
    }
}

/// What a pass removed, and what it could not.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    /// Unreferenced blobs removed.
    pub blobs_removed: u64,
    /// Their bytes.
    pub bytes_reclaimed: u64,
    /// Expired or idle upload sessions discarded.
    pub uploads_expired: u64,
    /// Objects in the store that no blob row named (e.g. left by a crash), and staging files of
    /// upload sessions that no longer exist, removed.
    pub orphans_removed: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Blob rows whose object is missing from the store or of another size, marked lost (the next
    /// push of those bytes uploads them again).
    pub lost_found: u64,
    /// Claims of a collector that died, taken over and finished.
    pub claims_recovered: u64,
    /// Deletes the store refused (their rows are gone; the objects stay as orphans for a later pass).
    pub failures: u64,
    /// The first causes of those failures.
    pub errors: Vec<String>,
    /// Seconds the pass took.
    pub seconds: f64,
}

impl GcReport {
    fn fail(&mut self, cause: String) {
        tracing::warn!(cause = %cause, "gc: a delete failed");
        self.failures += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(cause);
        }
    }
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The object store failed or stopped answering.
    #[error("{what}: {source}")]
    Store {
        /// What GC was doing.
        what: String,
        /// The store's answer.
        source: BlobError,
    },
    /// Deletes were so slow the claims' lease ran out; the rest is left to a later pass.
    #[error("the object store is too slow: {0} delete(s) left for a later pass")]
    Slow(usize),
}

fn ago(d: Duration) -> i64 {
    now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One pass with the default options: removes blobs nobody touched for `grace`, and objects
/// without a row older than `orphan_age` (use at least [`ORPHAN_MIN_AGE`] on a live registry).
pub async fn pass(state: &AppState, grace: Duration, orphan_age: Duration) -> Result<GcReport, GcError> {
    pass_with(state, &GcOptions::new(grace, orphan_age)).await
}

/// One pass.
pub async fn pass_with(state: &AppState, opts: &GcOptions) -> Result<GcReport, GcError> {
    let started = Instant::now();
    let mut r = GcReport::default();
    let c = Collector {
        state,
        owner: uuid::Uuid::new_v4().to_string(),
        lease: opts.lease.max(state.blobs.timeout() * 3),
    };
    c.recover_claims(&mut r).await?;
    c.expire_uploads(ago(opts.upload_idle), &mut r).await?;
    // Proofs of possession older than the upload expiry prove nothing any more (service::blobs).
    let proof_age = i64::try_from(state.settings.upload_expiry.as_millis()).unwrap_or(i64::MAX);
    state.db.blob_uploads_expire(now_ms().saturating_sub(proof_age)).await?;
    c.collect_unreferenced(ago(opts.grace), &mut r).await?;
    c.sweep_store(ago(opts.orphan_age), &mut r).await?;
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

struct Collector<'a> {
    state: &'a AppState,
    owner: String,
    lease: Duration,
}

impl Collector<'_> {
    /// Deletes the objects of digests this collector claimed at `claimed`; returns those deleted.
    /// A refused delete is reported and its claim released (no row names the object: it is an
    /// orphan now); a timeout stops the pass with its claims standing, as a delete may still land.
    async fn delete_claimed(
        &self,
        digests: &[Digest],
        claimed: Instant,
        r: &mut GcReport,
    ) -> Result<HashSet<Digest>, GcError> {
        let mut deleted = HashSet::new();
        for (i, d) in digests.iter().enumerate() {
            // Every delete must end well inside the lease (each is bounded by the store timeout).
            if claimed.elapsed() > self.lease / 2 {
                return Err(GcError::Slow(digests.len() - i));
            }
            match self.state.blobs.delete(d).await {
                Ok(()) => {
                    deleted.insert(*d);
                }
                Err(e @ BlobError::Timeout { .. }) => {
                    return Err(GcError::Store { what: format!("deleting {}", key(d)), source: e });
                }
                Err(e) => r.fail(format!("deleting {}: {e}", key(d))),
            }
            self.state.db.gc_release(d, &self.owner).await?;
        }
        Ok(deleted)
    }

    /// Finishes the deletes of collectors that died holding claims.
    async fn recover_claims(&self, r: &mut GcReport) -> Result<(), GcError> {
        let stale_before = ago(self.lease);
        loop {
            let now = now_ms();
            let stale = self.state.db.gc_take_stale_claims(stale_before, &self.owner, now, BATCH).await?;
            if stale.is_empty() {
                return Ok(());
            }
            r.claims_recovered += stale.len() as u64;
            self.delete_claimed(&stale, Instant::now(), r).await?;
        }
    }

    /// Discards upload sessions that expired or idled since `idle_before`.
    async fn expire_uploads(&self, idle_before: i64, r: &mut GcReport) -> Result<(), GcError> {
        let mut refused = HashSet::new();
        loop {
            let batch = self.state.db.uploads_expired(now_ms(), idle_before, BATCH).await?;
            if batch.iter().all(|s| refused.contains(&s.id)) {
                return Ok(());
            }
            for s in batch {
                if refused.contains(&s.id) {
                    continue;
                }
                let d = Digest::from_hex(&s.digest)
                    .map_err(|e| DbError::Corrupt(format!("upload_sessions.digest: {e}")))?;
                match self.state.blobs.session_abort(&d, &s.id, &s.store_upload_id).await {
                    Ok(()) => {
                        self.state.db.upload_delete(&s.id).await?;
                        r.uploads_expired += 1;
                    }
                    Err(e @ BlobError::Timeout { .. }) => {
                        return Err(GcError::Store {
                            what: format!("discarding upload {}", s.id),
                            source: e,
                        });
                    }
                    Err(e) => {
                        r.fail(format!("discarding upload {}: {e}", s.id));
                        refused.insert(s.id);
                    }
                }
            }
        }
    }

    /// Removes blobs no version references and nobody touched since `cutoff`: rows first, then objects.
    async fn collect_unreferenced(&self, cutoff: i64, r: &mut GcReport) -> Result<(), GcError> {
        loop {
            let claimed = Instant::now();
            let batch =
                crate::db::gc::claim_unreferenced(&self.state.db, cutoff, BATCH, &self.owner, now_ms())
                    .await?;
            if batch.is_empty() {
                return Ok(());
            }
            r.blobs_removed += batch.len() as u64;
            r.bytes_reclaimed += batch.iter().map(|(_, n)| n).sum::<u64>();
            let digests: Vec<Digest> = batch.iter().map(|(d, _)| *d).collect();
            self.delete_claimed(&digests, claimed, r).await?;
        }
    }

    /// Lists the store: removes objects no row names (older than `orphan_cutoff`), and marks rows
    /// whose object is missing or of another size.
    async fn sweep_store(&self, orphan_cutoff: i64, r: &mut GcReport) -> Result<(), GcError> {
        let listed_at = now_ms();
        let listed = self
            .state
            .blobs
            .list()
            .await
            .map_err(|e| GcError::Store { what: "listing the object store".into(), source: e })?;
        let old: Vec<(Digest, u64)> = listed
            .iter()
            .filter(|(_, _, modified)| *modified < orphan_cutoff)
            .map(|(d, n, _)| (*d, *n))
            .collect();
        for chunk in old.chunks(500) {
            let digests: Vec<Digest> = chunk.iter().map(|(d, _)| *d).collect();
            let claimed_at = Instant::now();
            let claimed = self.state.db.gc_claim_orphans(&digests, &self.owner, now_ms()).await?;
            let deleted = self.delete_claimed(&claimed, claimed_at, r).await?;
            for (d, n) in chunk.iter().filter(|(d, _)| deleted.contains(d)) {
                tracing::info!(digest = %d, bytes = n, "gc: removed an object no row names");
                r.orphans_removed += 1;
                r.orphan_bytes += n;
            }
        }
        let sizes: HashMap<Digest, u64> = listed.into_iter().map(|(d, n, _)| (d, n)).collect();
        self.mark_lost(&sizes, listed_at, r).await?;
        self.sweep_staging(orphan_cutoff, r).await
    }

    /// Removes staging files no session names (a crash between a session's file and its row), older
    /// than `orphan_cutoff`: nothing else would ever free their space.
    async fn sweep_staging(&self, orphan_cutoff: i64, r: &mut GcReport) -> Result<(), GcError> {
        let files = self
            .state
            .blobs
            .list_staging()
            .await
            .map_err(|e| GcError::Store { what: "listing upload staging files".into(), source: e })?;
        for (session, bytes, _) in files.into_iter().filter(|(_, _, m)| *m < orphan_cutoff) {
            if self.state.db.upload_get(&session).await?.is_some() {
                continue;
            }
            match self.state.blobs.remove_staging(&session).await {
                Ok(()) => {
                    tracing::info!(
                        session,
                        bytes,
                        "gc: removed the staging file of an upload session that does not exist"
                    );
                    r.orphans_removed += 1;
                    r.orphan_bytes += bytes;
                }
                Err(e) => r.fail(format!("removing staging file of {session}: {e}")),
            }
        }
        Ok(())
    }

    /// Marks rows recorded before the listing began whose object it did not show whole.
    async fn mark_lost(
        &self,
        listed: &HashMap<Digest, u64>,
        listed_at: i64,
        r: &mut GcReport,
    ) -> Result<(), GcError> {
        let mut after = String::new();
        loop {
            let page = self.state.db.blob_rows_after(&after, 1000).await?;
            let Some(last) = page.last() else { return Ok(()) };
            after = last.digest.hex();
            for row in page.iter().filter(|b| !b.lost && b.stored_at < listed_at) {
                let found = listed.get(&row.digest).copied();
                if found != Some(row.size)
                    && self.state.db.blob_mark_lost_listed(&row.digest, listed_at).await?
                {
                    tracing::warn!(
                        digest = %row.digest, recorded = row.size, found = ?found,
                        "gc: a blob's object is missing or of another size; marked lost until uploaded again"
                    );
                    r.lost_found += 1;
                }
            }
        }
    }
}

/// Runs passes forever, `interval` apart.
pub async fn run(state: AppState, interval: Duration, opts: GcOptions) {
    loop {
        tokio::time::sleep(interval).await;
        match pass_with(&state, &opts).await {
            Ok(r) => tracing::info!(
                blobs_removed = r.blobs_removed,
                bytes_reclaimed = r.bytes_reclaimed,
                uploads_expired = r.uploads_expired,
                orphans_removed = r.orphans_removed,
                lost_found = r.lost_found,
                failures = r.failures,
                "gc pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "gc pass stopped; retrying after the interval"),
        }
    }
}
