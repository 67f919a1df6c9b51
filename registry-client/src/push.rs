//! `push`: walk, hash on every core, and upload each blob the server lacks as soon as its file is
//! hashed (several at once, streamed from disk), then publish the version.
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use registry_core::api::{Metadata, PutVersionRequest, VersionResponse};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName, VersionLabel};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::io::ReaderStream;

use base64::Engine;
use registry_core::attest::keys::SigningKey;
use registry_core::attest::predicates::RunTimes;

use crate::attest::{oms_bundle, provenance_envelope};
use crate::hash::hash_each;
use crate::progress::Progress;
use crate::walk::{LocalFile, walk};
use crate::{Client, ClientError};

/// Tuning of a push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub jobs: usize,
    /// Hashing threads.
    pub hash_threads: usize,
    /// Files at least this large go up through a resumable upload session.
    pub resumable_min: u64,
    /// The manifest digest of each lineage parent (`NS/NAME@REF` as written), already checked by the
    /// caller (the CLI checks them against the transparency log). Without them, a signing push looks
    /// parents up and takes the registry's answer only for the model and reference asked for.
    pub verified_parents: Option<Vec<(String, Digest)>>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            hash_threads: crate::hash::default_threads(),
            resumable_min: resumable_min(),
            verified_parents: None,
        }
    }
}

/// `REGISTRY_RESUMABLE_MIN` (bytes, or with a KiB/MiB/GiB suffix), else [`RESUMABLE_MIN`].
fn resumable_min() -> u64 {
    let Ok(v) = std::env::var("REGISTRY_RESUMABLE_MIN") else { return RESUMABLE_MIN };
    let v = v.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let unit = match v[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return RESUMABLE_MIN,
    };
    v[..digits].parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).unwrap_or(RESUMABLE_MIN)
}

/// What to push: a directory as `model@version`, with its lineage and metadata.
#[derive(Debug, Clone)]
pub struct PushSpec<'a> {
    /// The model directory.
    pub dir: &'a Path,
    /// The model.
    pub model: &'a ModelName,
    /// The version label.
    pub version: &'a VersionLabel,
    /// What it was made from.
    pub lineage: Lineage,
    /// Description and labels.
    pub metadata: Metadata,
    /// Sign SLSA provenance and an OMS model signature with this key.
    pub sign: Option<Signing<'a>>,
    /// Attestations made elsewhere (exact bytes of DSSE envelopes or Sigstore bundles).
    pub attestations: Vec<Vec<u8>>,
}

/// Signing on push.
#[derive(Debug, Clone)]
pub struct Signing<'a> {
    /// The key.
    pub key: &'a SigningKey,
    /// When training ran (SLSA `startedOn`/`finishedOn`).
    pub times: RunTimes,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The version record the server returned.
    pub version: VersionResponse,
    /// False when the identical version already existed.
    pub created: bool,
    /// Files in the manifest.
    pub files: usize,
    /// Bytes in the manifest.
    pub bytes: u64,
    /// Blobs that had to be uploaded.
    pub blobs_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Attestations sent (made here or given).
    pub attestations: usize,
    /// The OpenSSF Model Signing bundle made here, if signing (for `model_signing verify`).
    #[serde(skip)]
    pub oms_bundle: Option<Vec<u8>>,
}

/// Files at least this large go up in a resumable upload session (in parts, several in flight,
/// resumed from the last confirmed part when a push is rerun after a crash or a network cut) unless
/// `REGISTRY_RESUMABLE_MIN` says otherwise. Smaller files stream in one PUT, which is faster today
/// (docs/benchmarks.md): a flaky network is better served by a lower threshold.
pub const RESUMABLE_MIN: u64 = 512 * 1024 * 1024;
/// Parts of one file in flight at once.
const PARTS_IN_FLIGHT: usize = 4;
/// Attempts per part before the push gives up (the session survives for a rerun).
const PART_ATTEMPTS: u32 = 5;
/// How many times one part is sent again when the server asks to wait (429 with Retry-After).
const BUSY_RETRIES: u32 = 300;

