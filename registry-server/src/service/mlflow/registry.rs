//! Registered models, versions and aliases as MLflow sees them, over the registry's own: a version
//! is immutable and numbered by its per-model sequence number; registering one publishes through
//! [`push::publish_numbered`]; setting an alias is a promotion under the policies; deletes, renames
//! and stage transitions are refused (history is append-only). Tags and descriptions are mutable
//! annotations beside the version, each change a log entry, never part of its identity.
use std::collections::BTreeMap;

use registry_core::api::codes;
use registry_core::auth::Scope;
use registry_core::lineage::{Code, Dataset, Lineage, Run, Scalar};
use registry_core::manifest::{FileEntry, Manifest};
use registry_core::tlog::entry;
use registry_core::{Digest, ModelName, Reference, VersionLabel};
use serde_json::json;

use crate::auth::Actor;
use crate::db::mlflow::{ArtifactRow, InputRow, LoggedModelRow, RunRow, SourceRow, VersionFacts, VersionKey};
use crate::db::models::{ModelFilter, ModelRow};
use crate::db::versions::VersionRow;
use crate::db::{DbError, now_ms};
use crate::error::ApiError;
use crate::service::mlflow::artifacts::{self, Root};
use crate::service::mlflow::tracking::{self, READY};
use crate::service::mlflow::{
    MAX_TAG_VALUE, check_covers, check_entry, invalid, kind, mlflow_name, model_name,
};
use crate::service::promote::{self, Move};
use crate::service::push;
use crate::service::{blobs, log};
use crate::state::AppState;

/// Tag keys the registry sets on every version; callers cannot set or delete them.
pub const RESERVED_PREFIX: &str = "registry.";

/// A version as MLflow shows it.
#[derive(Debug)]
pub struct VersionView {
    /// The stored facts.
    pub row: VersionFacts,
    /// MLflow's name for its model.
    pub name: String,
    /// Aliases pointing at it.
    pub aliases: Vec<String>,
    /// `registry.*` facts, then its annotations.
    pub tags: Vec<(String, String)>,
}

/// A registered model as MLflow shows it.
#[derive(Debug)]
pub struct ModelView {
    /// The model.
    pub row: ModelRow,
    /// MLflow's name.
    pub name: String,
    /// Aliases and the sequence numbers they point at.
    pub aliases: Vec<(String, i64)>,
    /// The newest version.
    pub latest: Option<VersionView>,
    /// Annotations.
    pub tags: Vec<(String, String)>,
    /// Description annotation.
    pub description: Option<String>,
}

fn not_found_model(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Registered Model with name={} not found",
        registry_core::text::clip(name, 300)
    ))
}

/// A model `actor` may read: 403 outside its namespace pattern, 404 if it does not exist.
async fn readable_model(
    state: &AppState,
    actor: &Actor,
    name: &str,
) -> Result<(ModelName, ModelRow), ApiError> {
    let m = model_name(name)?;
    check_covers(actor, &m)?;
    match state.db.model_get(&m).await {
        Ok(row) => Ok((m, row)),
        Err(DbError::NotFound) => Err(not_found_model(name)),
        Err(e) => Err(e.into()),
    }
}

/// Parses an MLflow version number.
pub fn seq(version: &str) -> Result<i64, ApiError> {
    version.trim().parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        invalid(format!("version {:?} is not a positive integer", registry_core::text::clip(version, 40)))
    })
}

