//! Digest::parse / Digest::from_hex never panic, agree with each other, and round-trip via Display and serde.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::Digest;

fuzz_target!(|data: &[u8]| {
    let Some(s) = registry_fuzz::utf8(data) else { return };
    let parsed = Digest::parse(s);
    if let Ok(d) = &parsed {
        assert_eq!(d.to_string(), s);
        assert_eq!(Digest::from_bytes(*d.as_bytes()), *d);
    }
    let via_hex = s.strip_prefix(Digest::PREFIX).map(Digest::from_hex);
    assert_eq!(parsed.is_ok(), matches!(via_hex, Some(Ok(_))), "parse and from_hex disagree on {s:?}");
    if let Ok(d) = Digest::from_hex(s) {
        assert_eq!(d.hex(), s);
        assert_eq!(Digest::parse(&d.to_string()), Ok(d));
    }
    let json = serde_json::to_string(s).expect("a string serializes");
    assert_eq!(serde_json::from_str::<Digest>(&json).ok(), parsed.ok());
});
