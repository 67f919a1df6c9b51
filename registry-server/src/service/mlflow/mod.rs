//! The rules behind the MLflow-compatible API (`routes::mlflow` is its HTTP edge). Everything that
//! touches models, versions, aliases, blobs, policies or the log goes through the same services as
//! `/v1`: registration is [`crate::service::push::publish_numbered`], alias moves are
//! [`crate::service::promote::promote`], bytes are served by [`crate::service::blobs::serve`].
//! What is MLflow's own lives here: experiments, runs and logged models (owned by the credential
//! that created them), the artifact tree, the name mapping and the version numbers.
use registry_core::ModelName;
use registry_core::api::codes;
use registry_core::auth::Scope;

use crate::auth::Actor;
use crate::error::ApiError;

pub mod artifacts;
pub mod registry;
pub mod tracking;

/// Tag and annotation kinds in `mlflow_tags`.
pub use crate::db::mlflow::kind;

/// Longest tag or parameter key (MLflow's bound).
pub const MAX_KEY: usize = 250;
/// Longest parameter value (MLflow's bound).
pub const MAX_PARAM_VALUE: usize = 6000;
/// Longest tag value (MLflow's bound).
pub const MAX_TAG_VALUE: usize = 8000;
/// Most metrics in one batch (MLflow's bound).
pub const MAX_BATCH_METRICS: usize = 1000;
/// Most params or tags in one batch (MLflow's bound).
pub const MAX_BATCH_ENTRIES: usize = 100;

/// 400 `invalid_parameter` (MLflow's `INVALID_PARAMETER_VALUE`).
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(codes::BAD_REQUEST, message)
}

/// Maps an MLflow model name to ours: MLflow names cannot hold `/`, so `NS.NAME` is `NS/NAME`,
/// split at the first dot.
pub fn model_name(mlflow: &str) -> Result<ModelName, ApiError> {
    let Some((ns, name)) = mlflow.split_once('.') else {
        return Err(invalid(format!(
            "model name {:?} must be NAMESPACE.NAME (the registry's NAMESPACE/NAME; split at the first dot)",
            registry_core::text::clip(mlflow, 200)
        )));
    };
    ModelName::new(ns, name).map_err(|e| invalid(format!("model name: {e}")))
}

/// Our model name as MLflow spells it (`None` when the namespace holds a dot, which the mapping
/// cannot express: such models are not reachable through the MLflow API).
pub fn mlflow_name(m: &ModelName) -> Option<String> {
    (!m.namespace().contains('.')).then(|| format!("{}.{}", m.namespace(), m.name()))
}

/// Whether `actor` owns what `created_by` created (runs, logged models, their files). Admins own
/// everything. Anything else is answered as not found.
pub fn owns(actor: &Actor, created_by: &str) -> bool {
    actor.id == created_by || actor.has(Scope::Admin)
}

/// Reads of a model outside the credential's namespace pattern: 403, decided on the name alone
/// (whether the model exists is never looked at), so the answer is no existence oracle.
pub fn check_covers(actor: &Actor, m: &ModelName) -> Result<(), ApiError> {
    if actor.covers(m) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("this credential may not read {m} (it covers {})", actor.pattern)))
    }
}

/// Writes to experiments, runs and logged models need the push scope.
pub fn check_push(actor: &Actor) -> Result<(), ApiError> {
    if actor.has(Scope::Push) {
        Ok(())
    } else {
        Err(ApiError::forbidden("this credential lacks the push scope"))
    }
}

/// Checks a key and value against MLflow's bounds and our text rules.
pub fn check_entry(what: &str, key: &str, value: &str, max_value: usize) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(invalid(format!("{what} key must be 1..={MAX_KEY} bytes")));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid(format!("{what} key contains a control character")));
    }
    if value.len() > max_value {
        return Err(invalid(format!("{what} {key:?}: value longer than {max_value} bytes")));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_map_at_the_first_dot_and_back() {
        let m = model_name("fraud.detector.v2").unwrap();
        assert_eq!(m.to_string(), "fraud/detector.v2");
        assert_eq!(mlflow_name(&m).as_deref(), Some("fraud.detector.v2"));
        for bad in ["fraud", "fraud/detector", ".x", "x.", "Fraud.x"] {
            assert!(model_name(bad).is_err(), "{bad}");
        }
        assert_eq!(mlflow_name(&ModelName::new("a.b", "c").unwrap()), None);
    }
}