/// The MLflow view of a version's facts (no further reads).
pub fn view(row: VersionFacts) -> Result<VersionView, ApiError> {
    let m = ModelName::new(&row.namespace, &row.name).map_err(ApiError::internal)?;
    let corrupt =
        |e: serde_json::Error| ApiError::internal(DbError::Corrupt(format!("version annotations: {e}")));
    let mut aliases: Vec<String> =
        serde_json::from_str(row.aliases.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    aliases.sort();
    let mut annotations: Vec<(String, String)> =
        serde_json::from_str(row.tags.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    annotations.sort();
    let mut tags = vec![
        ("registry.label".to_owned(), row.version.clone()),
        ("registry.manifest_digest".to_owned(), format!("sha256:{}", row.manifest_digest)),
        ("registry.oms_root_digest".to_owned(), format!("sha256:{}", row.oms_root_digest)),
        ("registry.log_index".to_owned(), row.log_index.map(|i| i.to_string()).unwrap_or_default()),
        ("registry.attestation_count".to_owned(), row.attestations.to_string()),
        ("registry.quarantined".to_owned(), (row.quarantined != 0).to_string()),
    ];
    if row.corrupted != 0 {
        tags.push(("registry.corrupted".to_owned(), "true".to_owned()));
    }
    tags.extend(annotations);
    let name = mlflow_name(&m).unwrap_or_else(|| m.to_string());
    Ok(VersionView { row, name, aliases, tags })
}

/// The MLflow view of version `key` (`None` if there is none).
async fn view_of(state: &AppState, key: VersionKey<'_>) -> Result<Option<VersionView>, ApiError> {
    state.db.mlflow_version(key).await?.map(view).transpose()
}

/// The MLflow view of a version known to exist.
async fn view_of_id(state: &AppState, id: i64) -> Result<VersionView, ApiError> {
    view_of(state, VersionKey::Id(id))
        .await?
        .ok_or_else(|| ApiError::internal(format!("version {id} vanished")))
}

async fn model_view(
    state: &AppState,
    actor: &Actor,
    m: &ModelName,
    row: ModelRow,
) -> Result<ModelView, ApiError> {
    let aliases = state.db.aliases_of(row.id).await?;
    let ids: Vec<i64> = aliases.iter().map(|a| a.version_id).collect();
    let seqs: BTreeMap<i64, i64> =
        state.db.versions_by_ids(&ids).await?.into_iter().map(|v| (v.id, v.seq)).collect();
    let aliases = aliases.into_iter().filter_map(|a| seqs.get(&a.version_id).map(|s| (a.name, *s))).collect();
    let latest = match state.db.versions_list(row.id, None, 1).await?.pop() {
        Some(v) => Some(view_of_id(state, v.id).await?),
        None => None,
    };
    let owner = m.to_string();
    let description = state.db.mlflow_tags(kind::MODEL_DESCRIPTION, &owner).await?.pop().map(|(_, v)| v);
    let _ = actor;
    Ok(ModelView {
        name: mlflow_name(m).unwrap_or_else(|| owner.clone()),
        tags: state.db.mlflow_tags(kind::MODEL, &owner).await?,
        aliases,
        latest,
        description,
        row,
    })
}

/// `registered-models/create`: the model, empty until its first version (409 if it exists).
pub async fn create_model(
    state: &AppState,
    actor: &Actor,
    name: &str,
    tags: &[(String, String)],
    description: Option<&str>,
) -> Result<ModelView, ApiError> {
    let m = model_name(name)?;
    actor.check_write(Scope::Push, &m)?;
    check_annotations(tags, description)?;
    let mut tx = state.db.begin_logged().await?;
    let (_, created) = crate::db::models::get_or_create(&mut tx, &m, &actor.id, now_ms()).await?;
    if !created {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            format!("Registered Model (name={name}) already exists."),
        ));
    }
    let e = log::entry(entry::MODEL_CREATED, &m.to_string(), &actor.id, &[]);
    crate::db::log::append(&mut tx, &e).await?;
    let owner = m.to_string();
    annotate_in(&mut tx, actor, &owner, kind::MODEL, tags, &owner).await?;
    if let Some(d) = description {
        annotate_in(
            &mut tx,
            actor,
            &owner,
            kind::MODEL_DESCRIPTION,
            &[(String::new(), d.to_owned())],
            &owner,
        )
        .await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    let row = state.db.model_get(&m).await?;
    model_view(state, actor, &m, row).await
}

/// `registered-models/get`.
pub async fn model(state: &AppState, actor: &Actor, name: &str) -> Result<ModelView, ApiError> {
    let (m, row) = readable_model(state, actor, name).await?;
    model_view(state, actor, &m, row).await
}

/// What `registered-models/search` understands: no filter, `name = 'X'`, or `name LIKE 'PREFIX%'`.
fn model_filter(filter: &str) -> Result<(Option<ModelName>, Option<String>), ApiError> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok((None, None));
    }
    let unsupported = || {
        invalid(format!(
            "unsupported filter {:?}: use name = 'NS.NAME' or name LIKE 'NS.PREFIX%'",
            registry_core::text::clip(f, 200)
        ))
    };
    let rest = f.strip_prefix("name").ok_or_else(unsupported)?.trim_start();
    let (op, value) = if let Some(v) = rest.strip_prefix('=') {
        ("=", v)
    } else if let Some(v) =
        rest.strip_prefix("LIKE").or_else(|| rest.strip_prefix("like")).or_else(|| rest.strip_prefix("ILIKE"))
    {
        ("like", v)
    } else {
        return Err(unsupported());
    };
    let value = quoted(value.trim()).ok_or_else(unsupported)?;
    if op == "=" {
        return Ok((Some(model_name(&value)?), None));
    }
    let prefix = value.strip_suffix('%').filter(|p| !p.contains(['%', '_'])).ok_or_else(unsupported)?;
    Ok((None, Some(prefix.to_owned())))
}

