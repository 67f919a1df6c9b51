//! OpenLineage export: a version creation as one OpenLineage RunEvent (`COMPLETE`), so Marquez and
//! other OpenLineage backends draw the registry's lineage. Pure: no clock and no I/O, so the same
//! version always gives the same event and re-sending it is idempotent.
//!
//! Implements the OpenLineage object model, spec 2-0-2 (<https://openlineage.io/spec/2-0-2/OpenLineage.json>)
//! and its naming conventions (<https://openlineage.io/docs/spec/naming>); the schemas of the spec and
//! of every facet used here, ours included, are committed in `schemas/openlineage/`. The event:
//!
//! - `run.runId`: [`run_id`], a UUIDv5 of `NS/NAME@LABEL`.
//! - `job`: namespace = the lineage's `run.builder` (the platform that ran the training: OpenLineage
//!   derives job namespaces from schedulers), else the model's namespace; name = `NS/NAME`, so every
//!   version of a model is one run of the job that trains it. Facet `sourceCodeLocation` (git, repo,
//!   commit, path) when the lineage names code.
//! - `run` facets: `executionParameters` (the params), `registry_run` (the orchestrator's run id,
//!   link and builder).
//! - `inputs`: each lineage dataset, named by [`dataset_id`], with facets `version` (its digest) and
//!   `registry_dataset` (uri, digest, role); then each parent version, named as outputs are, with
//!   `datasetType` MODEL, so a fine-tune links to its base model's own event.
//! - `outputs`: the version: namespace [`Emitter::namespace`], name `NS/NAME@LABEL`; facets `version`
//!   (the manifest digest), `datasetType` MODEL and `registry_model_version` (manifest digest, OMS
//!   root digest, metrics).
//!
//! Not supported yet: START/RUNNING events (the registry only sees the finished version); the
//! `parent` run facet (orchestrator run ids are not UUIDs, so they go in `registry_run`); schema,
//! column-lineage and statistics facets; percent-decoding of dataset URIs (names keep their spelling).
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::digest::Digest;
use crate::lineage::{Lineage, Scalar};
use crate::name::{ModelName, VersionLabel};

/// Every event's `schemaURL`: the RunEvent of OpenLineage spec 2-0-2 (`schemas/openlineage/OpenLineage.json`).
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// The namespace of run ids: UUIDv5 (RFC 9562 §5.5) of `https://registry.dev/openlineage/run-id` in
/// the URL namespace. Never change it: every run id the registry ever sent depends on it.
pub const RUN_ID_NAMESPACE: Uuid = Uuid::from_u128(0x2028ea7e_55ee_5d2f_832f_e9677d9460ae);

/// `_schemaURL`s of the standard facets used, the versions committed in `schemas/openlineage/`.
const SOURCE_CODE_LOCATION: &str = "https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet";
const EXECUTION_PARAMETERS: &str = "https://openlineage.io/spec/facets/1-0-0/ExecutionParametersRunFacet.json#/$defs/ExecutionParametersRunFacet";
const DATASET_VERSION: &str = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const DATASET_TYPE: &str =
    "https://openlineage.io/spec/facets/1-0-1/DatasetTypeDatasetFacet.json#/$defs/DatasetTypeDatasetFacet";
/// Our custom facets (`registry_*`), defined in `schemas/openlineage/RegistryFacets.json`.
const REGISTRY_FACETS: &str = "https://registry.dev/schemas/openlineage/1-0-0/RegistryFacets.json";

/// Who sends the events: fixed for one registry instance.
#[derive(Debug, Clone, Copy)]
pub struct Emitter<'a> {
    /// The event's `producer` and every facet's `_producer`: a URI naming the registry build
    /// (e.g. `https://github.com/acme/registry/tree/v0.9.0`).
    pub producer: &'a str,
    /// The dataset namespace of this registry's model versions, `registry://HOST[:PORT]`: see
    /// [`registry_namespace`].
    pub namespace: &'a str,
}

/// An OpenLineage dataset identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetId {
    /// The data source: `s3://bucket`, `file`, `hdfs://host:port`, ...
    pub namespace: String,
    /// The dataset within it: an object key or a path.
    pub name: String,
}

