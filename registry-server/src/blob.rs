//! Blob storage: content-addressed bytes in an object store (local directory, S3-compatible, GCS,
//! Azure, memory).
//!
//! Invariant: an object exists under `sha256/<hex>` only if its bytes hash to `<hex>`. Uploads stream
//! into a multipart upload at the final key and are completed only after the digest and size check;
//! otherwise they are aborted, so a wrong or partial blob is never visible under a digest key. A
//! resumable upload session (see `service::uploads`) writes its parts into the same kind of pending
//! multipart upload (a staging file on a local directory) and completes it only once the parts,
//! hashed in order, give the digest. Nothing is ever copied server-side, so no 5 GB copy limit applies.
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};
use registry_core::{Digest, Hasher};

/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight per upload on a remote store; memory is about `(1 + in flight) * PART_SIZE` per upload.
const REMOTE_PARTS_IN_FLIGHT: usize = 2;
/// A local disk gains nothing from parallel writes into one file: one part writes while the next fills.
const LOCAL_PARTS_IN_FLIGHT: usize = 1;
/// Read size when streaming a local file out.
const READ_CHUNK: usize = 256 * 1024;
/// Default bound on one store call (a request with its retries, a part, a chunk of a read), so a
/// paused or unreachable store turns into an error instead of a caller waiting forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body hashed to another digest.
    #[error("body hashes to {actual} ({size} bytes), not to the digest in the URL")]
    Mismatch {
        /// What the body hashed to.
        actual: Digest,
        /// How many bytes arrived.
        size: u64,
    },
    /// The body is over the size limit.
    #[error("blob is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The client's body stream failed (disconnect, bad framing).
    #[error("upload body failed: {0}")]
    Body(String),
    /// No such blob.
    #[error("blob not found")]
    NotFound,
    /// The range starts beyond the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    Range {
        /// The blob's size.
        size: u64,
    },
    /// The URL names no supported store.
    #[error(
        "unsupported blobs url {0:?}: use file:///PATH, a plain directory path, s3://BUCKET[/PREFIX], \
         gs://BUCKET[/PREFIX], az://CONTAINER[/PREFIX] or memory://"
    )]
    Url(String),
    /// The store cannot do what was asked (e.g. presign on a local directory).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The object store did not answer in time.
    #[error("object store did not answer {op} within {after:?}")]
    Timeout {
        /// What was asked.
        op: &'static str,
        /// The bound.
        after: Duration,
    },
}

impl BlobError {
    /// Whether the store said a definite "not found" (as opposed to failing to answer).
    pub fn is_not_found(&self) -> bool {
        matches!(self, BlobError::NotFound | BlobError::Store(object_store::Error::NotFound { .. }))
    }

