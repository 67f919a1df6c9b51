//! Third-party Sigstore bundles, through the client's own `registry verify-bundle` code
//! (registry-client/src/sigstore.rs, compiled here as a module so that the fuzz build needs no client
//! crate) with the public-good trusted root and the real bundles of tests/fixtures/sigstore. The first
//! byte picks the case (0: keyless cosign blob, 1: GitHub Actions DSSE attestation, 2: key-based with a
//! Rekor entry), the rest is the bundle JSON. verify_sigstore_bundle never panics; a bundle it accepts names
//! the signer that was asked for, and no longer verifies once the artifact changes by one byte.
#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// What sigstore.rs returns on failure (`registry_client::ClientError`, the variants it uses).
#[derive(Debug)]
#[allow(dead_code)]
pub enum ClientError {
    Verify(String),
    Input(String),
    Io(String),
}

impl ClientError {
    fn io(p: &Path) -> impl Fn(std::io::Error) -> ClientError + '_ {
        move |e| ClientError::Io(format!("{}: {e}", p.display()))
    }
}

#[allow(dead_code, clippy::all)]
#[path = "../../registry-client/src/sigstore.rs"]
mod sigstore;

use sigstore::{Signer, verify_sigstore_bundle};

fn fixture(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigstore");
    std::fs::read(dir.join(name)).expect("sigstore fixture")
}

struct Case {
    artifact: Vec<u8>,
    signer: Signer,
}

static ROOT: LazyLock<String> =
    LazyLock::new(|| String::from_utf8(fixture("public-good-trusted_root.json")).expect("utf8"));

static CASES: LazyLock<[Case; 3]> = LazyLock::new(|| {
    [
        Case {
            artifact: fixture("cosign-v3-blob.txt"),
            signer: Signer::Identity {
                identity: "w.vollprecht@gmail.com".into(),
                issuer: "https://github.com/login/oauth".into(),
            },
        },
        Case {
            artifact: fixture("signed-package-2.1.0-hb0f4dca_0.conda"),
            signer: Signer::Identity {
                identity: "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main".into(),
                issuer: "https://token.actions.githubusercontent.com".into(),
            },
        },
        Case {
            artifact: fixture("managed-key/artifact.txt"),
            signer: Signer::Key(String::from_utf8(fixture("managed-key/key.pub")).expect("utf8")),
        },
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(bundle) = std::str::from_utf8(rest) else { return };
    let case = &CASES[usize::from(which % 3)];
    let Ok(report) = verify_sigstore_bundle(bundle, &case.artifact, &ROOT, &case.signer) else { return };
    if let Signer::Identity { identity, issuer } = &case.signer {
        assert_eq!(report.identity.as_deref(), Some(identity.as_str()), "accepted another identity");
        assert_eq!(report.issuer.as_deref(), Some(issuer.as_str()), "accepted another issuer");
    }
    let mut changed = case.artifact.clone();
    changed[0] ^= 1;
    assert!(
        verify_sigstore_bundle(bundle, &changed, &ROOT, &case.signer).is_err(),
        "a bundle verifies for a changed artifact"
    );
});
