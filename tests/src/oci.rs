//! Helpers for the OCI Distribution view tests (`/v2`): requests with each kind of credential, the
//! answers read whole, the spec's error bodies checked, and the artifact a pushed version should be.
use registry_core::oci::Artifact;
use registry_core::{Digest, FileEntry, Manifest, ModelName, VersionLabel};
use reqwest::Method;
use serde_json::Value;

/// The only error codes the spec allows (distribution-spec v1.1.1, "Error Codes": "The `code` field
/// MUST be one of the following").
pub const ERROR_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

/// `sha256` of `{}`: the empty descriptor's digest (image-spec `manifest.md`, "Guidance for an Empty
/// Descriptor").
pub const EMPTY_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The credential a request carries.
#[derive(Debug, Clone)]
pub enum Cred {
    /// None at all.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <user:password>`.
    Basic(String, String),
}

/// A raw `/v2` client of one server with one credential. It never follows redirects, so what the
/// server said is what the test sees.
#[derive(Debug, Clone)]
pub struct V2 {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    cred: Cred,
    http: reqwest::Client,
}

/// An answer read whole.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
    /// What was asked (`METHOD path`), for messages.
    pub asked: String,
}

impl V2 {
    /// A client of `base` sending `cred`.
    pub fn new(base: &str, cred: Cred) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: base.to_owned(), cred, http }
    }

    /// A client sending `token` as the bearer credential.
    pub fn bearer(base: &str, token: &str) -> Self {
        Self::new(base, Cred::Bearer(token.to_owned()))
    }

    /// A client sending `token` as the Basic password of user `ci` (what skopeo `--creds` does).
    pub fn basic(base: &str, token: &str) -> Self {
        Self::new(base, Cred::Basic("ci".into(), token.to_owned()))
    }

    /// A client sending no credential.
    pub fn anonymous(base: &str) -> Self {
        Self::new(base, Cred::None)
    }

    /// A request to `path` (from `/v2...`), with the credential.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.cred {
            Cred::None => rb,
            Cred::Bearer(t) => rb.bearer_auth(t),
            Cred::Basic(u, p) => rb.basic_auth(u, Some(p)),
        }
    }

    /// Sends `rb`, reading the whole answer.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Answer {
        let req = rb.build().unwrap();
        let asked = format!("{} {}", req.method(), req.url().path());
        let asked = match req.url().query() {
            Some(q) => format!("{asked}?{q}"),
            None => asked,
        };
        let resp = self.http.execute(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap().to_vec();
        Answer { status, headers, body, asked }
    }

    /// `method path`, nothing more.
    pub async fn call(&self, method: Method, path: &str) -> Answer {
        self.send(self.request(method, path)).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path).await
    }

    /// `HEAD path`.
    pub async fn head(&self, path: &str) -> Answer {
        self.call(Method::HEAD, path).await
    }

    /// `GET path` with `Range: range`.
    pub async fn get_range(&self, path: &str, range: &str) -> Answer {
        self.send(self.request(Method::GET, path).header(reqwest::header::RANGE, range)).await
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} {:?} {}", self.asked, self.status, self.headers, self.text())
    }
}

