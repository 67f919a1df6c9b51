//! Keyless trust (registry_core::keyless) on the real public-good Sigstore bundles in
//! tests/fixtures/sigstore: the signer and its Fulcio claims are extracted, trusted identities match
//! by exact issuer, anchored subject pattern, claims and root, and every refusal has its reason.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use registry_core::keyless::{Reason, SubjectMatch, TrustRoot, TrustedIdentity, verify};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigstore").join(p)
}

fn text(p: &str) -> String {
    std::fs::read_to_string(fixture(p)).unwrap()
}

fn bytes(p: &str) -> Vec<u8> {
    std::fs::read(fixture(p)).unwrap()
}

fn public_good() -> Vec<TrustRoot> {
    vec![TrustRoot::from_json("public-good", &text("public-good-trusted_root.json")).unwrap()]
}

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str =
    "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
const PKG: &str = "signed-package-2.1.0-hb0f4dca_0.conda";
const GH_BUNDLE: &str = "conda-attestation.sigstore.json";

fn identity(issuer: &str, pattern: &str, claims: &[(&str, &str)], root: Option<&str>) -> TrustedIdentity {
    let claims: BTreeMap<String, String> =
        claims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TrustedIdentity::new(issuer, SubjectMatch::regex(pattern).unwrap(), claims, root.map(String::from))
        .unwrap()
}

fn reason(bundle: &str, artifact: &[u8], roots: &[TrustRoot], ids: &[TrustedIdentity]) -> Reason {
    verify(bundle, artifact, roots, ids).unwrap_err().reason().unwrap()
}

#[test]
fn a_github_actions_attestation_names_its_workflow_and_claims() {
    let roots = public_good();
    let trusted = identity(
        GITHUB,
        r"https://github\.com/prefix-dev/sigstore-example/\.github/workflows/action\.yaml@refs/heads/main",
        &[("source_repository_ref", "refs/heads/main")],
        Some("public-good"),
    );
    let v = verify(&text(GH_BUNDLE), &bytes(PKG), &roots, &[trusted]).unwrap();
    assert_eq!((v.signer.issuer.as_str(), v.signer.subject.as_str()), (GITHUB, WORKFLOW));
    assert_eq!(v.signer.claims["source_repository_uri"], "https://github.com/prefix-dev/sigstore-example");
    assert_eq!(v.signer.claims["source_repository_ref"], "refs/heads/main");
    assert_eq!(v.signer.claims["build_config_uri"], WORKFLOW);
    assert_eq!(v.signer.claims["runner_environment"], "github-hosted");
    assert_eq!(v.trust_root, "public-good");
    assert!(v.signed_at.is_some(), "the Rekor entry proves when it was signed");
    assert_eq!(
        v.predicate_type.as_deref(),
        Some("https://schemas.conda.org/attestations-publish-1.schema.json")
    );
}

#[test]
fn identities_match_the_whole_subject_the_exact_issuer_every_claim_and_their_root() {
    let roots = public_good();
    let (b, a) = (text(GH_BUNDLE), bytes(PKG));
    let ok = |ids: &[TrustedIdentity]| verify(&b, &a, &roots, ids).is_ok();
    assert!(ok(&[identity(GITHUB, r"https://github\.com/prefix-dev/.*@refs/heads/main", &[], None)]));
    // Anchored: a pattern naming a prefix of the subject, or of the repository, does not match.
    assert!(!ok(&[identity(GITHUB, r"https://github\.com/prefix-dev/sigstore-example", &[], None)]));
    assert!(!ok(&[identity(GITHUB, r"github\.com/prefix-dev/.*", &[], None)]));
    assert!(!ok(&[identity(GITHUB, r"https://github\.com/prefix-dev/sigstore-ex", &[], None)]));
    // A pattern cannot close the anchoring group and add an alternative that matches anything.
    assert!(SubjectMatch::regex(r"https://github\.com/acme/x)|(?:.*").is_err());
    assert!(SubjectMatch::regex(r"x)|(.*").is_err());
    // Another issuer, another ref claim, a root the identity is not tied to.
    assert!(!ok(&[identity("https://accounts.google.com", ".*", &[], None)]));
    assert!(!ok(&[identity(GITHUB, ".*", &[("source_repository_ref", "refs/heads/release")], None)]));
    assert!(!ok(&[identity(GITHUB, ".*", &[], Some("private-sigstore"))]));
    // One trusted identity among several is enough.
    assert!(ok(&[
        identity("https://accounts.google.com", ".*", &[], None),
        identity(GITHUB, ".*", &[("source_repository_owner_uri", "https://github.com/prefix-dev")], None),
    ]));
    assert_eq!(reason(&b, &a, &roots, &[identity(GITHUB, "nobody", &[], None)]), Reason::UntrustedIdentity);
    let e = verify(&b, &a, &roots, &[]).unwrap_err().to_string();
    assert!(e.contains(WORKFLOW) && e.contains("untrusted_identity"), "{e}");
}

