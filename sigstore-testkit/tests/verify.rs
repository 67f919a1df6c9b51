//! Bundles from a test deployment verify with `registry_core::keyless` (sigstore-verify underneath),
//! and each way of breaking one is refused for its own reason.
use std::collections::BTreeMap;

use registry_core::keyless::{self, CLAIM_NAMES, Reason, SubjectMatch, TrustRoot, TrustedIdentity, Verified};
use sigstore_testkit::{CLAIMS, Deployment, GITHUB_ACTIONS_ISSUER, Identity, TlogEvidence, github_workflow};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::Bundle;
use sigstore_verify::{VerificationPolicy, Verifier};

const ARTIFACT: &[u8] = b"model weights";

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn statement(artifact: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"model","digest":{{"sha256":"{}"}}}}],"predicateType":"https://example.com/predicate/v1","predicate":{{"note":"value"}}}}"#,
        sha256_hex(artifact)
    )
    .into_bytes()
}

fn root(d: &Deployment) -> TrustRoot {
    TrustRoot::from_json("testkit", &d.trusted_root_json()).expect("trusted root parses")
}

/// The trusted identity naming exactly `who` (issuer, subject, all its claims).
fn trusting(who: &Identity) -> TrustedIdentity {
    let claims: BTreeMap<String, String> = who.claims.iter().cloned().collect();
    TrustedIdentity::new(&who.issuer, SubjectMatch::Exact(who.subject.clone()), claims, None)
        .expect("identity")
}

fn verify(
    d: &Deployment,
    who: &Identity,
    bundle: &str,
    artifact: &[u8],
) -> Result<Verified, keyless::KeylessError> {
    keyless::verify(bundle, artifact, &[root(d)], &[trusting(who)])
}

fn refusal(d: &Deployment, who: &Identity, bundle: &str, artifact: &[u8]) -> Reason {
    match verify(d, who, bundle, artifact) {
        Ok(v) => panic!("expected a refusal, verified {v:?}"),
        Err(e) => {
            eprintln!("refused: {e}");
            e.reason().expect("a refusal, not an input error")
        }
    }
}

fn expect_signer(v: &Verified, who: &Identity) {
    assert_eq!(v.signer.issuer, who.issuer);
    assert_eq!(v.signer.subject, who.subject);
    let claims: BTreeMap<String, String> = who.claims.iter().cloned().collect();
    assert_eq!(v.signer.claims, claims);
    assert_eq!(v.trust_root, "testkit");
    assert!(v.signed_at.is_some(), "the SET proves a signing time");
}

#[test]
fn claim_table_matches_registry_core() {
    let names: Vec<&str> = CLAIMS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, CLAIM_NAMES);
}

#[test]
fn message_signature_from_github_workflow_verifies() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    assert_eq!(who.subject, "https://github.com/acme/fraud/.github/workflows/train.yml@refs/heads/main");
    let bundle = d.sign_message(&who, ARTIFACT);
    let v = verify(&d, &who, &bundle, ARTIFACT).expect("verifies");
    expect_signer(&v, &who);
    assert_eq!(v.signer.claims.len(), 15, "every GitHub claim but deployment_environment");
    assert_eq!(v.predicate_type, None);
}

#[test]
fn dsse_from_github_workflow_verifies() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "release.yml", "refs/tags/v1.2.0");
    let bundle = d.sign_dsse(&who, "application/vnd.in-toto+json", &statement(ARTIFACT));
    let v = verify(&d, &who, &bundle, ARTIFACT).expect("verifies");
    expect_signer(&v, &who);
    assert_eq!(v.predicate_type.as_deref(), Some("https://example.com/predicate/v1"));
}

#[test]
fn email_identity_with_a_few_claims_verifies() {
    let d = Deployment::new();
    let who = Identity::new("https://accounts.example.com", "alice@example.com")
        .with_claim("deployment_environment", "production")
        .with_claim("build_trigger", "workflow_dispatch");
    let bundle = d.sign_message(&who, ARTIFACT);
    expect_signer(&verify(&d, &who, &bundle, ARTIFACT).expect("verifies"), &who);
}

