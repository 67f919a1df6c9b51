//! `pull`: fetch a version's manifest (checked against its digest), download every blob in parallel
//! into a staging directory beside the target, hashing while writing, then rename (or, with `--force`,
//! swap) it into place. Any mismatch deletes everything written and names the file; the target is
//! touched only once the whole tree is verified (see [`crate::place`]).
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use registry_core::api::VersionResponse;
use registry_core::{Digest, Hasher, Manifest, ModelName};
use serde::Serialize;

use crate::place::{Staging, Target, check_target, is_empty_dir};
use crate::progress::Progress;
use crate::{Client, ClientError};

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// The version pulled.
    pub version: VersionResponse,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Where.
    pub dir: PathBuf,
}

/// Downloads one blob to `dest`, hashing as it writes; fails naming `path` on any mismatch.
async fn download(
    client: &Client,
    digest: Digest,
    size: u64,
    dest: PathBuf,
    path: String,
    progress: Arc<dyn Progress>,
) -> Result<(), ClientError> {
    let resp = client.get_blob(&digest, 0).await?;
    let mut stream = resp.bytes_stream();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let writer = {
        let dest = dest.clone();
        tokio::task::spawn_blocking(move || -> Result<(Digest, u64), ClientError> {
            let mut f = std::fs::File::create(&dest).map_err(ClientError::io(&dest))?;
            let mut h = Hasher::new();
            while let Some(chunk) = rx.blocking_recv() {
                h.update(&chunk);
                f.write_all(&chunk).map_err(ClientError::io(&dest))?;
                progress.inc(chunk.len() as u64);
            }
            let n = h.len();
            Ok((h.finalize(), n))
        })
    };
    let mut over = false;
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        received += chunk.len() as u64;
        if received > size {
            over = true;
            break;
        }
        if tx.send(chunk).await.is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(tx);
    let (got, n) = writer.await.map_err(|e| ClientError::Input(format!("writer failed: {e}")))??;
    if over || n != size || got != digest {
        return Err(ClientError::Verify(format!(
            "{path}: downloaded bytes do not match the manifest (expected {digest}, {size} bytes; got {}{} bytes)",
            if over { String::new() } else { format!("{got}, ") },
            if over { format!("more than {size}") } else { n.to_string() }
        )));
    }
    Ok(())
}

/// Pulls `model@reference` into `out`. A non-empty `out` is refused unless `force`, which replaces it
/// (only once the new tree is complete). The record the registry returns must be the model asked for,
/// and for `@sha256:` the manifest asked for; a label is taken as the server resolves it (a version or
/// an alias) — the CLI binds labels and aliases to the transparency log first and then calls
/// [`pull_manifest`] with exactly what it checked.
pub async fn pull(
    client: &Client,
    model: &ModelName,
    reference: &str,
    out: &Path,
    force: bool,
    progress: Arc<dyn Progress>,
    jobs: usize,
) -> Result<PullReport, ClientError> {
    let target = check_target(out)?;
    let v = client.get_version(model, reference).await?;
    if v.namespace != model.namespace() || v.name != model.name() {
        return Err(ClientError::Verify(format!(
            "asked for {model}, the registry answered {}/{}",
            v.namespace, v.name
        )));
    }
    if let Ok(d) = Digest::parse(reference)
        && d != v.manifest_digest
    {
        return Err(ClientError::Verify(format!(
            "asked for manifest {d}, server answered {}",
            v.manifest_digest
        )));
    }
    let manifest: Manifest = client.get_manifest(&v).await?;
    fill(client, v, &manifest, &target, force, progress, jobs).await
}

/// Pulls exactly `version` with `manifest` (both already verified by the caller, e.g. against the log)
/// into `out`: no second lookup, so what is written and reported is the version that was checked.
pub async fn pull_manifest(
    client: &Client,
    version: VersionResponse,
    manifest: &Manifest,
    out: &Path,
    force: bool,
    progress: Arc<dyn Progress>,
    jobs: usize,
) -> Result<PullReport, ClientError> {
    if manifest.digest() != version.manifest_digest {
        return Err(ClientError::Verify(format!(
            "the manifest given hashes to {}, not to the version's {}",
            manifest.digest(),
            version.manifest_digest
        )));
    }
    let target = check_target(out)?;
    fill(client, version, manifest, &target, force, progress, jobs).await
}

