//! `registry._registry`: the native half of the Python SDK. Every method calls the same
//! `registry-client` function the `registry` CLI calls (push with the log read-back, pull and verify
//! against the pinned log, ...): no check is made here or in Python. Arguments arrive as plain values
//! (lineage and metadata as JSON text in the API's own shape) and results leave as JSON text; the
//! Python package (`registry/__init__.py`) gives them types. The GIL is released while a call waits on
//! the network or hashes.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use registry_client::attest::{read_public_key, read_signing_key};
use registry_client::incident::SeedArg;
use registry_client::pull::{PullOptions, pull_verified};
use registry_client::push::{PushOptions, PushSpec, Signing, push_logged};
use registry_client::sigstore::KeylessTrust;
use registry_client::tlog::{Expect, check_version, read_log_key};
use registry_client::verify::{VerifyOptions, verify_version};
use registry_client::{ClientError, Progress};
use registry_core::api::Metadata;
use registry_core::attest::predicates::RunTimes;
use registry_core::promote::PromoteRequest;
use registry_core::{Lineage, ModelName, ModelRef, VersionLabel};

/// The CLI's default registry URL when `REGISTRY_URL` is unset.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// One runtime for the process, shared by every `Client` (and thread) in it.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| PyRuntimeError::new_err(format!("cannot start the I/O runtime: {e}")))
}

/// Runs `fut` to completion with the GIL released.
fn block<T: Send>(
    py: Python<'_>,
    fut: impl std::future::Future<Output = Result<T, Failure>> + Send,
) -> PyResult<T> {
    let rt = runtime()?;
    py.detach(|| rt.block_on(fut)).map_err(|f| f.into_py_err(py))
}

/// How a call failed, before it becomes a Python exception (built with the GIL held).
enum Failure {
    Client(ClientError),
    Verification { message: String, report: Option<String> },
    Value(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Value(e.to_string())
    }
}

impl Failure {
    fn into_py_err(self, py: Python<'_>) -> PyErr {
        match self.raise(py) {
            Ok(e) | Err(e) => e,
        }
    }

    /// The exception classes live in `registry._errors` (plain Python, so they can be subclassed and
    /// pickled); a failure to build one is itself the error returned.
    fn raise(self, py: Python<'_>) -> Result<PyErr, PyErr> {
        let errors = py.import("registry._errors")?;
        let json_loads = py.import("json")?.getattr("loads")?;
        Ok(match self {
            Failure::Client(ClientError::Api { status, code, message, details }) => {
                let details = match details {
                    Some(d) => json_loads.call1((d.to_string(),))?,
                    None => py.None().into_bound(py),
                };
                let class = if code == registry_core::api::codes::POLICY_DENIED {
                    errors.getattr("PolicyDenied")?
                } else {
                    errors.getattr("ApiError")?
                };
                PyErr::from_value(class.call1((code, status, message, details))?)
            }
            Failure::Client(ClientError::Verify(message)) => {
                PyErr::from_value(errors.getattr("VerificationError")?.call1((message, py.None()))?)
            }
            Failure::Verification { message, report } => {
                let report = match report {
                    Some(r) => json_loads.call1((r,))?,
                    None => py.None().into_bound(py),
                };
                PyErr::from_value(errors.getattr("VerificationError")?.call1((message, report))?)
            }
            Failure::Client(e @ ClientError::Io { .. }) => {
                pyo3::exceptions::PyOSError::new_err(e.to_string())
            }
            Failure::Client(e @ ClientError::Input(_)) => PyValueError::new_err(e.to_string()),
            Failure::Client(e) => {
                errors.getattr("RegistryError")?.call1((e.to_string(),)).map(PyErr::from_value)?
            }
            Failure::Value(m) => PyValueError::new_err(m),
        })
    }
}

fn value<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(|e| Failure::Value(e.to_string()))
}

/// An optional Python callable `progress(phase, done, total)`, called with the GIL taken back.
struct PyProgress {
    callback: Py<PyAny>,
    state: Mutex<(String, u64, u64)>,
}

impl PyProgress {
    fn call(&self) {
        let (phase, done, total) = match self.state.lock() {
            Ok(s) => s.clone(),
            Err(_) => return,
        };
        Python::attach(|py| {
            // A raising callback must not abort a transfer: its error is reported as unraisable.
            if let Err(e) = self.callback.call1(py, (phase, done, total)) {
                e.write_unraisable(py, None);
            }
        });
    }
}

