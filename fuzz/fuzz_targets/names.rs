//! ModelName, VersionLabel and ModelRef parsers never panic, and what they accept round-trips exactly.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::{ModelName, ModelRef, VersionLabel, name::parse_namespace};

fuzz_target!(|data: &[u8]| {
    let Some(s) = registry_fuzz::utf8(data) else { return };
    if let Ok(ns) = parse_namespace(s) {
        assert_eq!(ns, s);
    }
    if let Ok(m) = ModelName::parse(s) {
        assert_eq!(m.to_string(), s);
        assert_eq!(ModelName::new(m.namespace(), m.name()).as_ref(), Ok(&m));
    }
    if let Ok(v) = VersionLabel::parse(s) {
        assert_eq!(v.as_str(), s);
    }
    if let Ok(r) = ModelRef::parse(s) {
        assert_eq!(r.to_string(), s);
        assert_eq!(ModelRef::parse(&r.to_string()).as_ref(), Ok(&r));
        let json = serde_json::to_string(&r).expect("a reference serializes");
        assert_eq!(serde_json::from_str::<ModelRef>(&json).ok().as_ref(), Some(&r));
    }
});
