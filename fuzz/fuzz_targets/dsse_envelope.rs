//! DSSE envelopes: Envelope::parse and signature checking never panic; what parses survives its own
//! JSON unchanged, and a signature that verifies still verifies after the round trip (signatures are
//! over the exact decoded payload, never a re-serialization) and only with the key that made it.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::attest::dsse::{Envelope, MAX_SIGNATURES, decode_b64, pae};
use registry_core::attest::keys::PublicKey;
use registry_fuzz::fixtures::{SIGNERS, STRANGER};

fuzz_target!(|data: &[u8]| {
    if let Some(s) = registry_fuzz::utf8(data) {
        // The base64 reader alone: both alphabets, padded or not; what it decodes re-encodes to the
        // same bytes.
        if let Ok(bytes) = decode_b64(s) {
            use base64::Engine;
            let again = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert_eq!(decode_b64(&again).ok(), Some(bytes), "base64 does not round trip");
        }
    }
    let Ok(env) = Envelope::parse(data) else { return };
    let json = env.to_json();
    let back = Envelope::parse(&json).expect("an envelope's own JSON parses");
    assert_eq!(back, env, "envelope changes through its JSON");
    assert_eq!(back.to_json(), json, "envelope JSON is not a fixed point");

    let msg = pae(&env.payload_type, &env.payload);
    assert!(msg.starts_with(b"DSSEv1 ") && msg.ends_with(&env.payload));

    let keys: Vec<&PublicKey> = SIGNERS.iter().map(|k| k.public()).chain([STRANGER.public()]).collect();
    let ok = env.verified_by(&keys);
    assert_eq!(back.verified_by(&keys), ok, "verification changes through the envelope's JSON");
    let mut seen = ok.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ok.len(), "a key is reported twice");
    for &i in &ok {
        assert!(i < keys.len());
        // Only a signature in the first MAX_SIGNATURES can have counted, and it checks on its own.
        assert!(
            env.signatures.iter().take(MAX_SIGNATURES).any(|s| keys[i].verify(&msg, &s.sig)),
            "key {i} reported without a signature that verifies"
        );
        // Changing the payload type or the payload breaks every signature.
        let mut retyped = env.clone();
        retyped.payload_type.push('x');
        assert!(!retyped.verified_by(&[keys[i]]).contains(&0), "signature survives a new payload type");
        let mut changed = env.clone();
        changed.payload.push(b' ');
        assert!(!changed.verified_by(&[keys[i]]).contains(&0), "signature survives a changed payload");
    }
});