#[test]
fn an_exact_subject_is_compared_as_a_string_not_a_pattern() {
    let roots = public_good();
    let exact =
        |s: &str| TrustedIdentity::new(GITHUB, SubjectMatch::Exact(s.into()), BTreeMap::new(), None).unwrap();
    assert!(verify(&text(GH_BUNDLE), &bytes(PKG), &roots, &[exact(WORKFLOW)]).is_ok());
    let dotted = WORKFLOW.replace("action.yaml", "action.yam.");
    assert!(verify(&text(GH_BUNDLE), &bytes(PKG), &roots, &[exact(&dotted)]).is_err());
}

#[test]
fn a_cosign_blob_signature_by_an_email_identity() {
    let roots = public_good();
    let who = identity("https://github.com/login/oauth", r"w\.vollprecht@gmail\.com", &[], None);
    let v = verify(
        &text("cosign-v3-blob.sigstore.json"),
        &bytes("cosign-v3-blob.txt"),
        &roots,
        std::slice::from_ref(&who),
    )
    .unwrap();
    assert_eq!(v.signer.subject, "w.vollprecht@gmail.com");
    assert!(v.signer.claims.is_empty(), "a human identity carries no CI claims");
    assert_eq!(v.predicate_type, None);
}

#[test]
fn every_changed_byte_is_refused_with_its_reason() {
    let roots = public_good();
    let any =
        [identity(GITHUB, ".*", &[], None), identity("https://github.com/login/oauth", ".*", &[], None)];
    // The artifact: one bit anywhere.
    let pkg = bytes(PKG);
    for i in [0, pkg.len() / 2, pkg.len() - 1] {
        let mut a = pkg.clone();
        a[i] ^= 1;
        assert_eq!(reason(&text(GH_BUNDLE), &a, &roots, &any), Reason::SubjectMismatch, "byte {i}");
    }
    let blob = bytes("cosign-v3-blob.txt");
    let mut a = blob.clone();
    a[0] ^= 1;
    let r = reason(&text("cosign-v3-blob.sigstore.json"), &a, &roots, &any);
    assert!(matches!(r, Reason::Signature | Reason::SubjectMismatch), "{r:?}");

    // The bundle: the signature, the Rekor inclusion proof, the certificate.
    let bundle: serde_json::Value = serde_json::from_str(&text(GH_BUNDLE)).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = bundle.clone();
        f(&mut b);
        b.to_string()
    };
    let flip_b64 = |v: &mut serde_json::Value| {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        let mut raw = e.decode(v.as_str().unwrap()).unwrap();
        let i = raw.len() / 2;
        raw[i] ^= 1;
        *v = serde_json::Value::String(e.encode(raw));
    };
    let sig = edit(&|b| flip_b64(&mut b["dsseEnvelope"]["signatures"][0]["sig"]));
    assert_eq!(reason(&sig, &pkg, &roots, &any), Reason::Signature);
    let proof =
        edit(&|b| flip_b64(&mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0]));
    assert_eq!(reason(&proof, &pkg, &roots, &any), Reason::TlogProof);
    let cert = edit(&|b| flip_b64(&mut b["verificationMaterial"]["certificate"]["rawBytes"]));
    let r = reason(&cert, &pkg, &roots, &any);
    assert!(matches!(r, Reason::CertificateChain | Reason::Malformed | Reason::Signature), "{r:?}");
    assert_eq!(reason("{}", &pkg, &roots, &any), Reason::Malformed);
}

#[test]
fn a_root_the_certificate_does_not_chain_to_is_passed_over() {
    // A second root (the managed-key fixture's root is the same public-good file, so an empty-CA
    // root stands in for a private deployment): the bundle still verifies through public-good, and
    // through the private root alone it fails its chain.
    let mut private: serde_json::Value =
        serde_json::from_str(&text("public-good-trusted_root.json")).unwrap();
    private["certificateAuthorities"] = serde_json::json!([]);
    let private = TrustRoot::from_json("private", &private.to_string()).unwrap();
    let any = [identity(GITHUB, ".*", &[], None)];
    let mut roots = vec![private];
    assert_eq!(reason(&text(GH_BUNDLE), &bytes(PKG), &roots, &any), Reason::CertificateChain);
    roots.extend(public_good());
    let v = verify(&text(GH_BUNDLE), &bytes(PKG), &roots, &any).unwrap();
    assert_eq!(v.trust_root, "public-good");
    assert_eq!(reason(&text(GH_BUNDLE), &bytes(PKG), &[], &any), Reason::CertificateChain);
}

#[test]
fn identity_rules_are_checked_when_made() {
    assert!(SubjectMatch::regex("(unclosed").is_err());
    let claims = BTreeMap::from([("repo".to_string(), "x".to_string())]);
    assert!(TrustedIdentity::new(GITHUB, SubjectMatch::Exact("x".into()), claims, None).is_err());
    assert!(TrustedIdentity::new("", SubjectMatch::Exact("x".into()), BTreeMap::new(), None).is_err());
    let p = TrustedIdentity::parse_pair("https://issuer.example=https://a=b/.*").unwrap();
    assert_eq!(p.issuer, "https://issuer.example", "split at the first =");
    assert!(TrustedIdentity::parse_pair("no-equals-sign").is_err());
}
