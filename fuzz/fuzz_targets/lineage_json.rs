//! Lineage JSON parsing and validate() never panic; valid lineage keeps its digest through canonical bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::Lineage;

fuzz_target!(|data: &[u8]| {
    let Ok(l) = serde_json::from_slice::<Lineage>(data) else { return };
    if l.validate().is_err() {
        return;
    }
    let bytes = registry_core::canonical::to_vec(&l).expect("lineage canonicalizes");
    assert_eq!(l.digest(), registry_core::Digest::of(&bytes));
    let back: Lineage = serde_json::from_slice(&bytes).expect("canonical bytes of a lineage parse");
    assert_eq!(back.validate(), Ok(()), "valid lineage turns invalid through canonical bytes");
    assert_eq!(back.digest(), l.digest(), "lineage digest changes through canonical bytes");
});