async fn upload(
    client: Client,
    digest: Digest,
    file: LocalFile,
    progress: Arc<dyn Progress>,
    resumable_min: u64,
) -> Result<u64, ClientError> {
    let result = if file.size >= resumable_min {
        upload_resumable(&client, digest, &file, &progress).await
    } else {
        let f = tokio::fs::File::open(&file.abs).await.map_err(ClientError::io(&file.abs))?;
        let stream = ReaderStream::with_capacity(f, 256 * 1024)
            .inspect_ok(move |chunk| progress.inc(chunk.len() as u64));
        client.put_blob(&digest, file.size, reqwest::Body::wrap_stream(stream)).await.map(|r| r.size)
    };
    match result {
        Err(ClientError::Api { code, .. }) if code == registry_core::api::codes::DIGEST_MISMATCH => {
            Err(ClientError::Input(format!(
                "{}: contents changed after hashing; is something still writing it?",
                file.abs.display()
            )))
        }
        r => r,
    }
}

/// Uploads a large file in parts through a session; parts the server confirmed earlier (a previous,
/// interrupted run) are not sent again.
async fn upload_resumable(
    client: &Client,
    digest: Digest,
    file: &LocalFile,
    progress: &Arc<dyn Progress>,
) -> Result<u64, ClientError> {
    use futures::StreamExt;
    let s = client.create_upload(&digest, file.size).await?;
    let part_len = |p: u64| s.part_size.min(s.size - p * s.part_size);
    let done: HashSet<u64> = s.confirmed.iter().copied().collect();
    for p in &done {
        progress.inc(part_len(*p));
    }
    let todo: Vec<u64> = (0..s.parts).filter(|p| !done.contains(p)).collect();
    let mut sends = futures::stream::iter(todo)
        .map(|p| {
            let (id, path, len) = (s.id.clone(), file.abs.clone(), part_len(p));
            async move {
                send_part(client, &id, &path, p, p * s.part_size, len).await?;
                progress.inc(len);
                Ok::<_, ClientError>(())
            }
        })
        .buffered(PARTS_IN_FLIGHT);
    while let Some(r) = sends.next().await {
        r?;
    }
    Ok(client.complete_upload(&s.id).await?.size)
}

/// Sends one part, streamed from the file, retrying what a retry can fix (a dropped connection, a
/// store hiccup, a predecessor that has not arrived yet).
async fn send_part(
    client: &Client,
    id: &str,
    path: &Path,
    part: u64,
    offset: u64,
    len: u64,
) -> Result<(), ClientError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let (mut attempt, mut busy) = (0, 0);
    loop {
        attempt += 1;
        let mut f = tokio::fs::File::open(path).await.map_err(ClientError::io(path))?;
        f.seek(std::io::SeekFrom::Start(offset)).await.map_err(ClientError::io(path))?;
        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(f.take(len), 256 * 1024));
        let err = match client.put_upload_part(id, part, len, body).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // The server's memory budget is taken: wait as long as it asks (not a failed attempt).
        if let Some(wait) = err.retry_after()
            && busy < BUSY_RETRIES
        {
            busy += 1;
            attempt -= 1;
            tokio::time::sleep(wait.min(std::time::Duration::from_secs(60))).await;
            continue;
        }
        let retryable = match &err {
            ClientError::Transport(_) => true,
            // A full store discarded the session: sending again cannot help until space is freed.
            ClientError::Api { code, .. } if code == registry_core::api::codes::STORAGE_FULL => false,
            ClientError::Api { status, code, .. } => {
                *status >= 500 || code == registry_core::api::codes::PART_OUT_OF_ORDER
            }
            _ => false,
        };
        if !retryable || attempt >= PART_ATTEMPTS {
            return Err(err);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
    }
}

/// Uploads run as tasks bounded by a semaphore; the first failure is reported.
struct Uploads {
    set: JoinSet<Result<u64, ClientError>>,
    permits: Arc<Semaphore>,
    scheduled: HashSet<Digest>,
    sizes: Vec<u64>,
    resumable_min: u64,
}

