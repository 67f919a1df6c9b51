//! Transparency-log entries as a client, auditor or scrubber reads them back: LogEntry::parse never
//! panics; a parsed entry's canonical bytes (the leaf) parse back to an equal entry and are RFC 8785
//! canonical, and its details never shadow the fixed fields.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::tlog::entry::LogEntry;

fuzz_target!(|data: &[u8]| {
    let Ok(e) = LogEntry::parse(data) else { return };
    for fixed in ["type", "subject", "actor", "time"] {
        assert!(!e.details.contains_key(fixed), "detail {fixed:?} shadows a fixed field");
    }
    let leaf = e.canonical();
    let back = LogEntry::parse(&leaf).expect("an entry's canonical bytes parse");
    let value = |x: &LogEntry| serde_json::to_value(x).expect("an entry serializes");
    assert!(registry_fuzz::json_eq(&value(&back), &value(&e)), "entry changes through its leaf bytes");
    let as_value: serde_json::Value = serde_json::from_slice(&leaf).expect("leaf is JSON");
    assert_eq!(registry_fuzz::check_canonical(&as_value), leaf, "leaf bytes are not canonical");
    assert_eq!(back.canonical(), leaf, "leaf bytes are not a fixed point");
});