    /// Whether the store is out of space (ENOSPC or a quota), anywhere in the cause chain.
    pub fn is_storage_full(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && (matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
                    || io.raw_os_error() == Some(28))
            {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// A blob being read: its total size, the byte range served, and the bytes.
pub struct BlobRead {
    /// Total size of the blob.
    pub size: u64,
    /// The range this stream covers.
    pub range: Range<u64>,
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
}

/// The blob store. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Low-level multipart uploads (remote stores and memory), for resumable upload sessions.
    multipart: Option<Arc<dyn MultipartStore>>,
    /// Presigned URLs (remote stores), for direct downloads.
    signer: Option<Arc<dyn Signer>>,
    local_root: Option<PathBuf>,
    description: String,
    /// Bound on each store call.
    timeout: Duration,
}

/// Parts of a remote store behind one prefix: the object, multipart and signing views.
fn remote<T>(store: T, prefix: &str) -> (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>, Arc<dyn Signer>)
where
    T: ObjectStore + MultipartStore + Signer,
{
    let p = Arc::new(PrefixStore::new(store, prefix));
    (p.clone(), p.clone(), p)
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// The object key of a blob.
pub fn key(d: &Digest) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}", d.hex()))
}

impl BlobStore {
    /// Opens the store named by `url`: `file:///abs/dir`, a plain directory path, `memory://`, or
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` configured by the
    /// standard environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, keys...) and
    /// then `options` (object_store configuration keys such as `aws_endpoint`, from the config file).
    pub fn from_url_with(url: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        if url == "memory://" || url == "memory:" {
            let m = Arc::new(InMemory::new());
            return Ok(Self {
                store: m.clone(),
                multipart: Some(m),
                signer: None,
                local_root: None,
                description: "memory://".into(),
                timeout: DEFAULT_TIMEOUT,
            });
        }
        if let Some((scheme @ ("s3" | "gs" | "az"), rest)) = url.split_once("://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            if bucket.is_empty() {
                return Err(BlobError::Url(url.into()));
            }
            let bucket_url = format!("{scheme}://{bucket}");
            let bad_option = |k: &str| BlobError::Url(format!("{url}: unknown store option {k:?}"));
            let (store, multipart, signer) = match scheme {
                "s3" => {
                    let mut b = AmazonS3Builder::from_env().with_url(&bucket_url);
                    for (k, v) in options {
                        b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                    }
                    remote(b.build()?, prefix)
                }
                "gs" => {
                    let mut b = GoogleCloudStorageBuilder::from_env().with_url(&bucket_url);
                    for (k, v) in options {
                        b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                    }
                    remote(b.build()?, prefix)
                }
                _ => {
                    let mut b = MicrosoftAzureBuilder::from_env().with_url(&bucket_url);
                    for (k, v) in options {
                        b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                    }
                    remote(b.build()?, prefix)
                }
            };
            return Ok(Self {
                store,
                multipart: Some(multipart),
                signer: Some(signer),
                local_root: None,
                description: format!("{bucket_url}/{prefix}"),
                timeout: DEFAULT_TIMEOUT,
            });
        }
        let dir = match url.split_once("://") {
            Some(("file", rest)) => {
                let u = url::Url::parse(url).map_err(|_| BlobError::Url(url.into()))?;
                if !rest.starts_with('/') {
                    return Err(BlobError::Url(url.into()));
                }
                u.to_file_path().map_err(|_| BlobError::Url(url.into()))?
            }
            Some(_) => return Err(BlobError::Url(url.into())),
            None => PathBuf::from(url),
        };
        std::fs::create_dir_all(&dir).map_err(|e| BlobError::Url(format!("{url}: {e}")))?;
        let dir = dir.canonicalize().map_err(|e| BlobError::Url(format!("{url}: {e}")))?;
        // fsync: an acknowledged upload survives a power cut, as the database row pointing at it does.
        let store = LocalFileSystem::new_with_prefix(&dir)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            multipart: None,
            signer: None,
            description: format!("file://{}", dir.display()),
            local_root: Some(dir),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// [`BlobStore::from_url_with`] without extra options.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        Self::from_url_with(url, &[])
    }

    /// The same store with every call bounded by `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The bound on one store call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one store call within the timeout.
    async fn bounded<T, E>(
        &self,
        op: &'static str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, BlobError>
    where
        BlobError: From<E>,
    {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(BlobError::from),
            Err(_) => Err(BlobError::Timeout { op, after: self.timeout }),
        }
    }

    /// Whether downloads can be handed out as presigned URLs.
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    /// A presigned GET URL for the blob, valid for `expires_in`.
    pub async fn presign_get(&self, d: &Digest, expires_in: Duration) -> Result<url::Url, BlobError> {
        let signer = self.signer.as_ref().ok_or(BlobError::Unsupported("this store cannot presign URLs"))?;
        self.bounded("presign", signer.signed_url(http::Method::GET, &key(d), expires_in)).await
    }