/// The text inside `'...'` or `"..."`.
fn quoted(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q)).then(|| inner.to_owned())
}

/// `registered-models/search`: the models `actor` may read, by name, a page at a time.
pub async fn search_models(
    state: &AppState,
    actor: &Actor,
    filter: &str,
    max_results: u32,
    page_token: Option<&str>,
) -> Result<(Vec<ModelView>, Option<String>), ApiError> {
    let (exact, prefix) = model_filter(filter)?;
    let after = match page_token.filter(|t| !t.is_empty()) {
        Some(t) => {
            let m = ModelName::parse(t).map_err(|_| invalid("malformed page_token"))?;
            Some((m.namespace().to_owned(), m.name().to_owned()))
        }
        None => None,
    };
    let limit = max_results.clamp(1, 1000);
    // The caller's pattern bounds the query itself, so neither the page nor its cursor can name a
    // model it does not cover; a filter outside the pattern matches nothing.
    let (own_ns, own_name) = (actor.pattern.namespace(), actor.pattern.name());
    let nothing = Ok((vec![], None));
    let mut filter = ModelFilter {
        namespace: own_ns.map(str::to_owned),
        name: own_name.map(str::to_owned),
        name_prefix: None,
        after,
    };
    if let Some(m) = &exact {
        if own_ns.is_some_and(|ns| ns != m.namespace()) || own_name.is_some_and(|n| n != m.name()) {
            return nothing;
        }
        filter.namespace = Some(m.namespace().to_owned());
        filter.name = Some(m.name().to_owned());
    }
    if let Some((ns, name)) = prefix.as_deref().and_then(|p| p.split_once('.')) {
        // `NS.PREFIX%`: the namespace is everything before the first dot.
        if own_ns.is_some_and(|o| o != ns) {
            return nothing;
        }
        filter.namespace = Some(ns.to_owned());
        filter.name_prefix = Some(name.to_owned());
    }
    let page = crate::service::read::list_models(state, &filter, limit).await?;
    let mut out = Vec::new();
    for r in page.models {
        let Ok(m) = ModelName::new(&r.namespace, &r.name) else { continue };
        let Some(n) = mlflow_name(&m) else { continue };
        if !actor.covers(&m) || prefix.as_ref().is_some_and(|p| !n.starts_with(p.as_str())) {
            continue;
        }
        if let Some(e) = &exact
            && *e != m
        {
            continue;
        }
        let row = state.db.model_get(&m).await?;
        out.push(model_view(state, actor, &m, row).await?);
    }
    Ok((out, page.next_cursor))
}

/// A version of a model `actor` may read, by MLflow version number.
pub async fn version(
    state: &AppState,
    actor: &Actor,
    name: &str,
    version: &str,
) -> Result<VersionView, ApiError> {
    let m = model_name(name)?;
    check_covers(actor, &m)?;
    let n = seq(version)?;
    match view_of(state, VersionKey::Seq(&m, n)).await? {
        Some(v) => Ok(v),
        None => Err(ApiError::not_found(format!("Model Version (name={name}, version={n}) not found"))),
    }
}

/// `get-latest-versions`: the newest version, if `stages` is empty or asks for stage `None` (the
/// registry has no stages; aliases replace them).
pub async fn latest_versions(
    state: &AppState,
    actor: &Actor,
    name: &str,
    stages: &[String],
) -> Result<Vec<VersionView>, ApiError> {
    let (_, row) = readable_model(state, actor, name).await?;
    if !stages.is_empty() && !stages.iter().any(|s| s.eq_ignore_ascii_case("none")) {
        return Ok(vec![]);
    }
    match state.db.versions_list(row.id, None, 1).await?.pop() {
        Some(v) => Ok(vec![view_of_id(state, v.id).await?]),
        None => Ok(vec![]),
    }
}