impl Progress for PyProgress {
    fn start(&self, phase: &str, total: u64) {
        if let Ok(mut s) = self.state.lock() {
            *s = (phase.to_owned(), 0, total);
        }
        self.call();
    }
    fn inc(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = s.1.saturating_add(n);
        }
        self.call();
    }
    fn finish(&self) {}
}

fn progress(callback: Option<Py<PyAny>>) -> Arc<dyn Progress> {
    match callback {
        Some(callback) => Arc::new(PyProgress { callback, state: Mutex::new((String::new(), 0, 0)) }),
        None => Arc::new(registry_client::NoProgress),
    }
}

fn parse_ref(s: &str) -> Result<(ModelName, String), Failure> {
    let r = value(ModelRef::parse(s))?;
    Ok((r.model, r.reference.to_string()))
}

fn public_keys(paths: &[PathBuf]) -> Result<Vec<registry_core::attest::keys::PublicKey>, Failure> {
    Ok(paths.iter().map(|p| read_public_key(p)).collect::<Result<Vec<_>, _>>()?)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|source| Failure::Client(ClientError::Io { path: path.to_path_buf(), source }))
}

/// A connection to one registry (thread-safe: share one between threads).
#[pyclass(frozen, module = "registry._registry")]
struct Client {
    inner: registry_client::Client,
    url: String,
}

