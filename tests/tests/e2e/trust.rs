//! Server trust defects (issue 13): what one namespace's credential can learn or borrow from another's,
//! evidence replayed across models, and decisions committed after what they depended on changed.
#![allow(clippy::unwrap_used)]

use registry_client::{Client, ClientError};
use registry_core::api::Metadata;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1};
use registry_core::auth::{NamePattern, Scope};
use registry_core::incident::QuarantineRequest;
use registry_core::promote::SetPolicyRequest;
use registry_core::{Digest, Lineage, ModelName};
use registry_e2e::*;
use serde_json::{Value, json};

const MT: &str = "application/vnd.registry.manifest.v1+json";

fn version_body(files: &[(&str, u64, Digest)], parents: &[&str]) -> Value {
    let files: Vec<Value> =
        files.iter().map(|(p, n, d)| json!({"path": p, "size": n, "digest": d.to_string()})).collect();
    json!({
        "manifest": {"mediaType": MT, "files": files},
        "lineage": {"parents": parents},
    })
}

async fn put_version(c: &reqwest::Client, s: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    c.put(format!("{}/v1/models/{path}", s.url)).json(body).send().await.unwrap()
}

async fn missing(c: &reqwest::Client, s: &TestServer, d: &Digest) -> bool {
    let r = c.post(format!("{}/v1/blobs:check", s.url)).json(&json!({"digests": [d]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["missing"].as_array().unwrap().iter().any(|m| m == &json!(d))
}

/// Defect 1: a token for `b/*` could name a blob only `a/*` holds in its manifest, learn its size from
/// the 400, retry with it, and then download `a/*`'s bytes. It may reference only blobs it can read or
/// uploaded itself, and nothing it is told depends on what `a/*` stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespaces_blob_cannot_be_referenced_probed_or_read() {
    let s = TestServer::start().await;
    let admin = http(&s);
    let secret = noise(12_345, 7);
    let d = Digest::of(&secret);
    let r = admin.put(format!("{}/v1/blobs/{d}", s.url)).body(secret.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let body = version_body(&[("weights.bin", secret.len() as u64, d)], &[]);
    assert_eq!(put_version(&admin, &s, "a/m/versions/1", &body).await.status(), 201);
    // An upload by `a/*` that no version references yet is not `b`'s business either.
    let pending = noise(999, 8);
    let pd = Digest::of(&pending);
    assert_eq!(
        admin.put(format!("{}/v1/blobs/{pd}", s.url)).body(pending.clone()).send().await.unwrap().status(),
        201
    );

    let b = http_with(&s.token("b-pusher", &[Scope::Read, Scope::Push], "b/*").await);
    let b2 = http_with(&s.token("b-other", &[Scope::Read, Scope::Push], "b/*").await);
    assert!(missing(&b, &s, &d).await, "the dedup check must not reveal another namespace's blob");
    assert!(missing(&b, &s, &pd).await, "nor an unreferenced upload by someone else");
    for size in [secret.len() as u64, 1] {
        let body = version_body(&[("w.bin", size, d)], &[]);
        let (status, code, err) = error_of(put_version(&b, &s, "b/m/versions/1", &body).await).await;
        assert_eq!((status, code.as_str()), (400, "missing_blobs"), "size {size}: {err}");
        assert!(!err.to_string().contains(&secret.len().to_string()), "the real size leaked: {err}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = b.request(method.clone(), format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{method}");
    }
    // A wrong body for that digest is refused without a word about the stored blob.
    let (status, code, err) =
        error_of(b.put(format!("{}/v1/blobs/{d}", s.url)).body(noise(50, 1)).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    assert!(!err.to_string().contains(&secret.len().to_string()), "the real size leaked: {err}");

    // Proof of possession: uploading the bytes answers as for new bytes, then they are usable.
    let r = b.put(format!("{}/v1/blobs/{d}", s.url)).body(secret.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201, "the same answer as for bytes nobody stored");
    assert!(!missing(&b, &s, &d).await);
    assert!(missing(&b2, &s, &d).await, "another credential has not proven anything yet");
    let body = version_body(&[("w.bin", secret.len() as u64, d)], &[]);
    assert_eq!(put_version(&b, &s, "b/m/versions/1", &body).await.status(), 201);
    let got = b.get(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), secret.as_slice());
    // Now readable through b/m@1: a second upload by the same credential says "already stored".
    let r = b.put(format!("{}/v1/blobs/{d}", s.url)).body(secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.stored_blobs().await.len(), 2, "the bytes are stored once");
}

/// Defect 1, parents: a pusher learned whether a named parent existed in a namespace it cannot read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_the_pusher_cannot_read_answers_as_one_that_does_not_exist() {
    let s = TestServer::start().await;
    let admin = http(&s);
    let bytes = b"weights".to_vec();
    let d = Digest::of(&bytes);
    admin.put(format!("{}/v1/blobs/{d}", s.url)).body(bytes.clone()).send().await.unwrap();
    let files = [("w.bin", bytes.len() as u64, d)];
    assert_eq!(put_version(&admin, &s, "a/base/versions/1", &version_body(&files, &[])).await.status(), 201);

    let b = http_with(&s.token("b-pusher", &[Scope::Read, Scope::Push], "b/*").await);
    b.put(format!("{}/v1/blobs/{d}", s.url)).body(bytes).send().await.unwrap();
    let mut answers = vec![];
    for parent in ["a/base@1", "a/base@2"] {
        let body = version_body(&files, &[parent]);
        let (status, code, err) = error_of(put_version(&b, &s, "b/ft/versions/1", &body).await).await;
        assert_eq!((status, code.as_str()), (400, "unknown_parent"), "{parent}: {err}");
        answers.push(err["message"].as_str().unwrap().replace(parent, "PARENT"));
    }
    assert_eq!(answers[0], answers[1], "an existing parent must read like a missing one");
    // Its own namespace's parents still work.
    assert_eq!(put_version(&b, &s, "b/base/versions/1", &version_body(&files, &[])).await.status(), 201);
    assert_eq!(
        put_version(&b, &s, "b/ft/versions/1", &version_body(&files, &["b/base@1"])).await.status(),
        201
    );
}

fn m(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

async fn push_signed(c: &Client, model: &str, version: &str, key: Option<&SigningKey>) {
    TestPush::new(model, version).signed(key).run(c).await.unwrap();
}

/// Promotes `version` to `alias`, holding the request between its decision and its commit while
/// `meanwhile` runs; returns the promotion's outcome.
async fn promote_around<F: std::future::Future<Output = ()>>(
    s: &TestServer,
    c: &Client,
    model: &str,
    alias: &str,
    version: &str,
    meanwhile: F,
) -> Result<registry_core::promote::PromoteResponse, ClientError> {
    let (reached, release) = s.state.pauses.arm("promotion.decided");
    let (c2, mm, alias2, req) = (c.clone(), m(model), alias.to_owned(), promote_req(version));
    let task = tokio::spawn(async move { c2.promote(&mm, &alias2, &req).await });
    reached.await.unwrap();
    meanwhile.await;
    release.send(()).unwrap();
    task.await.unwrap()
}

/// Defect 2: a promotion decided before a `quarantine --rollback` landed used to commit after it,
/// leaving the alias on a quarantined version with a PASSED signed decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_landing_between_decision_and_commit_stops_the_promotion() {
    let s = TestServer::start().await;
    let c = client(&s);
    push_signed(&c, "fraud/m", "1", None).await;
    push_signed(&c, "fraud/m", "2", None).await;
    c.promote(&m("fraud/m"), "production", &promote_req("1")).await.unwrap();
    let quarantine = async {
        let q = QuarantineRequest {
            version: Some("fraud/m@2".into()),
            reason: "poisoned".into(),
            rollback: true,
            ..Default::default()
        };
        c.quarantine(&q).await.unwrap();
    };
    let err = promote_around(&s, &c, "fraud/m", "production", "2", quarantine).await.unwrap_err();
    let (status, code, reasons) = refusal(err);
    assert_eq!((status, code.as_str()), (403, "policy_denied"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("quarantined")), "{reasons:?}");
    assert_eq!(c.get_alias(&m("fraud/m"), "production", None).await.unwrap().version, "1");
    // Without a race too: no alias moves onto a quarantined version, whatever the policies say.
    let (status, code, _) =
        refusal(c.promote(&m("fraud/m"), "staging", &promote_req("2")).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "policy_denied"));
}

/// Defect 2's class: a key revoked between the decision and the commit. The decision counted the
/// key's provenance as verified; the commit must not stand on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_between_decision_and_commit_stops_the_promotion() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[7; 32]).unwrap();
    c.add_key(&trust_key("fraud/*", &key, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    let rego =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policies/provenance.rego"))
            .unwrap();
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "production".into(),
        rego,
    })
    .await
    .unwrap();
    push_signed(&c, "fraud/m", "1", Some(&key)).await;
    let revoke = async {
        let r = http(&s).delete(format!("{}/v1/keys/{}", s.url, key.public().key_id())).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    };
    let err = promote_around(&s, &c, "fraud/m", "production", "1", revoke).await.unwrap_err();
    let (status, code, reasons) = refusal(err);
    assert_eq!((status, code.as_str()), (403, "policy_denied"), "{reasons:?}");
    assert!(c.get_alias(&m("fraud/m"), "production", None).await.is_err(), "the alias must not exist");
}

