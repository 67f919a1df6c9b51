//! in-toto Statement v1 and the predicates checked against a version: Statement::parse, bind() and
//! check_oms() never panic on any payload. A parsed statement is v1 with digests on every subject and
//! survives its own JSON; a binding names a subject the statement really carries, the manifest digest
//! for `manifest` and the OMS root of the files for `files`/`content`; check_oms accepts only
//! resources that are exactly the version's (non-ignored) files.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::Hasher;
use registry_core::attest::intoto::{STATEMENT_V1, Statement};
use registry_core::attest::predicates::{OMS_V1, check_oms};
use registry_core::attest::{Binding, bind};
use registry_fuzz::fixtures::{MANIFEST, target};

fuzz_target!(|data: &[u8]| {
    // Any JSON as an OMS predicate, checked against the fixed manifest.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        check_predicate(&value);
        if let Some(p) = value.get("predicate") {
            check_predicate(p);
        }
    }
    let Ok(s) = Statement::parse(data) else { return };
    assert_eq!(s.type_, STATEMENT_V1);
    assert!(!s.subject.is_empty() && s.subject.iter().all(|x| !x.digest.is_empty()));
    assert!(!s.predicate_type.is_empty());
    let json = serde_json::to_vec(&s).expect("a statement serializes");
    let back = Statement::parse(&json).expect("a statement's own JSON parses");
    assert!(
        registry_fuzz::json_eq(
            &serde_json::to_value(&back).expect("serializes"),
            &serde_json::to_value(&s).expect("serializes")
        ),
        "statement changes through its JSON"
    );
    for x in &s.subject {
        if let Some(d) = x.sha256() {
            assert_eq!(Some(d.hex().as_str()), x.digest.get("sha256").map(String::as_str));
        }
    }
    let subjects: Vec<_> = s.subject.iter().filter_map(|x| x.sha256()).collect();
    match bind(&s, target()) {
        Ok((binding, subject)) => {
            assert!(subjects.contains(&subject), "bound to a digest the statement does not carry");
            match binding {
                Binding::Manifest => assert_eq!(subject, MANIFEST.digest()),
                Binding::Files => {
                    assert_eq!(s.predicate_type, OMS_V1);
                    let root = check_oms(&s.predicate, &MANIFEST, Some(subject)).expect("bound OMS checks");
                    assert_eq!(root, subject);
                }
                Binding::Content => {
                    assert_ne!(s.predicate_type, OMS_V1);
                    assert_eq!(subject, MANIFEST.oms_root_digest());
                }
            }
        }
        Err(_) => assert!(!subjects.contains(&MANIFEST.digest()), "the manifest digest did not bind"),
    }
});

/// check_oms(predicate) on the fixed manifest: Ok only when the resources name every non-ignored file
/// with its digest, and the root is those files' digests hashed in manifest order.
fn check_predicate(p: &serde_json::Value) {
    let Ok(root) = check_oms(p, &MANIFEST, None) else { return };
    let ignore: Vec<&str> = p["serialization"]["ignore_paths"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let resources = p["resources"].as_array().expect("accepted resources are a list");
    let mut h = Hasher::new();
    let mut listed = 0;
    for f in MANIFEST.files() {
        let ignored = ignore.iter().any(|i| {
            let i = i.trim_end_matches('/');
            !i.is_empty() && (f.path == i || f.path.starts_with(&format!("{i}/")))
        });
        if ignored {
            continue;
        }
        listed += 1;
        assert!(
            resources.iter().any(|r| r["name"] == f.path.as_str() && r["digest"] == f.digest.hex().as_str()),
            "accepted a predicate that does not list {}",
            f.path
        );
        h.update(f.digest.as_bytes());
    }
    assert_eq!(resources.len(), listed, "accepted a predicate with extra resources");
    assert_eq!(root, h.finalize(), "OMS root is not the listed files' digests in order");
    assert_eq!(check_oms(p, &MANIFEST, Some(root)).ok(), Some(root));
}
