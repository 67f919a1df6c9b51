//! Signed provenance end to end: what push signs is verified on ingest and stored verbatim, later
//! attestations join, trust changes show, and every kind of bad evidence is refused with nothing stored.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use registry_client::attest::{oms_bundle, provenance_envelope, verify_attestations};
use registry_client::{Client, ClientError};
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::{OMS_V1, RunTimes, SLSA_PROVENANCE_V1, oms_predicate};
use registry_core::{FileEntry, Lineage, Manifest, ModelName};
use registry_e2e::*;
use serde_json::{Value, json};

const FILES: &[(&str, &[u8])] =
    &[("config.json", b"{}"), ("weights.bin", b"weights v1"), ("tok/vocab.txt", b"a b")];

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(if seed.is_multiple_of(2) { KeyKind::Ed25519 } else { KeyKind::P256 }, &[seed; 32])
        .unwrap()
}

fn m(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

fn manifest_of(files: &[(&str, &[u8])]) -> Manifest {
    Manifest::new(
        files
            .iter()
            .map(|(p, c)| FileEntry {
                path: (*p).into(),
                size: c.len() as u64,
                digest: registry_core::Digest::of(c),
            })
            .collect(),
    )
    .unwrap()
}

async fn trust(c: &Client, k: &SigningKey, pattern: &str, types: &[&str]) {
    c.add_key(&trust_key(pattern, k, types)).await.unwrap();
}

async fn push_with(
    c: &Client,
    model: &str,
    version: &str,
    sign: Option<&SigningKey>,
    extra: Vec<Vec<u8>>,
) -> Result<registry_client::push::PushReport, ClientError> {
    TestPush::new(model, version).files(FILES).signed(sign).attestations(extra).run(c).await
}

/// PUT a version with these raw attestations (blobs uploaded first), returning status and body.
async fn put_raw(s: &TestServer, model: &str, version: &str, raws: &[Vec<u8>]) -> (u16, Value) {
    let h = http(s);
    for (_, c) in FILES {
        h.put(format!("{}/v1/blobs/{}", s.url, registry_core::Digest::of(c)))
            .body(c.to_vec())
            .send()
            .await
            .unwrap();
    }
    let man = manifest_of(FILES);
    let body = json!({"manifest": man, "attestations": raws.iter().map(|r| base64::engine::general_purpose::STANDARD.encode(r)).collect::<Vec<_>>()});
    let r =
        h.put(format!("{}/v1/models/{model}/versions/{version}", s.url)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_is_verified_stored_verbatim_and_checkable_by_anyone() {
    let s = TestServer::start().await;
    let c = client(&s);
    let k = key(1);
    trust(&c, &k, "fraud/*", &[]).await;
    let r = push_with(&c, "fraud/detector", "1", Some(&k), vec![]).await.unwrap();
    assert_eq!(r.attestations, 2);
    let list = c.list_attestations(&m("fraud/detector"), "1").await.unwrap().attestations;
    let kinds: Vec<(&str, &str, &str)> =
        list.iter().map(|a| (a.predicate_type.as_str(), a.format.as_str(), a.status.as_str())).collect();
    assert_eq!(kinds, [(SLSA_PROVENANCE_V1, "dsse", "verified"), (OMS_V1, "sigstore_bundle", "verified")]);
    // Exact bytes: what we made is what is served.
    let bundle = c.attestation_bytes(&m("fraud/detector"), "1", &list[1]).await.unwrap();
    assert_eq!(Some(bundle), r.oms_bundle);

    // The provenance names the version's OCI manifest too, by the digest `/v2` serves, so a check of
    // "subject = the pulled artifact's digest" holds (docs/oci.md).
    let prov = c.attestation_bytes(&m("fraud/detector"), "1", &list[0]).await.unwrap();
    let env: Value = serde_json::from_slice(&prov).unwrap();
    let payload = base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let oci = r.version.oci_manifest_digest.expect("a small version has an OCI manifest");
    let served = http(&s).get(format!("{}/v2/fraud/detector/manifests/1", s.url)).send().await.unwrap();
    assert_eq!(served.headers()["docker-content-digest"].to_str().unwrap(), oci.to_string());
    assert_eq!(registry_core::Digest::of(&served.bytes().await.unwrap()), oci);
    let subjects: Vec<(&str, &str)> = st["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), x["digest"]["sha256"].as_str().unwrap()))
        .collect();
    assert!(subjects.contains(&("fraud/detector@1", oci.hex().as_str())), "{subjects:?}");

    // Anyone holding the public key verifies locally; a stranger's key verifies nothing.
    let man = c.get_manifest(&r.version).await.unwrap();
    let ok = verify_attestations(
        &c,
        &m("fraud/detector"),
        "1",
        &man,
        &[k.public().clone()],
        &[SLSA_PROVENANCE_V1.into(), OMS_V1.into()],
    )
    .await
    .unwrap();
    assert!(ok.ok, "{:?}", ok.checks);
    let no = verify_attestations(&c, &m("fraud/detector"), "1", &man, &[key(9).public().clone()], &[])
        .await
        .unwrap();
    assert!(!no.ok);

    // A later attestation (an evaluation) joins; the revoked signer's attestations say so.
    let eval = Statement::new(
        vec![Statement::subject("fraud/detector", &man.digest())],
        "https://example.com/eval/v1",
        json!({"auc": 0.95}),
    );
    let e = key(3);
    trust(&c, &e, "fraud/*", &["https://example.com/eval/v1"]).await;
    let raw = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&eval).unwrap(), &[&e]).to_json();
    let info = c.add_attestation(&m("fraud/detector"), "1", raw.clone()).await.unwrap();
    assert_eq!(info.status, "verified");
    assert_eq!(
        c.add_attestation(&m("fraud/detector"), "1", raw).await.unwrap().id,
        info.id,
        "same bytes, same record"
    );
    http(&s).delete(format!("{}/v1/keys/{}", s.url, k.public().key_id())).send().await.unwrap();
    let after = c.list_attestations(&m("fraud/detector"), "1").await.unwrap().attestations;
    assert_eq!(
        after.iter().map(|a| a.status.as_str()).collect::<Vec<_>>(),
        ["signer_revoked", "signer_revoked", "verified"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_evidence_is_refused_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let c = client(&s);
    let (good, other_ns, eval_only, untrusted) = (key(1), key(2), key(5), key(7));
    trust(&c, &good, "fraud/*", &[]).await;
    trust(&c, &other_ns, "nlp/*", &[]).await;
    trust(&c, &eval_only, "fraud/*", &["https://example.com/eval/v1"]).await;
    let model = m("fraud/detector");
    let man = manifest_of(FILES);
    let prov = |k: &SigningKey, man: &Manifest| {
        provenance_envelope(k, &model, "1", man, &Lineage::default(), &[], &RunTimes::default())
    };

    let mut changed: Value = serde_json::from_slice(&prov(&good, &man)).unwrap();
    let mut st: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD.decode(changed["payload"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    st["predicate"]["runDetails"]["builder"]["id"] = json!("https://evil.example");
    changed["payload"] =
        json!(base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&st).unwrap()));
    let other_files =
        manifest_of(&[("config.json", b"{}"), ("weights.bin", b"weights v2"), ("tok/vocab.txt", b"a b")]);
    let missing = manifest_of(&[("config.json", b"{}"), ("weights.bin", b"weights v1")]);
    let extra = manifest_of(&[
        ("config.json", b"{}"),
        ("weights.bin", b"weights v1"),
        ("tok/vocab.txt", b"a b"),
        ("x", b"x"),
    ]);
    let renamed =
        manifest_of(&[("config.json", b"{}"), ("weights2.bin", b"weights v1"), ("tok/vocab.txt", b"a b")]);
    let oms_for = |files: &Manifest| {
        // A statement about the real version's OMS root, but listing other files.
        let st = Statement::new(
            vec![Statement::subject("m", &man.oms_root_digest())],
            OMS_V1,
            oms_predicate(files),
        );
        Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).unwrap(), &[&good]).to_json()
    };
    let unsigned =
        Envelope { payload_type: INTOTO_PAYLOAD_TYPE.into(), payload: b"{}".to_vec(), signatures: vec![] }
            .to_json();
    let v01 = json!({"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"name": "x", "digest": {"sha256": man.digest().hex()}}], "predicateType": SLSA_PROVENANCE_V1, "predicate": {}});
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("payload changed after signing", serde_json::to_vec(&changed).unwrap(), "no signature verifies"),
        ("untrusted key", prov(&untrusted, &man), "no signature verifies"),
        ("key trusted for another namespace", prov(&other_ns, &man), "no signature verifies"),
        ("key trusted for another predicate type", prov(&eval_only, &man), "not trusted for predicate type"),
        ("subject of another model (replay)", prov(&good, &other_files), "no subject"),
        ("OMS missing a file", oms_for(&missing), "missing tok/vocab.txt"),
        ("OMS with an extra file", oms_for(&extra), "extra x"),
        ("OMS with a renamed file", oms_for(&renamed), "missing weights.bin"),
        ("OMS with a changed file", oms_for(&other_files), "changed weights.bin"),
        ("malformed JSON", b"{not json".to_vec(), "malformed"),
        ("malformed base64", br#"{"payloadType":"application/vnd.in-toto+json","payload":"@@@","signatures":[{"sig":"AA=="}]}"#.to_vec(), "base64"),
        ("no signature", unsigned, "no signature"),
        ("unknown statement type", Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&v01).unwrap(), &[&good]).to_json(), "unknown statement type"),
    ];
    for (what, raw, needle) in cases {
        let (status, body) = put_raw(&s, "fraud/detector", "1", &[prov(&good, &man), raw]).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_attestation")), "{what}: {body}");
        assert!(body["message"].as_str().unwrap().contains("attestation #2"), "{what}: {body}");
        assert!(body["message"].as_str().unwrap().to_lowercase().contains(needle), "{what}: {body}");
        assert_eq!(
            http(&s).get(format!("{}/v1/models/fraud/detector", s.url)).send().await.unwrap().status(),
            404,
            "{what}: nothing stored"
        );
    }
    // Oversized: 413. A bad PEM key is refused when trusted.
    let big = vec![b' '; registry_core::attest::MAX_ATTESTATION_SIZE + 1];
    let (status, body) = put_raw(&s, "fraud/detector", "1", &[big]).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    let r = http(&s).post(format!("{}/v1/keys", s.url)).json(&json!({"namespace": "fraud/*", "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"})).send().await.unwrap();
    assert_eq!(error_of(r).await.1, "invalid_key");
    // The good one alone goes through.
    let (status, body) =
        put_raw(&s, "fraud/detector", "1", &[prov(&good, &man), oms_bundle(&good, &model, &man)]).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_can_require_signed_provenance() {
    let s = TestServer::start().await;
    let c = client(&s);
    let k = key(1);
    trust(&c, &k, "fraud/*", &[]).await;
    let r = http(&s)
        .put(format!("{}/v1/namespaces/fraud", s.url))
        .json(&json!({"require_provenance": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let err = push_with(&c, "fraud/detector", "1", None, vec![]).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { status: 403, code, .. } if code == "provenance_required"),
        "{err}"
    );
    // An OMS signature alone is not provenance.
    let man = manifest_of(FILES);
    let (status, body) =
        put_raw(&s, "fraud/detector", "1", &[oms_bundle(&k, &m("fraud/detector"), &man)]).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("provenance_required")));
    push_with(&c, "fraud/detector", "1", Some(&k), vec![]).await.unwrap();
    push_with(&c, "nlp/bert", "1", None, vec![]).await.unwrap(); // other namespaces are unaffected
}

/// `env` with its one ECDSA signature replaced by the low-S and the high-S form of it.
fn ecdsa_twins(env: &Envelope) -> (Vec<u8>, Vec<u8>) {
    let sig = p256::ecdsa::Signature::from_der(&env.signatures[0].sig).unwrap();
    let low = sig.normalize_s();
    let (r, s) = low.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    assert_ne!(low, high);
    let with = |sig: p256::ecdsa::Signature| {
        let mut e = env.clone();
        e.signatures[0].sig = sig.to_der().as_bytes().to_vec();
        e.to_json()
    };
    (with(low), with(high))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecdsa_high_s_twin_is_accepted_but_never_stored_twice() {
    let s = TestServer::start().await;
    let c = client(&s);
    let k = key(3); // P-256
    trust(&c, &k, "fraud/*", &[]).await;
    let man = manifest_of(FILES);
    let st = Statement::new(
        vec![Statement::subject("fraud/d", &man.digest())],
        "https://example.com/eval/v1",
        json!({"auc": 0.9}),
    );
    let env = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).unwrap(), &[&k]);
    let (low, high) = ecdsa_twins(&env);

    // One push carrying both twins: accepted (high-S is valid ECDSA), one record.
    let (status, body) = put_raw(&s, "fraud/d", "1", &[high.clone(), low.clone()]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(c.list_attestations(&m("fraud/d"), "1").await.unwrap().attestations.len(), 1);

    // Added one at a time to another version: the twin answers with the first one's record.
    push_with(&c, "fraud/d", "2", None, vec![]).await.unwrap();
    let st2 = Statement::new(
        vec![Statement::subject("fraud/d", &man.digest())],
        "https://example.com/eval/v1",
        json!({"auc": 0.8}),
    );
    let env2 = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st2).unwrap(), &[&k]);
    let (low2, high2) = ecdsa_twins(&env2);
    let first = c.add_attestation(&m("fraud/d"), "2", high2).await.unwrap();
    assert_eq!(first.status, "verified", "a high-S signature verifies");
    let again = c.add_attestation(&m("fraud/d"), "2", low2).await.unwrap();
    assert_eq!(again.id, first.id, "the low-S twin is the same evidence");
    // A fresh signature of the same statement by the same key is the same evidence too.
    let resigned = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st2).unwrap(), &[&k]).to_json();
    assert_eq!(c.add_attestation(&m("fraud/d"), "2", resigned).await.unwrap().id, first.id);
    assert_eq!(c.list_attestations(&m("fraud/d"), "2").await.unwrap().attestations.len(), 1);
}
