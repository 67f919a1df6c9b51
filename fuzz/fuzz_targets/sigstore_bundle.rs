//! Sigstore bundles (core's key-based reading): SigstoreBundle::parse never panics; what it accepts has a
//! bundle media type, survives its own JSON unchanged, keeps its keyless verdict, and its envelope
//! (when it has one) is the one a bare-envelope parse of its JSON gives.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::attest::dsse::Envelope;
use registry_core::attest::sigstore_bundle::{SigstoreBundle, is_sigstore_bundle_media_type};

fuzz_target!(|data: &[u8]| {
    let Ok(b) = SigstoreBundle::parse(data) else { return };
    assert!(is_sigstore_bundle_media_type(&b.media_type), "accepted media type {:?}", b.media_type);
    let json = b.to_json();
    let back = SigstoreBundle::parse(&json).expect("a bundle's own JSON parses");
    assert_eq!(back, b, "bundle changes through its JSON");
    assert_eq!(back.to_json(), json, "bundle JSON is not a fixed point");
    assert_eq!(back.is_keyless(), b.is_keyless());
    if let Some(env) = &b.dsse_envelope {
        let again = Envelope::parse(&env.to_json()).expect("the bundle's envelope parses alone");
        assert_eq!(&again, env);
    }
});
