//! The artifact tree `mlflow-artifacts` serves. Three kinds of root:
//!
//! - `E/RUN/artifacts`: a run's files; its owner's only.
//! - `E/models/m-ID/artifacts`: a logged model's files; its owner's, and readable by whoever can read
//!   a version registered from it. Writable until the model is finalized.
//! - `registry/NS/NAME/SEQ/HEX`: a registered version, read-only, named by its manifest digest (what
//!   `get-download-uri` hands out), so moving an alias never changes a download in flight.
//!
//! Files are write-once paths naming content-addressed blobs: an upload is hashed while it streams
//! and stored like `PUT /v1/blobs`. A version that is quarantined or corrupted is refused (403) on
//! every read, through its registry root and through the logged model it came from: the MLflow
//! client hashes nothing, so the server must not hand out what the registry has withdrawn.
use bytes::Bytes;
use futures::Stream;
use registry_core::manifest::{check_path, check_portable_path};
use registry_core::{Digest, ModelName};

use crate::auth::Actor;
use crate::db::mlflow::{ArtifactInsert, ArtifactRow, LoggedModelRow};
use crate::db::now_ms;
use crate::db::versions::VersionRow;
use crate::error::ApiError;
use crate::service::blobs::{self, Download};
use crate::service::mlflow::tracking::{self, PENDING};
use crate::service::mlflow::{check_push, invalid, owns};
use crate::state::AppState;

/// Most files of one root that are listed or registered (a version's bound; one more is fetched to
/// tell "more" from "exactly").
const MAX_FILES: i64 = registry_core::manifest::MAX_FILES as i64;

/// The first segment of registered versions' roots.
pub const REGISTRY: &str = "registry";

/// An artifact root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// A run's files.
    Run {
        /// Experiment id.
        experiment: i64,
        /// Run id.
        run: String,
    },
    /// A logged model's files.
    LoggedModel {
        /// Experiment id.
        experiment: i64,
        /// Model id (`m-...`).
        model: String,
    },
    /// A registered version's files.
    Version {
        /// The model.
        model: ModelName,
        /// Its sequence number.
        seq: i64,
        /// Its manifest digest.
        digest: Digest,
    },
}

impl Root {
    /// The root as a path (the key of `mlflow_artifacts.root`).
    pub fn key(&self) -> String {
        match self {
            Root::Run { experiment, run } => format!("{experiment}/{run}/artifacts"),
            Root::LoggedModel { experiment, model } => format!("{experiment}/models/{model}/artifacts"),
            Root::Version { model, seq, digest } => {
                format!("{REGISTRY}/{}/{}/{seq}/{}", model.namespace(), model.name(), digest.hex())
            }
        }
    }

    /// The URI MLflow clients resolve against the tracking server.
    pub fn uri(&self) -> String {
        format!("mlflow-artifacts:/{}", self.key())
    }

    /// Splits a request path into its root and the path below it (`""` for the root itself).
    /// `None`: the path names no root (a directory above them, or nothing).
    pub fn parse(path: &str) -> Option<(Root, String)> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest = |n: usize| segs.get(n..).map(|s| s.join("/")).unwrap_or_default();
        if segs.first() == Some(&REGISTRY) && segs.len() >= 5 {
            let model = ModelName::new(segs[1], segs[2]).ok()?;
            let seq = segs[3].parse::<i64>().ok().filter(|s| *s > 0)?;
            let digest = Digest::from_hex(segs[4]).ok()?;
            return Some((Root::Version { model, seq, digest }, rest(5)));
        }
        let experiment = segs.first()?.parse::<i64>().ok().filter(|e| *e >= 0)?;
        if segs.len() >= 4 && segs[1] == "models" && segs[3] == "artifacts" && is_model_id(segs[2]) {
            return Some((Root::LoggedModel { experiment, model: segs[2].to_owned() }, rest(4)));
        }
        if segs.len() >= 3 && segs[2] == "artifacts" && is_run_id(segs[1]) {
            return Some((Root::Run { experiment, run: segs[1].to_owned() }, rest(3)));
        }
        None
    }
}