#[test]
fn sigstore_verify_reports_every_check_done() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let root = TrustedRoot::from_json(&d.trusted_root_json()).expect("root");
    let verifier = Verifier::new(&root).expect("verifier");
    let policy = VerificationPolicy::new(who.subject.as_str(), GITHUB_ACTIONS_ISSUER);
    for bundle in [
        d.sign_message(&who, ARTIFACT),
        d.sign_dsse(&who, "application/vnd.in-toto+json", &statement(ARTIFACT)),
    ] {
        let bundle = Bundle::from_json(&bundle).expect("bundle parses");
        let r = verifier.verify(ARTIFACT, &bundle, &policy).expect("verifies");
        assert!(r.certificate_verified() && r.sct_verified() && r.tlog_verified());
        assert!(r.integrated_time().is_some());
    }
}

#[test]
fn expired_certificate_still_verifies_through_the_log_time() {
    // Sigstore's point: the log proves it was signed while the short-lived certificate was valid.
    let d = Deployment::new();
    let now = time::OffsetDateTime::now_utc();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main")
        .valid_between(now - time::Duration::hours(2), now - time::Duration::hours(1));
    let bundle = d.sign_message(&who, ARTIFACT);
    expect_signer(&verify(&d, &who, &bundle, ARTIFACT).expect("verifies"), &who);
}

#[test]
fn another_deployments_root_fails_on_its_log_key_first() {
    // sigstore-verify authenticates the SET (step 0, establishing the signing time) before it
    // builds the chain, so a wholly foreign root is refused for its Rekor key.
    let (d, other) = (Deployment::new(), Deployment::new());
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    assert_eq!(refusal(&other, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::TlogProof);
}

#[test]
fn another_deployments_ca_is_a_chain_failure() {
    // The same logs, another deployment's Fulcio CA.
    let (d, other) = (Deployment::new(), Deployment::new());
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let mut json: serde_json::Value = serde_json::from_str(&d.trusted_root_json()).expect("JSON");
    let foreign: serde_json::Value = serde_json::from_str(&other.trusted_root_json()).expect("JSON");
    json["certificateAuthorities"] = foreign["certificateAuthorities"].clone();
    let root = TrustRoot::from_json("foreign-ca", &json.to_string()).expect("root");
    let e = keyless::verify(&d.sign_message(&who, ARTIFACT), ARTIFACT, &[root], &[trusting(&who)])
        .expect_err("refused");
    assert_eq!(e.reason(), Some(Reason::CertificateChain), "{e}");
}

#[test]
fn another_deployments_ct_log_is_an_sct_failure() {
    let (d, other) = (Deployment::new(), Deployment::new());
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let mut json: serde_json::Value = serde_json::from_str(&d.trusted_root_json()).expect("JSON");
    let foreign: serde_json::Value = serde_json::from_str(&other.trusted_root_json()).expect("JSON");
    json["ctlogs"] = foreign["ctlogs"].clone();
    let root = TrustRoot::from_json("foreign-ct", &json.to_string()).expect("root");
    let e = keyless::verify(&d.sign_message(&who, ARTIFACT), ARTIFACT, &[root], &[trusting(&who)])
        .expect_err("refused");
    assert_eq!(e.reason(), Some(Reason::Sct), "{e}");
}

#[test]
fn missing_sct_is_an_sct_failure() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main").without_sct();
    assert_eq!(refusal(&d, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::Sct);
}

#[test]
fn no_log_entry_is_malformed() {
    // sigstore-bundle rejects a v0.3 bundle without a log entry or timestamp before any crypto
    // (MissingSigningTimeEvidence), which registry_core maps to `malformed`.
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main").with_tlog(TlogEvidence::None);
    assert_eq!(refusal(&d, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::Malformed);
}

#[test]
fn proof_without_promise_has_no_signing_time() {
    // Only a SET authenticates integratedTime; with no TSA there is then no verified time.
    let d = Deployment::new();
    let who =
        github_workflow("acme/fraud", "train.yml", "refs/heads/main").with_tlog(TlogEvidence::ProofOnly);
    assert_eq!(refusal(&d, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::NoSigningTime);
}

#[test]
fn promise_without_proof_is_malformed() {
    // A v0.3 bundle must carry an inclusion proof (MissingInclusionProof).
    let d = Deployment::new();
    let who =
        github_workflow("acme/fraud", "train.yml", "refs/heads/main").with_tlog(TlogEvidence::PromiseOnly);
    assert_eq!(refusal(&d, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::Malformed);
}

#[test]
fn expired_certificate_without_log_entry_is_malformed() {
    let d = Deployment::new();
    let now = time::OffsetDateTime::now_utc();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main")
        .valid_between(now - time::Duration::hours(2), now - time::Duration::hours(1))
        .with_tlog(TlogEvidence::None);
    assert_eq!(refusal(&d, &who, &d.sign_message(&who, ARTIFACT), ARTIFACT), Reason::Malformed);
}

#[test]
fn tampered_inclusion_proof_is_a_tlog_failure() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let mut bundle: serde_json::Value =
        serde_json::from_str(&d.sign_message(&who, ARTIFACT)).expect("bundle JSON");
    let hash = &mut bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0];
    let flipped = hash.as_str().expect("a hash").replacen(|c: char| c != 'A', "A", 1);
    *hash = flipped.into();
    assert_eq!(refusal(&d, &who, &bundle.to_string(), ARTIFACT), Reason::TlogProof);
}

#[test]
fn flipped_payload_byte_is_a_signature_failure() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let mut bundle: serde_json::Value =
        serde_json::from_str(&d.sign_dsse(&who, "application/vnd.in-toto+json", &statement(ARTIFACT)))
            .expect("bundle JSON");
    // Still a valid statement about the same artifact, one predicate byte changed.
    let tampered = String::from_utf8(statement(ARTIFACT)).expect("UTF-8").replace("value", "valuf");
    use base64::Engine as _;
    bundle["dsseEnvelope"]["payload"] = base64::engine::general_purpose::STANDARD.encode(tampered).into();
    assert_eq!(refusal(&d, &who, &bundle.to_string(), ARTIFACT), Reason::Signature);
}

#[test]
fn wrong_artifact_is_a_subject_mismatch() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let message = d.sign_message(&who, ARTIFACT);
    assert_eq!(refusal(&d, &who, &message, b"other weights"), Reason::SubjectMismatch);
    let dsse = d.sign_dsse(&who, "application/vnd.in-toto+json", &statement(ARTIFACT));
    assert_eq!(refusal(&d, &who, &dsse, b"other weights"), Reason::SubjectMismatch);
}

