//! Resumable upload sessions' pending uploads: a multipart upload on remote stores and memory, a
//! staging file on a local directory, completed into the blob only once its parts hashed to the digest.
use bytes::Bytes;
use object_store::PutPayload;
use object_store::multipart::PartId;
use registry_core::Digest;

use super::{BlobError, BlobStore, key};

impl BlobStore {
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

    /// Whether a session's parts are written in place as they arrive (a local directory's staging
    /// file), so the server holds none of a part in memory; remote stores take a part whole.
    pub fn streams_parts(&self) -> bool {
        self.multipart.is_none() && self.local_root.is_some()
    }

    /// Opens a session's staging file to write a part in place, as it arrives ([`Self::streams_parts`]).
    pub async fn session_part_file(&self, session: &str) -> Result<PartFile, BlobError> {
        let path = self.staging_file(session)?;
        let file = self
            .blocking("open staging file", move || std::fs::OpenOptions::new().write(true).open(&path))
            .await?;
        Ok(PartFile { file: std::sync::Arc::new(file), store: self.clone() })
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
}

/// A session's staging file, open for one part written in place.
pub struct PartFile {
    file: std::sync::Arc<std::fs::File>,
    store: BlobStore,
}

impl PartFile {
    /// Writes `chunks` at byte `offset`; `hold` is dropped only once the write is done, even when the
    /// caller stopped waiting for it (a dropped request, a timeout).
    pub async fn write_at<H: Send + 'static>(
        &self,
        offset: u64,
        chunks: Vec<Bytes>,
        hold: H,
    ) -> Result<(), BlobError> {
        let f = self.file.clone();
        self.store
            .blocking("write part", move || {
                use std::os::unix::fs::FileExt;
                let _hold = hold;
                let mut at = offset;
                for c in &chunks {
                    f.write_all_at(c, at)?;
                    at += c.len() as u64;
                }
                Ok(())
            })
            .await
    }

    /// Makes what was written durable (a confirmed part survives a crash).
    pub async fn sync(&self) -> Result<(), BlobError> {
        let f = self.file.clone();
        self.store.blocking("sync part", move || f.sync_data()).await
    }
}