#[pymethods]
impl Client {
    /// `url` defaults to `REGISTRY_URL` (else the CLI's default); `token` to `REGISTRY_TOKEN`, else the
    /// token `registry login` stored for that URL.
    #[new]
    #[pyo3(signature = (url=None, token=None))]
    fn new(url: Option<String>, token: Option<String>) -> PyResult<Self> {
        let url = url
            .or_else(|| std::env::var("REGISTRY_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let token = match token {
            Some(t) => Some(t),
            None => registry_client::credentials::token_for(&url)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        };
        let inner = registry_client::Client::new(&url)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .with_token(token);
        Ok(Self { inner, url })
    }

    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    fn __repr__(&self) -> String {
        format!("Client({:?})", self.url)
    }

    #[pyo3(signature = (dir, model, version, lineage, metadata, sign_key=None, attest=Vec::new(), started_on=None, finished_on=None, signature_out=None, jobs=4, progress_cb=None))]
    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        model: &str,
        version: &str,
        lineage: &str,
        metadata: &str,
        sign_key: Option<PathBuf>,
        attest: Vec<PathBuf>,
        started_on: Option<String>,
        finished_on: Option<String>,
        signature_out: Option<PathBuf>,
        jobs: usize,
        progress_cb: Option<Py<PyAny>>,
    ) -> PyResult<(String, Vec<String>)> {
        let client = self.inner.clone();
        let progress = progress(progress_cb);
        block(py, async move {
            let model = value(ModelName::parse(model))?;
            let version = value(VersionLabel::parse(version))?;
            let lineage: Lineage = serde_json::from_str(lineage)?;
            let metadata: Metadata = serde_json::from_str(metadata)?;
            let key = sign_key.as_deref().map(read_signing_key).transpose()?;
            let now = value(
                time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339),
            )?;
            let sign = key.as_ref().map(|key| Signing {
                key,
                times: RunTimes {
                    started_on: started_on.clone(),
                    finished_on: Some(finished_on.clone().unwrap_or(now)),
                },
            });
            let mut attestations = Vec::new();
            for f in &attest {
                attestations
                    .push(std::fs::read(f).map_err(|source| ClientError::Io { path: f.clone(), source })?);
            }
            let opts = PushOptions { jobs, ..Default::default() };
            let spec = PushSpec {
                dir: &dir,
                model: &model,
                version: &version,
                lineage,
                metadata,
                sign,
                attestations,
            };
            let (r, notes) = push_logged(&client, spec, progress, &opts).await?;
            if let (Some(path), Some(bundle)) = (&signature_out, &r.oms_bundle) {
                write(path, bundle)?;
            }
            Ok((serde_json::to_string(&r)?, notes))
        })
    }

    #[pyo3(signature = (reference, dir, trusted_keys=Vec::new(), require_predicates=Vec::new(), allow_unsigned_files=false, allow_quarantined=false, force=false, signature_out=None, jobs=4, progress_cb=None, trust_roots=Vec::new(), trusted_identities=Vec::new(), claims=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn pull(
        &self,
        py: Python<'_>,
        reference: &str,
        dir: PathBuf,
        trusted_keys: Vec<PathBuf>,
        require_predicates: Vec<String>,
        allow_unsigned_files: bool,
        allow_quarantined: bool,
        force: bool,
        signature_out: Option<PathBuf>,
        jobs: usize,
        progress_cb: Option<Py<PyAny>>,
        trust_roots: Vec<PathBuf>,
        trusted_identities: Vec<String>,
        claims: Vec<String>,
    ) -> PyResult<(String, Vec<String>)> {
        let client = self.inner.clone();
        let progress = progress(progress_cb);
        block(py, async move {
            let (model, reference) = parse_ref(reference)?;
            registry_client::place::check_target(&dir)?;
            let keys = public_keys(&trusted_keys)?;
            let keyless = KeylessTrust::load(&trust_roots, &trusted_identities, &claims)?;
            let opts = PullOptions {
                expect: Expect {
                    keys: &keys,
                    roots: &keyless.roots,
                    identities: &keyless.identities,
                    required: &require_predicates,
                    allow_unsigned_files,
                },
                force,
                allow_quarantined,
                signature: signature_out.is_some(),
                jobs,
            };
            let p = pull_verified(&client, &model, &reference, &dir, &opts, progress).await?;
            if let (Some(path), Some(bytes)) = (&signature_out, &p.signature) {
                write(path, bytes.as_bytes())?;
            }
            let mut out = serde_json::to_value(&p.report)?;
            out["logged_at"] = serde_json::json!(p.logged_at);
            let mut notes = p.warnings;
            if let Some(key) = p.first_use {
                notes.insert(0, format!("trusting the log key {key} from now on (first use)"));
            }
            Ok((out.to_string(), notes))
        })
    }

    #[pyo3(signature = (reference, dir=None, trusted_keys=Vec::new(), require_predicates=Vec::new(), allow_unsigned_files=false, allow_quarantined=false, log_key=None, trust_roots=Vec::new(), trusted_identities=Vec::new(), claims=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn verify(
        &self,
        py: Python<'_>,
        reference: &str,
        dir: Option<PathBuf>,
        trusted_keys: Vec<PathBuf>,
        require_predicates: Vec<String>,
        allow_unsigned_files: bool,
        allow_quarantined: bool,
        log_key: Option<String>,
        trust_roots: Vec<PathBuf>,
        trusted_identities: Vec<String>,
        claims: Vec<String>,
    ) -> PyResult<String> {
        let client = self.inner.clone();
        block(py, async move {
            let (model, reference) = parse_ref(reference)?;
            let keys = public_keys(&trusted_keys)?;
            let keyless = KeylessTrust::load(&trust_roots, &trusted_identities, &claims)?;
            let given = log_key.as_deref().map(read_log_key).transpose()?;
            let expect = Expect {
                keys: &keys,
                roots: &keyless.roots,
                identities: &keyless.identities,
                required: &require_predicates,
                allow_unsigned_files,
            };
            let opts = VerifyOptions { dir: dir.as_deref(), allow_quarantined, threads: 0 };
            let v =
                verify_version(&client, &model, &reference, &expect, given.as_ref(), &opts, progress(None))
                    .await?;
            let json = serde_json::to_string(&v)?;
            if v.ok {
                return Ok(json);
            }
            let mut message = format!("{} check(s) failed for {}", v.failures().count(), v.version);
            for f in v.failures() {
                message.push_str(&format!("\n✗ {}", f.what));
            }
            Err(Failure::Verification { message, report: Some(json) })
        })
    }

    #[pyo3(signature = (reference, to, reason=String::new(), expect_current=None))]
    fn promote(
        &self,
        py: Python<'_>,
        reference: &str,
        to: &str,
        reason: String,
        expect_current: Option<String>,
    ) -> PyResult<String> {
        let client = self.inner.clone();
        block(py, async move {
            let (model, version) = parse_ref(reference)?;
            let req = PromoteRequest { version, reason, expected_current: expect_current };
            Ok(serde_json::to_string(&client.promote(&model, to, &req).await?)?)
        })
    }

    #[pyo3(signature = (model, alias, reason=String::new()))]
    fn rollback(&self, py: Python<'_>, model: &str, alias: &str, reason: String) -> PyResult<String> {
        let client = self.inner.clone();
        block(py, async move {
            let model = value(ModelName::parse(model))?;
            Ok(serde_json::to_string(&client.rollback(&model, alias, &reason).await?)?)
        })
    }

    fn show(&self, py: Python<'_>, reference: &str) -> PyResult<String> {
        let client = self.inner.clone();
        block(py, async move {
            let (model, reference) = parse_ref(reference)?;
            Ok(serde_json::to_string(&client.get_version(&model, &reference).await?)?)
        })
    }

    /// Every model (optionally of a namespace), or every version of `NS/NAME`, all pages.
    #[pyo3(signature = (target=None, prefix=None))]
    fn ls(&self, py: Python<'_>, target: Option<String>, prefix: Option<String>) -> PyResult<String> {
        let client = self.inner.clone();
        block(py, async move {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            if let Some(t) = target.as_deref().filter(|t| t.contains('/')) {
                let model = value(ModelName::parse(t))?;
                loop {
                    let page = client.list_versions(&model, cursor.as_deref(), Some(500)).await?;
                    for v in page.versions {
                        all.push(serde_json::to_value(v)?);
                    }
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
            } else {
                loop {
                    let page = client
                        .list_models(target.as_deref(), prefix.as_deref(), cursor.as_deref(), Some(500))
                        .await?;
                    for m in page.models {
                        all.push(serde_json::to_value(m)?);
                    }
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
            }
            Ok(serde_json::to_string(&all)?)
        })
    }

    /// `kind` is `dataset`, `commit`, `key` or `version`.
    fn affected(&self, py: Python<'_>, kind: &str, seed: String) -> PyResult<String> {
        let client = self.inner.clone();
        let seed = match kind {
            "dataset" => SeedArg::Dataset(seed),
            "commit" => SeedArg::Commit(seed),
            "key" => SeedArg::Key(seed),
            "version" => SeedArg::Version(seed),
            other => return Err(PyValueError::new_err(format!("unknown seed kind {other:?}"))),
        };
        block(py, async move { Ok(serde_json::to_string(&client.affected(&seed).await?)?) })
    }

    /// The auditor bundle of `reference`, checked against the pinned log as `registry bundle` does;
    /// returns `(bundle JSON, log key)` and writes the bundle to `output` when given.
    #[pyo3(signature = (reference, output=None))]
    fn bundle(&self, py: Python<'_>, reference: &str, output: Option<PathBuf>) -> PyResult<(String, String)> {
        let client = self.inner.clone();
        block(py, async move {
            let (model, reference) = parse_ref(reference)?;
            let c = check_version(&client, &model, &reference, &Expect::default(), None).await?;
            if !c.report.ok() {
                let mut message = format!("the bundle of {model}@{reference} does not check out");
                for f in c.report.findings.iter().filter(|f| !f.ok) {
                    message.push_str(&format!("\n✗ {}", f.what));
                }
                return Err(Failure::Verification { message, report: None });
            }
            let text = serde_json::to_vec_pretty(&c.audit_bundle)?;
            if let Some(path) = &output {
                write(path, &text)?;
            }
            Ok((String::from_utf8_lossy(&text).into_owned(), c.log.key.to_vkey()))
        })
    }
}

/// Streamed SHA-256 of a file, as `sha256:<hex>` (for dataset digests); the GIL is released.
#[pyfunction]
fn digest_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| registry_client::hash::hash_file(&path, &registry_client::NoProgress))
        .map(|(d, _)| d.to_string())
        .map_err(|e| Failure::Client(e).into_py_err(py))
}

