//! Experiments, runs and logged models: the tracking subset `mlflow.start_run()` and `log_model`
//! need. Runs and logged models belong to the credential that created them (admins see all); to
//! anyone else they do not exist.
use crate::auth::Actor;
use crate::db::mlflow::{ExperimentRow, InputRow, LoggedModelRow, MAX_ROWS, MetricRow, RunRow};
use crate::db::{DbError, now_ms};
use crate::error::ApiError;
use crate::service::mlflow::{
    MAX_BATCH_ENTRIES, MAX_BATCH_METRICS, MAX_PARAM_VALUE, MAX_TAG_VALUE, check_entry, check_push, invalid,
    kind, owns,
};
use crate::state::AppState;

/// Longest experiment, run or logged-model name.
const MAX_NAME: usize = 500;
/// Most dataset inputs in one call.
const MAX_INPUTS: usize = 100;
/// Longest dataset source, profile or schema text kept.
const MAX_SOURCE: usize = 4096;

/// Run statuses MLflow knows.
const RUN_STATUSES: &[&str] = &["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];
/// Logged-model statuses MLflow knows.
const MODEL_STATUSES: &[&str] = &["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"];

/// A logged model's status once its files may no longer change.
pub const READY: &str = "LOGGED_MODEL_READY";
/// A logged model's status while its files are uploaded.
pub const PENDING: &str = "LOGGED_MODEL_PENDING";

fn name_ok(what: &str, s: &str) -> Result<(), ApiError> {
    if s.len() > MAX_NAME || s.chars().any(char::is_control) {
        return Err(invalid(format!("{what} must be at most {MAX_NAME} bytes without control characters")));
    }
    Ok(())
}

/// An experiment id as MLflow sends it (a decimal string).
pub fn experiment_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(|| invalid(format!("experiment id {s:?} is not a number")))
}

fn no_experiment(what: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("Could not find experiment with {what}"))
}

/// An experiment by name (404 if none).
pub async fn experiment_by_name(state: &AppState, name: &str) -> Result<ExperimentRow, ApiError> {
    name_ok("experiment name", name)?;
    state.db.mlflow_experiment_by_name(name).await?.ok_or_else(|| no_experiment(format!("name {name:?}")))
}

/// An experiment by id (404 if none).
pub async fn experiment(state: &AppState, id: i64) -> Result<ExperimentRow, ApiError> {
    state.db.mlflow_experiment(id).await?.ok_or_else(|| no_experiment(format!("id {id}")))
}

/// Experiments, by id.
pub async fn experiments(state: &AppState, limit: i64) -> Result<Vec<ExperimentRow>, ApiError> {
    Ok(state.db.mlflow_experiments(limit.clamp(1, MAX_ROWS)).await?)
}

/// Creates an experiment (409 if the name is taken).
pub async fn create_experiment(state: &AppState, actor: &Actor, name: &str) -> Result<i64, ApiError> {
    check_push(actor)?;
    if name.is_empty() {
        return Err(invalid("experiment name is empty"));
    }
    name_ok("experiment name", name)?;
    match state.db.mlflow_experiment_create(name, &actor.id, now_ms()).await {
        Err(DbError::Conflict) => Err(ApiError::conflict(
            registry_core::api::codes::CONFLICT,
            format!("Experiment {name:?} already exists."),
        )),
        r => Ok(r?),
    }
}

/// Everything a run shows.
#[derive(Debug)]
pub struct RunView {
    /// The run.
    pub row: RunRow,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// Current value of each metric.
    pub metrics: Vec<MetricRow>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Dataset inputs.
    pub inputs: Vec<InputRow>,
    /// Logged-model outputs: model id and step.
    pub outputs: Vec<(String, String)>,
}

/// What a new run carries.
pub struct NewRun<'a> {
    /// Experiment id.
    pub experiment_id: i64,
    /// Name (empty: one is made up).
    pub name: &'a str,
    /// Unix ms (0: now).
    pub start_time: i64,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// Starts a run owned by `actor`.
