//! Helpers shared by the end-to-end tests: model directories on disk and raw HTTP calls.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

pub use registry_server::testing::{TestOptions, TestServer};

pub mod oci;

/// Writes `files` (path, contents) under a fresh temp dir.
pub fn model_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), files);
    d
}

/// Writes `files` under `root`, creating directories.
pub fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (p, c) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

pub use registry_server::testing::noise;

/// An error answer: status plus the decoded `{code, message}`; panics if the body is not one.
pub async fn error_of(resp: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(ct.starts_with("application/json"), "error content type {ct}");
    let code = body["code"].as_str().unwrap_or_else(|| panic!("no code in {body}")).to_owned();
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {body}");
    (status, code, body)
}

/// The registry's health endpoint answers 200 (the server kept serving).
pub async fn assert_healthy(url: &str) {
    let r = reqwest::get(format!("{url}/v1/health")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A client of `server` with its admin token.
pub fn client(server: &TestServer) -> registry_client::Client {
    registry_client::Client::new(&server.url).unwrap().with_token(Some(server.admin_token.clone()))
}

/// A raw HTTP client sending `token` as the bearer credential.
pub fn http_with(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    v.set_sensitive(true);
    h.insert(reqwest::header::AUTHORIZATION, v);
    reqwest::Client::builder().default_headers(h).build().unwrap()
}

/// A raw HTTP client of `server` with its admin token.
pub fn http(server: &TestServer) -> reqwest::Client {
    http_with(&server.admin_token)
}

/// An answer read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (as far as they came).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Parses what a server sent back: status line, headers, body (`None` if no status line came).
pub fn parse_raw_response(bytes: &[u8]) -> Option<RawResponse> {
    let text_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..text_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(RawResponse { status, headers, body: bytes[text_end + 4..].to_vec() })
}

/// Sends `head` (request line and headers, ending in an empty line) then `body` over a fresh
/// connection, while reading the answer at the same time. A server may answer before it has read the
/// whole body (an early 413) and close the connection, so errors writing the body are ignored: what
/// counts is the answer that came back (read until the server closes, or 60 s).
pub async fn raw_request(url: &str, head: String, body: Vec<u8>) -> Option<RawResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        for chunk in body.chunks(64 * 1024) {
            wr.write_all(chunk).await?;
        }
        wr.flush().await?;
        // Keep the write half open (no FIN): the server decides when the exchange ends.
        Ok::<_, std::io::Error>(wr)
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 60 s (got {} bytes)", answer.len());
    drop(writer.await);
    parse_raw_response(&answer)
}

/// One push through the real client, for tests: `TestPush::new("ns/m", "1").dataset(..).signed(&key)
/// .run(&client)`. Without `files` or `dir`, the model is one `weights.bin` whose bytes name the model
/// and version (so every version has its own blob).
pub struct TestPush<'a> {
    model: registry_core::ModelName,
    version: registry_core::VersionLabel,
    files: Option<Vec<(String, Vec<u8>)>>,
    dir: Option<&'a Path>,
    lineage: registry_core::Lineage,
    metadata: registry_core::api::Metadata,
    sign: Option<&'a registry_core::attest::keys::SigningKey>,
    attestations: Vec<Vec<u8>>,
    options: registry_client::push::PushOptions,
}

impl<'a> TestPush<'a> {
    /// `model` (`NS/NAME`) at `version`; panics on a malformed name (a test bug).
    pub fn new(model: &str, version: &str) -> Self {
        Self {
            model: registry_core::ModelName::parse(model).unwrap(),
            version: registry_core::VersionLabel::parse(version).unwrap(),
            files: None,
            dir: None,
            lineage: registry_core::Lineage::default(),
            metadata: registry_core::api::Metadata::default(),
            sign: None,
            attestations: vec![],
            options: registry_client::push::PushOptions::default(),
        }
    }

    /// These files (path, bytes), written to a fresh directory.
    pub fn files(mut self, files: &[(&str, &[u8])]) -> Self {
        self.files = Some(files.iter().map(|(p, b)| ((*p).to_owned(), b.to_vec())).collect());
        self
    }

