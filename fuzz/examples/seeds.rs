//! Writes the committed seed corpora of the targets whose valid inputs are signed with the fixed keys
//! of `registry_fuzz::fixtures` (or need exact digests and proofs), so that the fuzzer starts from
//! inputs that pass every check. Run from the repository root after changing a fixture or a format:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seeds
//!
//! Seeds are deterministic (fixed keys and times; Ed25519 and ECDSA-with-RFC-6979 sign
//! deterministically), so re-running changes no file unless a format changed, except the ES256 token
//! (jsonwebtoken's aws-lc backend signs with a random nonce).
#![forbid(unsafe_code)]

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use registry_core::api::{AttestationInfo, VersionResponse};
use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
use registry_core::attest::intoto::Statement;
use registry_core::attest::keys::SigningKey;
use registry_core::attest::predicates::{self, OMS_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use registry_core::attest::sigstore_bundle::SigstoreBundle;
use registry_core::audit_bundle::{
    AuditBundle, AuditBundleAttestation, AuditBundleEntry, AuditBundleLog, MEDIA_TYPE,
};
use registry_core::tlog::entry::{ATTESTATION_ADDED, LogEntry, MODEL_CREATED, VERSION_CREATED};
use registry_core::tlog::note::Checkpoint;
use registry_core::tlog::{inclusion_ranges, leaf_hash, root_of};
use registry_core::{Digest, Lineage};
use registry_fuzz::fixtures::{LOG_ORIGIN, LOG_SIGNER, MANIFEST, MODEL, SIGNERS, STRANGER, VERSION};
use serde_json::{Value, json};

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn lineage() -> Lineage {
    serde_json::from_value(json!({
        "datasets": [{"uri": "s3://data/train.parquet", "digest": Digest::of(b"train"), "role": "train"}],
        "code": {"repo": "https://github.com/acme/fraud", "commit": "3f786850e387550fdab836ed7e6dc881de23001b"},
        "params": {"lr": 0.001}, "metrics": {"auc": 0.93}, "run": {"id": "run-42"}
    }))
    .expect("lineage")
}

fn provenance() -> Value {
    predicates::slsa_provenance(
        &registry_fuzz::fixtures::MODEL_NAME,
        VERSION,
        &lineage(),
        &[],
        &Default::default(),
    )
}

fn statement(subject: &Digest, predicate_type: &str, predicate: Value) -> Vec<u8> {
    serde_json::to_vec(&Statement::new(vec![Statement::subject(MODEL, subject)], predicate_type, predicate))
        .expect("statement")
}

fn envelope(payload: Vec<u8>, keys: &[&SigningKey]) -> Envelope {
    Envelope::sign(INTOTO_PAYLOAD_TYPE, payload, keys)
}

fn main() {
    let m = &*MANIFEST;
    let prov = statement(&m.digest(), SLSA_PROVENANCE_V1, provenance());
    let oms_files = statement(&m.oms_root_digest(), OMS_V1, predicates::oms_predicate(m));
    let mut oms_ignoring = predicates::oms_predicate(m);
    oms_ignoring["resources"] = json!(
        oms_ignoring["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter(|r| !r["name"].as_str().unwrap_or("").starts_with(".git/"))
            .cloned()
            .collect::<Vec<_>>()
    );
    oms_ignoring["serialization"]["ignore_paths"] = json!([".git"]);
    let mut h = registry_core::Hasher::new();
    for f in m.files().iter().filter(|f| !f.path.starts_with(".git/")) {
        h.update(f.digest.as_bytes());
    }
    let oms_ignoring = statement(&h.finalize(), OMS_V1, oms_ignoring);
    let content = statement(&m.oms_root_digest(), "https://example.com/eval/v1", json!({"auc": 0.93}));
    let vsa = statement(&m.digest(), SLSA_VSA_V1, json!({"verificationResult": "PASSED"}));
    let other = statement(&Digest::of(b"another model"), SLSA_PROVENANCE_V1, provenance());

    // in-toto statements (bare payloads).
    write("intoto_statement", "valid-provenance", &prov);
    write("intoto_statement", "valid-oms-files", &oms_files);
    write("intoto_statement", "valid-oms-ignore-paths", &oms_ignoring);
    write("intoto_statement", "valid-content", &content);
    write("intoto_statement", "invalid-subject", &other);
    write(
        "intoto_statement",
        "invalid-v01",
        String::from_utf8(prov.clone()).expect("utf8").replace("Statement/v1", "Statement/v0.1"),
    );
    write(
        "intoto_statement",
        "invalid-no-digest",
        r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{}}],"predicateType":"p"}"#,
    );

    // DSSE envelopes and attestations.
    let e_prov = envelope(prov.clone(), &[&SIGNERS[0]]);
    let e_prov_ed = envelope(prov.clone(), &[&SIGNERS[1]]);
    write("dsse_envelope", "valid-p256", e_prov.to_json());
    write("dsse_envelope", "valid-ed25519", e_prov_ed.to_json());
    write(
        "dsse_envelope",
        "valid-two-signatures",
        envelope(b"{}".to_vec(), &[&SIGNERS[0], &SIGNERS[1]]).to_json(),
    );
    let mut urlsafe: Value = serde_json::from_slice(&e_prov_ed.to_json()).expect("json");
    urlsafe["payload"] = json!(URL_SAFE_NO_PAD.encode(&e_prov_ed.payload));
    urlsafe["signatures"][0]["sig"] = json!(URL_SAFE_NO_PAD.encode(&e_prov_ed.signatures[0].sig));
    write("dsse_envelope", "valid-urlsafe-unpadded", serde_json::to_vec(&urlsafe).expect("json"));
    write("dsse_envelope", "invalid-base64", r#"{"payloadType":"t","payload":"!!","signatures":[]}"#);
    write(
        "dsse_envelope",
        "invalid-no-type",
        r#"{"payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}"#,
    );

    let b_prov = SigstoreBundle::for_key(e_prov.clone(), SIGNERS[0].public().oms_hint());
    let attestations: Vec<(&str, Vec<u8>)> = vec![
        ("valid-provenance-p256", e_prov.to_json()),
        ("valid-provenance-ed25519", e_prov_ed.to_json()),
        ("valid-oms-files", envelope(oms_files.clone(), &[&SIGNERS[0]]).to_json()),
        ("valid-oms-ignore-paths", envelope(oms_ignoring, &[&SIGNERS[0]]).to_json()),
        ("valid-content", envelope(content, &[&SIGNERS[0]]).to_json()),
        ("valid-vsa", envelope(vsa, &[&SIGNERS[2]]).to_json()),
        ("valid-bundle", b_prov.to_json()),
        ("invalid-predicate-not-allowed", envelope(oms_files, &[&SIGNERS[1]]).to_json()),
        ("invalid-untrusted", envelope(prov.clone(), &[&STRANGER]).to_json()),
        ("invalid-subject", envelope(other, &[&SIGNERS[0]]).to_json()),
        (
            "invalid-keyless",
            include_bytes!("../../tests/fixtures/sigstore/cosign-v3-blob.sigstore.json").to_vec(),
        ),
        ("invalid-oms-small", include_bytes!("../../tests/fixtures/oms-small/model.sig").to_vec()),
    ];
    for (name, bytes) in &attestations {
        write("attestation", name, bytes);
    }

    // Sigstore bundles: ours, model_signing's, and third-party keyless ones.
    write("sigstore_bundle", "valid-key", b_prov.to_json());
    write(
        "sigstore_bundle",
        "valid-model-signing",
        include_bytes!("../../tests/fixtures/oms-small/model.sig"),
    );
    write(
        "sigstore_bundle",
        "valid-cosign-keyless",
        include_bytes!("../../tests/fixtures/sigstore/cosign-v3-blob.sigstore.json"),
    );
    write(
        "sigstore_bundle",
        "valid-conda-attestation",
        include_bytes!("../../tests/fixtures/sigstore/conda-attestation.sigstore.json"),
    );
    write("sigstore_bundle", "invalid-media-type", r#"{"mediaType":"x","verificationMaterial":{}}"#);
    // The client's verify-bundle: case byte (see sigstore_client.rs), then the bundle.
    let case = |which: u8, bundle: &[u8]| [&[which][..], bundle].concat();
    write(
        "sigstore_client",
        "valid-cosign-keyless",
        case(0, include_bytes!("../../tests/fixtures/sigstore/cosign-v3-blob.sigstore.json")),
    );
    write(
        "sigstore_client",
        "valid-github-attestation",
        case(1, include_bytes!("../../tests/fixtures/sigstore/conda-attestation.sigstore.json")),
    );
    write(
        "sigstore_client",
        "valid-managed-key",
        case(2, include_bytes!("../../tests/fixtures/sigstore/managed-key/bundle.sigstore.json")),
    );
    write(
        "sigstore_client",
        "invalid-wrong-identity",
        case(1, include_bytes!("../../tests/fixtures/sigstore/cosign-v3-blob.sigstore.json")),
    );

    // Log entries, a log, a signed checkpoint and the auditor's bundle over them.
    let name = format!("{MODEL}@{VERSION}");
    let time = "2026-12-01T00:00:00Z";
    let entry = |kind: &str, subject: &str, details: Value| LogEntry {
        kind: kind.into(),
        subject: subject.into(),
        actor: "token:ci".into(),
        time: time.into(),
        details: serde_json::from_value(details).expect("details"),
    };
    let att_body = String::from_utf8(e_prov.to_json()).expect("utf8");
    let att_digest = Digest::of(att_body.as_bytes());
    let lin = lineage();
    let entries = [
        entry(MODEL_CREATED, MODEL, json!({})),
        entry(
            VERSION_CREATED,
            &name,
            json!({
            "manifest_digest": m.digest().to_string(), "oms_root_digest": m.oms_root_digest().to_string(),
            "lineage_digest": registry_core::canonical::digest(&lin).expect("digest").to_string(),
            "file_count": m.files().len(), "total_size": m.total_size()}),
        ),
        entry(
            ATTESTATION_ADDED,
            &name,
            json!({
            "digest": att_digest.to_string(), "predicate_type": SLSA_PROVENANCE_V1,
            "signer_key_id": SIGNERS[0].public().key_id().to_string(), "binding": "manifest"}),
        ),
        entry("alias.moved", &name, json!({"alias": "production", "decision": "allowed"})),
    ];
    for (i, e) in entries.iter().enumerate() {
        write("log_entry", &format!("valid-{i}-{}", e.kind), e.canonical());
    }
    write("log_entry", "valid-pretty", serde_json::to_vec_pretty(&entries[1]).expect("json"));
    write("log_entry", "invalid-no-time", r#"{"type":"x","subject":"a","actor":"b"}"#);

    let bodies: Vec<String> =
        entries.iter().map(|e| String::from_utf8(e.canonical()).expect("utf8")).collect();
    let leaves: Vec<_> = bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect();
    let n = leaves.len() as u64;
    let cp = Checkpoint { origin: LOG_ORIGIN.into(), size: n, root: root_of(&leaves) };
    let note = LOG_SIGNER.sign(&cp.to_text()).expect("signed checkpoint");
    let proof = |i: u64| -> Vec<String> {
        inclusion_ranges(i, n)
            .into_iter()
            .map(|(s, e)| STANDARD.encode(root_of(&leaves[s as usize..e as usize])))
            .collect()
    };
    let version = VersionResponse {
        namespace: "fraud".into(),
        name: "detector".into(),
        version: VERSION.into(),
        manifest_digest: m.digest(),
        oms_root_digest: m.oms_root_digest(),
        file_count: m.files().len() as u64,
        total_size: m.total_size(),
        lineage: lin,
        metadata: Default::default(),
        created_by: "token:ci".into(),
        created_at: time.into(),
        log_index: Some(1),
        quarantined: false,
        corrupted: false,
        oci_manifest_digest: None,
    };
    let bundle = AuditBundle {
        media_type: MEDIA_TYPE.into(),
        version,
        manifest: String::from_utf8(m.canonical_bytes()).expect("utf8"),
        attestations: vec![AuditBundleAttestation {
            info: AttestationInfo {
                id: 1,
                digest: att_digest,
                format: "dsse".into(),
                predicate_type: SLSA_PROVENANCE_V1.into(),
                signer_key_id: SIGNERS[0].public().key_id(),
                binding: registry_core::attest::Binding::Manifest,
                subject_digest: m.digest(),
                status: "verified".into(),
                created_by: "token:ci".into(),
                created_at: time.into(),
                log_index: Some(2),
            },
            body: att_body,
        }],
        log: AuditBundleLog {
            log_key: LOG_SIGNER.verifier().to_vkey(),
            checkpoint: note.clone(),
            entries: (1..n)
                .map(|i| AuditBundleEntry {
                    index: i,
                    body: bodies[i as usize].clone(),
                    inclusion_proof: proof(i),
                })
                .collect(),
        },
    };
    let report = registry_core::audit_bundle::verify_offline(
        &bundle,
        &registry_fuzz::fixtures::TRUSTED,
        LOG_SIGNER.verifier(),
        &[SLSA_PROVENANCE_V1.into()],
    );
    assert!(report.ok(), "the seed bundle must verify: {:?}", report.findings);
    write("audit_bundle", "valid", serde_json::to_vec(&bundle).expect("json"));
    let mut no_atts = bundle.clone();
    no_atts.attestations.clear();
    write("audit_bundle", "invalid-no-attestation", serde_json::to_vec(&no_atts).expect("json"));
    let mut other_key = bundle.clone();
    other_key.log.checkpoint = registry_core::tlog::note::NoteSigner::new(LOG_ORIGIN, &[99; 32])
        .expect("signer")
        .sign(&cp.to_text())
        .expect("signed");
    write("audit_bundle", "invalid-checkpoint-key", serde_json::to_vec(&other_key).expect("json"));

    // Signed notes and checkpoints.
    write("signed_note", "valid-checkpoint", &note);
    write("signed_note", "valid-vkey", LOG_SIGNER.verifier().to_vkey());
    write("signed_note", "valid-checkpoint-body", cp.to_text());
    let cosigned = format!(
        "{}\u{2014} witness AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        note
    );
    write("signed_note", "valid-cosigned", cosigned);
    write(
        "signed_note",
        "valid-go-example",
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    );
    write("signed_note", "invalid-forged-size", note.replacen(&format!("\n{n}\n"), "\n9\n", 1));

    // Merkle proofs: arbitrary-encoded inputs, deterministic bytes.
    for (i, len) in [40usize, 120, 400].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len).map(|j| (j * 131 + i * 17 + 7) as u8).collect();
        write("tlog_proofs", &format!("valid-{len}"), bytes);
    }

    // Request bodies (first byte: which type; see api_requests.rs).
    let put = json!({"manifest": serde_json::from_slice::<Value>(&m.canonical_bytes()).expect("json"),
        "lineage": lineage(), "metadata": {"description": "d", "labels": {"team": "fraud"}},
        "attestations": [STANDARD.encode(e_prov.to_json())]});
    let requests: Vec<(u8, &str, Value)> = vec![
        (0, "put-version", put),
        (1, "blobs-check", json!({"digests": [Digest::of(b"a")]})),
        (2, "create-upload", json!({"digest": Digest::of(b"a"), "size": 49047.0})),
        (
            3,
            "add-key",
            json!({"namespace": "fraud/*", "public_key": SIGNERS[0].public().to_pem(), "predicate_types": [SLSA_PROVENANCE_V1]}),
        ),
        (4, "namespace", json!({"require_provenance": true})),
        (5, "promote", json!({"version": "1.4.0", "reason": "r", "expected_current": ""})),
        (6, "rollback", json!({"reason": "r"})),
        (7, "set-policy", json!({"namespace": "*", "alias": "prod*", "rego": "package registry.promote\n"})),
        (8, "policy-test", json!({"version": "fraud/detector@1.4.0", "alias": "production"})),
        (9, "quarantine", json!({"dataset": Digest::of(b"train"), "reason": "poisoned", "rollback": true})),
        (10, "lift", json!({"reason": "fixed"})),
        (
            11,
            "create-token",
            json!({"name": "ci", "scopes": ["read", "push"], "namespace": "fraud/*", "expires_at": "2100-01-01T00:00:00Z"}),
        ),
    ];
    for (which, name, body) in requests {
        let mut bytes = vec![which];
        bytes.extend(serde_json::to_vec(&body).expect("json"));
        write("api_requests", &format!("valid-{name}"), bytes);
    }

    // OIDC tokens (mode byte first; see oidc_token.rs), valid until 2100.
    let pem = |f: &str| std::fs::read(format!("tests/fixtures/oidc/{f}")).expect("oidc fixture");
    let claims = json!({"iss": "https://ci.example.test", "aud": "registry",
        "sub": "repo:acme/fraud:ref:refs/heads/main", "repository": "acme/fraud", "ref": "refs/heads/main",
        "run_attempt": 1, "iat": 1_764_547_200, "nbf": 1_764_547_200, "exp": 4_102_444_800_i64});
    let token = |alg, kid: &str, key: jsonwebtoken::EncodingKey| {
        let mut h = jsonwebtoken::Header::new(alg);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, &key).expect("token")
    };
    let ec = token(
        jsonwebtoken::Algorithm::ES256,
        "ec-1",
        jsonwebtoken::EncodingKey::from_ec_pem(&pem("ec.pem")).expect("ec"),
    );
    let rsa = token(
        jsonwebtoken::Algorithm::RS256,
        "rsa-1",
        jsonwebtoken::EncodingKey::from_rsa_pem(&pem("rsa.pem")).expect("rsa"),
    );
    let with_mode = |mode: u8, rest: &[u8]| [&[mode][..], rest].concat();
    write("oidc_token", "valid-es256", with_mode(0, ec.as_bytes()));
    write("oidc_token", "valid-rs256", with_mode(0, rsa.as_bytes()));
    let claims_json = serde_json::to_vec(&claims).expect("json");
    write("oidc_token", "valid-claims", with_mode(1, &claims_json));
    let mut arr = claims.clone();
    arr["aud"] = json!(["other", "registry"]);
    arr["repository"] = json!("someone/else");
    write("oidc_token", "valid-claims-second-rule", with_mode(1, &serde_json::to_vec(&arr).expect("json")));
    write(
        "oidc_token",
        "valid-header-payload",
        with_mode(2, &[&br#"{"alg":"ES256","kid":"ec-1"}"#[..], b"\n", &claims_json].concat()),
    );
    write(
        "oidc_token",
        "invalid-alg-none",
        with_mode(2, &[&br#"{"alg":"none"}"#[..], b"\n", &claims_json].concat()),
    );
    write(
        "oidc_token",
        "invalid-untrusted",
        with_mode(3, &[&br#"{"alg":"ES256","kid":"ec-1"}"#[..], b"\n", &claims_json].concat()),
    );

    // Policy inputs: a stored body (mode 0: unverified, 2: verified) or a predicate (1, 3).
    write("policy_input", "valid-body", with_mode(2, &e_prov.to_json()));
    write("policy_input", "valid-bundle", with_mode(0, &b_prov.to_json()));
    write("policy_input", "valid-predicate", with_mode(3, &serde_json::to_vec(&provenance()).expect("json")));
    let mut deps = provenance();
    deps["buildDefinition"]["resolvedDependencies"] =
        json!([{"name": "dataset:train", "digest": {"sha256": 7}}, 1, null]);
    write("policy_input", "valid-odd-predicate", with_mode(1, &serde_json::to_vec(&deps).expect("json")));
    println!("seeds written under fuzz/corpus/");
}
