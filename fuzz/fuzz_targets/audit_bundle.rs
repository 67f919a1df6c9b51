//! The auditor's bundle, the input of `registry verify --offline`: parsed as the CLI parses it, then
//! checked by verify_offline with the fixed trusted keys and log key; never panics. When every check
//! passes, the bundle's checkpoint is really the log's, every entry is in it, the manifest is the
//! version's exact canonical bytes, and the version's creation is among the logged entries.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::audit_bundle::{AuditBundle, MEDIA_TYPE, verify_offline};
use registry_core::tlog::entry::{LogEntry, VERSION_CREATED};
use registry_core::tlog::note::Checkpoint;
use registry_core::{Digest, Manifest};
use registry_fuzz::fixtures::{TRUSTED, log_key};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = serde_json::from_slice::<AuditBundle>(data) else { return };
    let json = serde_json::to_vec(&bundle).expect("a bundle serializes");
    let back: AuditBundle = serde_json::from_slice(&json).expect("a bundle's own JSON parses");
    assert_eq!(back, bundle, "bundle changes through its JSON");

    for required in [&[][..], &["https://slsa.dev/provenance/v1".to_owned()][..]] {
        let r = verify_offline(&bundle, &TRUSTED, log_key(), required);
        assert!(!r.findings.is_empty());
        if !r.ok() {
            continue;
        }
        assert_eq!(bundle.media_type, MEDIA_TYPE);
        let cp = r.checkpoint.as_ref().expect("a passing report has the checkpoint");
        assert_eq!(Checkpoint::open(&bundle.log.checkpoint, log_key()).as_ref(), Ok(cp));
        let m = r.manifest.as_ref().expect("a passing report has the manifest");
        assert_eq!(m.canonical_bytes(), bundle.manifest.as_bytes());
        assert_eq!(m.digest(), bundle.version.manifest_digest);
        assert_eq!(Digest::of(bundle.manifest.as_bytes()), bundle.version.manifest_digest);
        assert_eq!(serde_json::from_str::<Manifest>(&bundle.manifest).ok().as_ref(), Some(m));
        assert!(bundle.log.entries.iter().all(|e| e.index < cp.size), "an entry outside the tree passed");
        let name = format!("{}/{}@{}", bundle.version.namespace, bundle.version.name, bundle.version.version);
        assert!(
            bundle.log.entries.iter().any(|e| LogEntry::parse(e.body.as_bytes())
                .is_ok_and(|le| le.kind == VERSION_CREATED && le.subject == name)),
            "passed without the version's creation in the log"
        );
        // Trusted keys were given and nothing was required: something must have verified.
        assert!(r.findings.iter().any(|f| f.what.contains(" verifies, signed by ")));
    }
});