impl Answer {
    /// A header's value (panics if it is not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every value of a header.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: {e}: body {:?}", self.asked, String::from_utf8_lossy(&self.body)))
    }

    /// Panics unless the status is `want`, showing the whole answer.
    pub fn expect(&self, want: u16) -> &Self {
        assert_eq!(
            self.status,
            want,
            "{} -> {} {:?} {}",
            self.asked,
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The sha256 of the body.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.body)
    }

    /// A spec error answer: a 4xx whose JSON body is `{"errors":[{"code","message","detail"}]}`, every
    /// code one of [`ERROR_CODES`] (distribution-spec v1.1.1 "Error Codes"), a message that says
    /// something, and the API version header every `/v2` answer carries. Returns status, the first
    /// code and that error object; panics with what is wrong otherwise.
    pub fn error(&self) -> (u16, String, Value) {
        self.spec_error().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Answer::error`], saying what is wrong instead of panicking.
    pub fn spec_error(&self) -> Result<(u16, String, Value), String> {
        let says = |what: String| format!("{} -> {} {what}: {}", self.asked, self.status, self.text());
        if !(400..500).contains(&self.status) {
            return Err(says("not a 4xx".into()));
        }
        if self.header("docker-distribution-api-version") != Some("registry/2.0") {
            return Err(says("no Docker-Distribution-API-Version: registry/2.0".into()));
        }
        let ct = self.header("content-type").unwrap_or_default();
        if !ct.starts_with("application/json") {
            return Err(says(format!("error content type {ct:?}")));
        }
        let body: Value = serde_json::from_slice(&self.body).map_err(|e| says(format!("not JSON ({e})")))?;
        let errors =
            body["errors"].as_array().filter(|e| !e.is_empty()).ok_or_else(|| says("no errors[]".into()))?;
        for e in errors {
            let code = e["code"].as_str().ok_or_else(|| says("an error without a code".into()))?;
            if !ERROR_CODES.contains(&code) {
                return Err(says(format!("code {code} is not one the spec lists")));
            }
            if e["message"].as_str().is_none_or(str::is_empty) {
                return Err(says("an error without a message".into()));
            }
        }
        Ok((self.status, errors[0]["code"].as_str().unwrap_or_default().to_owned(), errors[0].clone()))
    }

    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Panics unless this is the spec error `(status, code)`; returns the error object.
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let (s, c, e) = self.error();
        assert_eq!((s, c.as_str()), (status, code), "{} -> {e}", self.asked);
        e
    }
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge (`None` if another scheme).
pub fn bearer_challenge(header: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let rest = header.strip_prefix("Bearer ")?;
    let mut out = std::collections::BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, v) = s.split_once('=')?;
        let v = v.strip_prefix('"')?;
        let end = v.find('"')?;
        out.insert(k.trim().to_owned(), v[..end].to_owned());
        s = v[end + 1..].trim_start_matches(',').trim();
    }
    Some(out)
}

/// Our manifest of these files.
pub fn manifest_of(files: &[(&str, &[u8])]) -> Manifest {
    Manifest::new(
        files
            .iter()
            .map(|(p, c)| FileEntry { path: (*p).into(), size: c.len() as u64, digest: Digest::of(c) })
            .collect(),
    )
    .unwrap()
}

/// The OCI artifact `model@label` made of these files must be (the pure generator, computed here).
pub fn artifact_of(model: &str, label: &str, files: &[(&str, &[u8])]) -> Artifact {
    registry_core::oci::model_artifact(
        &ModelName::parse(model).unwrap(),
        &VersionLabel::parse(label).unwrap(),
        &manifest_of(files),
    )
    .unwrap()
}

/// `GET /v1/models/{model}/versions/{label}` as JSON (the record, with `oci_manifest_digest`).
pub async fn version_json(server_url: &str, token: &str, model: &str, label: &str) -> Value {
    let r = crate::http_with(token)
        .get(format!("{server_url}/v1/models/{model}/versions/{label}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{model}@{label}");
    r.json().await.unwrap()
}

/// A version pushed for the `/v2` tests, with the artifact it must be served as.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `NS/NAME`.
    pub model: String,
    /// The version label.
    pub label: String,
    /// Its files (path, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// Its OCI artifact, computed here from the files.
    pub artifact: Artifact,
}

impl Pushed {
    /// Pushes `files` as `model@label` through the real client, signed with `key` if given.
    pub async fn push(
        c: &registry_client::Client,
        model: &str,
        label: &str,
        files: Vec<(&str, Vec<u8>)>,
        key: Option<&registry_core::attest::keys::SigningKey>,
    ) -> Self {
        let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|(p, b)| (p.to_owned(), b)).collect();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        crate::TestPush::new(model, label).files(&refs).signed(key).run(c).await.unwrap();
        let artifact = artifact_of(model, label, &refs);
        Self { model: model.into(), label: label.into(), files, artifact }
    }

    /// The tag it answers to: its label with `+` mapped to `_`.
    pub fn tag(&self) -> String {
        self.label.replace('+', "_")
    }

    /// Its OCI digest.
    pub fn digest(&self) -> String {
        self.artifact.digest.to_string()
    }

    /// `/v2/NS/NAME/manifests/<reference>`.
    pub fn manifest_path(&self, reference: &str) -> String {
        format!("/v2/{}/manifests/{reference}", self.model)
    }

    /// `/v2/NS/NAME/blobs/<digest>`.
    pub fn blob_path(&self, digest: &str) -> String {
        format!("/v2/{}/blobs/{digest}", self.model)
    }

    /// `/v2/NS/NAME/referrers/<its digest>`.
    pub fn referrers_path(&self) -> String {
        format!("/v2/{}/referrers/{}", self.model, self.digest())
    }

    /// Its files as `(path, bytes)` slices.
    pub fn file_refs(&self) -> Vec<(&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect()
    }
}

/// The model every `/v2` test reads.
pub const MODEL: &str = "fraud/detector";

/// What [`fixture`] pushed.
#[derive(Debug)]
pub struct Fixture {
    /// `fraud/detector@1.0+cu121` (tag `1.0_cu121`): signed (SLSA provenance and an OMS bundle), and
    /// the target of alias `production` (whose promotion adds a VSA).
    pub signed: Pushed,
    /// `fraud/detector@2`: unsigned, the target of alias `rc_2` (whose promotion adds a VSA).
    pub plain: Pushed,
    /// `fraud/detector@rc+1`: served under tag `rc_1` (`+` written `_`).
    pub rc: Pushed,
    /// `fraud/other@1`: another model, whose blob `fraud/detector` must not serve.
    pub other: Pushed,
    /// The key that signed `signed` (trusted for `fraud/*`).
    pub key: registry_core::attest::keys::SigningKey,
}

impl Fixture {
    /// The tags `fraud/detector` must list, in byte order.
    pub fn tags(&self) -> Vec<String> {
        let mut t = vec![
            self.signed.tag(),
            self.plain.tag(),
            self.rc.tag(),
            "production".to_owned(),
            "rc_2".to_owned(),
        ];
        t.sort();
        t.dedup();
        t
    }
}

/// Pushes the [`Fixture`] through the real client with the server's admin token.
pub async fn fixture(s: &crate::TestServer) -> Fixture {
    use registry_core::attest::keys::{KeyKind, SigningKey};
    let c = crate::client(s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[7; 32]).unwrap();
    c.add_key(&crate::trust_key("fraud/*", &key, &[])).await.unwrap();
    let config = br#"{"architectures":["BertModel"]}"#.to_vec();
    let signed = Pushed::push(
        &c,
        MODEL,
        "1.0+cu121",
        vec![
            ("config.json", config.clone()),
            ("model.safetensors", crate::noise(20_000, 1)),
            ("README.md", b"# detector\n".to_vec()),
            ("tokenizer/vocab.txt", b"a b c\n".to_vec()),
        ],
        Some(&key),
    )
    .await;
    let plain = Pushed::push(
        &c,
        MODEL,
        "2",
        vec![("config.json", config), ("model.safetensors", crate::noise(20_000, 2))],
        None,
    )
    .await;
    let rc = Pushed::push(&c, MODEL, "rc+1", vec![("w.bin", b"release candidate".to_vec())], None).await;
    let other =
        Pushed::push(&c, "fraud/other", "1", vec![("other.bin", b"another model's weights".to_vec())], None)
            .await;
    let m = ModelName::parse(MODEL).unwrap();
    c.promote(&m, "production", &crate::promote_req(&signed.label)).await.unwrap();
    c.promote(&m, "rc_2", &crate::promote_req(&plain.label)).await.unwrap();
    Fixture { signed, plain, rc, other, key }
}

/// One attestation of a version and the referrer manifest it must be served as.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The attestation's `/v1` id.
    pub id: i64,
    /// Its predicate type.
    pub predicate_type: String,
    /// Its exact bytes, as `GET /v1/.../attestations/{id}` serves them.
    pub body: Vec<u8>,
    /// The referrer manifest (the pure generator, computed here).
    pub manifest: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// Its artifact type (the layer's media type).
    pub artifact_type: String,
}

/// Every attestation of `p`, read through `/v1`, with the referrer manifest each must be.
pub async fn referrers_of(server_url: &str, token: &str, p: &Pushed) -> Vec<Referrer> {
    let h = crate::http_with(token);
    let base = format!("{server_url}/v1/models/{}/versions/{}/attestations", p.model, p.label);
    let list: Value = h.get(&base).send().await.unwrap().json().await.unwrap();
    let mut out = vec![];
    for a in list["attestations"].as_array().unwrap() {
        let id = a["id"].as_i64().unwrap();
        let r = h.get(format!("{base}/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.unwrap().to_vec();
        let predicate_type = a["predicate_type"].as_str().unwrap().to_owned();
        let (manifest, digest) = registry_core::oci::attestation_artifact(
            &p.artifact.digest,
            p.artifact.manifest.len(),
            &body,
            &predicate_type,
        );
        let artifact_type = registry_core::oci::attestation_media_type(&body);
        out.push(Referrer { id, predicate_type, body, manifest, digest, artifact_type });
    }
    out
}