/// Defect 2's class, rollback: a rollback picks its target, then a quarantine of that target lands
/// before the commit. The rollback must not land on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_does_not_land_on_a_target_quarantined_after_it_was_chosen() {
    let s = TestServer::start().await;
    let c = client(&s);
    for v in ["1", "2", "3"] {
        push_signed(&c, "fraud/m", v, None).await;
        c.promote(&m("fraud/m"), "production", &promote_req(v)).await.unwrap();
    }
    let (reached, release) = s.state.pauses.arm("rollback.decided");
    let c2 = c.clone();
    let task = tokio::spawn(async move { c2.rollback(&m("fraud/m"), "production", "regression").await });
    reached.await.unwrap();
    let q =
        QuarantineRequest { version: Some("fraud/m@2".into()), reason: "bad".into(), ..Default::default() };
    c.quarantine(&q).await.unwrap();
    release.send(()).unwrap();
    let moved = task.await.unwrap().unwrap();
    assert_eq!(moved.alias.version, "1", "the rollback skips the target quarantined under it");
}

async fn attestation_of(c: &Client, model: &str, version: &str, predicate_type: &str) -> Vec<u8> {
    let list = c.list_attestations(&m(model), version).await.unwrap().attestations;
    let info = list.iter().find(|a| a.predicate_type == predicate_type).expect("attestation of that type");
    c.attestation_bytes(&m(model), version, info).await.unwrap()
}

