//! Blob storage: content-addressed bytes in an object store (local directory, memory; S3 later).
//!
//! Invariant: an object exists under `sha256/<hex>` only if its bytes hash to `<hex>`. Uploads stream
//! into a multipart upload at the final key and are completed only after the digest and size check;
//! otherwise they are aborted, so a wrong or partial blob is never visible under a digest key.
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart};
use registry_core::{Digest, Hasher};

/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight per upload on a remote store; memory is about `(1 + in flight) * PART_SIZE` per upload.
const REMOTE_PARTS_IN_FLIGHT: usize = 2;
/// A local disk gains nothing from parallel writes into one file: one part writes while the next fills.
const LOCAL_PARTS_IN_FLIGHT: usize = 1;
/// Read size when streaming a local file out.
const READ_CHUNK: usize = 256 * 1024;

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
    #[error("unsupported blobs url {0:?}: use file:///PATH, a plain directory path, or memory://")]
    Url(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
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
    local_root: Option<PathBuf>,
    description: String,
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
    /// Opens the store named by `url`: `file:///abs/dir`, a plain directory path, or `memory://`.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        if url == "memory://" || url == "memory:" {
            return Ok(Self {
                store: Arc::new(InMemory::new()),
                local_root: None,
                description: "memory://".into(),
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
            description: format!("file://{}", dir.display()),
            local_root: Some(dir),
        })
    }

    /// Where the blobs live, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The size of a stored blob, if present.
    pub async fn size(&self, d: &Digest) -> Result<Option<u64>, BlobError> {
        match self.store.head(&key(d)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `body` into the store under `d`, hashing on the way; completes only if the bytes hash
    /// to `d` and stay within `limit`. Returns the size.
    pub async fn put_stream<S, E>(&self, d: &Digest, body: S, limit: u64) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(&key(d)).await?;
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
            if let Err(e) = writer.wait_for_capacity(in_flight).await {
                break Some(e.into());
            }
            // Copy into the part buffer rather than keeping the transport's chunks (and the larger
            // read buffers they may pin) alive until the part is written.
            writer.write(&chunk);
        };
        if let Some(e) = failure {
            let _ = writer.abort().await;
            return Err(e);
        }
        let size = hasher.len();
        let actual = hasher.finalize();
        if actual != *d {
            let _ = writer.abort().await;
            return Err(BlobError::Mismatch { actual, size });
        }
        writer.finish().await?;
        Ok(size)
    }

    /// Reads a blob, or the part of it in `range` (end exclusive; the caller checks it against the size).
    pub async fn get(&self, d: &Digest, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let opts = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let res = match self.store.get_opts(&key(d), opts).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let size = res.meta.size;
        let range = res.range.clone();
        let stream = match res.payload {
            GetResultPayload::File(file, _) => file_stream(file, range.clone()),
            GetResultPayload::Stream(s) => s.map_err(BlobError::from).boxed(),
        };
        Ok(BlobRead { size, range, stream })
    }

    /// Removes staged uploads a crash left behind (local directories only); returns how many.
    ///
    /// The local store stages an upload as `<key>#<n>` and renames it on completion, so these files
    /// were never visible as blobs. Only call this when no upload is in flight (at startup).
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

    /// The underlying store (for tests and maintenance tasks).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
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
