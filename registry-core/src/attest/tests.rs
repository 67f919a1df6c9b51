//! Verification stories: what is accepted, and each way an attestation is refused.
use proptest::prelude::*;
use serde_json::json;

use super::keys::{KeyKind, SigningKey};
use super::predicates::{OMS_V1, RunTimes, SLSA_PROVENANCE_V1, oms_predicate, slsa_provenance};
use super::*;
use crate::lineage::Lineage;
use crate::manifest::FileEntry;

/// A manifest of these files (path, contents); shared with the predicate modules' tests.
pub(crate) fn manifest(files: &[(&str, &[u8])]) -> Manifest {
    Manifest::new(
        files
            .iter()
            .map(|(p, c)| FileEntry { path: (*p).into(), size: c.len() as u64, digest: Digest::of(c) })
            .collect(),
    )
    .expect("valid")
}

fn oms_small() -> Manifest {
    manifest(&[
        ("config.json", b"{}"),
        ("tokenizer/vocab.txt", b"vocab"),
        ("tokenizer-extra.txt", b"extra"),
        ("weights.bin", b"hello"),
    ])
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(KeyKind::P256, &[seed; 32]).expect("key")
}

fn model() -> ModelName {
    ModelName::parse("fraud/detector").expect("name")
}

fn provenance(m: &Manifest, k: &SigningKey) -> Vec<u8> {
    let pred = slsa_provenance(&model(), "1", &Lineage::default(), &[], &RunTimes::default());
    let st =
        Statement::new(vec![Statement::subject("fraud/detector", &m.digest())], SLSA_PROVENANCE_V1, pred);
    Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("json"), &[k]).to_json()
}

#[test]
fn signed_provenance_binds_to_the_manifest() {
    let (m, k) = (oms_small(), key(1));
    let v = verify(
        &provenance(&m, &k),
        &[TrustedKey::any(k.public().clone())],
        Target { model: &model(), manifest: &m },
    )
    .expect("verifies");
    assert_eq!((v.binding, v.signer, v.format), (Binding::Manifest, k.public().key_id(), Format::Dsse));
    assert_eq!(v.statement.predicate_type, SLSA_PROVENANCE_V1);
}

#[test]
fn the_bundle_model_signing_wrote_verifies_with_its_key() {
    let raw = include_bytes!("../../../tests/fixtures/oms-small/model.sig");
    let pk = PublicKey::from_pem(include_str!("../../../tests/fixtures/oms-small/k.pub")).expect("key");
    let m = oms_small();
    let v = verify(raw, &[TrustedKey::any(pk)], Target { model: &model(), manifest: &m })
        .expect("model_signing's bundle verifies");
    assert_eq!((v.binding, v.format), (Binding::Files, Format::SigstoreBundle));
    assert_eq!(v.subject, m.oms_root_digest());
}

#[test]
fn a_payload_changed_after_signing_is_refused() {
    let (m, k) = (oms_small(), key(1));
    let mut env: serde_json::Value = serde_json::from_slice(&provenance(&m, &k)).expect("json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&dsse::decode_b64(env["payload"].as_str().expect("s")).expect("b64"))
            .expect("json");
    st["predicate"]["buildDefinition"]["externalParameters"]["version"] = json!("2");
    use base64::Engine;
    env["payload"] =
        json!(base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&st).expect("json")));
    let e = verify(
        &serde_json::to_vec(&env).expect("json"),
        &[TrustedKey::any(k.public().clone())],
        Target { model: &model(), manifest: &m },
    );
    assert_eq!(e.err(), Some(AttestError::UntrustedSigner));
}

#[test]
fn untrusted_keys_and_keys_for_other_predicates_are_refused() {
    let (m, k) = (oms_small(), key(1));
    let raw = provenance(&m, &k);
    let t = Target { model: &model(), manifest: &m };
    assert_eq!(
        verify(&raw, &[TrustedKey::any(key(2).public().clone())], t).err(),
        Some(AttestError::UntrustedSigner)
    );
    let only_oms = TrustedKey { key: k.public().clone(), predicate_types: vec![OMS_V1.into()] };
    assert!(matches!(verify(&raw, &[only_oms], t), Err(AttestError::PredicateNotAllowed { .. })));
}

#[test]
fn a_statement_about_another_model_is_a_subject_mismatch() {
    let k = key(1);
    let other = manifest(&[("other.bin", b"x")]);
    let raw = provenance(&other, &k);
    let m = oms_small();
    let e = verify(&raw, &[TrustedKey::any(k.public().clone())], Target { model: &model(), manifest: &m });
    assert_eq!(e.err(), Some(AttestError::SubjectMismatch));
}

