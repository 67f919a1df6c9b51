//! Helpers shared by the fuzz targets in `fuzz_targets/` (one target per parser; see docs/robustness.md).
#![forbid(unsafe_code)]

use serde_json::Value;

/// The input as text, or `None` when it is not UTF-8 (the text parsers only ever see `&str`).
pub fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// JSON equality as RFC 8785 sees it: every number is an IEEE double, so `1`, `1.0` and `-0` compare
/// by value (serde_json keeps integers and floats apart, which canonical form deliberately erases).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// RFC 8785 bytes of `value`, asserting they parse back to an equal value and are a fixed point.
///
/// Panics (a fuzz crash) when canonicalization fails or either property breaks.
pub fn check_canonical(value: &Value) -> Vec<u8> {
    let bytes = registry_core::canonical::to_vec(value).expect("a parsed JSON value canonicalizes");
    let back: Value = serde_json::from_slice(&bytes).expect("canonical bytes parse");
    assert!(json_eq(&back, value), "canonical bytes change the value: {}", String::from_utf8_lossy(&bytes));
    let again = registry_core::canonical::to_vec(&back).expect("re-parsed value canonicalizes");
    assert_eq!(again, bytes, "canonical bytes are not a fixed point");
    bytes
}

/// Fixed keys, a fixed version and a fixed log, shared by the targets that verify signatures and by
/// `examples/seeds.rs`, which signs the committed seeds with the same keys (so that the fuzzer starts
/// from inputs that verify and can reach the checks behind the signature).
pub mod fixtures {
    use std::sync::LazyLock;

    use registry_core::attest::keys::{KeyKind, SigningKey};
    use registry_core::attest::predicates::{SLSA_PROVENANCE_V1, SLSA_VSA_V1};
    use registry_core::attest::{Target, TrustedKey};
    use registry_core::tlog::note::{NoteSigner, NoteVerifier};
    use registry_core::{Digest, FileEntry, Manifest, ModelName};

    /// The model every fixed attestation is about.
    pub const MODEL: &str = "fraud/detector";
    /// Its version label.
    pub const VERSION: &str = "1.4.0";
    /// The log's origin (and its key's name).
    pub const LOG_ORIGIN: &str = "registry.example/log";

    /// The signing keys: P-256 trusted for any predicate, Ed25519 only for SLSA provenance, and a
    /// P-256 key trusted only for VSAs (as the server's own key is).
    pub static SIGNERS: LazyLock<[SigningKey; 3]> = LazyLock::new(|| {
        let key = |kind, seed| SigningKey::from_seed(kind, &[seed; 32]).expect("a fixed seed is a valid key");
        [key(KeyKind::P256, 11), key(KeyKind::Ed25519, 12), key(KeyKind::P256, 13)]
    });

    /// The keys a verifier trusts (the public halves of [`SIGNERS`], with their predicate types).
    pub static TRUSTED: LazyLock<Vec<TrustedKey>> = LazyLock::new(|| {
        vec![
            TrustedKey::any(SIGNERS[0].public().clone()),
            TrustedKey { key: SIGNERS[1].public().clone(), predicate_types: vec![SLSA_PROVENANCE_V1.into()] },
            TrustedKey { key: SIGNERS[2].public().clone(), predicate_types: vec![SLSA_VSA_V1.into()] },
        ]
    });

    /// A key nobody trusts.
    pub static STRANGER: LazyLock<SigningKey> =
        LazyLock::new(|| SigningKey::from_seed(KeyKind::Ed25519, &[14; 32]).expect("valid seed"));

    /// The model name.
    pub static MODEL_NAME: LazyLock<ModelName> =
        LazyLock::new(|| ModelName::parse(MODEL).expect("a fixed name parses"));

    /// The version's files (one in a directory that OMS `ignore_paths` can leave out).
    pub static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
        let file = |path: &str, body: &[u8]| FileEntry {
            path: path.into(),
            size: body.len() as u64,
            digest: Digest::of(body),
        };
        Manifest::new(vec![
            file("config.json", b"{}"),
            file("weights/model.bin", b"weights"),
            file(".git/HEAD", b"ref: refs/heads/main\n"),
        ])
        .expect("a fixed manifest is valid")
    });

    /// The version attestations must be about.
    pub fn target() -> Target<'static> {
        Target { model: &MODEL_NAME, manifest: &MANIFEST }
    }

    /// The log's checkpoint signer.
    pub static LOG_SIGNER: LazyLock<NoteSigner> =
        LazyLock::new(|| NoteSigner::new(LOG_ORIGIN, &[21; 32]).expect("a fixed name is valid"));

    /// The log's verifier key, as an auditor holds it.
    pub fn log_key() -> &'static NoteVerifier {
        LOG_SIGNER.verifier()
    }
}
