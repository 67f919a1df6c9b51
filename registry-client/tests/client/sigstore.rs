//! The real Sigstore bundles in tests/fixtures/sigstore verify offline with our code, name their
//! signers, and fail when one artifact byte changes or another signer is required.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use registry_client::sigstore::{Signer, verify_sigstore_bundle};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigstore").join(p)
}

fn text(p: &str) -> String {
    std::fs::read_to_string(fixture(p)).unwrap()
}

fn bytes(p: &str) -> Vec<u8> {
    std::fs::read(fixture(p)).unwrap()
}

fn flip(mut v: Vec<u8>) -> Vec<u8> {
    let i = v.len() / 2;
    v[i] ^= 1;
    v
}

#[test]
fn keyless_cosign_blob_signature() {
    let root = text("public-good-trusted_root.json");
    let who = Signer::Identity {
        identity: "w.vollprecht@gmail.com".into(),
        issuer: "https://github.com/login/oauth".into(),
    };
    let r = verify_sigstore_bundle(
        &text("cosign-v3-blob.sigstore.json"),
        &bytes("cosign-v3-blob.txt"),
        &root,
        &who,
    )
    .unwrap();
    assert_eq!(r.identity.as_deref(), Some("w.vollprecht@gmail.com"));
    assert!(r.integrated_time.is_some());
    assert!(
        verify_sigstore_bundle(
            &text("cosign-v3-blob.sigstore.json"),
            &flip(bytes("cosign-v3-blob.txt")),
            &root,
            &who
        )
        .is_err()
    );
    let other = Signer::Identity {
        identity: "someone@example.com".into(),
        issuer: "https://github.com/login/oauth".into(),
    };
    assert!(
        verify_sigstore_bundle(
            &text("cosign-v3-blob.sigstore.json"),
            &bytes("cosign-v3-blob.txt"),
            &root,
            &other
        )
        .is_err()
    );
}

#[test]
fn github_actions_dsse_attestation() {
    let root = text("public-good-trusted_root.json");
    let workflow =
        "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
    let who = Signer::Identity {
        identity: workflow.into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
    };
    let pkg = "signed-package-2.1.0-hb0f4dca_0.conda";
    let r =
        verify_sigstore_bundle(&text("conda-attestation.sigstore.json"), &bytes(pkg), &root, &who).unwrap();
    assert_eq!(
        r.predicate_type.as_deref(),
        Some("https://schemas.conda.org/attestations-publish-1.schema.json")
    );
    assert!(
        verify_sigstore_bundle(&text("conda-attestation.sigstore.json"), &flip(bytes(pkg)), &root, &who)
            .is_err()
    );
    let wrong_issuer =
        Signer::Identity { identity: workflow.into(), issuer: "https://accounts.google.com".into() };
    assert!(
        verify_sigstore_bundle(&text("conda-attestation.sigstore.json"), &bytes(pkg), &root, &wrong_issuer)
            .is_err()
    );
}

#[test]
fn key_based_bundle_with_a_rekor_entry() {
    let root = text("public-good-trusted_root.json");
    let key = Signer::Key(text("managed-key/key.pub"));
    verify_sigstore_bundle(
        &text("managed-key/bundle.sigstore.json"),
        &bytes("managed-key/artifact.txt"),
        &root,
        &key,
    )
    .unwrap();
    assert!(
        verify_sigstore_bundle(
            &text("managed-key/bundle.sigstore.json"),
            &flip(bytes("managed-key/artifact.txt")),
            &root,
            &key
        )
        .is_err()
    );
    let stranger = registry_core::attest::keys::SigningKey::from_seed(
        registry_core::attest::keys::KeyKind::P256,
        &[9; 32],
    )
    .unwrap();
    let wrong = Signer::Key(stranger.public().to_pem());
    assert!(
        verify_sigstore_bundle(
            &text("managed-key/bundle.sigstore.json"),
            &bytes("managed-key/artifact.txt"),
            &root,
            &wrong
        )
        .is_err()
    );
}