/// The run id of `model@label`'s creation: UUIDv5 of the text `NS/NAME@LABEL` under
/// [`RUN_ID_NAMESPACE`].
pub fn run_id(model: &ModelName, label: &VersionLabel) -> Uuid {
    Uuid::new_v5(&RUN_ID_NAMESPACE, format!("{model}@{label}").as_bytes())
}

/// The OpenLineage RunEvent (`COMPLETE`) of `model@label`'s creation (module docs: what goes where).
/// `event_time` is RFC 3339 (the version's `created_at`, so the event is the same whenever it is
/// built); the lineage is taken as stored (validated at push).
pub fn run_event(
    model: &ModelName,
    label: &VersionLabel,
    lineage: &Lineage,
    manifest_digest: &Digest,
    oms_root: &Digest,
    event_time: &str,
    emitter: &Emitter<'_>,
) -> Value {
    let job_namespace = lineage
        .run
        .as_ref()
        .and_then(|r| r.builder.as_deref())
        .filter(|b| !b.is_empty())
        .unwrap_or(model.namespace());
    let mut job_facets = Map::new();
    if let Some(c) = &lineage.code {
        let fields =
            json!({"type": "git", "url": c.repo, "repoUrl": c.repo, "path": c.path, "version": c.commit});
        job_facets.insert("sourceCodeLocation".into(), facet(emitter, SOURCE_CODE_LOCATION, fields));
    }
    let metrics: Map<String, Value> = lineage.metrics.iter().map(|(k, v)| (k.clone(), scalar(v))).collect();
    let version = json!({
        "manifestDigest": manifest_digest.to_string(),
        "omsRootDigest": oms_root.to_string(),
        "metrics": (!metrics.is_empty()).then_some(metrics),
    });
    let output = json!({
        "namespace": emitter.namespace,
        "name": format!("{model}@{label}"),
        "facets": {
            "version": facet(emitter, DATASET_VERSION, json!({"datasetVersion": manifest_digest.to_string()})),
            "datasetType": model_type(emitter),
            "registry_model_version": facet(emitter, &custom("RegistryModelVersionDatasetFacet"), version),
        },
    });
    json!({
        "eventType": "COMPLETE",
        "eventTime": event_time,
        "producer": emitter.producer,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id(model, label).to_string(), "facets": run_facets(lineage, emitter)},
        "job": {"namespace": job_namespace, "name": model.to_string(), "facets": job_facets},
        "inputs": inputs(lineage, emitter),
        "outputs": [output],
    })
}

fn run_facets(lineage: &Lineage, emitter: &Emitter<'_>) -> Map<String, Value> {
    let mut facets = Map::new();
    if !lineage.params.is_empty() {
        // ExecutionParameter.value is a string: numbers are sent as their JSON text.
        let parameters: Vec<Value> = lineage
            .params
            .iter()
            .map(|(k, v)| match v {
                Scalar::Number(n) => json!({"key": k, "value": n.to_string()}),
                Scalar::Text(s) => json!({"key": k, "value": s}),
            })
            .collect();
        let fields = json!({"parameters": parameters});
        facets.insert("executionParameters".into(), facet(emitter, EXECUTION_PARAMETERS, fields));
    }
    if let Some(r) = &lineage.run {
        let fields = json!({"id": r.id, "uri": r.uri, "builder": r.builder});
        facets.insert("registry_run".into(), facet(emitter, &custom("RegistryRunFacet"), fields));
    }
    facets
}

fn inputs(lineage: &Lineage, emitter: &Emitter<'_>) -> Vec<Value> {
    let datasets = lineage.datasets.iter().map(|d| {
        let DatasetId { namespace, name } = dataset_id(&d.uri);
        let digest = d.digest.to_string();
        let ours = json!({"uri": d.uri, "digest": digest, "role": d.role});
        json!({
            "namespace": namespace,
            "name": name,
            "facets": {
                "version": facet(emitter, DATASET_VERSION, json!({"datasetVersion": digest})),
                "registry_dataset": facet(emitter, &custom("RegistryDatasetFacet"), ours),
            },
        })
    });
    let parents = lineage.parents.iter().map(|p| {
        json!({"namespace": emitter.namespace, "name": p.to_string(), "facets": {"datasetType": model_type(emitter)}})
    });
    datasets.chain(parents).collect()
}