/// What `model-versions/search` understands: `name = 'X'` and/or `run_id = 'R'`, joined by AND.
fn version_filter(filter: &str) -> Result<(Option<String>, Option<String>), ApiError> {
    let unsupported = || {
        invalid(format!(
            "unsupported filter {:?}: use name = 'NS.NAME' and/or run_id = 'RUN'",
            registry_core::text::clip(filter, 200)
        ))
    };
    let (mut name, mut run) = (None, None);
    let f = filter.replace(" and ", " AND ");
    for clause in f.split(" AND ") {
        let c = clause.trim();
        if c.is_empty() {
            continue;
        }
        let (k, v) = c.split_once('=').ok_or_else(unsupported)?;
        let v = quoted(v.trim()).ok_or_else(unsupported)?;
        match k.trim() {
            "name" => name = Some(v),
            "run_id" => run = Some(v),
            _ => return Err(unsupported()),
        }
    }
    Ok((name, run))
}

/// `model-versions/search`: versions `actor` may read, newest first, a page at a time.
pub async fn search_versions(
    state: &AppState,
    actor: &Actor,
    filter: &str,
    max_results: u32,
    page_token: Option<&str>,
) -> Result<(Vec<VersionView>, Option<String>), ApiError> {
    let (name, run) = version_filter(filter)?;
    let limit = max_results.clamp(1, 10_000);
    let before = match page_token.filter(|t| !t.is_empty()) {
        Some(t) => Some(t.parse::<i64>().map_err(|_| invalid("malformed page_token"))?),
        None => None,
    };
    let rows: Vec<VersionRow> = match (&name, &run) {
        (Some(n), _) => {
            let (_, model) = match readable_model(state, actor, n).await {
                Ok(x) => x,
                Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => return Ok((vec![], None)),
                Err(e) => return Err(e),
            };
            state.db.versions_list(model.id, before, limit + 1).await?
        }
        (None, Some(r)) => {
            let mut ids = state.db.mlflow_versions_of_run(r).await?;
            ids.retain(|id| before.is_none_or(|b| *id < b));
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids.truncate(limit as usize + 1);
            let mut rows = state.db.versions_by_ids(&ids).await?;
            rows.sort_by_key(|r| std::cmp::Reverse(r.id));
            rows
        }
        (None, None) => {
            return Err(invalid("model-versions/search needs a filter: name = 'NS.NAME' or run_id = 'RUN'"));
        }
    };
    let more = rows.len() > limit as usize;
    let mut out = Vec::new();
    for r in rows.into_iter().take(limit as usize) {
        let m = ModelName::new(&r.namespace, &r.name).map_err(ApiError::internal)?;
        if !actor.covers(&m) || mlflow_name(&m).is_none() {
            continue;
        }
        if let Some(run) = &run
            && state.db.mlflow_source(r.id).await?.and_then(|s| s.run_id).as_deref() != Some(run.as_str())
        {
            continue;
        }
        out.push(view_of_id(state, r.id).await?);
    }
    let next = if more { out.last().map(|v| v.row.id.to_string()) } else { None };
    Ok((out, next))
}

/// `get-download-uri`: the version's own artifact root, named by its manifest digest. A quarantined
/// or corrupted version is refused (403): the record stays readable, its files do not.
pub async fn download_uri(
    state: &AppState,
    actor: &Actor,
    name: &str,
    version: &str,
) -> Result<String, ApiError> {
    let m = model_name(name)?;
    let n = seq(version)?;
    let v = artifacts::servable_version(state, actor, &m, n).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::NOT_FOUND {
            ApiError::not_found(format!("Model Version (name={name}, version={n}) not found"))
        } else {
            e
        }
    })?;
    let digest = Digest::from_hex(&v.manifest_digest).map_err(ApiError::internal)?;
    Ok(Root::Version { model: m, seq: n, digest }.uri())
}

/// `registered-models/alias` GET: the version an alias points at.
pub async fn alias(
    state: &AppState,
    actor: &Actor,
    name: &str,
    alias: &str,
) -> Result<VersionView, ApiError> {
    let m = model_name(name)?;
    check_covers(actor, &m)?;
    let a = promote::alias(alias)?;
    // The hot path of every deploy: the token, then this one query.
    match view_of(state, VersionKey::Alias(&m, a.as_str())).await? {
        Some(v) => Ok(v),
        None => {
            readable_model(state, actor, name).await?;
            Err(ApiError::not_found(format!("Registered model alias {alias} not found for {m}.")))
        }
    }
}

