//! Manifest parsing never panics; an accepted manifest's canonical bytes re-parse equal, a fixed point.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = serde_json::from_slice::<Manifest>(data) else { return };
    let bytes = m.canonical_bytes();
    let back: Manifest = serde_json::from_slice(&bytes).expect("canonical bytes of a manifest parse");
    assert_eq!(back, m);
    assert_eq!(back.canonical_bytes(), bytes, "canonical bytes are not a fixed point");
    assert_eq!(back.digest(), m.digest());
    assert_eq!((back.total_size(), back.oms_root_digest()), (m.total_size(), m.oms_root_digest()));
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("canonical bytes are JSON");
    assert_eq!(registry_fuzz::check_canonical(&value), bytes, "manifest bytes are not RFC 8785 canonical");
});