/// Defect 5a: the server's signed promotion decision for `a/m1@1.0`, posted as an attestation of
/// `b/m1@1.0` (same files), was accepted as verified; so was our training provenance of one version
/// posted onto another with the same files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_naming_another_version_is_refused() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[9; 32]).unwrap();
    c.add_key(&trust_key("*", &key, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    // Same files everywhere (push_signed derives them from the model and version, so use one dir).
    let dir = model_dir(&[("weights.bin", b"shared weights")]);
    for (model, version, signed) in [("a/m1", "1.0", true), ("b/m1", "1.0", false), ("a/m1", "2.0", false)] {
        TestPush::new(model, version).dir(dir.path()).signed(signed.then_some(&key)).run(&c).await.unwrap();
    }
    c.promote(&m("a/m1"), "production", &promote_req("1.0")).await.unwrap();
    let vsa = attestation_of(&c, "a/m1", "1.0", registry_core::attest::predicates::SLSA_VSA_V1).await;
    let provenance = attestation_of(&c, "a/m1", "1.0", SLSA_PROVENANCE_V1).await;
    for (raw, model, version) in [
        (&vsa, "b/m1", "1.0"),
        (&vsa, "a/m1", "2.0"),
        (&provenance, "b/m1", "1.0"),
        (&provenance, "a/m1", "2.0"),
    ] {
        let err = c.add_attestation(&m(model), version, raw.clone()).await.unwrap_err();
        match err {
            ClientError::Api { status, code, message, .. } => {
                assert_eq!(
                    (status, code.as_str()),
                    (400, "invalid_attestation"),
                    "{model}@{version}: {message}"
                );
                assert!(message.contains("names"), "{message}");
            }
            other => panic!("{other}"),
        }
    }
    // The OMS signature names only files: it binds wherever the files are the same.
    let oms = attestation_of(&c, "a/m1", "1.0", OMS_V1).await;
    assert_eq!(c.add_attestation(&m("b/m1"), "1.0", oms).await.unwrap().status, "verified");
}

/// Defect 5b: a push-only token added attestations to an existing version through an idempotent
/// re-PUT that carried an `attestations` array. Creating a version with attestations needs only
/// `push`; adding new ones to an existing version needs `attest`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_put_cannot_add_attestations_without_the_attest_scope() {
    use base64::Engine as _;
    let s = TestServer::start().await;
    let admin = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[3; 32]).unwrap();
    admin
        .add_key(&trust_key("fraud/*", &key, &[SLSA_PROVENANCE_V1, OMS_V1, "https://example.com/eval/v1"]))
        .await
        .unwrap();
    let pusher = Client::new(&s.url)
        .unwrap()
        .with_token(Some(s.token("trainer", &[Scope::Read, Scope::Push], "fraud/*").await));
    // A push with signed provenance works with read,push.
    push_signed(&pusher, "fraud/m", "1", Some(&key)).await;
    let v = pusher.get_version(&m("fraud/m"), "1").await.unwrap();
    let manifest = pusher.get_manifest(&v).await.unwrap();
    let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
    let held = attestation_of(&pusher, "fraud/m", "1", SLSA_PROVENANCE_V1).await;
    let mut req = registry_core::api::PutVersionRequest {
        manifest: manifest.clone(),
        lineage: Lineage::default(),
        metadata: Metadata::default(),
        attestations: vec![b64(&held)],
    };
    // An identical retry carrying what is already stored stays a 200.
    let (_, created) = pusher.put_version(&m("fraud/m"), "1", &req).await.unwrap();
    assert!(!created);
    // So does one carrying the same evidence in other bytes (re-encoded): it adds nothing.
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&held).unwrap()).unwrap();
    req.attestations = vec![b64(&pretty)];
    let (_, created) = pusher.put_version(&m("fraud/m"), "1", &req).await.unwrap();
    assert!(!created);
    req.attestations = vec![b64(&held)];
    let eval = registry_core::attest::intoto::Statement::new(
        vec![registry_core::attest::intoto::Statement::subject("fraud/m", &manifest.digest())],
        "https://example.com/eval/v1",
        json!({"auc": 0.99}),
    );
    let raw = registry_core::attest::dsse::Envelope::sign(
        registry_core::attest::dsse::INTOTO_PAYLOAD_TYPE,
        serde_json::to_vec(&eval).unwrap(),
        &[&key],
    )
    .to_json();
    req.attestations.push(b64(&raw));
    let before = pusher.list_attestations(&m("fraud/m"), "1").await.unwrap().attestations.len();
    match pusher.put_version(&m("fraud/m"), "1", &req).await.unwrap_err() {
        ClientError::Api { status, code, .. } => assert_eq!((status, code.as_str()), (403, "forbidden")),
        other => panic!("{other}"),
    }
    assert_eq!(pusher.list_attestations(&m("fraud/m"), "1").await.unwrap().attestations.len(), before);
    // With attest, the same request adds it.
    let attester = Client::new(&s.url)
        .unwrap()
        .with_token(Some(s.token("attester", &[Scope::Read, Scope::Push, Scope::Attest], "fraud/*").await));
    attester.put_version(&m("fraud/m"), "1", &req).await.unwrap();
    assert_eq!(pusher.list_attestations(&m("fraud/m"), "1").await.unwrap().attestations.len(), before + 1);
}