/// `registered-models/alias` POST: a promotion under the policies, recorded like any other; a
/// denial is 403 with the policies' reasons.
pub async fn set_alias(
    state: &AppState,
    actor: &Actor,
    name: &str,
    alias: &str,
    version: &str,
) -> Result<(), ApiError> {
    let m = model_name(name)?;
    actor.check_write(Scope::Promote, &m)?;
    let a = promote::alias(alias)?;
    let n = seq(version)?;
    let row = match state.db.version_by_seq(&m, n).await {
        Ok(v) => v,
        Err(DbError::NotFound) => {
            return Err(ApiError::not_found(format!("Model Version (name={name}, version={n}) not found")));
        }
        Err(e) => return Err(e.into()),
    };
    let label = VersionLabel::parse(&row.version).map_err(ApiError::internal)?;
    let mv = Move {
        model: &m,
        alias: &a,
        reason: "set through the MLflow API (set_registered_model_alias)",
        expected_current: None,
        kind: "promote",
    };
    promote::promote(state, actor, &mv, &Reference::Label(label)).await?;
    Ok(())
}

/// The outcome of `model-versions/create`.
#[derive(Debug)]
pub enum Registered {
    /// A new version, `READY`.
    Ready(Box<VersionView>),
    /// A rule refused it: nothing was written; MLflow's `FAILED_REGISTRATION` with this message.
    Failed(String),
}

/// What `model-versions/create` carries.
pub struct NewVersion<'a> {
    /// MLflow model name.
    pub name: &'a str,
    /// `models:/m-ID`, `runs:/RUN/PATH` or `mlflow-artifacts:/ROOT`.
    pub source: &'a str,
    /// The run, if given.
    pub run_id: Option<&'a str>,
    /// The logged model, if given.
    pub model_id: Option<&'a str>,
    /// Annotations to set.
    pub tags: Vec<(String, String)>,
    /// Description annotation.
    pub description: Option<&'a str>,
}

/// Where a registration's files come from.
struct Origin {
    files: Vec<ArtifactRow>,
    run: Option<RunRow>,
    logged_model: Option<LoggedModelRow>,
}

async fn origin(state: &AppState, actor: &Actor, new: &NewVersion<'_>) -> Result<Origin, ApiError> {
    let unsupported = || {
        invalid(format!(
            "source {:?}: use models:/m-ID (a logged model), runs:/RUN/PATH or mlflow-artifacts:/E/RUN/artifacts/PATH",
            registry_core::text::clip(new.source, 300)
        ))
    };
    let logged = |m: LoggedModelRow| async move {
        if m.status != READY {
            return Err(invalid(format!(
                "logged model {} is {}; finalize it before registering",
                m.id, m.status
            )));
        }
        let run = match &m.source_run_id {
            Some(r) => state.db.mlflow_run(r).await?,
            None => None,
        };
        let files = artifacts::logged_model_files(state, &m).await?;
        Ok::<_, ApiError>(Origin { files, run, logged_model: Some(m) })
    };
    let given = new.model_id.filter(|m| !m.is_empty());
    let named = new.source.strip_prefix("models:/");
    if let Some(g) = given
        && named != Some(g)
    {
        // The source is recorded as provenance: it must name what is registered.
        return Err(invalid(format!(
            "model_id {g} is given, so the source must be models:/{g}, not {}",
            registry_core::text::clip(new.source, 300)
        )));
    }
    let model_id = named;
    if let Some(id) = model_id.filter(|id| id.starts_with("m-")) {
        let m = tracking::owned_logged_model(state, actor, id).await?;
        return logged(m).await;
    }
    let (run_id, sub) = if let Some(rest) = new.source.strip_prefix("runs:/") {
        rest.split_once('/').unwrap_or((rest, ""))
    } else if let Some(rest) = new.source.strip_prefix("mlflow-artifacts:/") {
        match Root::parse(rest) {
            Some((Root::Run { run, .. }, sub)) => {
                let run = tracking::owned_run(state, actor, &run).await?;
                let files = artifacts::run_files(state, run.experiment_id, &run.id, &sub).await?;
                return Ok(Origin { files, run: Some(run), logged_model: None });
            }
            Some((Root::LoggedModel { model, .. }, sub)) if sub.is_empty() => {
                let m = tracking::owned_logged_model(state, actor, &model).await?;
                return logged(m).await;
            }
            _ => return Err(unsupported()),
        }
    } else {
        return Err(unsupported());
    };
    let run = tracking::owned_run(state, actor, run_id).await?;
    // MLflow 3 logs models as logged models of the run; `runs:/RUN/NAME` names one of them.
    let models =
        tracking::search_logged_models(state, actor, &[run.experiment_id], Some(&run.id), 1000).await?;
    if let Some(m) = models.into_iter().map(|v| v.row).find(|m| m.name == sub.trim_matches('/')) {
        return logged(m).await;
    }
    let files = artifacts::run_files(state, run.experiment_id, &run.id, sub).await?;
    Ok(Origin { files, run: Some(run), logged_model: None })
}

