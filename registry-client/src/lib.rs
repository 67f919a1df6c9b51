//! registry-client: a typed client of the registry's HTTP API and the high-level flows the `registry`
//! CLI runs (push, pull, verify). Every byte is checked here, never taken on the server's word.
//!
//! [`Client`]'s endpoint methods live one module per resource (blobs and uploads, models and versions,
//! attestations, keys, log, tokens, audit, promotion, incident); this file holds the connection and the
//! error decoding they share.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use registry_core::api::ErrorBody;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;

pub mod attest;
mod attestations;
mod audit;
mod blobs;
mod config_file;
pub mod credentials;
pub mod hash;
pub mod incident;
mod keys;
mod log;
mod models;
mod pins;
pub mod place;
pub mod progress;
pub mod promote;
pub mod pull;
pub mod push;
pub mod sigstore;
pub mod tlog;
mod tokens;
pub mod verify;
pub mod walk;
mod webhooks;

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
    /// How long the server asked to wait before trying again (a 429's `Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ClientError::Api { status: 429, details: Some(d), .. } => {
                d["retry_after"].as_u64().map(std::time::Duration::from_secs)
            }
            _ => None,
        }
    }

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
}

/// Query pairs, leaving out the absent ones.
fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (*k, v))).collect()
}

/// Decodes an error response (or describes one that is not ours).
async fn api_error(resp: Response) -> ClientError {
    let status = resp.status().as_u16();
    // `Retry-After` in seconds (RFC 9110 §10.2.3) goes into `details.retry_after`.
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => {
            let details = match (retry_after, b.details) {
                (Some(secs), Some(serde_json::Value::Object(mut d))) => {
                    d.insert("retry_after".into(), secs.into());
                    Some(serde_json::Value::Object(d))
                }
                (Some(secs), None) => Some(serde_json::json!({ "retry_after": secs })),
                (_, d) => d,
            };
            ClientError::Api { status, code: b.code, message: b.message, details }
        }
        Err(_) => ClientError::Api {
            status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            details: None,
        },
    }
}
