//! SLSA predicates (<https://slsa.dev/spec/v1.0/provenance>, predicate type
//! `https://slsa.dev/provenance/v1`; <https://slsa.dev/spec/v1.0/verification_summary> for the VSA):
//! the training provenance we write from recorded lineage, and the names a provenance or promotion
//! decision (VSA) must give for the version it is attached to.
//!
//! We write `buildDefinition` (`buildType` [`TRAINING_BUILD_TYPE`], `externalParameters`,
//! `internalParameters`, `resolvedDependencies` as in-toto ResourceDescriptors) and `runDetails`
//! (`builder.id`, `metadata`). Not written: `byproducts`, `builder.version`,
//! `builderDependencies`. Provenance from any builder binds to a version by its subject digest; only
//! our own `buildType` has its names checked ([`check_names`]), and another builder's
//! `buildDefinition` is not interpreted.
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Digest;
use crate::attest::AttestError;
use crate::lineage::{Lineage, Scalar};
use crate::name::ModelName;

/// SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SLSA Verification Summary Attestation v1 (promotion decisions).
pub const SLSA_VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
/// Our SLSA `buildType` for model training.
pub const TRAINING_BUILD_TYPE: &str = "https://registry.dev/model-training/v1";

fn scalar(v: &Scalar) -> Value {
    match v {
        Scalar::Number(n) => Value::Number(n.clone()),
        Scalar::Text(s) => Value::String(s.clone()),
    }
}

/// Run times for the provenance (RFC 3339), when known.
#[derive(Debug, Clone, Default)]
pub struct RunTimes {
    /// Training start.
    pub started_on: Option<String>,
    /// Training end.
    pub finished_on: Option<String>,
}

/// SLSA Provenance v1 predicate for a training run, from recorded lineage. Parents are given with the
/// manifest digests they resolve to (the caller looks them up), so the provenance pins exact bytes.
pub fn slsa_provenance(
    model: &ModelName,
    version: &str,
    lineage: &Lineage,
    parents: &[(String, Digest)],
    times: &RunTimes,
) -> Value {
    let mut deps: Vec<Value> = lineage
        .datasets
        .iter()
        .map(|d| {
            json!({"name": format!("dataset:{}", d.role), "uri": d.uri, "digest": {"sha256": d.digest.hex()},
                         "annotations": {"role": d.role}})
        })
        .collect();
    if let Some(c) = &lineage.code {
        let algo = if c.commit.len() == 40 { "gitCommit" } else { "sha256" };
        deps.push(json!({"name": "code", "uri": format!("git+{}@{}", c.repo, c.commit), "digest": {algo: c.commit}}));
    }
    for (r, d) in parents {
        deps.push(json!({"name": "parent", "uri": format!("registry:{r}"), "digest": {"sha256": d.hex()}}));
    }
    let params: BTreeMap<&str, Value> = lineage.params.iter().map(|(k, v)| (k.as_str(), scalar(v))).collect();
    let mut external = json!({"model": model.to_string(), "version": version, "parameters": params});
    if let Some(p) = lineage.code.as_ref().and_then(|c| c.path.as_ref()) {
        external["entryPoint"] = json!(p);
    }
    let metrics: BTreeMap<&str, Value> =
        lineage.metrics.iter().map(|(k, v)| (k.as_str(), scalar(v))).collect();
    let mut metadata = serde_json::Map::new();
    if let Some(r) = &lineage.run {
        metadata.insert("invocationId".into(), json!(r.id));
    }
    if let Some(t) = &times.started_on {
        metadata.insert("startedOn".into(), json!(t));
    }
    if let Some(t) = &times.finished_on {
        metadata.insert("finishedOn".into(), json!(t));
    }
    let builder = lineage
        .run
        .as_ref()
        .and_then(|r| r.builder.clone())
        .unwrap_or_else(|| "https://registry.dev/builder/unknown".into());
    json!({
        "buildDefinition": {
            "buildType": TRAINING_BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"metrics": metrics},
            "resolvedDependencies": deps,
        },
        "runDetails": {"builder": {"id": builder}, "metadata": metadata},
    })
}

/// Checks the predicates that name their subject beyond its digest against the version they are
/// attached to: a promotion decision (SLSA VSA) must name `registry:NS/NAME@VERSION` as its
/// `resourceUri`, and our training provenance (`buildType` [`TRAINING_BUILD_TYPE`]) its model and
/// version in `externalParameters`. Other predicates (third-party tools name subjects freely) pass.
pub fn check_names(
    predicate_type: &str,
    predicate: &Value,
    model: &ModelName,
    version: &str,
) -> Result<(), AttestError> {
    let other = |field: &'static str, v: &Value| AttestError::NamesOther {
        field,
        named: v.as_str().map_or_else(|| v.to_string(), str::to_owned),
    };
    if predicate_type == SLSA_VSA_V1 {
        let uri = &predicate["resourceUri"];
        if uri.as_str() != Some(format!("registry:{model}@{version}").as_str()) {
            return Err(other("resourceUri", uri));
        }
    }
    if predicate_type == SLSA_PROVENANCE_V1
        && predicate["buildDefinition"]["buildType"].as_str() == Some(TRAINING_BUILD_TYPE)
    {
        let ext = &predicate["buildDefinition"]["externalParameters"];
        if ext["model"].as_str() != Some(model.to_string().as_str()) {
            return Err(other("externalParameters.model", &ext["model"]));
        }
        if ext["version"].as_str() != Some(version) {
            return Err(other("externalParameters.version", &ext["version"]));
        }
    }
    Ok(())
}