/// A metric as lineage: finite values only (NaN and the largest doubles, which stand for the
/// infinities MLflow clamps, are not measurements).
fn number(v: f64) -> Option<Scalar> {
    if v.abs() == f64::MAX {
        return None;
    }
    serde_json::Number::from_f64(v).map(Scalar::Number)
}

/// A dataset's location from MLflow's source JSON (`uri`, `url` or `path`).
fn dataset_uri(i: &InputRow) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&i.source).ok()?;
    ["uri", "url", "path"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|s| s.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The lineage role of MLflow's `mlflow.data.context` (`training` is `train`, ...; anything else
/// that fits the role rule is kept, the rest is `train`).
fn dataset_role(context: &str) -> String {
    match context {
        "" | "training" | "train" => "train".into(),
        "evaluation" | "eval" | "validation" => "eval".into(),
        "testing" | "test" => "test".into(),
        c if c.len() <= 32
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') =>
        {
            c.to_owned()
        }
        _ => "train".into(),
    }
}

/// A SHA-256 dataset digest: 64 hex characters, with or without `sha256:`.
fn sha256_digest(d: &str) -> Option<Digest> {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    (hex.len() == 64).then(|| Digest::from_hex(&hex.to_ascii_lowercase()).ok()).flatten()
}

/// A label key within the lineage bounds.
fn label_key(k: String) -> String {
    registry_core::text::clip(&k, registry_core::lineage::MAX_KEY_LEN).into_owned()
}

/// Lineage and labels from what MLflow knows about the run: parameters (as logged, strings),
/// metrics (current values), code (`mlflow.source.git.*` tags), datasets (SHA-256 digests become
/// lineage; others are labels), the run itself.
async fn lineage(
    state: &AppState,
    run: Option<&RunRow>,
    labels: &mut BTreeMap<String, String>,
) -> Result<Lineage, ApiError> {
    let mut out = Lineage::default();
    let Some(run) = run else {
        labels.insert("mlflow.lineage".into(), "none: the source names no run".into());
        return Ok(out);
    };
    out.params =
        state.db.mlflow_params(&run.id).await?.into_iter().map(|(k, v)| (k, Scalar::Text(v))).collect();
    out.metrics = state
        .db
        .mlflow_metrics_latest(&run.id)
        .await?
        .into_iter()
        .filter_map(|m| number(m.value).map(|n| (m.key, n)))
        .collect();
    let tags: BTreeMap<String, String> =
        state.db.mlflow_tags(kind::RUN, &run.id).await?.into_iter().collect();
    let commit = tags.get("mlflow.source.git.commit");
    let repo = tags.get("mlflow.source.git.repoURL").filter(|r| !r.is_empty());
    match (repo, commit) {
        (Some(repo), Some(commit)) => {
            let code = Code {
                repo: repo.clone(),
                commit: commit.clone(),
                path: tags.get("mlflow.source.name").cloned(),
            };
            let probe = Lineage { code: Some(code.clone()), ..Lineage::default() };
            match probe.validate() {
                Ok(()) => out.code = Some(code),
                Err(e) => {
                    labels.insert("mlflow.code_lineage".into(), format!("none: {e}"));
                }
            }
        }
        (None, _) => {
            labels.insert(
                "mlflow.code_lineage".into(),
                "none: the run has no mlflow.source.git.repoURL tag".into(),
            );
        }
        (Some(_), None) => {
            labels.insert(
                "mlflow.code_lineage".into(),
                "none: the run has no mlflow.source.git.commit tag".into(),
            );
        }
    }
    for i in state.db.mlflow_inputs(&run.id).await? {
        let role = dataset_role(&i.context);
        match (dataset_uri(&i), sha256_digest(&i.digest)) {
            (Some(uri), Some(digest)) => out.datasets.push(Dataset { uri, digest, role }),
            (uri, _) => {
                let at = uri.map(|u| format!(" at {u}")).unwrap_or_default();
                labels.insert(
                    label_key(format!("mlflow.dataset.{}", i.name)),
                    format!("MLflow digest {} (not a SHA-256; not lineage){at}", i.digest),
                );
            }
        }
    }
    out.run = Some(Run { id: run.id.clone(), uri: Some(format!("runs:/{}", run.id)), builder: None });
    Ok(out)
}

/// `model-versions/create`: registers the source's files as a new immutable version, its lineage
/// taken from the run. A rule that refuses it (signed provenance required, lineage out of bounds,
/// files gone) answers `Failed`, and nothing is written.
pub async fn create_version(
    state: &AppState,
    actor: &Actor,
    new: NewVersion<'_>,
) -> Result<Registered, ApiError> {
    let m = model_name(new.name)?;
    actor.check_write(Scope::Push, &m)?;
    check_annotations(&new.tags, new.description)?;
    let o = origin(state, actor, &new).await?;
    if let Some(given) = new.run_id.filter(|r| !r.is_empty())
        && o.run.as_ref().is_none_or(|r| r.id != given)
    {
        return Err(invalid(format!("run_id {given} is not the run that produced {}", new.source)));
    }
    if o.files.is_empty() {
        return Ok(Registered::Failed(format!("not registered: {} holds no files", new.source)));
    }
    if o.files.len() > registry_core::manifest::MAX_FILES {
        return Ok(Registered::Failed(format!(
            "not registered: {} holds more than {} files",
            new.source,
            registry_core::manifest::MAX_FILES
        )));
    }
    let mut labels = BTreeMap::new();
    labels.insert("mlflow.source".to_owned(), registry_core::text::clip(new.source, 4000).into_owned());
    if let Some(lm) = &o.logged_model {
        labels.insert("mlflow.model_id".to_owned(), lm.id.clone());
    }
    let lineage = lineage(state, o.run.as_ref(), &mut labels).await?;
    let mut files = Vec::with_capacity(o.files.len());
    for f in &o.files {
        let digest = Digest::from_hex(&f.digest).map_err(ApiError::internal)?;
        // The artifact rows prove `actor` uploaded these bytes (it owns the run or logged model),
        // however long ago: renew that proof so the publish may reference them.
        blobs::record_upload(state, actor, &digest).await?;
        files.push(FileEntry { path: f.path.clone(), size: f.size.max(0) as u64, digest });
    }
    let manifest = match Manifest::new(files) {
        Ok(m) => m,
        Err(e) => return Ok(Registered::Failed(format!("not registered: {e}"))),
    };
    let req = registry_core::api::PutVersionRequest {
        manifest,
        lineage,
        metadata: registry_core::api::Metadata { description: None, labels },
        attestations: vec![],
    };
    let source = SourceRow {
        version_id: 0,
        source: new.source.to_owned(),
        run_id: o.run.as_ref().map(|r| r.id.clone()),
        model_id: o.logged_model.as_ref().map(|m| m.id.clone()),
    };
    let mut annotations = vec![(kind::VERSION, new.tags.to_vec())];
    if let Some(d) = new.description {
        annotations.push((kind::VERSION_DESCRIPTION, vec![(String::new(), d.to_owned())]));
    }
    let reg = push::MlflowRegistration { source, annotations };
    let row = match push::publish_numbered(state, actor, &m, req, reg).await {
        Ok(row) => row,
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_client_error() {
                return Ok(Registered::Failed(format!("not registered: {}", e.message())));
            }
            return Err(e);
        }
    };
    Ok(Registered::Ready(Box::new(view_of_id(state, row.id).await?)))
}