async fn fill(
    client: &Client,
    v: VersionResponse,
    manifest: &Manifest,
    target: &Target,
    force: bool,
    progress: Arc<dyn Progress>,
    jobs: usize,
) -> Result<PullReport, ClientError> {
    let out = target.path.as_path();
    if out.exists() && !force && !is_empty_dir(out)? {
        return Err(ClientError::Input(format!(
            "{} is not empty (use --force to replace it)",
            out.display()
        )));
    }
    let staging = Staging::new(target)?;
    let tmp_path = staging.path().to_path_buf();

    // Every directory first (paths were validated by Manifest: relative, no `..`), then one download
    // per distinct blob; files sharing a blob are copied locally afterwards.
    for f in manifest.files() {
        if let Some((dir, _)) = f.path.rsplit_once('/') {
            let d = tmp_path.join(dir);
            std::fs::create_dir_all(&d).map_err(ClientError::io(&d))?;
        }
    }
    let mut first: HashMap<Digest, &str> = HashMap::new();
    let mut copies: Vec<(&str, &str)> = Vec::new();
    for f in manifest.files() {
        match first.get(&f.digest) {
            Some(src) => copies.push((src, &f.path)),
            None => {
                first.insert(f.digest, &f.path);
            }
        }
    }
    let unique: Vec<&registry_core::FileEntry> =
        manifest.files().iter().filter(|f| first.get(&f.digest) == Some(&f.path.as_str())).collect();
    progress.start("downloading", unique.iter().map(|f| f.size).sum());
    // Spawned tasks (not a borrowed stream of futures) keep this future `Send`, so callers can spawn it.
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for f in unique {
        let (client, progress, permits) = (client.clone(), progress.clone(), permits.clone());
        let (digest, size, dest, path) = (f.digest, f.size, tmp_path.join(&f.path), f.path.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| ClientError::Input(e.to_string()))?;
            download(&client, digest, size, dest, path, progress).await
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| ClientError::Input(format!("download task failed: {e}")))??;
    }
    progress.finish();
    for (src, dst) in copies {
        let (s, d) = (tmp_path.join(src), tmp_path.join(dst));
        std::fs::copy(&s, &d).map_err(ClientError::io(&d))?;
    }
    // Every byte is in and verified: only now is anything at the target replaced.
    staging.place(target, force)?;
    Ok(PullReport {
        files: manifest.files().len(),
        bytes: manifest.total_size(),
        dir: out.to_path_buf(),
        version: v,
    })
}

/// How [`pull_verified`] checks and writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions<'a> {
    /// Keys, required predicates and tolerance of unsigned files the version must meet.
    pub expect: crate::tlog::Expect<'a>,
    /// Replace a non-empty output directory (only once the new tree is complete and verified).
    pub force: bool,
    /// Pull even a quarantined version (forensics).
    pub allow_quarantined: bool,
    /// Also return the version's OpenSSF Model Signing bundle (an error if it has none).
    pub signature: bool,
    /// Blobs downloaded at once.
    pub jobs: usize,
}

/// What [`pull_verified`] did.
#[derive(Debug, Clone)]
pub struct VerifiedPull {
    /// The pull itself.
    pub report: PullReport,
    /// When the log recorded the version.
    pub logged_at: Option<String>,
    /// The OpenSSF Model Signing bundle the log records for the version (asked with `signature`).
    pub signature: Option<String>,
    /// The log key (vkey text) when this run pinned it for the first time (trust on first use).
    pub first_use: Option<String>,
    /// Warnings to show the user (quarantined version pulled anyway, files no attestation covers).
    pub warnings: Vec<String>,
}

/// `registry pull`: the version is checked against the pinned log first, bound to what was asked (the
/// model, the label or manifest digest, or the alias's newest logged move) and to `opts.expect`, and
/// then exactly that version's manifest is downloaded into `out` (no second lookup). Nothing is written
/// unless every check passes; a failed check is [`ClientError::Verify`].
pub async fn pull_verified(
    client: &Client,
    model: &ModelName,
    reference: &str,
    out: &Path,
    opts: &PullOptions<'_>,
    progress: Arc<dyn Progress>,
) -> Result<VerifiedPull, ClientError> {
    // Before any request: a target that is or contains the current directory is refused.
    check_target(out)?;
    let c = crate::tlog::check_version(client, model, reference, &opts.expect, None).await?;
    let first_use = c.log.first_use.then(|| c.log.key.to_vkey());
    if !c.report.ok() {
        let mut msg = format!("{model}@{reference} does not check out; nothing was written");
        for f in c.report.findings.iter().filter(|f| !f.ok) {
            msg.push_str(&format!("\n✗ {}", f.what));
        }
        return Err(ClientError::Verify(msg));
    }
    let version = c.record();
    let label = format!("{model}@{}", version.version);
    let mut warnings = Vec::new();
    if version.corrupted {
        return Err(ClientError::Verify(format!(
            "{label}: the registry's scrubber found its stored bytes, an attestation or a log entry altered; nothing was written"
        )));
    }
    if version.quarantined {
        if !opts.allow_quarantined {
            return Err(ClientError::Verify(format!(
                "{label} is quarantined; nothing was written (--allow-quarantined for forensics)"
            )));
        }
        warnings.push(format!("{label} is QUARANTINED (pulling for forensics)"));
    }
    if !c.report.uncovered.is_empty() {
        warnings.push(format!(
            "no verified attestation covers {} (written because of --allow-unsigned-files)",
            c.report.uncovered.join(", ")
        ));
    }
    let manifest = c
        .report
        .manifest
        .clone()
        .ok_or_else(|| ClientError::Protocol("the bundle has no manifest".into()))?;
    // The model signature, if asked: the exact bytes the log records for this version.
    let signature = match opts.signature {
        false => None,
        true => Some(
            model_signature(&c.audit_bundle)
                .ok_or_else(|| ClientError::Input(format!("{label} has no OpenSSF Model Signing bundle")))?,
        ),
    };
    let report = pull_manifest(client, version, &manifest, out, opts.force, progress, opts.jobs).await?;
    Ok(VerifiedPull { report, logged_at: c.report.facts.logged_at.clone(), signature, first_use, warnings })
}

/// The OpenSSF Model Signing bundle among the attestations an audit bundle records for its version.
pub fn model_signature(bundle: &registry_core::audit_bundle::AuditBundle) -> Option<String> {
    bundle
        .attestations
        .iter()
        .find(|b| {
            registry_core::attest::parse(b.body.as_bytes()).is_ok_and(|p| {
                p.format == registry_core::attest::Format::SigstoreBundle
                    && p.statement.predicate_type == registry_core::attest::predicates::OMS_V1
            })
        })
        .map(|b| b.body.clone())
}
