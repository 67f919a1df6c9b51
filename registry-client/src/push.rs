//! `push`: walk, hash in parallel, ask which blobs are missing, upload only those (several at once,
//! streamed), then publish the version.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use registry_core::api::{Metadata, PutVersionRequest, VersionResponse};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName, VersionLabel};
use serde::Serialize;
use tokio_util::io::ReaderStream;

use crate::hash::hash_files;
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
}

impl Default for PushOptions {
    fn default() -> Self {
        Self { jobs: 4, hash_threads: crate::hash::default_threads() }
    }
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
}

/// Builds the manifest of a directory (walk + parallel hash).
pub async fn manifest_of(
    dir: &Path,
    progress: Arc<dyn Progress>,
    threads: usize,
) -> Result<(Manifest, Vec<LocalFile>), ClientError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let files = walk(&dir)?;
        if files.is_empty() {
            return Err(ClientError::Input(format!("{} holds no files", dir.display())));
        }
        let digests = hash_files(&files, progress, threads)?;
        let entries = files
            .iter()
            .zip(&digests)
            .map(|(f, d)| FileEntry { path: f.path.clone(), size: f.size, digest: *d })
            .collect();
        let manifest = Manifest::new(entries).map_err(|e| ClientError::Input(e.to_string()))?;
        Ok((manifest, files))
    })
    .await
    .map_err(|e| ClientError::Input(format!("hashing failed: {e}")))?
}

async fn upload(
    client: &Client,
    digest: Digest,
    file: &LocalFile,
    progress: &Arc<dyn Progress>,
) -> Result<u64, ClientError> {
    let f = tokio::fs::File::open(&file.abs).await.map_err(ClientError::io(&file.abs))?;
    let p = progress.clone();
    let stream =
        ReaderStream::with_capacity(f, 256 * 1024).inspect_ok(move |chunk| p.inc(chunk.len() as u64));
    match client.put_blob(&digest, file.size, reqwest::Body::wrap_stream(stream)).await {
        Ok(r) => Ok(r.size),
        Err(ClientError::Api { code, .. }) if code == registry_core::api::codes::DIGEST_MISMATCH => {
            Err(ClientError::Input(format!(
                "{}: contents changed after hashing; is something still writing it?",
                file.abs.display()
            )))
        }
        Err(e) => Err(e),
    }
}

/// Pushes `spec.dir` as `spec.model@spec.version`.
pub async fn push(
    client: &Client,
    spec: PushSpec<'_>,
    progress: Arc<dyn Progress>,
    opts: &PushOptions,
) -> Result<PushReport, ClientError> {
    let PushSpec { dir, model, version, lineage, metadata } = spec;
    lineage.validate().map_err(|e| ClientError::Input(e.to_string()))?;
    let (manifest, files) = manifest_of(dir, progress.clone(), opts.hash_threads).await?;
    let by_digest: HashMap<Digest, &LocalFile> =
        manifest.files().iter().zip(&files).map(|(e, f)| (e.digest, f)).collect();
    let missing = client.missing_blobs(&manifest.blob_digests()).await?;
    let upload_bytes: u64 = missing.iter().filter_map(|d| by_digest.get(d)).map(|f| f.size).sum();
    progress.start("uploading", upload_bytes);
    let uploaded: Vec<u64> = futures::stream::iter(missing.iter().map(|d| {
        let f = by_digest[d];
        upload(client, *d, f, &progress)
    }))
    .buffer_unordered(opts.jobs.max(1))
    .try_collect()
    .await?;
    progress.finish();
    let req = PutVersionRequest { manifest: manifest.clone(), lineage, metadata };
    let (v, created) = client.put_version(model, version.as_str(), &req).await?;
    if v.manifest_digest != manifest.digest() {
        return Err(ClientError::Verify(format!(
            "server recorded manifest {} but we pushed {}",
            v.manifest_digest,
            manifest.digest()
        )));
    }
    Ok(PushReport {
        version: v,
        created,
        files: manifest.files().len(),
        bytes: manifest.total_size(),
        blobs_uploaded: uploaded.len(),
        bytes_uploaded: uploaded.iter().sum(),
    })
}
