//! Blob storage: content-addressed bytes in an object store (local directory, S3-compatible, GCS,
//! Azure, memory).
//!
//! Invariant: an object exists under `sha256/<hex>` only if its bytes hash to `<hex>`. Uploads stream
//! into a multipart upload at the final key and are completed only after the digest and size check;
//! otherwise they are aborted, so a wrong or partial blob is never visible under a digest key. A
//! resumable upload session (see `service::uploads`) writes its parts into the same kind of pending
//! multipart upload (a staging file on a local directory) and completes it only once the parts,
//! hashed in order, give the digest. Nothing is ever copied server-side, so no 5 GB copy limit applies.
//!
//! Here: the store type, its errors and the timeout bound; `open` picks a store from a URL, `io` puts,
//! reads, lists and deletes blobs, `sessions` holds resumable uploads' pending parts, `local` what only
//! a local directory needs (staging files, leftovers of a crash, blocking file I/O).
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::ObjectStore;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use registry_core::Digest;

/// Part size of multipart uploads to a remote store (S3's minimum is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Part size of a streamed upload into a local directory: parts are writes at an offset there, with no
/// minimum, and a push streams 4 files at once, each holding 2 parts (one filling, one being written;
/// decisions §34).
const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts in flight per upload on a remote store; memory is about `(1 + in flight) * PART_SIZE` per upload.
const REMOTE_PARTS_IN_FLIGHT: usize = 2;
/// A local disk gains nothing from parallel writes into one file: one part writes while the next fills.
const LOCAL_PARTS_IN_FLIGHT: usize = 1;
/// Read size when streaming a local file out. At most 128 KiB keeps each buffer in mimalloc's medium
/// size classes, which are reused; 256 KiB buffers (freed on another thread than the blocking one that
/// read them) stayed resident: a 2,000-file pull peaked at 130–152 MiB with 256 KiB reads, 68–72 MiB with
/// 64 KiB, and a 1 GiB blob streams at ~2 GiB/s with either (docs/benchmarks.md, pull memory).
const READ_CHUNK: usize = 64 * 1024;
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

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// The key prefix of uploads whose digest is known only once they are written (see
/// [`BlobStore::put_unnamed`]); nothing under it is a blob.
pub const STAGING: &str = "staging";

/// The object key of a blob.
pub fn key(d: &Digest) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}", d.hex()))
}

impl BlobStore {
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

    /// Where the blobs live, for logs.
    pub fn describe(&self) -> &str {
        &self.description
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

mod io;
mod local;
mod open;
mod sessions;
pub use sessions::PartFile;

#[cfg(test)]
mod tests;
