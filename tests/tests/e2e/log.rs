//! The transparency log through the real server: every change is an entry, provable against a signed
//! checkpoint; bundles verify offline and fail when any part is altered; appends stay contiguous under
//! concurrency; the log and its key survive a restart.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use registry_client::Client;
use registry_core::ModelName;
use registry_core::attest::TrustedKey;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::audit_bundle::verify_offline;
use registry_core::auth::Scope;
use registry_core::tlog::entry::LogEntry;
use registry_core::tlog::note::{Checkpoint, NoteVerifier};
use registry_core::tlog::{leaf_hash, root_of, verify_consistency, verify_inclusion};
use registry_e2e::*;
use serde_json::{Value, json};

async fn signed_push(c: &Client, model: &str, version: &str, key: Option<&SigningKey>, content: &[u8]) {
    let files: &[(&str, &[u8])] = &[("w.bin", content), ("config.json", b"{}")];
    TestPush::new(model, version).files(files).signed(key).run(c).await.unwrap();
}

async fn text(s: &TestServer, path: &str) -> String {
    http(s).get(format!("{}{path}", s.url)).send().await.unwrap().text().await.unwrap()
}

async fn get(s: &TestServer, path: &str) -> Value {
    http(s).get(format!("{}{path}", s.url)).send().await.unwrap().json().await.unwrap()
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_an_entry_provable_against_a_signed_checkpoint() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::P256, &[4; 32]).unwrap();
    let vkey = NoteVerifier::parse(&text(&s, "/v1/log/key").await).unwrap();
    let cp0 = Checkpoint::open(&text(&s, "/v1/log/checkpoint").await, &vkey).unwrap();
    assert_eq!(cp0.size, 0);
    c.add_key(&trust_key("fraud/*", &key, &[])).await.unwrap();
    signed_push(&c, "fraud/detector", "1", Some(&key), b"w1").await;
    let mid = text(&s, "/v1/log/checkpoint").await;
    signed_push(&c, "fraud/detector", "2", None, b"w2").await;
    http(&s).delete(format!("{}/v1/keys/{}", s.url, key.public().key_id())).send().await.unwrap();
    http(&s)
        .put(format!("{}/v1/namespaces/fraud", s.url))
        .json(&json!({"require_provenance": true}))
        .send()
        .await
        .unwrap();

    let note = text(&s, "/v1/log/checkpoint").await;
    let cp = Checkpoint::open(&note, &vkey).unwrap();
    let entries = get(&s, &format!("/v1/log/entries?start=0&end={}", cp.size)).await;
    let entries: Vec<(u64, String)> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["body"].as_str().unwrap().to_owned()))
        .collect();
    let kinds: Vec<String> =
        entries.iter().map(|(_, b)| LogEntry::parse(b.as_bytes()).unwrap().kind).collect();
    assert_eq!(
        kinds,
        [
            "key.trusted",
            "model.created",
            "version.created",
            "attestation.added",
            "attestation.added",
            "version.created",
            "key.revoked",
            "namespace.set"
        ]
    );
    let first = LogEntry::parse(entries[2].1.as_bytes()).unwrap();
    assert_eq!((first.subject.as_str(), first.actor.as_str()), ("fraud/detector@1", "token:bootstrap-admin"));
    let v1 = c.get_version(&ModelName::parse("fraud/detector").unwrap(), "1").await.unwrap();
    assert_eq!(v1.log_index, Some(2));
    assert_eq!(first.detail("manifest_digest"), Some(v1.manifest_digest.to_string().as_str()));
    // The served entries hash to the signed root; each has an inclusion proof; the log only grew.
    let leaves: Vec<_> = entries.iter().map(|(_, b)| leaf_hash(b.as_bytes())).collect();
    assert_eq!(root_of(&leaves), cp.root);
    for (i, (idx, body)) in entries.iter().enumerate() {
        assert_eq!(*idx, i as u64);
        let p = get(&s, &format!("/v1/log/proofs/inclusion?index={idx}&tree_size={}", cp.size)).await;
        assert!(
            verify_inclusion(&leaf_hash(body.as_bytes()), *idx, cp.size, &hashes(&p), &cp.root),
            "entry {idx}"
        );
    }
    let old = Checkpoint::open(&mid, &vkey).unwrap();
    let p = get(&s, &format!("/v1/log/proofs/consistency?from={}&to={}", old.size, cp.size)).await;
    assert!(verify_consistency(old.size, cp.size, &hashes(&p), &old.root, &cp.root));
    // One size, one signed note.
    assert_eq!(text(&s, "/v1/log/checkpoint").await, note);
    // Bad ranges are 400; the whole log needs read on *.
    assert_eq!(
        http(&s)
            .get(format!("{}/v1/log/proofs/inclusion?index=5&tree_size=999", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // Over-long pages are cut to 1000 entries (here: to the log's size), never refused.
    let all = get(&s, "/v1/log/entries?start=0&end=5000").await;
    assert_eq!(all["entries"].as_array().unwrap().len() as u64, cp.size);
    assert_eq!(get(&s, "/v1/log/entries?start=3&end=1").await["entries"].as_array().unwrap().len(), 0);
    let reader = s.token("fraud-reader", &[Scope::Read], "fraud/*").await;
    assert_eq!(
        http_with(&reader)
            .get(format!("{}/v1/log/entries?start=0&end=1", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_bundle_verifies_offline_and_any_alteration_fails() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[6; 32]).unwrap();
    c.add_key(&trust_key("*", &key, &[])).await.unwrap();
    signed_push(&c, "nlp/bert", "1", Some(&key), b"bert").await;
    signed_push(&c, "nlp/other", "1", None, b"other").await; // later entries: proofs are not trivial
    let bundle = c.audit_bundle(&ModelName::parse("nlp/bert").unwrap(), "1").await.unwrap();
    let vkey = NoteVerifier::parse(&bundle.log.log_key).unwrap();
    let trusted = [TrustedKey::any(key.public().clone())];
    let slsa = vec!["https://slsa.dev/provenance/v1".to_owned()];
    let r = verify_offline(&bundle, &trusted, &vkey, &slsa);
    assert!(r.ok(), "{:?}", r.findings);
    assert_eq!(bundle.log.entries.len(), 3, "the version and its two attestations");

    let original = serde_json::to_value(&bundle).unwrap();
    type Alter = Box<dyn Fn(&mut Value)>;
    let alterations: Vec<(&str, Alter)> = vec![
        (
            "manifest text",
            Box::new(|b| b["manifest"] = json!(b["manifest"].as_str().unwrap().replace("w.bin", "x.bin"))),
        ),
        (
            "attestation bytes",
            Box::new(|b| {
                b["attestations"][0]["body"] =
                    json!(b["attestations"][0]["body"].as_str().unwrap().replace('{', "{ "))
            }),
        ),
        (
            "entry body",
            Box::new(|b| {
                b["log"]["entries"][0]["body"] =
                    json!(b["log"]["entries"][0]["body"].as_str().unwrap().replace("nlp", "nLp"))
            }),
        ),
        (
            "proof hash",
            Box::new(|b| {
                b["log"]["entries"][0]["inclusion_proof"][0] =
                    json!(base64::engine::general_purpose::STANDARD.encode([0u8; 32]))
            }),
        ),
        (
            "checkpoint",
            Box::new(|b| {
                b["log"]["checkpoint"] =
                    json!(b["log"]["checkpoint"].as_str().unwrap().replacen('\n', "\n1", 1))
            }),
        ),
        ("version record", Box::new(|b| b["version"]["lineage"]["params"] = json!({"lr": 1}))),
        (
            "OCI digest claimed in the record",
            Box::new(|b| b["version"]["oci_manifest_digest"] = json!(registry_core::Digest::of(b"other"))),
        ),
        (
            "OCI digest dropped from the record",
            Box::new(|b| b["version"]["oci_manifest_digest"] = Value::Null),
        ),
        (
            "dropped attestation entry",
            Box::new(|b| {
                b["log"]["entries"].as_array_mut().unwrap().pop();
            }),
        ),
    ];
    for (what, alter) in alterations {
        let mut v = original.clone();
        alter(&mut v);
        let altered: registry_core::audit_bundle::AuditBundle = serde_json::from_value(v).unwrap();
        let r = verify_offline(&altered, &trusted, &vkey, &slsa);
        assert!(!r.ok(), "{what} went unnoticed");
    }
    let stranger = registry_core::tlog::note::NoteSigner::new("registry.test/log", &[1; 32]).unwrap();
    assert!(!verify_offline(&bundle, &trusted, stranger.verifier(), &slsa).ok(), "another log key");
    assert!(
        !verify_offline(
            &bundle,
            &[TrustedKey::any(SigningKey::from_seed(KeyKind::P256, &[9; 32]).unwrap().public().clone())],
            &vkey,
            &slsa
        )
        .ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_append_contiguously_and_each_change_once() {
    let s = TestServer::start().await;
    let c = client(&s);
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                signed_push(
                    &c,
                    &format!("load/m{}", i % 4),
                    &format!("{i}"),
                    None,
                    format!("w{i}").as_bytes(),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let vkey = NoteVerifier::parse(&text(&s, "/v1/log/key").await).unwrap();
    let cp = Checkpoint::open(&text(&s, "/v1/log/checkpoint").await, &vkey).unwrap();
    assert_eq!(cp.size, 4 + 16, "4 models created, 16 versions");
    let entries = get(&s, "/v1/log/entries?start=0&end=100").await;
    let bodies: Vec<&str> =
        entries["entries"].as_array().unwrap().iter().map(|e| e["body"].as_str().unwrap()).collect();
    assert_eq!(root_of(&bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect::<Vec<_>>()), cp.root);
    let mut subjects: Vec<String> = bodies
        .iter()
        .map(|b| LogEntry::parse(b.as_bytes()).unwrap())
        .filter(|e| e.kind == "version.created")
        .map(|e| e.subject)
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_and_its_key_survive_a_restart() {
    let s = TestServer::start().await;
    signed_push(&client(&s), "a/b", "1", None, b"x").await;
    let (key, note) = (text(&s, "/v1/log/key").await, text(&s, "/v1/log/checkpoint").await);
    let s = s.restart().await;
    assert_eq!(text(&s, "/v1/log/key").await, key);
    assert_eq!(text(&s, "/v1/log/checkpoint").await, note);
    signed_push(&client(&s), "a/b", "2", None, b"y").await;
    let vkey = NoteVerifier::parse(&key).unwrap();
    let (old, new) = (
        Checkpoint::open(&note, &vkey).unwrap(),
        Checkpoint::open(&text(&s, "/v1/log/checkpoint").await, &vkey).unwrap(),
    );
    let p = get(&s, &format!("/v1/log/proofs/consistency?from={}&to={}", old.size, new.size)).await;
    assert!(verify_consistency(old.size, new.size, &hashes(&p), &old.root, &new.root));
}
