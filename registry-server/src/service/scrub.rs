//! The scrubber: re-hashes every stored blob (rate-limited), re-checks every attestation's bytes against
//! its recorded digest and every log entry against its leaf hash in the tree. A mismatch is recorded as a
//! finding, marks every version it touches `corrupted` (with a `version.corrupted` log entry) and shows in
//! the scrub counters. Storage that silently changes under the registry is found within one pass.
//!
//! Only evidence is a finding: bytes that hash wrong, or the store's definite "not found". A store that
//! fails or does not answer is retried and then reported as an error of the pass, never as damage. A
//! version marked corrupted that a full pass finds intact again (its bytes restored or uploaded anew) is
//! cleared, with a `version.cleared` log entry: the mark is evidence, so lifting it is recorded too.
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use registry_core::tlog::{entry, leaf_hash};
use registry_core::{Digest, Hasher, ModelRef};
use serde_json::json;

use crate::blob::BlobError;
use crate::db::scrub::{AttestationBytesRow, LogLeafRow};
use crate::db::{DbError, now_ms};
use crate::error::ApiError;
use crate::service::log;
use crate::state::AppState;

/// Running totals, for `/metrics` and logs.
#[derive(Debug, Default)]
pub struct ScrubStats {
    /// Passes completed.
    pub passes: AtomicU64,
    /// Blobs re-hashed.
    pub blobs: AtomicU64,
    /// Bytes re-hashed.
    pub bytes: AtomicU64,
    /// Mismatches found.
    pub findings: AtomicU64,
    /// Blobs that could not be checked (the store failed or did not answer).
    pub errors: AtomicU64,
    /// When the last pass ended (unix ms).
    pub last_pass_ms: AtomicU64,
}

/// What one pass found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PassReport {
    /// Blobs checked.
    pub blobs: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Attestations checked.
    pub attestations: u64,
    /// Log entries checked.
    pub log_entries: u64,
    /// Findings: `(kind, target, detail)`.
    pub findings: Vec<(String, String, String)>,
    /// Versions newly marked corrupted.
    pub corrupted_versions: Vec<String>,
    /// Blobs that could not be checked: `(target, cause)`. Not findings; nothing is marked for them.
    pub errors: Vec<(String, String)>,
    /// Versions whose corrupted mark this pass lifted (found intact again).
    pub cleared_versions: Vec<String>,
}

const PAGE: i64 = 500;
/// Attestation and log rows per read: each page is one burst of database and hashing work, kept short
/// so the requests beside it hardly wait (`pub`: the alias replay reads the same way).
pub const ROW_PAGE: i64 = 100;
/// Reads of one blob before its failure counts as an error of the pass.
const ATTEMPTS: u32 = 3;
/// Blobs in a row that cannot be read before the pass gives up (the store is down).
const MAX_UNREADABLE_IN_A_ROW: u32 = 20;

/// The outcome of checking one blob.
enum BlobCheck {
    /// The bytes hash to the digest.
    Whole,
    /// Evidence: the bytes hash wrong, or the store says the object does not exist.
    Bad(String),
    /// No verdict: the store failed or did not answer.
    Unreadable(String),
}

/// How fast a pass may read. Both are bounds the pass never exceeds, whatever the registry holds,
/// so the scrubber's share of the machine is what the operator set: before rows were paced, a pass
/// over 10M log entries ran flat out and doubled every foreground request's latency while it ran
/// (docs/benchmarks.md has the measurements that chose the default row rate).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Blob bytes re-hashed per second.
    pub bytes: u64,
    /// Attestation, log entry and alias-move rows re-checked per second.
    pub rows: u64,
}

impl Rates {
    /// No bound (tests; operators set the rates, also for `registry-server scrub`).
    pub const UNLIMITED: Self = Self { bytes: u64::MAX, rows: u64::MAX };
}

/// A rate limiter: never ahead of `rate` units per second since it began.
pub struct Pace {
    rate: u64,
    started: Instant,
    spent: u64,
}

impl Pace {
    /// A pace of `rate` units per second, starting now.
    pub fn new(rate: u64) -> Self {
        Self { rate: rate.max(1), started: Instant::now(), spent: 0 }
    }

