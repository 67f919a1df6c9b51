//! Whole blobs: streaming a body in under its digest, reading (ranges of) it back, size, listing,
//! deletion and presigned download URLs.
use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStoreExt, WriteMultipart};
use registry_core::{Digest, Hasher};

use super::local::file_stream;
use super::{
    BlobError, BlobRead, BlobStore, LOCAL_PART_SIZE, LOCAL_PARTS_IN_FLIGHT, PART_SIZE,
    REMOTE_PARTS_IN_FLIGHT, STAGING, key,
};

/// The part buffers of one streamed upload, reused. A part handed to the writer is taken back once the
/// store has written it (its `Bytes` unique again), so an upload of any length fills the same
/// `in flight + 1` buffers. A buffer per part was allocated on the request's thread and freed on the
/// one that wrote it; the allocator kept such memory until the allocating thread came back for more,
/// and four 256 MiB files streamed at once peaked at 144–148 MiB (docs/benchmarks.md, "Freed memory
/// returned at once").
struct PartBuffers {
    size: usize,
    handed: std::collections::VecDeque<Bytes>,
}

impl PartBuffers {
    /// Most parts remembered for reuse; more than the writer keeps in flight, so none is forgotten
    /// while it could still come back.
    const KEPT: usize = 4;

    fn new(size: usize) -> Self {
        Self { size, handed: Default::default() }
    }

    /// A full part to hand to the writer (`buf` given up whole: a piece of it kept elsewhere would
    /// keep the part from ever being unique again).
    fn hand_over(&mut self, buf: BytesMut) -> Bytes {
        let part = buf.freeze();
        if self.handed.len() == Self::KEPT {
            self.handed.pop_front();
        }
        self.handed.push_back(part.clone()); // a reference count, not the bytes
        part
    }

    /// An empty buffer of a part's size: a written part's, or a new one.
    fn next(&mut self) -> BytesMut {
        if let Some(i) = self.handed.iter().position(Bytes::is_unique)
            && let Some(part) = self.handed.remove(i)
            && let Ok(mut buf) = part.try_into_mut()
        {
            buf.clear();
            return buf;
        }
        BytesMut::with_capacity(self.size)
    }
}

/// A spooled upload's temporary file, removed however the upload ends.
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl BlobStore {
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
        Ok(self.write_hashed(&key(d), body, limit, Some(d)).await?.1)
    }

    /// Streams a body whose digest nobody stated (an MLflow artifact upload) into the store, hashed
    /// on the way; returns its digest and size. A local directory writes it under a staging key and
    /// renames it under the digest (one atomic `rename(2)`; a crash leaves only a `staging/` file,
    /// removed at the next start). Remote stores cannot rename without a server-side copy (S3's is
    /// capped at 5 GB), so the body is spooled to a temporary file (`TMPDIR`) while it is hashed, then
    /// streamed in under its digest like any upload.
    pub async fn put_unnamed<S, E>(&self, body: S, limit: u64) -> Result<(Digest, u64), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if self.local_root.is_none() {
            return self.put_spooled(body, limit).await;
        }
        let staging = ObjectPath::from(format!("{STAGING}/{}", uuid::Uuid::new_v4().simple()));
        let (d, size) = self.write_hashed(&staging, body, limit, None).await?;
        // Same bytes under the same key if it is already there: replacing them changes nothing.
        if let Err(e) = self.bounded("move staged upload", self.store.rename(&staging, &key(&d))).await {
            let _ = self.bounded("remove staged upload", self.store.delete(&staging)).await;
            return Err(e);
        }
        Ok((d, size))
    }

    async fn put_spooled<S, E>(&self, body: S, limit: u64) -> Result<(Digest, u64), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        use tokio::io::AsyncWriteExt;
        let io = |e: std::io::Error| {
            BlobError::Store(object_store::Error::Generic { store: "spool", source: e.into() })
        };
        let spool =
            Spool(std::env::temp_dir().join(format!("registry-upload-{}", uuid::Uuid::new_v4().simple())));
        let mut file = tokio::fs::File::create(&spool.0).await.map_err(io)?;
        let mut hasher = Hasher::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            if hasher.len() + chunk.len() as u64 > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        let size = hasher.len();
        let d = hasher.finalize();
        let read = std::fs::File::open(&spool.0).map_err(io)?;
        self.put_stream(&d, file_stream(read, 0..size), limit).await?;
        Ok((d, size))
    }

    /// Writes `body` under `path`, hashing it; completes only within `limit` and, when `expect` is
    /// given, only if the bytes hash to it.
    async fn write_hashed<S, E>(
        &self,
        path: &ObjectPath,
        body: S,
        limit: u64,
        expect: Option<&Digest>,
    ) -> Result<(Digest, u64), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let upload = self.bounded("start upload", self.store.put_multipart(path)).await?;
        let (part_size, in_flight) = match self.local_root {
            Some(_) => (LOCAL_PART_SIZE, LOCAL_PARTS_IN_FLIGHT),
            None => (PART_SIZE, REMOTE_PARTS_IN_FLIGHT),
        };
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut parts = PartBuffers::new(part_size);
        let mut buf = parts.next();
        let mut hasher = Hasher::new();
        let mut body = std::pin::pin!(body);
        let failure = 'body: loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(BlobError::Body(e.to_string())),
                Some(Ok(c)) => c,
            };
            if hasher.len() + chunk.len() as u64 > limit {
                break Some(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            // Copied into whole parts and dropped at once: the transport's chunks (and the larger read
            // buffers they pin) are not kept until their part is written (see `PartBuffers`).
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let n = rest.len().min(part_size - buf.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if buf.len() == part_size {
                    if let Err(e) = self.bounded("put part", writer.wait_for_capacity(in_flight)).await {
                        break 'body Some(e);
                    }
                    let full = std::mem::replace(&mut buf, parts.next());
                    writer.put(parts.hand_over(full));
                }
            }
        };
        if let Some(e) = failure {
            let _ = self.bounded("abort upload", writer.abort()).await;
            return Err(e);
        }
        if !buf.is_empty() {
            writer.put(buf.freeze()); // the last part, shorter: `finish` writes it
        }
        let size = hasher.len();
        let actual = hasher.finalize();
        if let Some(d) = expect
            && actual != *d
        {
            let _ = self.bounded("abort upload", writer.abort()).await;
            return Err(BlobError::Mismatch { actual, size });
        }
        self.bounded("complete upload", writer.finish()).await?;
        Ok((actual, size))
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

    /// Deletes a blob's object (a missing one is not an error).
    pub async fn delete(&self, d: &Digest) -> Result<(), BlobError> {
        match self.bounded("delete", self.store.delete(&key(d))).await {
            Ok(()) | Err(BlobError::Store(object_store::Error::NotFound { .. })) => Ok(()),
            Err(e) => Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A written part's buffer comes back for the next part (the same allocation); one the writer
    /// still holds does not.
    #[test]
    fn a_written_parts_buffer_is_reused() {
        let mut parts = PartBuffers::new(PART_SIZE);
        let mut buf = parts.next();
        buf.extend_from_slice(&vec![7u8; PART_SIZE]);
        let at = buf.as_ptr();
        let in_flight = parts.hand_over(buf);
        let other = parts.next();
        assert_ne!(other.as_ptr(), at, "a part still being written is not reused");
        assert_eq!(other.capacity(), PART_SIZE);
        drop(in_flight); // the store wrote it
        let again = parts.next();
        assert_eq!(again.as_ptr(), at, "the written part's buffer");
        assert!(again.is_empty());
        assert_eq!(again.capacity(), PART_SIZE);
    }
}