pub async fn create_run(state: &AppState, actor: &Actor, new: NewRun<'_>) -> Result<RunView, ApiError> {
    check_push(actor)?;
    experiment(state, new.experiment_id).await?;
    name_ok("run name", new.name)?;
    check_tags(&new.tags)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = now_ms();
    let name = if new.name.is_empty() { format!("run-{}", &id[..8]) } else { new.name.to_owned() };
    let row = RunRow {
        id: id.clone(),
        experiment_id: new.experiment_id,
        name,
        status: "RUNNING".into(),
        start_time: if new.start_time > 0 { new.start_time } else { now },
        end_time: None,
        created_by: actor.id.clone(),
        created_at: now,
    };
    state.db.mlflow_run_insert(&row, &new.tags).await?;
    run(state, actor, &id).await
}

/// A run `actor` owns (404 otherwise).
pub async fn owned_run(state: &AppState, actor: &Actor, id: &str) -> Result<RunRow, ApiError> {
    match state.db.mlflow_run(id).await? {
        Some(r) if owns(actor, &r.created_by) => Ok(r),
        _ => Err(ApiError::not_found(format!("Run with id={} not found", registry_core::text::clip(id, 64)))),
    }
}

/// A run with its data.
pub async fn run(state: &AppState, actor: &Actor, id: &str) -> Result<RunView, ApiError> {
    let row = owned_run(state, actor, id).await?;
    Ok(RunView {
        params: state.db.mlflow_params(id).await?,
        metrics: state.db.mlflow_metrics_latest(id).await?,
        tags: state.db.mlflow_tags(kind::RUN, id).await?,
        inputs: state.db.mlflow_inputs(id).await?,
        outputs: state.db.mlflow_tags(kind::RUN_OUTPUT, id).await?,
        row,
    })
}

/// Runs of some experiments `actor` owns, newest first.
pub async fn runs(
    state: &AppState,
    actor: &Actor,
    experiments: &[i64],
    limit: i64,
) -> Result<Vec<RunView>, ApiError> {
    let by = (!actor.has(registry_core::auth::Scope::Admin)).then_some(actor.id.as_str());
    let rows = state.db.mlflow_runs(experiments, by, limit.clamp(1, 1000)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(run(state, actor, &r.id).await?);
    }
    Ok(out)
}

/// Ends or renames a run.
pub async fn update_run(
    state: &AppState,
    actor: &Actor,
    id: &str,
    status: Option<&str>,
    end_time: Option<i64>,
    name: Option<&str>,
) -> Result<RunRow, ApiError> {
    check_push(actor)?;
    let row = owned_run(state, actor, id).await?;
    let status = status.unwrap_or(&row.status);
    if !RUN_STATUSES.contains(&status) {
        return Err(invalid(format!("run status {status:?} is not one of {}", RUN_STATUSES.join(", "))));
    }
    let name = name.unwrap_or(&row.name);
    name_ok("run name", name)?;
    state.db.mlflow_run_update(id, status, end_time, name).await?;
    owned_run(state, actor, id).await
}

fn check_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    if tags.len() > MAX_BATCH_ENTRIES {
        return Err(invalid(format!("more than {MAX_BATCH_ENTRIES} tags in one call")));
    }
    tags.iter().try_for_each(|(k, v)| check_entry("tag", k, v, MAX_TAG_VALUE))
}