#[test]
fn an_oms_signature_of_other_files_is_refused_by_name() {
    let k = key(1);
    let signed = manifest(&[("config.json", b"{}"), ("weights.bin", b"hello")]);
    let st = Statement::new(
        vec![Statement::subject("m", &signed.oms_root_digest())],
        OMS_V1,
        oms_predicate(&signed),
    );
    let raw = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("json"), &[&k]).to_json();
    let m = oms_small();
    let e = verify(&raw, &[TrustedKey::any(k.public().clone())], Target { model: &model(), manifest: &m });
    assert!(
        matches!(&e, Err(AttestError::OmsMismatch(msg)) if msg.contains("missing tokenizer/vocab.txt")),
        "{e:?}"
    );
    // The same statement verifies against the files it names.
    let ok =
        verify(&raw, &[TrustedKey::any(k.public().clone())], Target { model: &model(), manifest: &signed })
            .expect("ok");
    assert_eq!(ok.binding, Binding::Files);
}

#[test]
fn other_predicates_on_the_oms_root_are_content_bound() {
    let (m, k) = (oms_small(), key(1));
    let st = Statement::new(
        vec![Statement::subject("m", &m.oms_root_digest())],
        "https://example.com/eval/v1",
        json!({"auc": 0.9}),
    );
    let raw = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("json"), &[&k]).to_json();
    let v = verify(&raw, &[TrustedKey::any(k.public().clone())], Target { model: &model(), manifest: &m })
        .expect("ok");
    assert_eq!(v.binding, Binding::Content);
}

#[test]
fn malformed_unsigned_untyped_and_oversized_inputs_get_their_errors() {
    let m = oms_small();
    let t = Target { model: &model(), manifest: &m };
    let k = key(1);
    let trusted = [TrustedKey::any(k.public().clone())];
    assert!(matches!(verify(b"{", &trusted, t), Err(AttestError::Malformed(_))));
    assert!(matches!(
        verify(
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"%%%","signatures":[]}"#,
            &trusted,
            t
        ),
        Err(AttestError::Malformed(_))
    ));
    let unsigned =
        Envelope { payload_type: INTOTO_PAYLOAD_TYPE.into(), payload: b"{}".to_vec(), signatures: vec![] };
    assert_eq!(verify(&unsigned.to_json(), &trusted, t).err(), Some(AttestError::NoSignature));
    let v01 = json!({"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"name": "x", "digest": {"sha256": m.digest().hex()}}], "predicateType": "p", "predicate": {}});
    let raw = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&v01).expect("json"), &[&k]).to_json();
    assert!(matches!(verify(&raw, &trusted, t), Err(AttestError::UnknownStatementType(_))));
    let text = Envelope::sign("text/plain", b"hi".to_vec(), &[&k]).to_json();
    assert!(matches!(verify(&text, &trusted, t), Err(AttestError::PayloadType(_))));
    assert_eq!(verify(&vec![b' '; MAX_ATTESTATION_SIZE + 1], &trusted, t).err(), Some(AttestError::TooLarge));
}

proptest! {
    #[test]
    fn attestation_parser_never_panics(s in "\\PC{0,400}") {
        let _ = parse(s.as_bytes());
    }
}

#[test]
fn predicates_naming_another_version_are_refused() {
    use super::predicates::{SLSA_PROVENANCE_V1, SLSA_VSA_V1, TRAINING_BUILD_TYPE, check_names};
    let m = model();
    let vsa = serde_json::json!({"resourceUri": format!("registry:{m}@1.0")});
    assert!(check_names(SLSA_VSA_V1, &vsa, &m, "1.0").is_ok());
    assert!(check_names(SLSA_VSA_V1, &vsa, &m, "2.0").is_err());
    assert!(check_names(SLSA_VSA_V1, &serde_json::json!({}), &m, "1.0").is_err(), "a VSA must name it");
    let prov = |model: &str, version: &str| {
        serde_json::json!({"buildDefinition": {"buildType": TRAINING_BUILD_TYPE,
            "externalParameters": {"model": model, "version": version}}})
    };
    assert!(check_names(SLSA_PROVENANCE_V1, &prov(&m.to_string(), "1.0"), &m, "1.0").is_ok());
    assert!(check_names(SLSA_PROVENANCE_V1, &prov("other/model", "1.0"), &m, "1.0").is_err());
    assert!(check_names(SLSA_PROVENANCE_V1, &prov(&m.to_string(), "0.9"), &m, "1.0").is_err());
    // Provenance of other build types names subjects its own way: not ours to judge.
    let foreign = serde_json::json!({"buildDefinition": {"buildType": "https://example.com/b",
        "externalParameters": {"model": "x"}}});
    assert!(check_names(SLSA_PROVENANCE_V1, &foreign, &m, "1.0").is_ok());
}