    /// This directory as it is.
    pub fn dir(mut self, dir: &'a Path) -> Self {
        self.dir = Some(dir);
        self
    }

    /// This lineage.
    pub fn lineage(mut self, lineage: registry_core::Lineage) -> Self {
        self.lineage = lineage;
        self
    }

    /// Adds a training dataset at `uri` whose digest is that of `content`.
    pub fn dataset(mut self, uri: &str, content: &[u8]) -> Self {
        self.lineage.datasets.push(registry_core::lineage::Dataset {
            uri: uri.into(),
            digest: registry_core::Digest::of(content),
            role: "train".into(),
        });
        self
    }

    /// This description and labels.
    pub fn metadata(mut self, metadata: registry_core::api::Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Signs SLSA provenance and an OMS signature with `key` (none when `None`).
    pub fn signed(mut self, key: impl Into<Option<&'a registry_core::attest::keys::SigningKey>>) -> Self {
        self.sign = key.into();
        self
    }

    /// Sends these attestations (exact bytes) with the version.
    pub fn attestations(mut self, raw: Vec<Vec<u8>>) -> Self {
        self.attestations = raw;
        self
    }

    /// These push options.
    pub fn options(mut self, options: registry_client::push::PushOptions) -> Self {
        self.options = options;
        self
    }

    /// Pushes through `c`.
    pub async fn run(
        self,
        c: &registry_client::Client,
    ) -> Result<registry_client::push::PushReport, registry_client::ClientError> {
        let temp;
        let dir = match (self.dir, self.files) {
            (Some(dir), _) => dir,
            (None, files) => {
                let files = files.unwrap_or_else(|| {
                    vec![(
                        "weights.bin".into(),
                        format!("weights of {}@{}", self.model, self.version).into_bytes(),
                    )]
                });
                let refs: Vec<(&str, &[u8])> =
                    files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
                temp = model_dir(&refs);
                temp.path()
            }
        };
        let spec = registry_client::push::PushSpec {
            dir,
            model: &self.model,
            version: &self.version,
            lineage: self.lineage,
            metadata: self.metadata,
            sign: self.sign.map(|key| registry_client::push::Signing {
                key,
                times: registry_core::attest::predicates::RunTimes::default(),
            }),
            attestations: self.attestations,
        };
        registry_client::push::push(c, spec, std::sync::Arc::new(registry_client::NoProgress), &self.options)
            .await
    }
}

/// A promotion of `version`, with reason "test" and no expected current version.
pub fn promote_req(version: &str) -> registry_core::promote::PromoteRequest {
    registry_core::promote::PromoteRequest {
        version: version.into(),
        reason: "test".into(),
        expected_current: None,
    }
}

/// Status and code of a call that failed with an API error (panics on any other failure).
pub fn api_error(e: registry_client::ClientError) -> (u16, String) {
    match e {
        registry_client::ClientError::Api { status, code, .. } => (status, code),
        other => panic!("not an API error: {other}"),
    }
}

/// Status, code and denial reasons (`details.reasons`) of a call that failed with an API error.
pub fn refusal(e: registry_client::ClientError) -> (u16, String, Vec<String>) {
    match e {
        registry_client::ClientError::Api { status, code, details, .. } => {
            let reasons = details
                .and_then(|d| d["reasons"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (status, code, reasons)
        }
        other => panic!("not an API error: {other}"),
    }
}

/// A request trusting `key` over `pattern` for these predicate types.
pub fn trust_key(
    pattern: &str,
    key: &registry_core::attest::keys::SigningKey,
    types: &[&str],
) -> registry_core::api::AddKeyRequest {
    registry_core::api::AddKeyRequest {
        namespace: registry_core::auth::NamePattern::parse(pattern).unwrap(),
        public_key: key.public().to_pem(),
        predicate_types: types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// A tiny deterministic generator (xorshift) for the benchmarks' generated histories, so runs are
/// comparable.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The `q` quantile (0..=1) of `v`, the nearest rank below, as the benchmarks report it.
pub fn pct(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[((v.len() - 1) as f64 * q) as usize]
}