/// `log-batch` (and the single `log-parameter`, `log-metric`, `set-tag` calls).
pub async fn log_batch(
    state: &AppState,
    actor: &Actor,
    id: &str,
    params: &[(String, String)],
    metrics: &[MetricRow],
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    check_push(actor)?;
    owned_run(state, actor, id).await?;
    if params.len() > MAX_BATCH_ENTRIES || metrics.len() > MAX_BATCH_METRICS {
        return Err(invalid(format!(
            "a batch holds at most {MAX_BATCH_ENTRIES} params and {MAX_BATCH_METRICS} metrics"
        )));
    }
    params.iter().try_for_each(|(k, v)| check_entry("param", k, v, MAX_PARAM_VALUE))?;
    check_tags(tags)?;
    // NaN and infinities are logged as MLflow's server logs them (a diverging run must not crash);
    // lineage keeps only finite values.
    for m in metrics {
        check_entry("metric", &m.key, "", 0)?;
    }
    match state.db.mlflow_params_log(id, params).await {
        Err(DbError::Conflict) => {
            return Err(invalid(
                "a parameter was already logged with a different value; parameters cannot be changed",
            ));
        }
        r => r?,
    }
    state.db.mlflow_metrics_log(id, metrics).await?;
    Ok(state.db.mlflow_tags_set(kind::RUN, id, tags).await?)
}

/// One metric's history, `max_results` from `offset`, in (step, timestamp) order.
pub async fn metric_history(
    state: &AppState,
    actor: &Actor,
    id: &str,
    key: &str,
    offset: i64,
    max_results: i64,
) -> Result<Vec<MetricRow>, ApiError> {
    owned_run(state, actor, id).await?;
    Ok(state.db.mlflow_metric_history(id, key, offset.max(0), max_results.clamp(1, 25_000)).await?)
}

/// `log-inputs`: datasets a run used.
pub async fn log_inputs(
    state: &AppState,
    actor: &Actor,
    id: &str,
    inputs: &[InputRow],
) -> Result<(), ApiError> {
    check_push(actor)?;
    owned_run(state, actor, id).await?;
    if inputs.len() > MAX_INPUTS {
        return Err(invalid(format!("more than {MAX_INPUTS} datasets in one call")));
    }
    for i in inputs {
        check_entry("dataset", &i.name, &i.source, MAX_SOURCE)?;
        check_entry("dataset digest", &i.digest, &i.source_type, MAX_KEY_VALUE)?;
        check_entry("dataset context", "context", &i.context, MAX_KEY_VALUE)?;
    }
    Ok(state.db.mlflow_inputs_log(id, inputs).await?)
}

/// Bound of short dataset fields (digest, source type, context).
const MAX_KEY_VALUE: usize = 250;

/// `runs/outputs`: the logged models a run produced.
pub async fn log_outputs(
    state: &AppState,
    actor: &Actor,
    id: &str,
    models: &[(String, i64)],
) -> Result<(), ApiError> {
    check_push(actor)?;
    owned_run(state, actor, id).await?;
    if models.len() > MAX_BATCH_ENTRIES {
        return Err(invalid(format!("more than {MAX_BATCH_ENTRIES} models in one call")));
    }
    for (m, _) in models {
        owned_logged_model(state, actor, m).await?;
    }
    let rows: Vec<(String, String)> = models.iter().map(|(m, s)| (m.clone(), s.to_string())).collect();
    Ok(state.db.mlflow_tags_set(kind::RUN_OUTPUT, id, &rows).await?)
}