/// A facet: `_producer`, `_schemaURL`, then `fields` less its nulls (absent optional fields).
fn facet(emitter: &Emitter<'_>, schema_url: &str, fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("_producer".into(), emitter.producer.into());
    out.insert("_schemaURL".into(), schema_url.into());
    if let Value::Object(fields) = fields {
        out.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Value::Object(out)
}

fn model_type(emitter: &Emitter<'_>) -> Value {
    facet(emitter, DATASET_TYPE, json!({"datasetType": "MODEL"}))
}

fn custom(def: &str) -> String {
    format!("{REGISTRY_FACETS}#/$defs/{def}")
}

fn scalar(v: &Scalar) -> Value {
    match v {
        Scalar::Number(n) => Value::Number(n.clone()),
        Scalar::Text(s) => Value::String(s.clone()),
    }
}

/// Names a dataset URI per the OpenLineage naming conventions, as the reference Java client's
/// `FilesystemDatasetUtils.fromLocation` does:
///
/// - object stores, `s3://BUCKET/KEY` (also `s3a`, `s3n`), `gs://`, `abfs[s]://`, `wasb[s]://`:
///   namespace `SCHEME://AUTHORITY` with the scheme made canonical (`s3`, `gs`, `abfss`, `wasbs`);
///   name = the key, without leading `/`.
/// - local files, `file:///PATH`, `file:/PATH`, `file://localhost/PATH`, or a bare path (no scheme,
///   or a one-letter drive such as `C:`): namespace `file`, name the path. `file://HOST/PATH` (a
///   remote file system): namespace `file://HOST`.
/// - any other `SCHEME://AUTHORITY/PATH` (`hdfs`, `hf`, `https`, ...): namespace
///   `SCHEME://AUTHORITY`, name the path (with its leading `/`).
/// - a URI without `//` (`urn:isbn:123`): namespace the scheme, name what follows the `:`.
///
/// Always: the scheme is lowercased, the query and fragment are dropped (the `registry_dataset`
/// facet keeps the whole URI), an empty authority leaves the bare scheme (`hdfs:///x` gives `hdfs`
/// and `/x`), trailing `/` are trimmed from the name and an empty name is `/`.
pub fn dataset_id(uri: &str) -> DatasetId {
    let uri = uri.find(['?', '#']).map_or(uri, |i| &uri[..i]);
    let id = |namespace: &str, name: &str| {
        let name = name.trim_end_matches('/');
        DatasetId {
            namespace: namespace.to_owned(),
            name: if name.is_empty() { "/" } else { name }.to_owned(),
        }
    };
    let Some((scheme, rest)) = split_scheme(uri) else {
        return id("file", uri);
    };
    let Some(hier) = rest.strip_prefix("//") else {
        return id(&scheme, rest);
    };
    let (authority, path) = hier.split_at(hier.find('/').unwrap_or(hier.len()));
    let (scheme, object_store) = match scheme.as_str() {
        "s3" | "s3a" | "s3n" => ("s3", true),
        "gs" => ("gs", true),
        "abfs" | "abfss" => ("abfss", true),
        "wasb" | "wasbs" => ("wasbs", true),
        other => (other, false),
    };
    let namespace = match (scheme, authority) {
        ("file", "localhost") | (_, "") => scheme.to_owned(),
        _ => format!("{scheme}://{authority}"),
    };
    id(&namespace, if object_store { path.trim_start_matches('/') } else { path })
}

/// The lowercased scheme and the rest, if `uri` starts with an RFC 3986 §3.1 scheme and `:`. A
/// one-letter scheme is taken for a Windows drive (`C:\data`), not a scheme.
fn split_scheme(uri: &str) -> Option<(String, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let ok = scheme.len() >= 2
        && bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    ok.then(|| (scheme.to_ascii_lowercase(), rest))
}

/// The dataset namespace of the registry at `public_url`: `registry://HOST[:PORT]`, the URL's
/// authority without user info (`https://models.example.com/` gives `registry://models.example.com`).
/// A string without `://` is taken as the authority itself.
pub fn registry_namespace(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, rest)| rest);
    let authority = rest.find(['/', '?', '#']).map_or(rest, |i| &rest[..i]);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("registry://{host}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TRAIN: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const EVAL: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const MANIFEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const OMS: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
    const PRODUCER: &str = "https://github.com/acme/registry/tree/v0.9.0";
    const EMITTER: Emitter<'static> =
        Emitter { producer: PRODUCER, namespace: "registry://models.example.com" };

    fn lineage() -> Lineage {
        serde_json::from_value(json!({
            "datasets": [
                {"uri": "s3://data/fraud/2026-11.parquet", "digest": TRAIN},
                {"uri": "/mnt/eval/holdout.csv", "digest": EVAL, "role": "eval"},
            ],
            "code": {"repo": "https://github.com/acme/fraud", "commit": "3f786850e387550fdab836ed7e6dc881de23001b", "path": "train.py"},
            "parents": ["fraud/base@2.0"],
            "params": {"lr": 0.001, "optimizer": "adam"},
            "metrics": {"auc": 0.93},
            "run": {"id": "manual__2026-11-30", "uri": "https://airflow.example.com/runs/42", "builder": "https://airflow.example.com"},
        }))
        .unwrap()
    }

    fn event(label: &str, lineage: &Lineage) -> Value {
        let (m, l) = (ModelName::parse("fraud/detector").unwrap(), VersionLabel::parse(label).unwrap());
        let (manifest, oms) = (Digest::parse(MANIFEST).unwrap(), Digest::parse(OMS).unwrap());
        run_event(&m, &l, lineage, &manifest, &oms, "2026-12-03T01:02:03Z", &EMITTER)
    }

    fn facet(schema: &str, fields: Value) -> Value {
        let mut f = json!({"_producer": PRODUCER, "_schemaURL": schema});
        f.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        f
    }

    #[test]
    fn the_full_event_is_pinned() {
        let e = event("1.4.0", &lineage());
        println!("{}", serde_json::to_string_pretty(&e).unwrap());
        let ours = "https://registry.dev/schemas/openlineage/1-0-0/RegistryFacets.json#/$defs/";
        let model = facet(DATASET_TYPE, json!({"datasetType": "MODEL"}));
        let expected = json!({
            "eventType": "COMPLETE",
            "eventTime": "2026-12-03T01:02:03Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {
                // uuid.uuid5(uuid.UUID("2028ea7e-55ee-5d2f-832f-e9677d9460ae"), "fraud/detector@1.4.0") in Python
                "runId": "d16c0ddc-e597-528d-8841-fc08cc06bfac",
                "facets": {
                    "executionParameters": facet(EXECUTION_PARAMETERS, json!({"parameters": [
                        {"key": "lr", "value": "0.001"}, {"key": "optimizer", "value": "adam"},
                    ]})),
                    "registry_run": facet(&format!("{ours}RegistryRunFacet"), json!({
                        "id": "manual__2026-11-30",
                        "uri": "https://airflow.example.com/runs/42",
                        "builder": "https://airflow.example.com",
                    })),
                },
            },
            "job": {
                "namespace": "https://airflow.example.com",
                "name": "fraud/detector",
                "facets": {"sourceCodeLocation": facet(SOURCE_CODE_LOCATION, json!({
                    "type": "git",
                    "url": "https://github.com/acme/fraud",
                    "repoUrl": "https://github.com/acme/fraud",
                    "path": "train.py",
                    "version": "3f786850e387550fdab836ed7e6dc881de23001b",
                }))},
            },
            "inputs": [
                {"namespace": "s3://data", "name": "fraud/2026-11.parquet", "facets": {
                    "version": facet(DATASET_VERSION, json!({"datasetVersion": TRAIN})),
                    "registry_dataset": facet(&format!("{ours}RegistryDatasetFacet"), json!({
                        "uri": "s3://data/fraud/2026-11.parquet", "digest": TRAIN, "role": "train",
                    })),
                }},
                {"namespace": "file", "name": "/mnt/eval/holdout.csv", "facets": {
                    "version": facet(DATASET_VERSION, json!({"datasetVersion": EVAL})),
                    "registry_dataset": facet(&format!("{ours}RegistryDatasetFacet"), json!({
                        "uri": "/mnt/eval/holdout.csv", "digest": EVAL, "role": "eval",
                    })),
                }},
                {"namespace": "registry://models.example.com", "name": "fraud/base@2.0", "facets": {"datasetType": model}},
            ],
            "outputs": [{
                "namespace": "registry://models.example.com",
                "name": "fraud/detector@1.4.0",
                "facets": {
                    "version": facet(DATASET_VERSION, json!({"datasetVersion": MANIFEST})),
                    "datasetType": model,
                    "registry_model_version": facet(&format!("{ours}RegistryModelVersionDatasetFacet"), json!({
                        "manifestDigest": MANIFEST, "omsRootDigest": OMS, "metrics": {"auc": 0.93},
                    })),
                },
            }],
        });
        assert_eq!(e, expected);
    }

    #[test]
    fn run_ids_are_deterministic_and_differ_across_labels_and_models() {
        assert_eq!(
            RUN_ID_NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://registry.dev/openlineage/run-id")
        );
        let m = ModelName::parse("fraud/detector").unwrap();
        let id = |m: &ModelName, l: &str| run_id(m, &VersionLabel::parse(l).unwrap()).to_string();
        assert_eq!(id(&m, "1.4.0"), id(&m, "1.4.0"));
        // Both values from Python's uuid.uuid5, an independent implementation.
        assert_eq!(id(&m, "1.4.0"), "d16c0ddc-e597-528d-8841-fc08cc06bfac");
        assert_eq!(id(&m, "1.4.1"), "2d3435fd-ac4f-5380-8469-22a9debc1a15");
        assert_ne!(id(&m, "1.4.0"), id(&ModelName::parse("fraud/other").unwrap(), "1.4.0"));
        assert_eq!(event("1.4.0", &lineage()), event("1.4.0", &lineage()));
    }

    #[test]
    fn dataset_uris_are_named_per_the_openlineage_conventions() {
        let cases = [
            ("s3://bucket/path/to/x.parquet", "s3://bucket", "path/to/x.parquet"),
            ("s3a://bucket/dir/", "s3://bucket", "dir"),
            ("S3://bucket", "s3://bucket", "/"),
            ("gs://bucket/key?generation=7", "gs://bucket", "key"),
            ("abfs://c@acct.dfs.core.windows.net/p", "abfss://c@acct.dfs.core.windows.net", "p"),
            ("wasbs://c@acct.blob.core.windows.net/k", "wasbs://c@acct.blob.core.windows.net", "k"),
            ("hdfs://namenode:8020/user/data/", "hdfs://namenode:8020", "/user/data"),
            ("hdfs:///user/data", "hdfs", "/user/data"),
            ("file:///data/train.csv", "file", "/data/train.csv"),
            ("file:/data/train.csv", "file", "/data/train.csv"),
            ("file://localhost/data/train.csv", "file", "/data/train.csv"),
            ("file://nas01/data/train.csv", "file://nas01", "/data/train.csv"),
            ("/data/train.csv", "file", "/data/train.csv"),
            ("data/train.csv", "file", "data/train.csv"),
            (r"C:\data\train.csv", "file", r"C:\data\train.csv"),
            ("hf://datasets/acme/fraud#main", "hf://datasets", "/acme/fraud"),
            ("https://example.com/d.csv", "https://example.com", "/d.csv"),
            ("urn:dataset:acme:fraud", "urn", "dataset:acme:fraud"),
        ];
        for (uri, namespace, name) in cases {
            assert_eq!(
                dataset_id(uri),
                DatasetId { namespace: namespace.into(), name: name.into() },
                "{uri}"
            );
        }
    }

    #[test]
    fn without_run_or_code_the_job_is_named_after_the_model() {
        let e = event("2", &Lineage::default());
        println!("{}", serde_json::to_string_pretty(&e).unwrap());
        assert_eq!(e["job"], json!({"namespace": "fraud", "name": "fraud/detector", "facets": {}}));
        assert_eq!(e["run"]["facets"], json!({}));
        assert_eq!(e["inputs"], json!([]));
        assert_eq!(e["outputs"][0]["name"], "fraud/detector@2");
        assert!(e["outputs"][0]["facets"]["registry_model_version"].get("metrics").is_none());
        let mut l = lineage();
        l.run.as_mut().unwrap().builder = None;
        assert_eq!(event("2", &l)["job"]["namespace"], "fraud");
    }

    #[test]
    fn the_registry_namespace_is_the_public_urls_authority() {
        assert_eq!(registry_namespace("https://models.example.com/"), "registry://models.example.com");
        assert_eq!(registry_namespace("http://u:p@127.0.0.1:8080/reg?x"), "registry://127.0.0.1:8080");
        assert_eq!(registry_namespace("models.example.com"), "registry://models.example.com");
    }

    /// The committed schemas, and a checker for the JSON Schema keywords they use (`$ref`, `allOf`,
    /// `anyOf`, `oneOf`, `not`, `type`, `enum`, `pattern`, `required`, `properties`,
    /// `additionalProperties`, `items`; `format` is not checked).
    struct Schemas(Vec<Value>);

    impl Schemas {
        fn load() -> Self {
            let texts = [
                include_str!("../../schemas/openlineage/OpenLineage.json"),
                include_str!("../../schemas/openlineage/SourceCodeLocationJobFacet.json"),
                include_str!("../../schemas/openlineage/ExecutionParametersRunFacet.json"),
                include_str!("../../schemas/openlineage/DatasetVersionDatasetFacet.json"),
                include_str!("../../schemas/openlineage/DatasetTypeDatasetFacet.json"),
                include_str!("../../schemas/openlineage/RegistryFacets.json"),
            ];
            Self(texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect())
        }

        fn doc(&self, url: &str) -> &Value {
            let id = url.split('#').next().unwrap();
            self.0.iter().find(|d| d["$id"] == id).unwrap_or_else(|| panic!("no schema {id}"))
        }

        /// Errors of `v` against `schema_url`, a document or a `#/$defs/...` in one.
        fn errors(&self, schema_url: &str, v: &Value) -> Vec<String> {
            let mut errs = Vec::new();
            let doc = self.doc(schema_url);
            let pointer = schema_url.split_once('#').map_or("", |(_, p)| p);
            self.check(doc, doc.pointer(pointer).unwrap(), v, "", &mut errs);
            errs
        }

        fn check(&self, doc: &Value, s: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
            if let Some(r) = s["$ref"].as_str() {
                let (id, pointer) = r.split_once('#').unwrap();
                let d = if id.is_empty() { doc } else { self.doc(id) };
                self.check(d, d.pointer(pointer).unwrap(), v, at, errs);
            }
            for sub in s["allOf"].as_array().into_iter().flatten() {
                self.check(doc, sub, v, at, errs);
            }
            let passes = |sub: &Value| {
                let mut e = Vec::new();
                self.check(doc, sub, v, at, &mut e);
                e.is_empty()
            };
            if let Some(any) = s["anyOf"].as_array()
                && !any.iter().any(passes)
            {
                errs.push(format!("{at}: matches no anyOf branch"));
            }
            if let Some(one) = s["oneOf"].as_array()
                && one.iter().filter(|x| passes(x)).count() != 1
            {
                errs.push(format!("{at}: does not match exactly one oneOf branch"));
            }
            if s.get("not").is_some_and(passes) {
                errs.push(format!("{at}: matches a `not`"));
            }
            let types: Vec<&Value> =
                s["type"].as_array().map_or_else(|| vec![&s["type"]], |a| a.iter().collect());
            if !s["type"].is_null() && !types.iter().any(|t| has_type(v, t.as_str().unwrap())) {
                errs.push(format!("{at}: not of type {}", s["type"]));
            }
            if let Some(e) = s["enum"].as_array()
                && !e.contains(v)
            {
                errs.push(format!("{at}: {v} not in {}", s["enum"]));
            }
            if let (Some(p), Some(text)) = (s["pattern"].as_str(), v.as_str())
                && !regex::Regex::new(p).unwrap().is_match(text)
            {
                errs.push(format!("{at}: {text:?} does not match {p}"));
            }
            for item in v.as_array().filter(|_| s.get("items").is_some()).into_iter().flatten() {
                self.check(doc, &s["items"], item, &format!("{at}/[]"), errs);
            }
            let Some(obj) = v.as_object() else { return };
            for r in s["required"].as_array().into_iter().flatten() {
                if !obj.contains_key(r.as_str().unwrap()) {
                    errs.push(format!("{at}: missing {r}"));
                }
            }
            let props = s["properties"].as_object();
            for (k, x) in obj {
                let path = format!("{at}/{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => self.check(doc, sub, x, &path, errs),
                    None if s["additionalProperties"] == false => errs.push(format!("{path}: not allowed")),
                    None if s["additionalProperties"].is_object() => {
                        self.check(doc, &s["additionalProperties"], x, &path, errs)
                    }
                    None => {}
                }
            }
        }
    }

    fn has_type(v: &Value, t: &str) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            _ => v.is_null(),
        }
    }

    /// Every error of `e` against the spec, and of each facets object against each facet schema.
    fn validate(s: &Schemas, e: &Value) -> Vec<String> {
        let ol = "https://openlineage.io/spec/";
        let ours = "https://registry.dev/schemas/openlineage/1-0-0/RegistryFacets.json";
        // The whole spec (its root is a oneOf of the event kinds), then the RunEvent the event names,
        // whose errors say where.
        let mut errs = s.errors(&format!("{ol}2-0-2/OpenLineage.json"), e);
        errs.extend(s.errors(e["schemaURL"].as_str().unwrap(), e));
        errs.extend(
            s.errors(&format!("{ol}facets/1-1-0/SourceCodeLocationJobFacet.json"), &e["job"]["facets"]),
        );
        for url in [&format!("{ol}facets/1-0-0/ExecutionParametersRunFacet.json"), ours] {
            errs.extend(s.errors(url, &e["run"]["facets"]));
        }
        let datasets = e["inputs"].as_array().unwrap().iter().chain(e["outputs"].as_array().unwrap());
        for d in datasets {
            for url in ["1-0-1/DatasetVersionDatasetFacet.json", "1-0-1/DatasetTypeDatasetFacet.json"] {
                errs.extend(s.errors(&format!("{ol}facets/{url}"), &d["facets"]));
            }
            errs.extend(s.errors(ours, &d["facets"]));
        }
        errs
    }

    #[test]
    fn events_validate_against_the_committed_schemas() {
        let s = Schemas::load();
        for e in [event("1.4.0", &lineage()), event("2", &Lineage::default())] {
            assert_eq!(validate(&s, &e), Vec::<String>::new(), "{e}");
            assert!(Uuid::parse_str(e["run"]["runId"].as_str().unwrap()).is_ok());
        }
        // The checker is not vacuous: each change (a removal where no value is given) breaks the spec
        // or a facet schema.
        let breaks = [
            ("/job: missing \"name\"", "/job/name", None),
            ("/eventType: \"DONE\" not in", "/eventType", Some(json!("DONE"))),
            ("/registry_run: missing \"_producer\"", "/run/facets/registry_run/_producer", None),
            ("/sourceCodeLocation: missing \"url\"", "/job/facets/sourceCodeLocation/url", None),
            (
                "/digest: \"sha256:x\" does not",
                "/inputs/0/facets/registry_dataset/digest",
                Some(json!("sha256:x")),
            ),
            ("/value: not of type", "/run/facets/executionParameters/parameters/0/value", Some(json!(1))),
        ];
        for (want, pointer, value) in breaks {
            let mut e = event("1.4.0", &lineage());
            match value {
                Some(v) => *e.pointer_mut(pointer).unwrap() = v,
                None => {
                    let (parent, key) = pointer.rsplit_once('/').unwrap();
                    e.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
                }
            }
            let errs = validate(&s, &e);
            assert!(errs.iter().any(|x| x.contains(want)), "{want}: {errs:?}");
        }
    }
}
