//! Any JSON value canonicalizes (RFC 8785) to bytes that parse back equal and canonicalize to themselves.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    registry_fuzz::check_canonical(&value);
});
