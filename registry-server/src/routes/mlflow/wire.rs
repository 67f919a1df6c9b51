//! MLflow's response shapes (what its protobuf parser reads: `version` is a string, timestamps are
//! integers in ms, `status` is one of its enum names).
use serde_json::{Value, json};

use crate::db::mlflow::{ExperimentRow, MetricRow, RunRow};
use crate::service::mlflow::artifacts::Root;
use crate::service::mlflow::registry::{ModelView, VersionView};
use crate::service::mlflow::tracking::{LoggedModelView, RunView};

fn kv(pairs: &[(String, String)]) -> Vec<Value> {
    pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
}

/// An experiment.
pub fn experiment(e: &ExperimentRow) -> Value {
    json!({
        "experiment_id": e.id.to_string(),
        "name": e.name,
        "artifact_location": format!("mlflow-artifacts:/{}", e.id),
        "lifecycle_stage": "active",
        "creation_time": e.created_at,
        "last_update_time": e.created_at,
        "tags": [],
    })
}

/// A run's info.
pub fn run_info(r: &RunRow) -> Value {
    let root = Root::Run { experiment: r.experiment_id, run: r.id.clone() };
    let mut v = json!({
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": r.experiment_id.to_string(),
        "user_id": r.created_by,
        "status": r.status,
        "start_time": r.start_time,
        "artifact_uri": root.uri(),
        "lifecycle_stage": "active",
    });
    if let Some(e) = r.end_time {
        v["end_time"] = json!(e);
    }
    v
}

/// A metric point.
pub fn metric(m: &MetricRow) -> Value {
    // Protobuf's JSON spelling of the non-finite doubles.
    let value = if m.value.is_nan() {
        json!("NaN")
    } else if m.value.is_infinite() {
        json!(if m.value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(m.value)
    };
    json!({"key": m.key, "value": value, "timestamp": m.timestamp, "step": m.step})
}

/// A run with its data, inputs and outputs.
pub fn run(r: &RunView) -> Value {
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|i| {
            let tags = if i.context.is_empty() {
                vec![]
            } else {
                vec![json!({"key": "mlflow.data.context", "value": i.context})]
            };
            json!({"tags": tags, "dataset": {
                "name": i.name, "digest": i.digest, "source_type": i.source_type, "source": i.source,
            }})
        })
        .collect();
    let outputs: Vec<Value> = r
        .outputs
        .iter()
        .map(|(m, step)| json!({"model_id": m, "step": step.parse::<i64>().unwrap_or(0)}))
        .collect();
    json!({
        "info": run_info(&r.row),
        "data": {"params": kv(&r.params), "metrics": r.metrics.iter().map(metric).collect::<Vec<_>>(), "tags": kv(&r.tags)},
        "inputs": {"dataset_inputs": inputs},
        "outputs": {"model_outputs": outputs},
    })
}

/// A logged model.
pub fn logged_model(m: &LoggedModelView) -> Value {
    let r = &m.row;
    let root = Root::LoggedModel { experiment: r.experiment_id, model: r.id.clone() };
    let params: Value = serde_json::from_str(&r.params).unwrap_or_else(|_| json!([]));
    let mut info = json!({
        "model_id": r.id,
        "experiment_id": r.experiment_id.to_string(),
        "name": r.name,
        "artifact_uri": root.uri(),
        "status": r.status,
        "creation_timestamp_ms": r.created_at,
        "last_updated_timestamp_ms": r.updated_at,
        "tags": kv(&m.tags),
    });
    if let Some(run) = &r.source_run_id {
        info["source_run_id"] = json!(run);
    }
    json!({"info": info, "data": {"params": params, "metrics": []}})
}

/// A model version.
pub fn version(v: &VersionView) -> Value {
    let r = &v.row;
    let mut out = json!({
        "name": v.name,
        "version": r.seq.to_string(),
        "creation_timestamp": r.created_at,
        "last_updated_timestamp": r.created_at,
        "user_id": r.created_by,
        "current_stage": "None",
        "source": r.source.clone().unwrap_or_else(|| format!("registry:{}/{}@{}", r.namespace, r.name, r.version)),
        "status": "READY",
        "tags": kv(&v.tags),
        "aliases": v.aliases,
    });
    if let Some(run) = &r.run_id {
        out["run_id"] = json!(run);
    }
    if let Some(m) = &r.model_id {
        out["model_id"] = json!(m);
    }
    if let Some(d) = &r.description {
        out["description"] = json!(d);
    }
    out
}

/// A registered model.
pub fn model(m: &ModelView) -> Value {
    let aliases: Vec<Value> =
        m.aliases.iter().map(|(a, seq)| json!({"alias": a, "version": seq.to_string()})).collect();
    let last = m.latest.as_ref().map_or(m.row.created_at, |v| v.row.created_at);
    let mut out = json!({
        "name": m.name,
        "creation_timestamp": m.row.created_at,
        "last_updated_timestamp": last,
        "user_id": m.row.created_by,
        "latest_versions": m.latest.iter().map(version).collect::<Vec<_>>(),
        "aliases": aliases,
        "tags": kv(&m.tags),
    });
    if let Some(d) = &m.description {
        out["description"] = json!(d);
    }
    out
}