impl Uploads {
    fn spawn(&mut self, client: &Client, digest: Digest, file: LocalFile, progress: &Arc<dyn Progress>) {
        let (client, progress, permits) = (client.clone(), progress.clone(), self.permits.clone());
        let resumable_min = self.resumable_min;
        self.set.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| ClientError::Input(e.to_string()))?;
            upload(client, digest, file, progress, resumable_min).await
        });
    }

    /// Collects finished uploads without waiting; an error ends the push early.
    fn reap(&mut self) -> Result<(), ClientError> {
        while let Some(r) = self.set.try_join_next() {
            self.sizes.push(r.map_err(|e| ClientError::Input(format!("upload task failed: {e}")))??);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<u64>, ClientError> {
        while let Some(r) = self.set.join_next().await {
            self.sizes.push(r.map_err(|e| ClientError::Input(format!("upload task failed: {e}")))??);
        }
        Ok(self.sizes)
    }
}

/// Hashes the walked files and uploads what the server lacks, overlapping the two: each batch of
/// freshly hashed files is checked with one `blobs:check` call and its missing blobs start uploading
/// while later files are still being hashed.
async fn hash_and_upload(
    client: &Client,
    files: &[LocalFile],
    progress: &Arc<dyn Progress>,
    opts: &PushOptions,
) -> Result<(Vec<Digest>, Vec<u64>), ClientError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Digest)>();
    let hasher = {
        let (files, progress, threads) = (files.to_vec(), progress.clone(), opts.hash_threads);
        tokio::task::spawn_blocking(move || {
            hash_each(&files, progress.as_ref(), threads, &|i, d| {
                let _ = tx.send((i, d));
            })
        })
    };
    let mut digests: Vec<Option<Digest>> = vec![None; files.len()];
    let mut up = Uploads {
        set: JoinSet::new(),
        permits: Arc::new(Semaphore::new(opts.jobs.max(1))),
        scheduled: HashSet::new(),
        sizes: Vec::new(),
        resumable_min: opts.resumable_min,
    };
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(x) = rx.try_recv() {
            batch.push(x);
        }
        let mut fresh = Vec::new();
        for (i, d) in batch {
            digests[i] = Some(d);
            if up.scheduled.insert(d) {
                fresh.push((i, d));
            } else {
                progress.inc(files[i].size); // shares a blob already handled
            }
        }
        let wanted: Vec<Digest> = fresh.iter().map(|(_, d)| *d).collect();
        let missing: HashSet<Digest> = client.missing_blobs(&wanted).await?.into_iter().collect();
        for (i, d) in fresh {
            if missing.contains(&d) {
                up.spawn(client, d, files[i].clone(), progress);
            } else {
                progress.inc(files[i].size); // already on the server
            }
        }
        up.reap()?;
    }
    hasher.await.map_err(|e| ClientError::Input(format!("hashing failed: {e}")))??;
    let sizes = up.finish().await?;
    let digests = digests
        .into_iter()
        .map(|d| d.ok_or_else(|| ClientError::Input("a file was not hashed".into())))
        .collect::<Result<_, _>>()?;
    Ok((digests, sizes))
}

/// What [`abort_uploads`] discarded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AbortReport {
    /// Upload sessions discarded.
    pub sessions: usize,
    /// Bytes their confirmed parts held on the server.
    pub bytes: u64,
}

/// Discards the caller's unfinished upload sessions for the files of `dir` (e.g. after a push that
/// failed on a full store): their staged parts free their space, and the next push sends those files
/// from the start. Only files of a size some session has are hashed.
pub async fn abort_uploads(
    client: &Client,
    dir: &Path,
    opts: &PushOptions,
) -> Result<AbortReport, ClientError> {
    let live = client.list_uploads().await?.uploads;
    let mut report = AbortReport::default();
    if live.is_empty() {
        return Ok(report);
    }
    let sizes: HashSet<u64> = live.iter().map(|u| u.size).collect();
    let files: Vec<LocalFile> = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || walk(&dir))
            .await
            .map_err(|e| ClientError::Input(e.to_string()))??
    };
    let files: Vec<LocalFile> = files.into_iter().filter(|f| sizes.contains(&f.size)).collect();
    let ours = {
        let threads = opts.hash_threads;
        tokio::task::spawn_blocking(move || {
            let found = std::sync::Mutex::new(HashSet::new());
            hash_each(&files, &crate::progress::NoProgress, threads, &|i, d| {
                if let Ok(mut f) = found.lock() {
                    f.insert((d, files[i].size));
                }
            })?;
            Ok::<_, ClientError>(found.into_inner().unwrap_or_default())
        })
        .await
        .map_err(|e| ClientError::Input(e.to_string()))??
    };
    for u in live.iter().filter(|u| ours.contains(&(u.digest, u.size))) {
        client.abort_upload(&u.id).await?;
        report.sessions += 1;
        report.bytes += u.confirmed.iter().map(|p| u.part_size.min(u.size - p * u.part_size)).sum::<u64>();
    }
    Ok(report)
}

