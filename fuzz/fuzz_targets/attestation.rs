//! Attestation verification as the server runs it on a push and the client on `verify`: attest::parse
//! and attest::verify, with a fixed set of trusted keys and a fixed version, never panic on any bytes
//! (a keyless bundle, with no identity trusted, is always refused as keyless).
//! A verified attestation parsed, was signed over PAE by a key trusted for its predicate type, and is
//! bound by a subject it carries; every refusal is one of the documented errors.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::attest::dsse::pae;
use registry_core::attest::sigstore_bundle::is_sigstore_bundle_media_type;
use registry_core::attest::{self, AttestError, Binding, Format, bind};
use registry_fuzz::fixtures::{MANIFEST, TRUSTED, target};

fuzz_target!(|data: &[u8]| {
    let parsed = attest::parse(data);
    let verified = attest::verify(data, &TRUSTED, target());
    let p = match parsed {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(verified.err(), Some(e), "verify and parse refuse differently");
            return;
        }
    };
    let probe: serde_json::Value = serde_json::from_slice(data).expect("parsed input is JSON");
    let bundle = probe.get("mediaType").and_then(|m| m.as_str()).is_some_and(is_sigstore_bundle_media_type);
    assert_eq!(p.format == Format::SigstoreBundle, bundle, "format is not told by mediaType");
    assert!(!p.envelope.signatures.is_empty());
    // Keyless bundles are judged by identities; with keys alone (no identity) none verifies.
    if p.keyless {
        assert!(matches!(verified, Err(AttestError::Keyless { .. })), "keyless with keys only: {verified:?}");
        return;
    }
    match verified {
        Ok(v) => {
            assert_eq!(v.format, p.format);
            assert_eq!(v.statement, p.statement);
            let t = TRUSTED.iter().find(|t| t.key.key_id() == v.signer).expect("signer is a trusted key");
            assert!(
                t.predicate_types.is_empty() || t.predicate_types.contains(&v.statement.predicate_type),
                "signer not trusted for {}",
                v.statement.predicate_type
            );
            let msg = pae(&p.envelope.payload_type, &p.envelope.payload);
            assert!(
                p.envelope.signatures.iter().any(|s| t.key.verify(&msg, &s.sig)),
                "verified without a signature by the signer"
            );
            assert_eq!(bind(&v.statement, target()), Ok((v.binding, v.subject)));
            if v.binding == Binding::Manifest {
                assert_eq!(v.subject, MANIFEST.digest());
            }
        }
        Err(e) => assert!(
            matches!(
                e,
                AttestError::UntrustedSigner
                    | AttestError::PredicateNotAllowed { .. }
                    | AttestError::SubjectMismatch
                    | AttestError::OmsMismatch(_)
            ),
            "a parsed attestation refused with {e:?}"
        ),
    }
});
