//! OpenSSF Model Signing (OMS) v1.0 predicates
//! (<https://github.com/ossf/model-signing-spec/blob/main/spec/v1.0.md>): the `files` predicate we
//! write for a manifest, and the check that an OMS predicate lists exactly a version's files.
//!
//! Each file is a `resources` entry (`name`, `algorithm`, `digest`) and the statement's subject is the
//! root digest: SHA-256 over the file digests in path order ([`Manifest::oms_root_digest`]). Paths
//! under the predicate's own `serialization.ignore_paths` are left out, and reported as not covered.
//! Not supported: serialization methods other than `files` (such as `shards`), hash types other than
//! SHA-256; `allow_symlinks` is written `false` and not read.
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::attest::AttestError;
use crate::manifest::Manifest;
use crate::{Digest, Hasher};

/// OpenSSF Model Signing v1.0.
pub const OMS_V1: &str = "https://model_signing/signature/v1.0";
/// Paths `model_signing` leaves out by default.
pub const OMS_DEFAULT_IGNORE: [&str; 4] = [".git", ".github", ".gitattributes", ".gitignore"];

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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::attest::tests::manifest as m;

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