#[test]
fn untrusted_identity_is_refused_as_such() {
    let d = Deployment::new();
    let signer = github_workflow("acme/fraud-evil", "train.yml", "refs/heads/main");
    let trusted = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let bundle = d.sign_message(&signer, ARTIFACT);
    assert_eq!(refusal(&d, &trusted, &bundle, ARTIFACT), Reason::UntrustedIdentity);
    // Same subject and issuer, a claim that differs.
    let on_main = trusted.clone().with_claim("runner_environment", "self-hosted");
    let bundle = d.sign_message(&trusted, ARTIFACT);
    assert_eq!(refusal(&d, &on_main, &bundle, ARTIFACT), Reason::UntrustedIdentity);
}

#[test]
fn trust_config_embeds_the_trusted_root() {
    let d = Deployment::new();
    let config: serde_json::Value = serde_json::from_str(&d.client_trust_config_json()).expect("JSON");
    let root: serde_json::Value = serde_json::from_str(&d.trusted_root_json()).expect("JSON");
    assert_eq!(config["mediaType"], "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json");
    assert_eq!(config["trustedRoot"], root);
    assert_eq!(config["signingConfig"]["mediaType"], "application/vnd.dev.sigstore.signingconfig.v0.2+json");
}

#[test]
fn evidence_beyond_the_bound_is_refused_before_any_signature_check() {
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let bundle = d.sign_message(&who, ARTIFACT);
    let mut b: serde_json::Value = serde_json::from_str(&bundle).expect("json");
    let entry = b["verificationMaterial"]["tlogEntries"][0].clone();
    b["verificationMaterial"]["tlogEntries"] =
        serde_json::Value::Array(vec![entry; keyless::MAX_EVIDENCE + 1]);
    assert_eq!(refusal(&d, &who, &b.to_string(), ARTIFACT), Reason::Malformed);
}

#[test]
fn an_untrusted_signer_is_refused_by_name_before_the_cryptography() {
    // The pre-check reads the certificate's names only: a bundle from someone not trusted is refused
    // as untrusted_identity even when nothing else about it would verify (no root installed).
    let d = Deployment::new();
    let who = github_workflow("acme/fraud", "train.yml", "refs/heads/main");
    let stranger = github_workflow("acme/fraud", "deploy.yml", "refs/heads/main");
    let bundle = d.sign_message(&stranger, ARTIFACT);
    let e = keyless::verify(&bundle, ARTIFACT, &[] as &[TrustRoot], &[trusting(&who)]).expect_err("refused");
    assert_eq!(e.reason(), Some(Reason::UntrustedIdentity), "{e}");
    assert!(e.to_string().contains("deploy.yml"), "{e}");
}
