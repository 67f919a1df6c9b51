//! Experiments, runs, metrics and logged models (`/api/2.0/mlflow/...`).
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::MethodRouter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    KeyValue, MlAuth, MlError, MlJson, MlPath, MlQuery, MlResult, PUSH, READ, add, de_f64, de_i64, empty,
    no_field_codes, pairs, route, wire,
};
use crate::auth::need;
use crate::db::mlflow::{InputRow, MetricRow};
use crate::mounted::MountedRoute;
use crate::service::mlflow::tracking::{self as svc, NewLoggedModel, NewRun};
use crate::state::AppState;

const API: &str = "/api/2.0/mlflow";

pub(super) fn routes(out: &mut Vec<(MountedRoute, MethodRouter<AppState>)>) {
    let (get, post, patch) = (Method::GET, Method::POST, Method::PATCH);
    let mut r = |m: Method, p: &str, a, h| add(out, m, &format!("{API}/{p}"), a, h);
    r(get.clone(), "experiments/get-by-name", READ, route(&get, experiment_by_name));
    r(get.clone(), "experiments/get", READ, route(&get, experiment));
    r(post.clone(), "experiments/create", PUSH, route(&post, create_experiment));
    r(post.clone(), "experiments/search", READ, route(&post, search_experiments));
    r(post.clone(), "runs/create", PUSH, route(&post, create_run));
    r(get.clone(), "runs/get", READ, route(&get, get_run));
    r(post.clone(), "runs/update", PUSH, route(&post, update_run));
    r(post.clone(), "runs/log-batch", PUSH, route(&post, log_batch));
    r(post.clone(), "runs/log-parameter", PUSH, route(&post, log_parameter));
    r(post.clone(), "runs/log-metric", PUSH, route(&post, log_metric));
    r(post.clone(), "runs/set-tag", PUSH, route(&post, set_tag));
    r(post.clone(), "runs/log-inputs", PUSH, route(&post, log_inputs));
    r(post.clone(), "runs/outputs", PUSH, route(&post, log_outputs));
    r(post.clone(), "runs/search", READ, route(&post, search_runs));
    r(get.clone(), "metrics/get-history", READ, route(&get, metric_history));
    r(post.clone(), "logged-models", PUSH, route(&post, create_logged_model));
    r(post.clone(), "logged-models/search", READ, route(&post, search_logged_models));
    r(get.clone(), "logged-models/{model_id}", READ, route(&get, get_logged_model));
    r(patch.clone(), "logged-models/{model_id}", PUSH, route(&patch, finalize_logged_model));
    r(patch.clone(), "logged-models/{model_id}/tags", PUSH, route(&patch, tag_logged_model));
}

#[derive(Deserialize)]
struct ByName {
    experiment_name: String,
}

async fn experiment_by_name(
    State(state): State<AppState>,
    _: MlAuth<need::Read>,
    MlQuery(q): MlQuery<ByName>,
) -> MlResult {
    let e = svc::experiment_by_name(&state, &q.experiment_name).await?;
    Ok(Json(json!({"experiment": wire::experiment(&e)})))
}

#[derive(Deserialize)]
struct ById {
    experiment_id: String,
}

async fn experiment(
    State(state): State<AppState>,
    _: MlAuth<need::Read>,
    MlQuery(q): MlQuery<ById>,
) -> MlResult {
    let e = svc::experiment(&state, svc::experiment_id(&q.experiment_id)?).await?;
    Ok(Json(json!({"experiment": wire::experiment(&e)})))
}

#[derive(Deserialize)]
struct CreateExperiment {
    #[serde(default)]
    name: String,
}

async fn create_experiment(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<CreateExperiment>,
) -> MlResult {
    let id = svc::create_experiment(&state, &actor, &b.name).await?;
    Ok(Json(json!({"experiment_id": id.to_string()})))
}

#[derive(Deserialize, Default)]
struct SearchExperiments {
    #[serde(default, deserialize_with = "de_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    filter: Option<String>,
}