fn check_annotations(tags: &[(String, String)], description: Option<&str>) -> Result<(), ApiError> {
    if tags.len() > crate::service::mlflow::MAX_BATCH_ENTRIES {
        return Err(invalid("too many tags"));
    }
    for (k, v) in tags {
        check_entry("tag", k, v, MAX_TAG_VALUE)?;
        if k.starts_with(RESERVED_PREFIX) {
            return Err(invalid(format!("tag keys starting with {RESERVED_PREFIX} are the registry's")));
        }
        if k.starts_with("mlflow.prompt.") {
            // MLflow clients hide a model tagged as a prompt ("not found"): no tag may make a
            // registered model vanish from deploy code.
            return Err(invalid("MLflow prompts are not supported; mlflow.prompt.* tags are refused"));
        }
    }
    if description.is_some_and(|d| d.len() > registry_core::api::MAX_DESCRIPTION_LEN) {
        return Err(invalid("description too long"));
    }
    Ok(())
}

/// Sets annotations of `(kind, owner)` and logs each change, inside a transaction holding the
/// global write lock.
pub(crate) async fn annotate_in(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    owner: &str,
    kind: &str,
    entries: &[(String, String)],
    subject: &str,
) -> Result<(), ApiError> {
    crate::db::mlflow::tags_set(tx, kind, owner, entries).await?;
    for (k, v) in entries {
        let e = log::entry(
            entry::ANNOTATION_SET,
            subject,
            &actor.id,
            &[("target", json!(kind)), ("key", json!(k)), ("value_digest", json!(Digest::of(v.as_bytes())))],
        );
        crate::db::log::append(tx, &e).await?;
    }
    Ok(())
}

