//! manifest::check_path never panics on any UTF-8, and every path it accepts obeys the path rules.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::{Digest, FileEntry, Manifest, manifest::check_path};

fuzz_target!(|data: &[u8]| {
    let Some(p) = registry_fuzz::utf8(data) else { return };
    if check_path(p).is_err() {
        return;
    }
    assert!(!p.is_empty() && p.len() <= 4096 && !p.starts_with('/') && !p.contains('\\'), "{p:?}");
    assert!(!p.chars().any(char::is_control), "{p:?}");
    assert!(p.split('/').all(|s| !matches!(s, "" | "." | "..") && s.len() <= 255), "{p:?}");
    let m = Manifest::new(vec![FileEntry { path: p.to_owned(), size: 0, digest: Digest::of(b"") }])
        .expect("a manifest of one accepted path is valid");
    let back: Manifest = serde_json::from_slice(&m.canonical_bytes()).expect("its canonical bytes parse");
    assert_eq!(back, m);
});