    /// Deletes a blob's object (a missing one is not an error).
    pub async fn delete(&self, d: &Digest) -> Result<(), BlobError> {
        match self.bounded("delete", self.store.delete(&key(d))).await {
            Ok(()) | Err(BlobError::Store(object_store::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts the pending upload of a session's parts; returns the store's upload id (empty for a
    /// local directory, whose staging file is named after the session).
    pub async fn session_begin(&self, d: &Digest, session: &str) -> Result<String, BlobError> {
        if let Some(mp) = &self.multipart {
            return self.bounded("create multipart upload", mp.create_multipart(&key(d))).await;
        }
        let path = self.staging_file(session)?;
        self.blocking("create staging file", move || {
            std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
            std::fs::File::create(&path)?;
            Ok(())
        })
        .await?;
        Ok(String::new())
    }

    /// Writes part `idx` (at byte `offset`) of a session; returns the store's part id.
    pub async fn session_put_part(
        &self,
        d: &Digest,
        session: &str,
        upload_id: &str,
        idx: usize,
        offset: u64,
        chunks: Vec<Bytes>,
    ) -> Result<String, BlobError> {
        if let Some(mp) = &self.multipart {
            let payload: PutPayload = chunks.into_iter().collect();
            let part =
                self.bounded("put part", mp.put_part(&key(d), &upload_id.to_owned(), idx, payload)).await?;
            return Ok(part.content_id);
        }
        let path = self.staging_file(session)?;
        self.blocking("write part", move || {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&path)?;
            let mut at = offset;
            for c in &chunks {
                f.write_all_at(c, at)?;
                at += c.len() as u64;
            }
            f.sync_data()?;
            Ok(())
        })
        .await?;
        Ok(String::new())
    }

    /// Makes a session's parts visible as the blob. Only call once they hashed to `d`. Idempotent: if
    /// an earlier call completed the object and its caller died before recording it (the staging file
    /// or the store's pending upload is gone), the object in place with the right size and digest is
    /// success.
    pub async fn session_complete(
        &self,
        d: &Digest,
        size: u64,
        session: &str,
        upload_id: &str,
        part_ids: Vec<String>,
    ) -> Result<(), BlobError> {
        match self.session_complete_once(d, session, upload_id, part_ids).await {
            Ok(()) => Ok(()),
            Err(e @ BlobError::Timeout { .. }) => Err(e),
            Err(e) => match self.stored_whole(d, size).await {
                Ok(true) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Whether the object under `d` is there with `size` bytes that hash to `d` (reads it all).
    pub async fn stored_whole(&self, d: &Digest, size: u64) -> Result<bool, BlobError> {
        if self.size(d).await? != Some(size) {
            return Ok(false);
        }
        let mut read = match self.get(d, None).await {
            Ok(r) => r,
            Err(BlobError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut h = Hasher::new();
        while let Some(chunk) = read.stream.next().await {
            h.update(&chunk?);
        }
        Ok(h.len() == size && h.finalize() == *d)
    }

    async fn session_complete_once(
        &self,
        d: &Digest,
        session: &str,
        upload_id: &str,
        part_ids: Vec<String>,
    ) -> Result<(), BlobError> {
        if let Some(mp) = &self.multipart {
            let parts = part_ids.into_iter().map(|content_id| PartId { content_id }).collect();
            self.bounded(
                "complete multipart upload",
                mp.complete_multipart(&key(d), &upload_id.to_owned(), parts),
            )
            .await?;
            return Ok(());
        }
        let from = self.staging_file(session)?;
        let root = self.local_root.clone().ok_or(BlobError::Unsupported("no local root"))?;
        let to = root.join("sha256").join(d.hex());
        self.blocking("complete staging file", move || {
            std::fs::File::open(&from)?.sync_all()?;
            std::fs::create_dir_all(to.parent().unwrap_or(&to))?;
            std::fs::rename(&from, &to)?;
            if let Some(dir) = to.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
    }

    /// Discards a session's pending upload (already gone is fine).
    pub async fn session_abort(&self, d: &Digest, session: &str, upload_id: &str) -> Result<(), BlobError> {
        if let Some(mp) = &self.multipart {
            return match self
                .bounded("abort multipart upload", mp.abort_multipart(&key(d), &upload_id.to_owned()))
                .await
            {
                Ok(()) | Err(BlobError::Store(object_store::Error::NotFound { .. })) => Ok(()),
                // Stores report an unknown upload id in their own words.
                Err(BlobError::Store(e))
                    if ["UploadNotFound", "NoSuchUpload"].iter().any(|w| format!("{e:?}").contains(w)) =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            };
        }
        let path = self.staging_file(session)?;
        self.blocking("remove staging file", move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    /// The staging file of a session on a local directory. Session ids are server-made uuids; anything
    /// else is refused before it can name a path.
    fn staging_file(&self, session: &str) -> Result<PathBuf, BlobError> {
        let root = self.local_root.as_ref().ok_or(BlobError::Unsupported("no local root"))?;
        if session.is_empty() || !session.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(BlobError::Unsupported("malformed upload session id"));
        }
        Ok(root.join("uploads").join(session))
    }

    /// Staging files of upload sessions on a local directory: session id, bytes, modification time
    /// (unix ms). Empty for other stores (their pending uploads are the store's to expire).
    pub async fn list_staging(&self) -> Result<Vec<(String, u64, i64)>, BlobError> {
        let Some(root) = self.local_root.clone() else { return Ok(vec![]) };
        self.blocking("list staging files", move || {
            let mut out = vec![];
            let Ok(entries) = std::fs::read_dir(root.join("uploads")) else { return Ok(out) };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Only names a session could have (anything else is not ours to remove).
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                    continue;
                }
                let meta = e.metadata()?;
                let modified = meta.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let ms = i64::try_from(modified.as_millis()).unwrap_or(i64::MAX);
                out.push((name, meta.len(), ms));
            }
            Ok(out)
        })
        .await
    }

    /// Removes the staging file of a session that no longer exists (local directories only).
    pub async fn remove_staging(&self, session: &str) -> Result<(), BlobError> {
        let path = self.staging_file(session)?;
        self.blocking("remove staging file", move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    /// Digests (and sizes, modification times) of every object under `sha256/`, for garbage collection.
    pub async fn list(&self) -> Result<Vec<(Digest, u64, i64)>, BlobError> {
        let prefix = ObjectPath::from("sha256");
        let mut out = vec![];
        let mut s = self.store.list(Some(&prefix));
        loop {
            let next = tokio::time::timeout(self.timeout, s.next())
                .await
                .map_err(|_| BlobError::Timeout { op: "list", after: self.timeout })?;
            let Some(meta) = next else { break };
            let meta = meta?;
            let Some(name) = meta.location.filename() else { continue };
            if let Ok(d) = Digest::from_hex(name) {
                out.push((d, meta.size, meta.last_modified.timestamp_millis()));
            }
        }
        Ok(out)
    }

    /// Where the blobs live, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The size of a stored blob, if present.
    pub async fn size(&self, d: &Digest) -> Result<Option<u64>, BlobError> {
        match self.bounded("head", self.store.head(&key(d))).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(BlobError::Store(object_store::Error::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams `body` into the store under `d`, hashing on the way; completes only if the bytes hash
    /// to `d` and stay within `limit`. Returns the size.
    pub async fn put_stream<S, E>(&self, d: &Digest, body: S, limit: u64) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self.bounded("start upload", self.store.put_multipart(&key(d))).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Hasher::new();
        let mut body = std::pin::pin!(body);
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(BlobError::Body(e.to_string())),
                Some(Ok(c)) => c,
            };
            if hasher.len() + chunk.len() as u64 > limit {
                break Some(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            let in_flight =
                if self.local_root.is_some() { LOCAL_PARTS_IN_FLIGHT } else { REMOTE_PARTS_IN_FLIGHT };
            if let Err(e) = self.bounded("put part", writer.wait_for_capacity(in_flight)).await {
                break Some(e);
            }
            // Copy into the part buffer rather than keeping the transport's chunks (and the larger
            // read buffers they may pin) alive until the part is written.
            writer.write(&chunk);
        };
        if let Some(e) = failure {
            let _ = self.bounded("abort upload", writer.abort()).await;
            return Err(e);
        }
        let size = hasher.len();
        let actual = hasher.finalize();
        if actual != *d {
            let _ = self.bounded("abort upload", writer.abort()).await;
            return Err(BlobError::Mismatch { actual, size });
        }
        self.bounded("complete upload", writer.finish()).await?;
        Ok(size)
    }

    /// Reads a blob, or the part of it in `range` (end exclusive; the caller checks it against the size).
    pub async fn get(&self, d: &Digest, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let opts = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let res = match self.bounded("get", self.store.get_opts(&key(d), opts)).await {
            Ok(r) => r,
            Err(BlobError::Store(object_store::Error::NotFound { .. })) => return Err(BlobError::NotFound),
            Err(e) => return Err(e),
        };
        let size = res.meta.size;
        let range = res.range.clone();
        let stream = match res.payload {
            GetResultPayload::File(file, _) => file_stream(file, range.clone()),
            GetResultPayload::Stream(s) => s.map_err(BlobError::from).boxed(),
        };
        Ok(BlobRead { size, range, stream: bounded_stream(stream, self.timeout) })
    }

    /// Removes staged uploads a crash left behind (local directories only); returns how many.
    ///
    /// The local store stages an upload as `<key>#<n>` and renames it on completion, so these files
    /// were never visible as blobs. Only call this when no upload is in flight (at startup; a local
    /// directory belongs to one server — replicas share an object store instead).
    pub async fn cleanup_staged(&self) -> Result<usize, BlobError> {
        let Some(root) = self.local_root.clone() else { return Ok(0) };
        tokio::task::spawn_blocking(move || {
            let dir = root.join("sha256");
            let mut removed = 0;
            let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().contains('#') {
                    std::fs::remove_file(e.path()).map_err(|e| {
                        BlobError::Store(object_store::Error::Generic { store: "local", source: e.into() })
                    })?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| BlobError::Body(e.to_string()))?
    }

    /// The same store with its object store replaced by `f(store)` (fault injection in tests).
    #[cfg(any(test, feature = "test-util"))]
    pub fn map_store(mut self, f: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>) -> Self {
        self.store = f(self.store);
        self
    }

    /// The underlying store (for tests and maintenance tasks).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
}

impl BlobStore {
    /// Runs file work on the blocking pool, within the timeout (a hung disk or NFS mount).
    async fn blocking<T, F>(&self, op: &'static str, f: F) -> Result<T, BlobError>
    where
        F: FnOnce() -> std::io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let task = tokio::task::spawn_blocking(f);
        tokio::time::timeout(self.timeout, task)
            .await
            .map_err(|_| BlobError::Timeout { op, after: self.timeout })?
            .map_err(|e| BlobError::Body(e.to_string()))?
            .map_err(|e| BlobError::Store(object_store::Error::Generic { store: "local", source: e.into() }))
    }
}

/// Bounds the wait for each chunk of a read (the consumer's own pace is not counted).
fn bounded_stream(
    s: BoxStream<'static, Result<Bytes, BlobError>>,
    after: Duration,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    futures::stream::unfold(Some(s), move |s| async move {
        let mut s = s?;
        match tokio::time::timeout(after, s.next()).await {
            Ok(Some(item)) => Some((item, Some(s))),
            Ok(None) => None,
            Err(_) => Some((Err(BlobError::Timeout { op: "read", after }), None)),
        }
    })
    .boxed()
}

/// Streams a byte range of a local file in large reads on the blocking pool (object_store's own
/// file stream reads 8 KiB at a time, which caps throughput far below the disk).
fn file_stream(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, Result<Bytes, BlobError>> {
    use std::io::{Read, Seek, SeekFrom};
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BlobError>>(4);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        if let Err(e) = file.seek(SeekFrom::Start(range.start)) {
            let _ = tx.blocking_send(Err(BlobError::Body(e.to_string())));
            return;
        }
        let mut left = range.end - range.start;
        while left > 0 {
            let n = READ_CHUNK.min(usize::try_from(left).unwrap_or(READ_CHUNK));
            let mut buf = vec![0u8; n];
            match file.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(BlobError::Body("blob file ended early".into())));
                    return;
                }
                Ok(k) => {
                    buf.truncate(k);
                    left -= k as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return; // the client went away
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(BlobError::Body(e.to_string())));
                    return;
                }
            }
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, BlobError>>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

#[cfg(test)]
mod tests;
