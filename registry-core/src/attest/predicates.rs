//! The predicates we write and check: SLSA Provenance v1 for training, OpenSSF Model Signing v1.0
//! for the file list.
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::AttestError;
use crate::lineage::{Lineage, Scalar};
use crate::manifest::Manifest;
use crate::name::ModelName;
use crate::{Digest, Hasher};

/// SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// OpenSSF Model Signing v1.0.
pub const OMS_V1: &str = "https://model_signing/signature/v1.0";
/// SLSA Verification Summary Attestation v1 (promotion decisions).
pub const SLSA_VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
/// Our SLSA `buildType` for model training.
pub const TRAINING_BUILD_TYPE: &str = "https://registry.dev/model-training/v1";
/// Paths `model_signing` leaves out by default.
pub const OMS_DEFAULT_IGNORE: [&str; 4] = [".git", ".github", ".gitattributes", ".gitignore"];

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

/// The OMS predicate for `manifest`: every file with its SHA-256, method `files`.
pub fn oms_predicate(manifest: &Manifest) -> Value {
    let resources: Vec<Value> = manifest
        .files()
        .iter()
        .map(|f| json!({"name": f.path, "algorithm": "sha256", "digest": f.digest.hex()}))
        .collect();
    json!({
        "resources": resources,
        "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": []},
    })
}

/// The `serialization.ignore_paths` of an OMS predicate.
fn ignore_paths(predicate: &Value) -> Vec<String> {
    predicate["serialization"]["ignore_paths"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The manifest's files an OMS predicate leaves out through its `ignore_paths`: its signature says
/// nothing about them, whatever else it binds.
pub fn oms_ignored(predicate: &Value, manifest: &Manifest) -> Vec<String> {
    let ignore = ignore_paths(predicate);
    manifest.files().iter().filter(|f| ignored(&f.path, &ignore)).map(|f| f.path.clone()).collect()
}

fn ignored(path: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|i| {
        let i = i.trim_end_matches('/');
        !i.is_empty() && (path == i || path.starts_with(&format!("{i}/")))
    })
}

/// Checks an OMS predicate against a manifest: its resources must be exactly the manifest's files
/// (name and SHA-256), leaving out only files under its own `serialization.ignore_paths`; and `subject`
/// must be the root digest of those files in order. Returns the root digest.
pub fn check_oms(
    predicate: &Value,
    manifest: &Manifest,
    subject: Option<Digest>,
) -> Result<Digest, AttestError> {
    let bad = |m: &str| AttestError::OmsMismatch(m.to_owned());
    let ser = &predicate["serialization"];
    if ser["method"].as_str() != Some("files") {
        return Err(bad("only the \"files\" serialization method is supported"));
    }
    if ser["hash_type"].as_str().is_some_and(|h| h != "sha256") {
        return Err(bad("only sha256 file hashes are supported"));
    }
    let ignore = ignore_paths(predicate);
    let resources = predicate["resources"].as_array().ok_or_else(|| bad("no resources"))?;
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for r in resources {
        let name = r["name"].as_str().ok_or_else(|| bad("a resource has no name"))?;
        let digest = r["digest"].as_str().ok_or_else(|| bad("a resource has no digest"))?;
        if r["algorithm"].as_str().is_some_and(|a| a != "sha256") {
            return Err(bad("only sha256 resources are supported"));
        }
        if claimed.insert(name.to_owned(), digest.to_owned()).is_some() {
            return Err(AttestError::OmsMismatch(format!("resource {name:?} is listed twice")));
        }
    }
    let mut root = Hasher::new();
    let mut problems = Vec::new();
    for f in manifest.files() {
        if ignored(&f.path, &ignore) {
            continue;
        }
        match claimed.remove(&f.path) {
            None => problems.push(format!("missing {}", f.path)),
            Some(d) if d != f.digest.hex() => problems.push(format!("changed {}", f.path)),
            Some(_) => root.update(f.digest.as_bytes()),
        }
    }
    problems.extend(claimed.into_keys().map(|p| format!("extra {p}")));
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(AttestError::OmsMismatch(format!(
            "resources differ from the version's files: {}",
            problems.join(", ")
        )));
    }
    let root = root.finalize();
    if subject.is_some_and(|s| s != root) {
        return Err(bad("subject digest is not the root digest of the listed files"));
    }
    Ok(root)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FileEntry;

    fn m(files: &[(&str, &[u8])]) -> Manifest {
        Manifest::new(
            files
                .iter()
                .map(|(p, c)| FileEntry { path: (*p).into(), size: c.len() as u64, digest: Digest::of(c) })
                .collect(),
        )
        .expect("valid")
    }

    #[test]
    fn our_oms_predicate_checks_against_its_manifest() {
        let man = m(&[("a", b"1"), ("b/c", b"2")]);
        let root = check_oms(&oms_predicate(&man), &man, Some(man.oms_root_digest())).expect("matches");
        assert_eq!(root, man.oms_root_digest());
    }

    #[test]
    fn missing_extra_renamed_and_changed_files_are_named() {
        let man = m(&[("a", b"1"), ("b", b"2")]);
        for (other, word) in [
            (m(&[("a", b"1")]), "missing b"),
            (m(&[("a", b"1"), ("b", b"2"), ("c", b"3")]), "extra c"),
            (m(&[("a", b"1"), ("bb", b"2")]), "missing b"),
            (m(&[("a", b"1"), ("b", b"X")]), "changed b"),
        ] {
            let e = check_oms(&oms_predicate(&other), &man, None).expect_err("differs").to_string();
            assert!(e.contains(word), "{e}");
        }
    }

    #[test]
    fn ignored_paths_are_left_out_and_the_root_follows() {
        let man = m(&[(".git/HEAD", b"ref"), ("model.bin", b"w")]);
        let only = m(&[("model.bin", b"w")]);
        let mut p = oms_predicate(&only);
        p["serialization"]["ignore_paths"] = json!([".git", ".gitignore"]);
        assert_eq!(check_oms(&p, &man, Some(only.oms_root_digest())).expect("ok"), only.oms_root_digest());
        assert!(
            check_oms(&oms_predicate(&only), &man, None).is_err(),
            "without ignore_paths .git/HEAD is missing"
        );
        assert_eq!(oms_ignored(&p, &man), [".git/HEAD"], "and the ignored file is named as not covered");
        assert!(oms_ignored(&oms_predicate(&man), &man).is_empty());
    }
}