/// Defect 6 (the race): a promotion to alias `x` and a push of version label `x` could both land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_and_a_version_label_cannot_get_the_same_name_under_concurrency() {
    let s = TestServer::start().await;
    let c = client(&s);
    push_signed(&c, "fraud/m", "1", None).await;
    let err = promote_around(&s, &c, "fraud/m", "next", "1", async {
        push_signed(&c, "fraud/m", "next", None).await;
    })
    .await
    .unwrap_err();
    match err {
        ClientError::Api { status, code, .. } => assert_eq!((status, code.as_str()), (409, "name_conflict")),
        other => panic!("{other}"),
    }
    assert!(c.get_alias(&m("fraud/m"), "next", None).await.is_err());
}

async fn push_with_dataset(c: &Client, model: &str, version: &str, data: &[u8]) {
    TestPush::new(model, version).dataset("s3://data/train.parquet", data).run(c).await.unwrap();
}

/// Class sweep (decide-then-commit): a quarantine computed its radius, then a version trained on the
/// poisoned data landed before the quarantine committed, and stayed out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_pushed_while_a_quarantine_is_decided_is_in_its_radius() {
    let s = TestServer::start().await;
    let c = client(&s);
    push_with_dataset(&c, "fraud/m", "1", b"poison").await;
    let (reached, release) = s.state.pauses.arm("quarantine.decided");
    let c2 = c.clone();
    let q = QuarantineRequest {
        dataset: Some(Digest::of(b"poison")),
        reason: "poisoned".into(),
        ..Default::default()
    };
    let task = tokio::spawn(async move { c2.quarantine(&q).await });
    reached.await.unwrap();
    push_with_dataset(&c, "fraud/m", "2", b"poison").await;
    release.send(()).unwrap();
    let info = task.await.unwrap().unwrap();
    let mut got: Vec<String> = info.versions.iter().map(|v| v.version.clone()).collect();
    got.sort();
    assert_eq!(got, ["1", "2"]);
    assert!(c.get_version(&m("fraud/m"), "2").await.unwrap().quarantined);
}