async fn search_experiments(
    State(state): State<AppState>,
    _: MlAuth<need::Read>,
    MlJson(b): MlJson<SearchExperiments>,
) -> MlResult {
    if b.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) {
        return Err(crate::service::mlflow::invalid("experiments/search supports no filter").into());
    }
    let list = svc::experiments(&state, b.max_results.unwrap_or(1000)).await?;
    Ok(Json(json!({"experiments": list.iter().map(wire::experiment).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct CreateRun {
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    run_name: String,
    #[serde(default, deserialize_with = "de_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create_run(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<CreateRun>,
) -> MlResult {
    let experiment_id = svc::experiment_id(b.experiment_id.as_deref().unwrap_or("0"))?;
    let new = NewRun {
        experiment_id,
        name: &b.run_name,
        start_time: b.start_time.unwrap_or(0),
        tags: pairs(b.tags),
    };
    let r = svc::create_run(&state, &actor, new).await?;
    Ok(Json(json!({"run": wire::run(&r)})))
}

#[derive(Deserialize)]
struct RunId {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
}

impl RunId {
    fn id(&self) -> Result<&str, MlError> {
        self.run_id
            .as_deref()
            .or(self.run_uuid.as_deref())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| crate::service::mlflow::invalid("run_id is required").into())
    }
}

async fn get_run(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<RunId>,
) -> MlResult {
    let r = svc::run(&state, &actor, q.id()?).await?;
    Ok(Json(json!({"run": wire::run(&r)})))
}

#[derive(Deserialize)]
struct UpdateRun {
    #[serde(flatten)]
    id: RunId,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "de_i64")]
    end_time: Option<i64>,
    #[serde(default)]
    run_name: Option<String>,
}

async fn update_run(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<UpdateRun>,
) -> MlResult {
    let r =
        svc::update_run(&state, &actor, b.id.id()?, b.status.as_deref(), b.end_time, b.run_name.as_deref())
            .await?;
    Ok(Json(json!({"run_info": wire::run_info(&r)})))
}

#[derive(Deserialize)]
struct Metric {
    #[serde(default)]
    key: String,
    #[serde(deserialize_with = "de_f64")]
    value: f64,
    #[serde(default, deserialize_with = "de_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "de_i64")]
    step: Option<i64>,
}

impl Metric {
    fn row(self) -> MetricRow {
        MetricRow {
            key: self.key,
            value: self.value,
            timestamp: self.timestamp.unwrap_or_else(crate::db::now_ms),
            step: self.step.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct LogBatch {
    #[serde(flatten)]
    id: RunId,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn log_batch(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogBatch>,
) -> MlResult {
    let metrics: Vec<MetricRow> = b.metrics.into_iter().map(Metric::row).collect();
    svc::log_batch(&state, &actor, b.id.id()?, &pairs(b.params), &metrics, &pairs(b.tags)).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct LogKeyValue {
    #[serde(flatten)]
    id: RunId,
    #[serde(flatten)]
    kv: KeyValue,
}

async fn log_parameter(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogKeyValue>,
) -> MlResult {
    svc::log_batch(&state, &actor, b.id.id()?, &[(b.kv.key, b.kv.value)], &[], &[]).await?;
    Ok(empty())
}

async fn set_tag(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogKeyValue>,
) -> MlResult {
    svc::log_batch(&state, &actor, b.id.id()?, &[], &[], &[(b.kv.key, b.kv.value)]).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct LogMetric {
    #[serde(flatten)]
    id: RunId,
    #[serde(flatten)]
    metric: Metric,
}

async fn log_metric(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogMetric>,
) -> MlResult {
    svc::log_batch(&state, &actor, b.id.id()?, &[], &[b.metric.row()], &[]).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct DatasetInput {
    #[serde(default)]
    tags: Vec<KeyValue>,
    dataset: Dataset,
}

#[derive(Deserialize)]
struct Dataset {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    source_type: String,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct LogInputs {
    #[serde(flatten)]
    id: RunId,
    #[serde(default)]
    datasets: Vec<DatasetInput>,
}

async fn log_inputs(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogInputs>,
) -> MlResult {
    let rows: Vec<InputRow> = b
        .datasets
        .into_iter()
        .map(|d| InputRow {
            context: d
                .tags
                .into_iter()
                .find(|t| t.key == "mlflow.data.context")
                .map(|t| t.value)
                .unwrap_or_default(),
            name: d.dataset.name,
            digest: d.dataset.digest,
            source_type: d.dataset.source_type,
            source: d.dataset.source,
        })
        .collect();
    svc::log_inputs(&state, &actor, b.id.id()?, &rows).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct ModelOutput {
    model_id: String,
    #[serde(default, deserialize_with = "de_i64")]
    step: Option<i64>,
}

#[derive(Deserialize)]
struct LogOutputs {
    #[serde(flatten)]
    id: RunId,
    #[serde(default)]
    models: Vec<ModelOutput>,
}

async fn log_outputs(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<LogOutputs>,
) -> MlResult {
    let models: Vec<(String, i64)> =
        b.models.into_iter().map(|m| (m.model_id, m.step.unwrap_or(0))).collect();
    svc::log_outputs(&state, &actor, b.id.id()?, &models).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct SearchRuns {
    #[serde(default)]
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default, deserialize_with = "de_i64")]
    max_results: Option<i64>,
}

async fn search_runs(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlJson(b): MlJson<SearchRuns>,
) -> MlResult {
    if b.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) {
        return Err(crate::service::mlflow::invalid(
            "runs/search supports no filter; list by experiment_ids",
        )
        .into());
    }
    let ids = b.experiment_ids.iter().map(|e| svc::experiment_id(e)).collect::<Result<Vec<_>, _>>()?;
    let runs = svc::runs(&state, &actor, &ids, b.max_results.unwrap_or(1000)).await?;
    Ok(Json(json!({"runs": runs.iter().map(wire::run).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct History {
    #[serde(flatten)]
    id: RunId,
    metric_key: String,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn metric_history(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<History>,
) -> MlResult {
    let offset = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => t.parse::<i64>().map_err(|_| crate::service::mlflow::invalid("malformed page_token"))?,
        None => 0,
    };
    let max = q.max_results.unwrap_or(25_000).clamp(1, 25_000);
    let points = svc::metric_history(&state, &actor, q.id.id()?, &q.metric_key, offset, max).await?;
    let mut out = json!({"metrics": points.iter().map(wire::metric).collect::<Vec<Value>>()});
    if points.len() as i64 == max {
        out["next_page_token"] = json!((offset + max).to_string());
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct CreateLoggedModel {
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create_logged_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<CreateLoggedModel>,
) -> MlResult {
    let new = NewLoggedModel {
        experiment_id: svc::experiment_id(b.experiment_id.as_deref().unwrap_or("0"))?,
        name: &b.name,
        source_run_id: b.source_run_id.as_deref().filter(|s| !s.is_empty()),
        params: pairs(b.params),
        tags: pairs(b.tags),
    };
    let m = svc::create_logged_model(&state, &actor, new).await?;
    Ok(Json(json!({"model": wire::logged_model(&m)})))
}

#[derive(Deserialize)]
struct ModelPath {
    model_id: String,
}

async fn get_logged_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlPath(p): MlPath<ModelPath>,
) -> MlResult {
    let m = svc::logged_model(&state, &actor, &p.model_id).await?;
    Ok(Json(json!({"model": wire::logged_model(&m)})))
}

#[derive(Deserialize)]
struct Finalize {
    #[serde(default)]
    status: String,
}

async fn finalize_logged_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlPath(p): MlPath<ModelPath>,
    MlJson(b): MlJson<Finalize>,
) -> MlResult {
    let m = svc::finalize_logged_model(&state, &actor, &p.model_id, &b.status).await?;
    Ok(Json(json!({"model": wire::logged_model(&m)})))
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn tag_logged_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlPath(p): MlPath<ModelPath>,
    MlJson(b): MlJson<Tags>,
) -> MlResult {
    svc::tag_logged_model(&state, &actor, &p.model_id, &pairs(b.tags)).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct SearchLoggedModels {
    #[serde(default)]
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default, deserialize_with = "de_i64")]
    max_results: Option<i64>,
}

/// The one filter `register_model("runs:/RUN/...")` sends: `source_run_id = 'RUN'`.
fn run_filter(f: &str) -> Result<Option<String>, MlError> {
    let f = f.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let bad = || crate::service::mlflow::invalid("logged-models/search supports only source_run_id = 'RUN'");
    let (k, v) = f.split_once('=').ok_or_else(bad)?;
    let v = v.trim();
    if k.trim() != "source_run_id" || v.len() < 2 || !(v.starts_with('\'') && v.ends_with('\'')) {
        return Err(bad().into());
    }
    Ok(Some(v[1..v.len() - 1].to_owned()))
}

async fn search_logged_models(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlJson(b): MlJson<SearchLoggedModels>,
) -> MlResult {
    let run = run_filter(b.filter.as_deref().unwrap_or(""))?;
    let ids = b.experiment_ids.iter().map(|e| svc::experiment_id(e)).collect::<Result<Vec<_>, _>>()?;
    let list =
        svc::search_logged_models(&state, &actor, &ids, run.as_deref(), b.max_results.unwrap_or(100)).await?;
    Ok(Json(json!({"models": list.iter().map(wire::logged_model).collect::<Vec<_>>()})))
}

no_field_codes!(
    CreateExperiment,
    SearchExperiments,
    CreateRun,
    UpdateRun,
    LogBatch,
    LogKeyValue,
    LogMetric,
    LogInputs,
    LogOutputs,
    SearchRuns,
    CreateLoggedModel,
    Finalize,
    Tags,
    SearchLoggedModels
);
