//! registry-client: a typed client of the registry's HTTP API and the high-level flows the `registry`
//! CLI runs (push, pull, verify). Every byte is checked here, never taken on the server's word.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use registry_core::api::{
    BlobCheckRequest, BlobCheckResponse, BlobResponse, ErrorBody, ModelList, ModelResponse,
    PutVersionRequest, VersionList, VersionResponse, paths,
};
use registry_core::{Digest, Manifest, ModelName};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

pub mod attest;
pub mod credentials;
pub mod hash;
pub mod incident;
mod pins;
pub mod place;
pub mod progress;
pub mod promote;
pub mod pull;
pub mod push;
pub mod sigstore;
pub mod tlog;
pub mod verify;
pub mod walk;

pub use progress::{NoProgress, Progress};

/// What can go wrong on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable machine code.
        code: String,
        /// Human message.
        message: String,
        /// Structured details, if any.
        details: Option<serde_json::Value>,
    },
    /// The server could not be reached, or the connection failed.
    #[error("cannot reach the registry: {0}")]
    Transport(#[from] reqwest::Error),
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Something did not verify: bytes, digests, signatures.
    #[error("verification failed: {0}")]
    Verify(String),
    /// Bad local input (directory contents, arguments).
    #[error("{0}")]
    Input(String),
    /// The server answered something that is not the API.
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The API error code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ClientError {
        let path = path.into();
        move |source| ClientError::Io { path, source }
    }
}

