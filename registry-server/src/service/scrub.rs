//! The scrubber: re-hashes every stored blob (rate-limited), re-checks every attestation's bytes against
//! its recorded digest and every log entry against its leaf hash in the tree. A mismatch is recorded as a
//! finding, marks every version it touches `corrupted` (with a `version.corrupted` log entry) and shows in
//! the scrub counters. Storage that silently changes under the registry is found within one pass.
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use registry_core::tlog::{entry, leaf_hash};
use registry_core::{Digest, Hasher, ModelRef};
use serde_json::json;
use sqlx::AssertSqlSafe;

use crate::blob::BlobError;
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
}

const PAGE: i64 = 500;

/// One full pass at `rate` bytes per second.
pub async fn pass(state: &AppState, rate: u64, stats: &ScrubStats) -> Result<PassReport, ApiError> {
    let mut report = PassReport::default();
    let started = Instant::now();
    let mut hashed: u64 = 0;
    // Blobs, in digest order.
    let mut after = String::new();
    loop {
        let page: Vec<(String, i64)> =
            sqlx::query_as("SELECT digest, size FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2")
                .bind(&after)
                .bind(PAGE)
                .fetch_all(state.db.pool())
                .await
                .map_err(DbError::from)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (hex, size) in page {
            let d = Digest::from_hex(&hex).map_err(ApiError::internal)?;
            let problem = match state.blobs.get(&d, None).await {
                Err(BlobError::NotFound) => Some("missing from storage".to_owned()),
                Err(e) => Some(format!("unreadable: {e}")),
                Ok(mut read) => {
                    let mut h = Hasher::new();
                    let mut failed = None;
                    while let Some(chunk) = read.stream.next().await {
                        match chunk {
                            Ok(c) => {
                                h.update(&c);
                                hashed += c.len() as u64;
                                stats.bytes.fetch_add(c.len() as u64, Ordering::Relaxed);
                                // Rate limit: never ahead of `rate` bytes per second since the pass began.
                                let due = Duration::from_secs_f64(hashed as f64 / rate as f64);
                                if let Some(wait) = due.checked_sub(started.elapsed()) {
                                    tokio::time::sleep(wait).await;
                                }
                            }
                            Err(e) => {
                                failed = Some(format!("unreadable: {e}"));
                                break;
                            }
                        }
                    }
                    let n = h.len();
                    let actual = h.finalize();
                    failed.or_else(|| {
                        (actual != d || n != size.max(0) as u64)
                            .then(|| format!("stored bytes hash to {actual} ({n} bytes, expected {size})"))
                    })
                }
            };
            report.blobs += 1;
            stats.blobs.fetch_add(1, Ordering::Relaxed);
            if let Some(detail) = problem {
                let versions: Vec<i64> =
                    sqlx::query_scalar("SELECT version_id FROM version_blobs WHERE digest = $1")
                        .bind(&hex)
                        .fetch_all(state.db.pool())
                        .await
                        .map_err(DbError::from)?;
                finding(state, &mut report, stats, "blob", &d.to_string(), &detail, &versions).await?;
            }
        }
    }
    report.bytes = hashed;
    // Attestations: the stored bytes still hash to the recorded digest.
    let mut after = 0i64;
    loop {
        let page: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, version_id, digest, body FROM attestations WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(state.db.pool())
        .await
        .map_err(DbError::from)?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (id, version_id, digest, body) in page {
            report.attestations += 1;
            let actual = Digest::of(body.as_bytes());
            if actual.hex() != digest {
                let detail = format!("bytes hash to {actual}, recorded sha256:{digest}");
                finding(
                    state,
                    &mut report,
                    stats,
                    "attestation",
                    &format!("attestation {id}"),
                    &detail,
                    &[version_id],
                )
                .await?;
            }
        }
    }
    // Log entries: each body still hashes to its leaf in the tree.
    let mut after = -1i64;
    loop {
        let sql = "SELECT e.idx, e.body, n.hash FROM log_entries e LEFT JOIN log_nodes n ON n.level = 0 AND n.idx = e.idx \
                   WHERE e.idx > $1 ORDER BY e.idx LIMIT $2";
        let page: Vec<(i64, String, Option<String>)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(after)
            .bind(PAGE)
            .fetch_all(state.db.pool())
            .await
            .map_err(DbError::from)?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (idx, body, leaf) in page {
            report.log_entries += 1;
            let actual = hex::encode(leaf_hash(body.as_bytes()));
            if leaf.as_deref() != Some(actual.as_str()) {
                // The entry names its subject; a version subject is marked.
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
                let detail = format!(
                    "entry hashes to {actual}, the tree holds {}",
                    leaf.as_deref().unwrap_or("nothing")
                );
                finding(
                    state,
                    &mut report,
                    stats,
                    "log_entry",
                    &format!("log entry {idx}"),
                    &detail,
                    &versions,
                )
                .await?;
            }
        }
    }
    // Aliases: each stored target is the one its newest logged move names (service::scrub_aliases).
    for (target, detail) in crate::service::scrub_aliases::differences(state).await? {
        finding(state, &mut report, stats, "alias", &target, &detail, &[]).await?;
    }
    stats.passes.fetch_add(1, Ordering::Relaxed);
    stats.last_pass_ms.store(now_ms().max(0) as u64, Ordering::Relaxed);
    Ok(report)
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
    let mut tx = state.db.begin_write().await?;
    sqlx::query("INSERT INTO scrub_findings (at, kind, target, detail) VALUES ($1, $2, $3, $4)")
        .bind(now_ms())
        .bind(kind)
        .bind(target)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    for v in rows.iter().filter(|v| v.corrupted == 0) {
        let label = format!("{}/{}@{}", v.namespace, v.name, v.version);
        sqlx::query("UPDATE versions SET corrupted = 1 WHERE id = $1")
            .bind(v.id)
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?;
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
pub async fn run(state: AppState, interval: Duration, rate: u64, stats: std::sync::Arc<ScrubStats>) {
    loop {
        match pass(&state, rate, &stats).await {
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