/// A change to an annotation.
pub enum Annotation<'a> {
    /// Set a tag.
    SetTag(&'a str, &'a str),
    /// Remove a tag.
    DeleteTag(&'a str),
    /// Set the description.
    Description(&'a str),
}

async fn annotate(
    state: &AppState,
    actor: &Actor,
    owner: &str,
    kinds: (&str, &str),
    change: Annotation<'_>,
    subject: &str,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin_logged().await?;
    match change {
        Annotation::SetTag(k, v) => {
            check_annotations(&[(k.to_owned(), v.to_owned())], None)?;
            annotate_in(&mut tx, actor, owner, kinds.0, &[(k.to_owned(), v.to_owned())], subject).await?;
        }
        Annotation::Description(d) => {
            check_annotations(&[], Some(d))?;
            annotate_in(&mut tx, actor, owner, kinds.1, &[(String::new(), d.to_owned())], subject).await?;
        }
        Annotation::DeleteTag(k) => {
            if k.starts_with(RESERVED_PREFIX) {
                return Err(invalid(format!("tag keys starting with {RESERVED_PREFIX} are the registry's")));
            }
            if crate::db::mlflow::tag_delete(&mut tx, kinds.0, owner, k).await? {
                let e = log::entry(
                    entry::ANNOTATION_REMOVED,
                    subject,
                    &actor.id,
                    &[("target", json!(kinds.0)), ("key", json!(k))],
                );
                crate::db::log::append(&mut tx, &e).await?;
            }
        }
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// Annotates a version (tags, description): push scope over the model.
pub async fn annotate_version(
    state: &AppState,
    actor: &Actor,
    name: &str,
    version: &str,
    change: Annotation<'_>,
) -> Result<VersionView, ApiError> {
    let v = self::version(state, actor, name, version).await?;
    let m = ModelName::new(&v.row.namespace, &v.row.name).map_err(ApiError::internal)?;
    actor.check_write(Scope::Push, &m)?;
    let subject = format!("{m}@{}", v.row.version);
    annotate(
        state,
        actor,
        &v.row.id.to_string(),
        (kind::VERSION, kind::VERSION_DESCRIPTION),
        change,
        &subject,
    )
    .await?;
    view_of_id(state, v.row.id).await
}

/// Annotates a registered model (tags, description): push scope over it.
pub async fn annotate_model(
    state: &AppState,
    actor: &Actor,
    name: &str,
    change: Annotation<'_>,
) -> Result<ModelView, ApiError> {
    let (m, row) = readable_model(state, actor, name).await?;
    actor.check_write(Scope::Push, &m)?;
    let owner = m.to_string();
    annotate(state, actor, &owner, (kind::MODEL, kind::MODEL_DESCRIPTION), change, &owner).await?;
    model_view(state, actor, &m, row).await
}

/// Deletes, renames, stage transitions and alias removal: refused, history is append-only. The
/// caller's read access is checked first, so the answer tells nothing about models it cannot see.
pub async fn refuse_change(state: &AppState, actor: &Actor, name: &str, what: &str) -> ApiError {
    if let Err(e) = readable_model(state, actor, name).await {
        return e;
    }
    ApiError::forbidden(format!(
        "{what} is not supported: the registry's history is append-only (versions are immutable; \
         move aliases with set_registered_model_alias, roll back with `registry rollback`)"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_the_forms_mlflow_sends() {
        assert_eq!(version_filter("name='fraud.detector'").unwrap(), (Some("fraud.detector".into()), None));
        assert_eq!(
            version_filter("name = \"a.b\" AND run_id = 'r1'").unwrap(),
            (Some("a.b".into()), Some("r1".into()))
        );
        assert!(version_filter("tags.x = 'y'").is_err());
        assert!(version_filter("name = 'a' OR name = 'b'").is_err());
        assert_eq!(model_filter("name LIKE 'fraud.%'").unwrap().1.as_deref(), Some("fraud."));
        assert!(model_filter("name LIKE '%x%'").is_err());
        assert_eq!(model_filter("").unwrap(), (None, None));
    }

    #[test]
    fn only_full_sha256_dataset_digests_are_lineage() {
        let hex = Digest::of(b"d").hex();
        assert!(sha256_digest(&hex).is_some());
        assert!(sha256_digest(&format!("sha256:{hex}")).is_some());
        assert!(sha256_digest(&hex[..32]).is_none());
        assert!(sha256_digest("ee88").is_none());
    }
}