/// Verifies a Sigstore bundle (a file) over `artifact` offline against `trusted_root` (a
/// `trusted_root.json`): a keyless signer must be one of `trusted_identities` (`ISSUER=SUBJECT_REGEX`),
/// each requiring every `claims` entry (`NAME=VALUE`) — `registry verify-bundle`'s code. Returns the
/// report as JSON; a refusal raises `VerificationError` naming its reason.
#[pyfunction]
fn verify_bundle(
    py: Python<'_>,
    bundle: PathBuf,
    artifact: PathBuf,
    trusted_root: PathBuf,
    trusted_identities: Vec<String>,
    claims: Vec<String>,
) -> PyResult<String> {
    use registry_client::sigstore::{Signer, trusted_identities as rules, verify_sigstore_bundle_files};
    py.detach(|| -> Result<String, Failure> {
        let signer = Signer::Trusted(rules(&trusted_identities, &claims)?);
        let report = verify_sigstore_bundle_files(&bundle, &artifact, &trusted_root, &signer)?;
        Ok(serde_json::to_string(&report)?)
    })
    .map_err(|f| f.into_py_err(py))
}

#[pymodule]
fn _registry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_function(wrap_pyfunction!(digest_file, m)?)?;
    m.add_function(wrap_pyfunction!(verify_bundle, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