/// Pushes `spec.dir` as `spec.model@spec.version`.
pub async fn push(
    client: &Client,
    spec: PushSpec<'_>,
    progress: Arc<dyn Progress>,
    opts: &PushOptions,
) -> Result<PushReport, ClientError> {
    let PushSpec { dir, model, version, lineage, metadata, sign, attestations: mut evidence } = spec;
    lineage.validate().map_err(|e| ClientError::Input(e.to_string()))?;
    let files = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || walk(&dir))
            .await
            .map_err(|e| ClientError::Input(e.to_string()))??
    };
    if files.is_empty() {
        return Err(ClientError::Input(format!("{} holds no files", dir.display())));
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    progress.start("pushing", 2 * total); // every byte is hashed once and uploaded at most once
    let (digests, sizes) = hash_and_upload(client, &files, &progress, opts).await?;
    progress.finish();
    let entries = files
        .iter()
        .zip(&digests)
        .map(|(f, d)| FileEntry { path: f.path.clone(), size: f.size, digest: *d })
        .collect();
    let manifest = Manifest::new(entries).map_err(|e| ClientError::Input(e.to_string()))?;
    let mut oms = None;
    if let Some(s) = &sign {
        // Provenance pins parents by the manifest digest they resolve to now.
        let parents = match &opts.verified_parents {
            Some(p) => p.clone(),
            None => {
                let mut parents = Vec::new();
                for p in &lineage.parents {
                    let v = client.get_version(&p.model, &p.reference.to_string()).await?;
                    let same_model = v.namespace == p.model.namespace() && v.name == p.model.name();
                    let same_digest = match &p.reference {
                        registry_core::Reference::Digest(d) => *d == v.manifest_digest,
                        registry_core::Reference::Label(_) => true,
                    };
                    if !same_model || !same_digest {
                        return Err(ClientError::Verify(format!(
                            "parent {p}: the registry answered {}/{}@{} ({})",
                            v.namespace, v.name, v.version, v.manifest_digest
                        )));
                    }
                    parents.push((p.to_string(), v.manifest_digest));
                }
                parents
            }
        };
        let prov =
            provenance_envelope(s.key, model, version.as_str(), &manifest, &lineage, &parents, &s.times);
        let bundle = oms_bundle(s.key, model, &manifest);
        evidence.splice(0..0, [prov, bundle.clone()]);
        oms = Some(bundle);
    }
    let attestations =
        evidence.iter().map(|raw| base64::engine::general_purpose::STANDARD.encode(raw)).collect();
    let req = PutVersionRequest { manifest: manifest.clone(), lineage, metadata, attestations };
    let (v, created) = client.put_version(model, version.as_str(), &req).await?;
    if v.manifest_digest != manifest.digest() {
        return Err(ClientError::Verify(format!(
            "server recorded manifest {} but we pushed {}",
            v.manifest_digest,
            manifest.digest()
        )));
    }
    // The OCI digest /v2 serves is recomputed here, not taken on the server's word. A server that
    // names none (one older than /v2, or a version too large for it) claims nothing to check; the
    // digest this client signed as a provenance subject stays the one /v2 must serve.
    let oci = crate::attest::oci_digest(model, &v.version, &manifest);
    if v.oci_manifest_digest.is_some() && v.oci_manifest_digest != oci {
        return Err(ClientError::Verify(format!(
            "server recorded OCI manifest {:?} but {model}@{} gives {:?}",
            v.oci_manifest_digest.map(|d| d.to_string()),
            v.version,
            oci.map(|d| d.to_string())
        )));
    }
    Ok(PushReport {
        version: v,
        created,
        files: manifest.files().len(),
        bytes: manifest.total_size(),
        blobs_uploaded: sizes.len(),
        bytes_uploaded: sizes.iter().sum(),
        attestations: evidence.len(),
        oms_bundle: oms,
    })
}