/// A connection to one registry.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<std::sync::Arc<str>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client of the registry at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let mut base = url::Url::parse(base_url)
            .map_err(|e| ClientError::Input(format!("invalid registry URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Input(format!("registry URL {base_url:?} must be http:// or https://")));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Under the server's default --header-read-timeout (15 s), after which it closes an idle
            // keep-alive connection: never reuse one it may be closing right then.
            .pool_idle_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .user_agent(concat!("registry-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base, token: None })
    }

    /// The same client, authenticating with `token` (an API token or an OIDC ID token).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.trim().is_empty()).map(|t| std::sync::Arc::from(t.trim()));
        self
    }

    /// The registry's base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let rb = self.http.request(method, url);
        match &self.token {
            Some(t) => rb.bearer_auth(t), // marked sensitive: never printed by reqwest
            None => rb,
        }
    }

    /// Sends and turns an error status into [`ClientError::Api`].
    pub(crate) async fn send(&self, rb: RequestBuilder) -> Result<Response, ClientError> {
        let resp = rb.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(api_error(resp).await)
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        let resp = self.send(rb).await?;
        let bytes = resp.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<registry_core::api::HealthResponse, ClientError> {
        self.json(self.request(Method::GET, "/v1/health")).await
    }

    /// `POST /v1/blobs:check`: which of `digests` the server lacks (in batches of 10,000).
    pub async fn missing_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>, ClientError> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(registry_core::api::MAX_CHECK_DIGESTS) {
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

    /// `POST /v1/uploads`: a new resumable upload, or the caller's live one for this blob.
    pub async fn create_upload(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<registry_core::api::UploadSession, ClientError> {
        let body = registry_core::api::CreateUploadRequest { digest: *digest, size };
        self.json(self.request(Method::POST, "/v1/uploads").json(&body)).await
    }

    /// `PUT /v1/uploads/{id}/parts/{part}` with a streamed body of `len` bytes.
    pub async fn put_upload_part(
        &self,
        id: &str,
        part: u64,
        len: u64,
        body: reqwest::Body,
    ) -> Result<registry_core::api::UploadSession, ClientError> {
        let rb = self
            .request(Method::PUT, &paths::upload_part(id, part))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        self.json(rb).await
    }

    /// `GET /v1/uploads`: the caller's live upload sessions.
    pub async fn list_uploads(&self) -> Result<registry_core::api::UploadList, ClientError> {
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

    /// `GET /v1/blobs/{digest}`, from byte `offset` on. The caller must hash what it reads.
    pub async fn get_blob(&self, digest: &Digest, offset: u64) -> Result<Response, ClientError> {
        let mut rb = self.request(Method::GET, &paths::blob(digest));
        if offset > 0 {
            rb = rb.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        self.send(rb).await
    }

    /// `PUT /v1/models/{ns}/{name}/versions/{version}`; the bool is true when newly created.
    pub async fn put_version(
        &self,
        model: &ModelName,
        version: &str,
        req: &PutVersionRequest,
    ) -> Result<(VersionResponse, bool), ClientError> {
        let resp = self.send(self.request(Method::PUT, &paths::version(model, version)).json(req)).await?;
        let created = resp.status() == StatusCode::CREATED;
        let bytes = resp.bytes().await?;
        let v = serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((v, created))
    }

    /// `GET .../versions/{reference}` (a label or `sha256:` manifest digest).
    pub async fn get_version(
        &self,
        model: &ModelName,
        reference: &str,
    ) -> Result<VersionResponse, ClientError> {
        self.json(self.request(Method::GET, &paths::version(model, reference))).await
    }

    /// The manifest of `version`, checked against `expected` byte for byte before it is parsed.
    pub async fn get_manifest(&self, v: &VersionResponse) -> Result<Manifest, ClientError> {
        let model =
            ModelName::new(&v.namespace, &v.name).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let path = format!("{}/manifest", paths::version(&model, &v.version));
        let bytes = self.send(self.request(Method::GET, &path)).await?.bytes().await?;
        let actual = Digest::of(&bytes);
        if actual != v.manifest_digest {
            return Err(ClientError::Verify(format!(
                "manifest of {model}@{} hashes to {actual}, not to its recorded digest {}",
                v.version, v.manifest_digest
            )));
        }
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Verify(format!("manifest: {e}")))?;
        if m.canonical_bytes() != bytes.as_ref() {
            return Err(ClientError::Verify("manifest is not in canonical form".into()));
        }
        if m.oms_root_digest() != v.oms_root_digest {
            return Err(ClientError::Verify("manifest does not match the recorded OMS root digest".into()));
        }
        Ok(m)
    }

    /// `GET .../attestations` of a version.
    pub async fn list_attestations(
        &self,
        model: &ModelName,
        version: &str,
    ) -> Result<registry_core::api::AttestationList, ClientError> {
        self.json(self.request(Method::GET, &format!("{}/attestations", paths::version(model, version))))
            .await
    }

    /// The exact bytes of one attestation, checked against the digest the listing gave.
    pub async fn attestation_bytes(
        &self,
        model: &ModelName,
        version: &str,
        info: &registry_core::api::AttestationInfo,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("{}/attestations/{}", paths::version(model, version), info.id);
        let bytes = self.send(self.request(Method::GET, &path)).await?.bytes().await?.to_vec();
        if Digest::of(&bytes) != info.digest {
            return Err(ClientError::Verify(format!(
                "attestation {} bytes do not hash to the digest the registry lists ({})",
                info.id, info.digest
            )));
        }
        Ok(bytes)
    }

    /// `POST .../attestations`: adds the exact bytes of an envelope or bundle.
    pub async fn add_attestation(
        &self,
        model: &ModelName,
        version: &str,
        raw: Vec<u8>,
    ) -> Result<registry_core::api::AttestationInfo, ClientError> {
        let rb = self
            .request(Method::POST, &format!("{}/attestations", paths::version(model, version)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(raw);
        self.json(rb).await
    }

    /// `GET /v1/keys`.
    pub async fn list_keys(&self) -> Result<registry_core::api::TrustedKeyList, ClientError> {
        self.json(self.request(Method::GET, "/v1/keys")).await
    }

    /// `POST /v1/keys` (admin).
    pub async fn add_key(
        &self,
        req: &registry_core::api::AddKeyRequest,
    ) -> Result<registry_core::api::TrustedKeyInfo, ClientError> {
        self.json(self.request(Method::POST, "/v1/keys").json(req)).await
    }

    /// `DELETE /v1/keys/{key_id}[?namespace=]` (admin): revokes a trusted key for one pattern, or for
    /// every pattern it is trusted for.
    pub async fn revoke_key(
        &self,
        key_id: &registry_core::Digest,
        namespace: Option<&registry_core::auth::NamePattern>,
    ) -> Result<(), ClientError> {
        let mut rb = self.request(Method::DELETE, &format!("/v1/keys/{key_id}"));
        if let Some(ns) = namespace {
            rb = rb.query(&[("namespace", ns.to_string())]);
        }
        self.send(rb).await?;
        Ok(())
    }

    /// `GET /v1/log/key`: the log's verifier key text.
    pub async fn log_key(&self) -> Result<String, ClientError> {
        Ok(self.send(self.request(Method::GET, "/v1/log/key")).await?.text().await?.trim().to_owned())
    }

    /// `GET /v1/log/checkpoint`: the signed note (unverified).
    pub async fn log_checkpoint(&self) -> Result<String, ClientError> {
        Ok(self.send(self.request(Method::GET, "/v1/log/checkpoint")).await?.text().await?)
    }

    /// `GET /v1/log/proofs/consistency`.
    pub async fn log_consistency(
        &self,
        from: u64,
        to: u64,
    ) -> Result<registry_core::api::ConsistencyProof, ClientError> {
        let q = [("from", from.to_string()), ("to", to.to_string())];
        self.json(self.request(Method::GET, "/v1/log/proofs/consistency").query(&q)).await
    }

    /// `GET /v1/log/proofs/inclusion`: the proof (unverified) of entry `index` in the tree of
    /// `tree_size` entries.
    pub async fn log_inclusion(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<registry_core::api::InclusionProof, ClientError> {
        let q = [("index", index.to_string()), ("tree_size", tree_size.to_string())];
        self.json(self.request(Method::GET, "/v1/log/proofs/inclusion").query(&q)).await
    }

    /// `GET /v1/log/entries`, one page.
    pub async fn log_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<registry_core::api::LogEntries, ClientError> {
        let q = [("start", start.to_string()), ("end", end.to_string())];
        self.json(self.request(Method::GET, "/v1/log/entries").query(&q)).await
    }

    /// `GET .../versions/{v}/bundle`.
    pub async fn bundle(
        &self,
        model: &ModelName,
        reference: &str,
    ) -> Result<registry_core::audit_bundle::AuditBundle, ClientError> {
        self.json(self.request(Method::GET, &format!("{}/bundle", paths::version(model, reference)))).await
    }

    /// `GET /v1/whoami`.
    pub async fn whoami(&self) -> Result<registry_core::auth::WhoAmI, ClientError> {
        self.json(self.request(Method::GET, "/v1/whoami")).await
    }

    /// `POST /v1/tokens` (admin).
    pub async fn create_token(
        &self,
        req: &registry_core::auth::CreateTokenRequest,
    ) -> Result<registry_core::auth::CreatedToken, ClientError> {
        self.json(self.request(Method::POST, "/v1/tokens").json(req)).await
    }

    /// `GET /v1/tokens` (admin).
    pub async fn list_tokens(&self) -> Result<registry_core::auth::TokenList, ClientError> {
        self.json(self.request(Method::GET, "/v1/tokens")).await
    }

    /// `DELETE /v1/tokens/{id}` (admin).
    pub async fn revoke_token(
        &self,
        id_or_name: &str,
    ) -> Result<registry_core::auth::TokenInfo, ClientError> {
        self.json(self.request(Method::DELETE, &format!("/v1/tokens/{id_or_name}"))).await
    }

    /// `GET /v1/audit` (admin), one page.
    pub async fn audit(
        &self,
        actor: Option<&str>,
        target: Option<&str>,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<registry_core::api::AuditList, ClientError> {
        let q = query(&[
            ("actor", actor.map(str::to_owned)),
            ("target", target.map(str::to_owned)),
            ("since", since.map(str::to_owned)),
            ("cursor", cursor.map(str::to_owned)),
            ("limit", Some("500".into())),
        ]);
        self.json(self.request(Method::GET, "/v1/audit").query(&q)).await
    }

    /// `GET /v1/models/{ns}/{name}`.
    pub async fn get_model(&self, model: &ModelName) -> Result<ModelResponse, ClientError> {
        self.json(self.request(Method::GET, &paths::model(model))).await
    }

    /// `GET /v1/models`, one page.
    pub async fn list_models(
        &self,
        namespace: Option<&str>,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ModelList, ClientError> {
        let q = query(&[
            ("namespace", namespace.map(str::to_owned)),
            ("prefix", prefix.map(str::to_owned)),
            ("cursor", cursor.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
        ]);
        self.json(self.request(Method::GET, "/v1/models").query(&q)).await
    }

    /// `GET .../versions`, one page, newest first.
    pub async fn list_versions(
        &self,
        model: &ModelName,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<VersionList, ClientError> {
        let q = query(&[("cursor", cursor.map(str::to_owned)), ("limit", limit.map(|n| n.to_string()))]);
        self.json(self.request(Method::GET, &format!("{}/versions", paths::model(model))).query(&q)).await
    }
}

/// Query pairs, leaving out the absent ones.
fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (*k, v))).collect()
}

/// Decodes an error response (or describes one that is not ours).
async fn api_error(resp: Response) -> ClientError {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => ClientError::Api { status, code: b.code, message: b.message, details: b.details },
        Err(_) => ClientError::Api {
            status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            details: None,
        },
    }
}