fn is_run_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_model_id(s: &str) -> bool {
    s.strip_prefix("m-").is_some_and(is_run_id)
}

/// A file path below a root, checked as a manifest path (it becomes one when the files are
/// registered), and portable unless the server allows otherwise.
fn check_file_path(state: &AppState, path: &str) -> Result<(), ApiError> {
    check_path(path).map_err(|e| invalid(format!("artifact path: {e}")))?;
    if !state.settings.allow_unportable_paths {
        check_portable_path(path).map_err(|e| invalid(format!("artifact path: {e}")))?;
    }
    Ok(())
}

fn quarantined(v: &VersionRow) -> bool {
    v.quarantined != 0 || v.corrupted != 0
}

fn withdrawn(v: &VersionRow) -> ApiError {
    let why = if v.quarantined != 0 { "quarantined" } else { "corrupted (its stored bytes failed a check)" };
    ApiError::forbidden(format!(
        "{}/{}@{} is {why}; its files are not served (the record stays readable)",
        v.namespace, v.name, v.version
    ))
}

/// A version, for a download: within `actor`'s pattern (403 otherwise), existing (404), named by the digest it has, and
/// not withdrawn (403).
pub async fn servable_version(
    state: &AppState,
    actor: &Actor,
    model: &ModelName,
    seq: i64,
) -> Result<VersionRow, ApiError> {
    let missing = || ApiError::not_found(format!("version {seq} of {model} not found"));
    crate::service::mlflow::check_covers(actor, model)?;
    let v = match state.db.version_by_seq(model, seq).await {
        Ok(v) => v,
        Err(crate::db::DbError::NotFound) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    if quarantined(&v) {
        return Err(withdrawn(&v));
    }
    Ok(v)
}

/// What a root's reads rest on.
enum Readable {
    /// Files recorded under the root.
    Recorded(String),
    /// A version's manifest.
    Version(Box<VersionRow>),
}

/// Whether `actor` may read under `root`: `Ok(None)` when the root does not exist for it (answered
/// like an empty or missing directory), 403 when it is withdrawn.
async fn readable(state: &AppState, actor: &Actor, root: &Root) -> Result<Option<Readable>, ApiError> {
    match root {
        Root::Run { run, .. } => match state.db.mlflow_run(run).await? {
            Some(r) if owns(actor, &r.created_by) && root_matches(root, r.experiment_id) => {
                // A version registered from the run's files (`runs:/RUN/PATH`) withdraws them too.
                let registered = state.db.mlflow_versions_of_run(run).await?;
                if let Some(v) = state.db.versions_by_ids(&registered).await?.iter().find(|v| quarantined(v))
                {
                    return Err(withdrawn(v));
                }
                Ok(Some(Readable::Recorded(root.key())))
            }
            _ => Ok(None),
        },
        Root::LoggedModel { model, .. } => {
            let Some(m) = state.db.mlflow_logged_model(model).await? else { return Ok(None) };
            if !root_matches(root, m.experiment_id) {
                return Ok(None);
            }
            let mut reader = owns(actor, &m.created_by);
            let registered = state.db.mlflow_versions_of_logged_model(model).await?;
            for v in state.db.versions_by_ids(&registered).await? {
                let m = ModelName::new(&v.namespace, &v.name).map_err(ApiError::internal)?;
                if actor.covers(&m) || reader {
                    reader = true;
                    if quarantined(&v) {
                        return Err(withdrawn(&v));
                    }
                }
            }
            Ok(reader.then(|| Readable::Recorded(root.key())))
        }
        Root::Version { model, seq, digest } => {
            let v = match servable_version(state, actor, model, *seq).await {
                Ok(v) => v,
                Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => return Ok(None),
                Err(e) => return Err(e),
            };
            Ok((v.manifest_digest == digest.hex()).then(|| Readable::Version(Box::new(v))))
        }
    }
}

fn root_matches(root: &Root, experiment_id: i64) -> bool {
    match root {
        Root::Run { experiment, .. } | Root::LoggedModel { experiment, .. } => *experiment == experiment_id,
        Root::Version { .. } => true,
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Name relative to the listed directory (how MLflow's server answers).
    pub path: String,
    /// A directory.
    pub is_dir: bool,
    /// Bytes (files only).
    pub size: Option<u64>,
}

/// The files of a version's manifest as artifact rows.
fn manifest_rows(v: &VersionRow) -> Result<Vec<ArtifactRow>, ApiError> {
    #[derive(serde::Deserialize)]
    struct M {
        files: Vec<registry_core::manifest::FileEntry>,
    }
    let m: M = serde_json::from_str(&v.manifest).map_err(ApiError::internal)?;
    Ok(m.files
        .into_iter()
        .map(|f| ArtifactRow {
            path: f.path,
            digest: f.digest.hex(),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
        })
        .collect())
}

/// Lists the directory `path` (a root or a directory below one): its immediate files and
/// subdirectories, named relative to `path` as MLflow's server does. Unknown or unreadable
/// directories list as empty, like MLflow's own missing ones.
pub async fn list(state: &AppState, actor: &Actor, path: &str) -> Result<Vec<Entry>, ApiError> {
    let trimmed = path.trim_matches('/');
    if !trimmed.is_empty() {
        check_path(trimmed).map_err(|e| invalid(format!("artifact path: {e}")))?;
    }
    let Some((root, dir)) = Root::parse(path) else { return Ok(vec![]) };
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let rows = match readable(state, actor, &root).await? {
        None => return Ok(vec![]),
        Some(Readable::Recorded(key)) => {
            let rows = state.db.mlflow_artifacts(&key, &prefix, MAX_FILES + 1).await?;
            if rows.len() as i64 > MAX_FILES {
                return Err(invalid(format!(
                    "{path} holds more than {MAX_FILES} files; list a subdirectory"
                )));
            }
            rows
        }
        Some(Readable::Version(v)) => {
            manifest_rows(&v)?.into_iter().filter(|r| r.path.starts_with(&prefix)).collect()
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    let mut dirs = std::collections::HashSet::new();
    for r in rows {
        let below = &r.path[prefix.len()..];
        match below.split_once('/') {
            Some((sub, _)) => {
                if dirs.insert(sub.to_owned()) {
                    out.push(Entry { path: sub.to_owned(), is_dir: true, size: None });
                }
            }
            None => {
                out.push(Entry { path: below.to_owned(), is_dir: false, size: Some(r.size.max(0) as u64) })
            }
        }
    }
    Ok(out)
}

/// Serves the file at `path` (audited like every blob download).
pub async fn get(
    state: &AppState,
    actor: &Actor,
    path: &str,
    range: Option<&str>,
) -> Result<(String, Download), ApiError> {
    let missing =
        || ApiError::not_found(format!("artifact {} not found", registry_core::text::clip(path, 300)));
    let Some((root, file)) = Root::parse(path) else { return Err(missing()) };
    if file.is_empty() {
        return Err(missing());
    }
    let row = match readable(state, actor, &root).await? {
        None => None,
        Some(Readable::Recorded(key)) => state.db.mlflow_artifact(&key, &file).await?,
        Some(Readable::Version(v)) => manifest_rows(&v)?.into_iter().find(|r| r.path == file),
    };
    let row = row.ok_or_else(missing)?;
    let digest = Digest::from_hex(&row.digest).map_err(ApiError::internal)?;
    Ok((file, blobs::serve(state, actor, &digest, range).await?))
}

/// Stores an upload at `path` under a run's or a pending logged model's root of `actor`. The same
/// bytes again are accepted (a retry); other bytes at a stored path are refused: files are
/// write-once.
pub async fn put<S, E>(
    state: &AppState,
    actor: &Actor,
    path: &str,
    content_length: Option<u64>,
    body: S,
) -> Result<(), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    check_push(actor)?;
    let Some((root, file)) = Root::parse(path) else {
        return Err(invalid(
            "artifact uploads go under a run's (E/RUN/artifacts) or a logged model's (E/models/m-ID/artifacts) root",
        ));
    };
    if file.is_empty() {
        return Err(invalid("the artifact path names a root, not a file"));
    }
    check_file_path(state, &file)?;
    match &root {
        Root::Run { run, experiment } => {
            let r = tracking::owned_run(state, actor, run).await?;
            if r.experiment_id != *experiment {
                return Err(ApiError::not_found(format!("Run with id={run} not found")));
            }
        }
        Root::LoggedModel { model, experiment } => {
            let m: LoggedModelRow = tracking::owned_logged_model(state, actor, model).await?;
            if m.experiment_id != *experiment {
                return Err(ApiError::not_found(format!("Logged model with id={model} not found")));
            }
            if m.status != PENDING {
                return Err(ApiError::forbidden(format!(
                    "logged model {model} is finalized ({}); its files are immutable",
                    m.status
                )));
            }
        }
        Root::Version { .. } => {
            return Err(ApiError::forbidden(
                "registered versions are immutable; their files cannot be written",
            ));
        }
    }
    let key = root.key();
    let (digest, size) = blobs::put_unnamed(state, actor, content_length, body).await?;
    state.pauses.point("mlflow.artifact.stored").await;
    let row = ArtifactRow {
        path: file.clone(),
        digest: digest.hex(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
    };
    // For a logged model, the insert re-checks under the model's row lock that it is still pending:
    // a finalize that landed while the bytes streamed wins, and the file is not added.
    let pending = match &root {
        Root::LoggedModel { model, .. } => Some(model.as_str()),
        _ => None,
    };
    match state.db.mlflow_artifact_insert(&key, &row, pending, &actor.id, now_ms()).await? {
        ArtifactInsert::Inserted => return Ok(()),
        ArtifactInsert::Exists => {}
        ArtifactInsert::BlobGone => {
            return Err(ApiError::unavailable(format!(
                "blob {digest} of artifact {file} was removed by garbage collection before it was recorded; send it again"
            )));
        }
        ArtifactInsert::Finalized => {
            return Err(ApiError::forbidden(format!(
                "logged model {} was finalized while this file was uploaded; its files are immutable",
                pending.unwrap_or_default()
            )));
        }
    }
    match state.db.mlflow_artifact(&key, &file).await? {
        Some(stored) if stored.digest == row.digest => Ok(()),
        _ => Err(ApiError::conflict(
            registry_core::api::codes::CONFLICT,
            format!("artifact {file} already exists with other content; artifact files are write-once"),
        )),
    }
}

/// The files recorded under a logged model's root, for registering it.
pub async fn logged_model_files(state: &AppState, m: &LoggedModelRow) -> Result<Vec<ArtifactRow>, ApiError> {
    let root = Root::LoggedModel { experiment: m.experiment_id, model: m.id.clone() };
    Ok(state.db.mlflow_artifacts(&root.key(), "", MAX_FILES + 1).await?)
}

/// The files recorded under a run's root below `sub` (a `runs:/RUN/sub` source), paths relative
/// to `sub`.
pub async fn run_files(
    state: &AppState,
    experiment: i64,
    run: &str,
    sub: &str,
) -> Result<Vec<ArtifactRow>, ApiError> {
    let root = Root::Run { experiment, run: run.to_owned() };
    let prefix = if sub.is_empty() { String::new() } else { format!("{}/", sub.trim_matches('/')) };
    let rows = state.db.mlflow_artifacts(&root.key(), &prefix, MAX_FILES + 1).await?;
    Ok(rows.into_iter().map(|r| ArtifactRow { path: r.path[prefix.len()..].to_owned(), ..r }).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse_and_print_back() {
        let run = "0123456789abcdef0123456789abcdef";
        let cases = [
            format!("0/{run}/artifacts"),
            format!("3/models/m-{run}/artifacts"),
            format!("registry/fraud/detector/2/{}", Digest::of(b"x").hex()),
        ];
        for c in cases {
            let (root, rest) = Root::parse(&format!("{c}/a/b.txt")).unwrap();
            assert_eq!(root.key(), c);
            assert_eq!(rest, "a/b.txt");
            assert_eq!(Root::parse(&c).unwrap().1, "");
        }
        for bad in ["", "0", "0/models", "x/abc/artifacts", "0/short/artifacts", "registry/Fraud/d/1/00"] {
            assert!(Root::parse(bad).is_none(), "{bad}");
        }
    }
}