/// [`push`] as `registry push` runs it: a signing push takes each lineage parent's manifest digest from
/// its audit bundle checked against the pinned log, and after the push the version is read back through
/// the pinned log, which must hold exactly what was pushed (this model and label, this manifest, this
/// lineage and metadata). A failed check is [`ClientError::Verify`]. The notes say what could not be
/// checked (a credential that cannot read the model back).
pub async fn push_logged(
    client: &Client,
    spec: PushSpec<'_>,
    progress: Arc<dyn Progress>,
    opts: &PushOptions,
) -> Result<(PushReport, Vec<String>), ClientError> {
    let mut opts = opts.clone();
    if spec.sign.is_some() {
        opts.verified_parents = Some(parents_from_log(client, &spec.lineage).await?);
    }
    let sent = (canon(&spec.lineage)?, canon(&spec.metadata)?);
    let (model, version) = (spec.model.clone(), spec.version.clone());
    let r = push(client, spec, progress, &opts).await?;
    let notes = read_back(client, &model, &version, &r.version.manifest_digest, &sent).await?;
    Ok((r, notes))
}

/// Canonical-JSON digest of lineage or metadata (what the read-back compares).
fn canon<T: Serialize>(value: &T) -> Result<Digest, ClientError> {
    registry_core::canonical::digest(value).map_err(|e| ClientError::Input(e.to_string()))
}

/// Each lineage parent's manifest digest, from its audit bundle checked against the pinned log and
/// bound to the parent reference as written.
async fn parents_from_log(client: &Client, lineage: &Lineage) -> Result<Vec<(String, Digest)>, ClientError> {
    let mut parents = Vec::new();
    for p in &lineage.parents {
        let expect = crate::tlog::Expect::default();
        let c = crate::tlog::check_version(client, &p.model, &p.reference.to_string(), &expect, None).await?;
        if !c.report.ok() {
            let mut msg = format!("parent {p} does not check out against the log");
            for f in c.report.findings.iter().filter(|f| !f.ok) {
                msg.push_str(&format!("\n✗ {}", f.what));
            }
            return Err(ClientError::Verify(msg));
        }
        parents.push((p.to_string(), c.audit_bundle.version.manifest_digest));
    }
    Ok(parents)
}

/// Reads the version back through the pinned log: the log must hold exactly what was pushed, not
/// merely some version.
async fn read_back(
    client: &Client,
    model: &ModelName,
    version: &VersionLabel,
    manifest: &Digest,
    sent: &(Digest, Digest),
) -> Result<Vec<String>, ClientError> {
    let expect = crate::tlog::Expect::default();
    let c = match crate::tlog::check_version(client, model, version.as_str(), &expect, None).await {
        Ok(c) => c,
        Err(ClientError::Api { status: 403 | 404, .. }) => {
            return Ok(vec![format!(
                "this credential cannot read {model}, so the log entry was not checked"
            )]);
        }
        Err(e) => return Err(e),
    };
    let logged = &c.audit_bundle.version;
    let mut bad: Vec<String> = c.report.findings.iter().filter(|f| !f.ok).map(|f| f.what.clone()).collect();
    if logged.manifest_digest != *manifest {
        bad.push(format!("the log holds manifest {}, not the one pushed", logged.manifest_digest));
    }
    let back = (canon(&logged.lineage)?, canon(&logged.metadata)?);
    if back != *sent {
        bad.push("the log holds other lineage or metadata than was pushed".into());
    }
    if bad.is_empty() {
        return Ok(Vec::new());
    }
    let mut msg = format!("{model}@{version} was pushed but the log does not show it as pushed");
    for f in &bad {
        msg.push_str(&format!("\n✗ {f}"));
    }
    Err(ClientError::Verify(msg))
}
