//! Blobs and resumable uploads: `/v1/blobs` and `/v1/uploads`. Bytes fetched here are not yet checked;
//! [`crate::pull`] hashes what it reads.
use registry_core::Digest;
use registry_core::api::{
    BlobCheckRequest, BlobCheckResponse, BlobResponse, CreateUploadRequest, MAX_CHECK_DIGESTS, UploadList,
    UploadSession, paths,
};
use reqwest::{Method, Response};

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/blobs:check`: which of `digests` the server lacks (in batches of 10,000).
    pub async fn missing_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>, ClientError> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(MAX_CHECK_DIGESTS) {
            let body = BlobCheckRequest { digests: chunk.to_vec() };
            let r: BlobCheckResponse =
                self.json(self.request(Method::POST, "/v1/blobs:check").json(&body)).await?;
            missing.extend(r.missing);
        }
        Ok(missing)
    }

    /// `PUT /v1/blobs/{digest}` with a streamed body of `size` bytes.
    pub async fn put_blob(
        &self,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<BlobResponse, ClientError> {
        let rb = self
            .request(Method::PUT, &paths::blob(digest))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        self.json(rb).await
    }

    /// `GET /v1/blobs/{digest}`, from byte `offset` on. The caller must hash what it reads.
    pub async fn get_blob(&self, digest: &Digest, offset: u64) -> Result<Response, ClientError> {
        let mut rb = self.request(Method::GET, &paths::blob(digest));
        if offset > 0 {
            rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        self.send(rb).await
    }

    /// `POST /v1/uploads`: a new resumable upload, or the caller's live one for this blob.
    pub async fn create_upload(&self, digest: &Digest, size: u64) -> Result<UploadSession, ClientError> {
        let body = CreateUploadRequest { digest: *digest, size };
        self.json(self.request(Method::POST, "/v1/uploads").json(&body)).await
    }

    /// `PUT /v1/uploads/{id}/parts/{part}` with a streamed body of `len` bytes.
    pub async fn put_upload_part(
        &self,
        id: &str,
        part: u64,
        len: u64,
        body: reqwest::Body,
    ) -> Result<UploadSession, ClientError> {
        let rb = self
            .request(Method::PUT, &paths::upload_part(id, part))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        self.json(rb).await
    }

    /// `GET /v1/uploads`: the caller's live upload sessions.
    pub async fn list_uploads(&self) -> Result<UploadList, ClientError> {
        self.json(self.request(Method::GET, "/v1/uploads")).await
    }

    /// `DELETE /v1/uploads/{id}`: discards a session and its staged parts.
    pub async fn abort_upload(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &paths::upload(id))).await.map(|_| ())
    }

    /// `POST /v1/uploads/{id}/complete`.
    pub async fn complete_upload(&self, id: &str) -> Result<BlobResponse, ClientError> {
        self.json(self.request(Method::POST, &format!("{}/complete", paths::upload(id)))).await
    }
}
