//! What only a local directory needs: session staging files, the leftovers of a crash, file reads in
//! large chunks, and file work on the blocking pool within the timeout.
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};

use super::{BlobError, BlobStore, READ_CHUNK};

impl BlobStore {
    /// The staging file of a session on a local directory. Session ids are server-made uuids; anything
    /// else is refused before it can name a path.
    pub(super) fn staging_file(&self, session: &str) -> Result<PathBuf, BlobError> {
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
            // Unnamed uploads (MLflow artifacts) never finished: everything under staging/.
            if let Ok(entries) = std::fs::read_dir(root.join(super::STAGING)) {
                for e in entries.flatten() {
                    if e.path().is_file() && std::fs::remove_file(e.path()).is_ok() {
                        removed += 1;
                    }
                }
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(removed) };
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

    /// Runs file work on the blocking pool, within the timeout (a hung disk or NFS mount).
    pub(super) async fn blocking<T, F>(&self, op: &'static str, f: F) -> Result<T, BlobError>
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

/// Streams a byte range of a local file in large reads on the blocking pool (object_store's own
/// file stream reads 8 KiB at a time, which caps throughput far below the disk).
pub(super) fn file_stream(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
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