/// A logged model with its tags.
#[derive(Debug)]
pub struct LoggedModelView {
    /// The model.
    pub row: LoggedModelRow,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// What a new logged model carries.
pub struct NewLoggedModel<'a> {
    /// Experiment id.
    pub experiment_id: i64,
    /// Name (`model`).
    pub name: &'a str,
    /// The run that logs it.
    pub source_run_id: Option<&'a str>,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// Creates a logged model, pending until finalized.
pub async fn create_logged_model(
    state: &AppState,
    actor: &Actor,
    new: NewLoggedModel<'_>,
) -> Result<LoggedModelView, ApiError> {
    check_push(actor)?;
    experiment(state, new.experiment_id).await?;
    if let Some(r) = new.source_run_id {
        let run = owned_run(state, actor, r).await?;
        if run.experiment_id != new.experiment_id {
            return Err(invalid("the source run belongs to another experiment"));
        }
    }
    name_ok("model name", new.name)?;
    check_tags(&new.tags)?;
    if new.params.len() > MAX_BATCH_ENTRIES {
        return Err(invalid(format!("more than {MAX_BATCH_ENTRIES} params")));
    }
    new.params.iter().try_for_each(|(k, v)| check_entry("param", k, v, MAX_PARAM_VALUE))?;
    let params: Vec<serde_json::Value> =
        new.params.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect();
    let now = now_ms();
    let row = LoggedModelRow {
        id: format!("m-{}", uuid::Uuid::new_v4().simple()),
        experiment_id: new.experiment_id,
        name: if new.name.is_empty() { "model".into() } else { new.name.to_owned() },
        source_run_id: new.source_run_id.map(str::to_owned),
        status: PENDING.into(),
        params: serde_json::Value::Array(params).to_string(),
        created_by: actor.id.clone(),
        created_at: now,
        updated_at: now,
    };
    state.db.mlflow_logged_model_insert(&row, &new.tags).await?;
    logged_model(state, actor, &row.id).await
}

/// A logged model `actor` owns (404 otherwise).
pub async fn owned_logged_model(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<LoggedModelRow, ApiError> {
    match state.db.mlflow_logged_model(id).await? {
        Some(m) if owns(actor, &m.created_by) => Ok(m),
        _ => Err(ApiError::not_found(format!(
            "Logged model with id={} not found",
            registry_core::text::clip(id, 64)
        ))),
    }
}

/// A logged model with its tags.
pub async fn logged_model(state: &AppState, actor: &Actor, id: &str) -> Result<LoggedModelView, ApiError> {
    let row = owned_logged_model(state, actor, id).await?;
    Ok(LoggedModelView { tags: state.db.mlflow_tags(kind::LOGGED_MODEL, id).await?, row })
}

/// Sets a logged model's status (`finalize`). Once ready its files are immutable.
pub async fn finalize_logged_model(
    state: &AppState,
    actor: &Actor,
    id: &str,
    status: &str,
) -> Result<LoggedModelView, ApiError> {
    check_push(actor)?;
    let row = owned_logged_model(state, actor, id).await?;
    if !MODEL_STATUSES.contains(&status) {
        return Err(invalid(format!(
            "logged model status {status:?} is not one of {}",
            MODEL_STATUSES.join(", ")
        )));
    }
    let finalized = || invalid(format!("logged model {id} is finalized; its status cannot change"));
    if row.status == READY && status != READY {
        return Err(finalized());
    }
    // Checked again by the update itself: a concurrent finalize may have made it ready meanwhile.
    if !state.db.mlflow_logged_model_status(id, status, now_ms()).await? {
        return Err(finalized());
    }
    logged_model(state, actor, id).await
}

/// Sets tags on a logged model.
pub async fn tag_logged_model(
    state: &AppState,
    actor: &Actor,
    id: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    check_push(actor)?;
    owned_logged_model(state, actor, id).await?;
    check_tags(tags)?;
    Ok(state.db.mlflow_tags_set(kind::LOGGED_MODEL, id, tags).await?)
}

/// Logged models of some experiments `actor` owns, optionally only those of one run.
pub async fn search_logged_models(
    state: &AppState,
    actor: &Actor,
    experiments: &[i64],
    source_run_id: Option<&str>,
    limit: i64,
) -> Result<Vec<LoggedModelView>, ApiError> {
    let by = (!actor.has(registry_core::auth::Scope::Admin)).then_some(actor.id.as_str());
    let mut out = Vec::new();
    for e in experiments {
        for row in state.db.mlflow_logged_models(*e, by, limit.clamp(1, 1000)).await? {
            if source_run_id.is_some_and(|r| row.source_run_id.as_deref() != Some(r)) {
                continue;
            }
            out.push(LoggedModelView { tags: state.db.mlflow_tags(kind::LOGGED_MODEL, &row.id).await?, row });
        }
    }
    out.truncate(usize::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
    Ok(out)
}