/// Class sweep (decide-then-commit): two quarantines cover one version; lifting both at once left it
/// quarantined on PostgreSQL (each lift saw the other still active). SQLite serialized them already.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifting_two_quarantines_at_once_releases_what_both_covered() {
    let s = TestServer::start().await;
    let c = client(&s);
    push_with_dataset(&c, "fraud/m", "1", b"poison").await;
    let mut ids = vec![];
    for reason in ["first", "second"] {
        let q = QuarantineRequest {
            version: Some("fraud/m@1".into()),
            reason: reason.into(),
            ..Default::default()
        };
        ids.push(c.quarantine(&q).await.unwrap().id);
    }
    let (reached, release) = s.state.pauses.arm("lift.decided");
    let (c1, c2) = (c.clone(), c.clone());
    let (a, b) = (ids[0], ids[1]);
    let first = tokio::spawn(async move { c1.lift_quarantine(a, "false alarm").await });
    reached.await.unwrap();
    // The second lift either completes now (the first holds no lock: the old defect) or waits for the
    // first; give it a bounded chance to complete before letting the first go on.
    let mut second = tokio::spawn(async move { c2.lift_quarantine(b, "false alarm").await });
    let early = tokio::time::timeout(std::time::Duration::from_secs(2), &mut second).await;
    release.send(()).unwrap();
    let second = match early {
        Ok(done) => done,
        Err(_) => second.await,
    };
    second.unwrap().unwrap();
    first.await.unwrap().unwrap();
    assert!(!c.get_version(&m("fraud/m"), "1").await.unwrap().quarantined, "both lifted: released");
}