    /// Accounts for `n` units read, then waits until the pass is back within its rate.
    pub async fn spend(&mut self, n: u64) {
        self.spent = self.spent.saturating_add(n);
        let due = Duration::from_secs_f64(self.spent as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Reads and hashes one blob once: `Ok(None)` whole, `Ok(Some(why))` evidence of damage, `Err` no verdict.
async fn read_once(
    state: &AppState,
    d: &Digest,
    size: u64,
    pace: &mut Pace,
    stats: &ScrubStats,
) -> Result<Option<String>, String> {
    let mut read = match state.blobs.get(d, None).await {
        Err(BlobError::NotFound) => return Ok(Some("missing from storage".to_owned())),
        Err(e) => return Err(format!("unreadable: {e}")),
        Ok(r) => r,
    };
    let mut h = Hasher::new();
    while let Some(chunk) = read.stream.next().await {
        let c = chunk.map_err(|e| format!("unreadable: {e}"))?;
        h.update(&c);
        stats.bytes.fetch_add(c.len() as u64, Ordering::Relaxed);
        pace.spend(c.len() as u64).await;
    }
    let n = h.len();
    let actual = h.finalize();
    Ok((actual != *d || n != size)
        .then(|| format!("stored bytes hash to {actual} ({n} bytes, expected {size})")))
}

/// Checks one blob, retrying reads that got no verdict.
async fn check_blob(
    state: &AppState,
    d: &Digest,
    size: u64,
    pace: &mut Pace,
    stats: &ScrubStats,
) -> BlobCheck {
    let mut wait = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match read_once(state, d, size, pace, stats).await {
            Ok(None) => return BlobCheck::Whole,
            Ok(Some(why)) => return BlobCheck::Bad(why),
            Err(why) if attempt >= ATTEMPTS => return BlobCheck::Unreadable(why),
            Err(_) => {}
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
        attempt += 1;
    }
}

/// What the blob part of a pass leaves for the end of the pass.
#[derive(Default)]
struct Seen {
    /// Versions a finding touched in this pass.
    touched: HashSet<i64>,
    /// Blobs that got no verdict.
    unreadable: HashSet<String>,
}

/// One full pass within `rates`.
pub async fn pass(state: &AppState, rates: Rates, stats: &ScrubStats) -> Result<PassReport, ApiError> {
    let mut report = PassReport::default();
    let mut seen = Seen::default();
    let mut bytes = Pace::new(rates.bytes);
    check_blobs(state, &mut report, stats, &mut seen, &mut bytes).await?;
    report.bytes = bytes.spent;
    let mut rows = Pace::new(rates.rows);
    check_attestations(state, &mut report, stats, &mut seen, &mut rows).await?;
    check_log_entries(state, &mut report, stats, &mut seen, &mut rows).await?;
    // Aliases: each stored target is the one its newest logged move names (service::scrub_aliases).
    for (target, detail) in crate::service::scrub_aliases::differences(state, &mut rows).await? {
        finding(state, &mut report, stats, "alias", &target, &detail, &[]).await?;
    }
    clear_intact(state, &mut report, &seen).await?;
    stats.passes.fetch_add(1, Ordering::Relaxed);
    stats.last_pass_ms.store(now_ms().max(0) as u64, Ordering::Relaxed);
    Ok(report)
}

/// Blobs, in digest order: each object re-read and hashed at `pace`. A bad object marks its row lost
/// (the next push of those bytes heals it) and its versions corrupted; a read that fails is an error,
/// not a finding, and too many in a row abandon the pass.
async fn check_blobs(
    state: &AppState,
    report: &mut PassReport,
    stats: &ScrubStats,
    seen: &mut Seen,
    pace: &mut Pace,
) -> Result<(), ApiError> {
    let mut after = String::new();
    let mut unreadable_in_a_row = 0;
    loop {
        let page = state.db.blob_rows_after(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.digest.hex();
        for row in page {
            let d = row.digest;
            report.blobs += 1;
            stats.blobs.fetch_add(1, Ordering::Relaxed);
            match check_blob(state, &d, row.size, pace, stats).await {
                BlobCheck::Whole => {
                    unreadable_in_a_row = 0;
                    if row.lost {
                        state.db.blob_mark_found(&d).await?;
                    }
                }
                BlobCheck::Bad(_) if state.db.blob_size(&d).await?.is_none() => {
                    // Garbage collection removed the blob (row first, then object) while we read it.
                    unreadable_in_a_row = 0;
                }
                BlobCheck::Bad(detail) => {
                    unreadable_in_a_row = 0;
                    // Not present to pushes any more: the next push of these bytes heals the blob.
                    state.db.blob_mark_lost(&d).await?;
                    let versions = state.db.versions_with_blob(&d).await?;
                    seen.touched.extend(&versions);
                    finding(state, report, stats, "blob", &d.to_string(), &detail, &versions).await?;
                }
                BlobCheck::Unreadable(cause) => {
                    tracing::warn!(digest = %d, cause = %cause, "scrub: a blob could not be checked");
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    report.errors.push((d.to_string(), cause.clone()));
                    seen.unreadable.insert(d.hex());
                    unreadable_in_a_row += 1;
                    if unreadable_in_a_row >= MAX_UNREADABLE_IN_A_ROW {
                        return Err(ApiError::unavailable(format!(
                            "the blob store failed {unreadable_in_a_row} reads in a row; pass abandoned: {cause}"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Attestations: the stored bytes still hash to the recorded digest.
async fn check_attestations(
    state: &AppState,
    report: &mut PassReport,
    stats: &ScrubStats,
    seen: &mut Seen,
    pace: &mut Pace,
) -> Result<(), ApiError> {
    let mut after = 0i64;
    loop {
        let page = state.db.attestation_bytes_after(after, ROW_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        pace.spend(page.len() as u64).await;
        for AttestationBytesRow { id, version_id, digest, body } in page {
            report.attestations += 1;
            let actual = Digest::of(body.as_bytes());
            if actual.hex() != digest {
                let detail = format!("bytes hash to {actual}, recorded sha256:{digest}");
                seen.touched.insert(version_id);
                let what = format!("attestation {id}");
                finding(state, report, stats, "attestation", &what, &detail, &[version_id]).await?;
            }
        }
    }
    Ok(())
}

/// Log entries: each body still hashes to its leaf in the tree; a version the entry names is marked.
async fn check_log_entries(
    state: &AppState,
    report: &mut PassReport,
    stats: &ScrubStats,
    seen: &mut Seen,
    pace: &mut Pace,
) -> Result<(), ApiError> {
    let mut after = -1i64;
    loop {
        let page = state.db.log_leaves_after(after, ROW_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.idx;
        pace.spend(page.len() as u64).await;
        for LogLeafRow { idx, body, hash: leaf } in page {
            report.log_entries += 1;
            let actual = hex::encode(leaf_hash(body.as_bytes()));
            if leaf.as_deref() == Some(actual.as_str()) {
                continue;
            }
            let versions = match registry_core::tlog::entry::LogEntry::parse(body.as_bytes())
                .ok()
                .and_then(|e| ModelRef::parse(&e.subject).ok())
            {
                Some(r) => crate::service::read::resolve(state, &r.model, &r.reference)
                    .await
                    .map(|v| vec![v.id])
                    .unwrap_or_default(),
                None => vec![],
            };
            seen.touched.extend(&versions);
            let detail =
                format!("entry hashes to {actual}, the tree holds {}", leaf.as_deref().unwrap_or("nothing"));
            finding(state, report, stats, "log_entry", &format!("log entry {idx}"), &detail, &versions)
                .await?;
        }
    }
    Ok(())
}

/// Lifts the corrupted mark of versions this full pass found intact: no finding touched them and
/// every blob they name was read and hashed right. Each lift is a `version.cleared` log entry.
async fn clear_intact(state: &AppState, report: &mut PassReport, seen: &Seen) -> Result<(), ApiError> {
    for id in state.db.versions_corrupted().await? {
        if seen.touched.contains(&id) {
            continue;
        }
        let blobs = state.db.version_blob_digests(id).await?;
        if blobs.iter().any(|d| seen.unreadable.contains(d)) {
            continue;
        }
        let Some(v) = state.db.versions_by_ids(&[id]).await?.into_iter().next() else { continue };
        let label = format!("{}/{}@{}", v.namespace, v.name, v.version);
        let mut tx = state.db.begin_logged().await?;
        if !crate::db::scrub::clear_corrupted(&mut tx, id).await? {
            continue;
        }
        let e = log::entry(
            entry::VERSION_CLEARED,
            &label,
            "scrubber",
            &[("detail", json!("a full scrub pass found its blobs, attestations and log entries intact"))],
        );
        crate::db::log::append(&mut tx, &e).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(version = %label, "scrub: a version marked corrupted is intact again; mark cleared");
        report.cleared_versions.push(label);
    }
    Ok(())
}

/// Records a finding; marks each version not yet marked, with a log entry.
async fn finding(
    state: &AppState,
    report: &mut PassReport,
    stats: &ScrubStats,
    kind: &str,
    target: &str,
    detail: &str,
    versions: &[i64],
) -> Result<(), ApiError> {
    tracing::error!(kind, target, detail, "scrub finding");
    stats.findings.fetch_add(1, Ordering::Relaxed);
    report.findings.push((kind.into(), target.into(), detail.into()));
    let ids: BTreeSet<i64> = versions.iter().copied().collect();
    let rows = state.db.versions_by_ids(&ids.into_iter().collect::<Vec<_>>()).await?;
    let mut tx = state.db.begin_logged().await?;
    crate::db::scrub::insert_finding(&mut tx, now_ms(), kind, target, detail).await?;
    for v in rows.iter().filter(|v| v.corrupted == 0) {
        let label = format!("{}/{}@{}", v.namespace, v.name, v.version);
        crate::db::scrub::mark_corrupted(&mut tx, v.id).await?;
        let e = log::entry(
            entry::VERSION_CORRUPTED,
            &label,
            "scrubber",
            &[("kind", json!(kind)), ("target", json!(target)), ("detail", json!(detail))],
        );
        crate::db::log::append(&mut tx, &e).await?;
        report.corrupted_versions.push(label);
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// Runs passes forever: one, then `interval` of rest, and so on.
pub async fn run(state: AppState, interval: Duration, rates: Rates, stats: std::sync::Arc<ScrubStats>) {
    loop {
        match pass(&state, rates, &stats).await {
            Ok(r) => tracing::info!(
                blobs = r.blobs,
                bytes = r.bytes,
                attestations = r.attestations,
                log_entries = r.log_entries,
                findings = r.findings.len(),
                "scrub pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "scrub pass failed; retrying after the interval"),
        }
        tokio::time::sleep(interval).await;
    }
}
