//! Checking a directory against a manifest: missing, extra and changed files.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use registry_core::Manifest;
use serde::Serialize;

use crate::ClientError;
use crate::hash::hash_files;
use crate::progress::Progress;
use crate::walk::{LocalFile, walk};

/// What a directory holds compared with a manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DirReport {
    /// Files that match.
    pub ok: usize,
    /// In the manifest, not in the directory.
    pub missing: Vec<String>,
    /// In the directory, not in the manifest.
    pub extra: Vec<String>,
    /// In both, with other contents.
    pub changed: Vec<String>,
}

impl DirReport {
    /// True when the directory is exactly the manifest.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// Re-hashes `dir` and compares it with `manifest`.
pub fn verify_dir(
    dir: &Path,
    manifest: &Manifest,
    progress: Arc<dyn Progress>,
    threads: usize,
) -> Result<DirReport, ClientError> {
    let local = walk(dir)?;
    let mut by_path: HashMap<&str, &LocalFile> = local.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut report = DirReport::default();
    let mut to_hash: Vec<(LocalFile, registry_core::Digest)> = Vec::new();
    for f in manifest.files() {
        match by_path.remove(f.path.as_str()) {
            None => report.missing.push(f.path.clone()),
            Some(l) if l.size != f.size => report.changed.push(f.path.clone()),
            Some(l) => to_hash.push((l.clone(), f.digest)),
        }
    }
    report.extra = by_path.into_keys().map(str::to_owned).collect();
    report.extra.sort();
    let files: Vec<LocalFile> = to_hash.iter().map(|(l, _)| l.clone()).collect();
    let digests = hash_files(&files, progress, threads)?;
    for ((l, want), got) in to_hash.iter().zip(digests) {
        if got == *want {
            report.ok += 1;
        } else {
            report.changed.push(l.path.clone());
        }
    }
    Ok(report)
}

/// The verdict of `registry verify` (and the SDK's `verify`): every check made, bound to one version.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `NS/NAME@VERSION` as the log has it.
    pub version: String,
    /// Its manifest digest.
    pub manifest_digest: registry_core::Digest,
    /// True when no check failed.
    pub ok: bool,
    /// Every check, passed or failed, in order.
    pub checks: Vec<registry_core::audit_bundle::Finding>,
    /// The log key (vkey text) when this run pinned it for the first time (trust on first use).
    #[serde(skip)]
    pub first_use: Option<String>,
}

impl Verdict {
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &registry_core::audit_bundle::Finding> {
        self.checks.iter().filter(|f| !f.ok)
    }
}

/// What a verification asks beyond the log: the directory to compare, and what is tolerated.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions<'a> {
    /// Re-hash this directory and compare it with the manifest.
    pub dir: Option<&'a Path>,
    /// A quarantined version is reported but does not fail.
    pub allow_quarantined: bool,
    /// Hashing threads.
    pub threads: usize,
}

/// Finishes a verification from an audit bundle's offline report: the log's corruption and quarantine
/// facts, then `opts.dir` against the manifest. Shared by the online check and `verify --offline`.
pub async fn conclude(
    bundle: &registry_core::audit_bundle::AuditBundle,
    report: registry_core::audit_bundle::OfflineReport,
    opts: &VerifyOptions<'_>,
    progress: Arc<dyn Progress>,
) -> Result<Verdict, ClientError> {
    use registry_core::audit_bundle::Finding;
    let mut findings = report.findings;
    if report.facts.corrupted {
        findings.push(Finding {
            ok: false,
            what: "the registry's scrubber found this version's stored bytes, an attestation or a log entry altered".into(),
        });
    }
    if report.facts.quarantined {
        findings.push(Finding {
            ok: opts.allow_quarantined,
            what: "the version is QUARANTINED (see `registry quarantine --list`)".into(),
        });
    }
    if let (Some(dir), Some(manifest)) = (opts.dir, report.manifest) {
        let manifest_files = manifest.files().len();
        let threads = if opts.threads == 0 { crate::hash::default_threads() } else { opts.threads };
        let owned = dir.to_path_buf();
        let r = tokio::task::spawn_blocking(move || verify_dir(&owned, &manifest, progress, threads))
            .await
            .map_err(|e| ClientError::Input(format!("hashing task failed: {e}")))??;
        findings.push(Finding {
            ok: r.is_clean(),
            what: format!("files: {} of {} match in {}", r.ok, manifest_files, dir.display()),
        });
        findings.extend(r.missing.iter().map(|p| Finding { ok: false, what: format!("missing: {p}") }));
        findings.extend(r.changed.iter().map(|p| Finding { ok: false, what: format!("changed: {p}") }));
        findings.extend(r.extra.iter().map(|p| Finding { ok: false, what: format!("extra:   {p}") }));
    }
    let v = &bundle.version;
    Ok(Verdict {
        version: format!("{}/{}@{}", v.namespace, v.name, v.version),
        manifest_digest: v.manifest_digest,
        ok: findings.iter().all(|f| f.ok),
        checks: findings,
        first_use: None,
    })
}

/// Verifies `model@reference` against the pinned transparency log (see [`crate::tlog::check_version`]),
/// then the log's facts and `opts.dir`, as `registry verify` does. A failed check is in the verdict, not
/// an error: the caller decides (the CLI exits 3, the SDK raises).
pub async fn verify_version(
    client: &crate::Client,
    model: &registry_core::ModelName,
    reference: &str,
    expect: &crate::tlog::Expect<'_>,
    log_key: Option<&registry_core::tlog::note::NoteVerifier>,
    opts: &VerifyOptions<'_>,
    progress: Arc<dyn Progress>,
) -> Result<Verdict, ClientError> {
    let c = crate::tlog::check_version(client, model, reference, expect, log_key).await?;
    let mut verdict = conclude(&c.audit_bundle, c.report, opts, progress).await?;
    verdict.first_use = c.log.first_use.then(|| c.log.key.to_vkey());
    Ok(verdict)
}