/// Defect 2's class, publish: a key revoked after a push's attestations were verified with it, and
/// before the version commits. The version must not get in on the revoked key's word (the push
/// verifies again, under the lock, and is refused); nor may a later push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_between_verification_and_commit_stops_the_push() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[8; 32]).unwrap();
    c.add_key(&trust_key("fraud/*", &key, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    let (reached, release) = s.state.pauses.arm("push.verified");
    let c2 = c.clone();
    let push = tokio::spawn(async move { TestPush::new("fraud/m", "1").signed(Some(&key)).run(&c2).await });
    reached.await.unwrap();
    let r = http(&s)
        .delete(format!(
            "{}/v1/keys/{}",
            s.url,
            SigningKey::from_seed(KeyKind::Ed25519, &[8; 32]).unwrap().public().key_id()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    release.send(()).unwrap();
    let err = push.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some("invalid_attestation"), "{err}");
    assert!(c.get_version(&m("fraud/m"), "1").await.is_err(), "no version on a revoked key's word");
}

/// The same for keyless trust: an identity revoked between a push's verification and its commit. The
/// trust mark covers identities and roots, so the push verifies again and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_revoked_between_verification_and_commit_stops_the_push() {
    use registry_core::attest::dsse::INTOTO_PAYLOAD_TYPE;
    use registry_core::attest::intoto::Statement;
    let s = TestServer::start().await;
    let c = client(&s);
    let h = http(&s);
    let d = sigstore_testkit::Deployment::new();
    let who = sigstore_testkit::github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let r = h
        .put(format!("{}/v1/trust-roots/test", s.url))
        .header("content-type", "application/json")
        .body(d.trusted_root_json())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = h
        .post(format!("{}/v1/identities", s.url))
        .json(&serde_json::json!({"namespace": "fraud/*", "issuer": who.issuer, "subject": who.subject}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let id: serde_json::Value = r.json().await.unwrap();
    let files: &[(&str, &[u8])] = &[("w.bin", b"weights")];
    let manifest = registry_core::Manifest::new(vec![registry_core::FileEntry {
        path: "w.bin".into(),
        size: 7,
        digest: registry_core::Digest::of(b"weights"),
    }])
    .unwrap();
    let st = Statement::new(
        vec![Statement::subject("fraud/m", &manifest.digest())],
        SLSA_PROVENANCE_V1,
        serde_json::json!({"buildDefinition": {"buildType": "https://example.com/ci/v1"}}),
    );
    let bundle = d.sign_dsse(&who, INTOTO_PAYLOAD_TYPE, &serde_json::to_vec(&st).unwrap()).into_bytes();
    // Without the race it is accepted (version 1).
    TestPush::new("fraud/m", "1").files(files).attestations(vec![bundle.clone()]).run(&c).await.unwrap();
    let (reached, release) = s.state.pauses.arm("push.verified");
    let c2 = c.clone();
    let push = tokio::spawn(async move {
        TestPush::new("fraud/m", "2").files(files).attestations(vec![bundle]).run(&c2).await
    });
    reached.await.unwrap();
    let r = h.delete(format!("{}/v1/identities/{}", s.url, id["id"].as_str().unwrap())).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    release.send(()).unwrap();
    let err = push.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some("invalid_attestation"), "{err}");
    assert!(err.to_string().contains("untrusted_identity"), "{err}");
    assert!(c.get_version(&m("fraud/m"), "2").await.is_err(), "no version on a revoked identity's word");
}
