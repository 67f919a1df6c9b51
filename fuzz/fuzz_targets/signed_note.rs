//! C2SP signed notes and checkpoints: NoteVerifier::parse, note::open, Checkpoint::parse and
//! Checkpoint::open never panic. A verifier key and a checkpoint print back to what parses equal; a
//! note opens with the fixed log key only with the log's own signature of exactly the returned text;
//! what the signer signs opens to the same text; an opened checkpoint's origin is the key's name.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use registry_core::tlog::note::{Checkpoint, NoteVerifier, open};
use registry_fuzz::fixtures::{LOG_ORIGIN, LOG_SIGNER, log_key};

fuzz_target!(|data: &[u8]| {
    let Some(s) = registry_fuzz::utf8(data) else { return };

    if let Ok(v) = NoteVerifier::parse(s) {
        let vkey = v.to_vkey();
        assert_eq!(NoteVerifier::parse(&vkey).as_ref(), Ok(&v), "verifier key does not round trip");
        assert_eq!(vkey.split('+').next(), Some(v.name()));
    }

    if let Ok(cp) = Checkpoint::parse(s) {
        let text = cp.to_text();
        assert_eq!(Checkpoint::parse(&text).as_ref(), Ok(&cp), "checkpoint does not round trip: {text:?}");
    }

    match open(s, log_key()) {
        Ok(text) => {
            assert!(s.starts_with(text) && text.ends_with('\n'), "opened text is not the note's start");
            assert!(s[text.len()..].starts_with('\n'), "no blank line after the opened text");
            // The only signature that can verify is the log's own over exactly this text (Ed25519
            // signing is deterministic, and the fuzzer holds no key).
            let signed = LOG_SIGNER.sign(text).expect("opened text is signable");
            let line = signed[text.len() + 1..].trim_end_matches('\n');
            assert!(s[text.len() + 1..].lines().any(|l| l == line), "opened without the log's signature");
            match Checkpoint::open(s, log_key()) {
                Ok(cp) => {
                    assert_eq!(cp.origin, LOG_ORIGIN);
                    assert_eq!(Checkpoint::parse(text).as_ref(), Ok(&cp));
                }
                Err(_) => assert!(!Checkpoint::parse(text).is_ok_and(|cp| cp.origin == LOG_ORIGIN)),
            }
        }
        Err(_) => assert!(Checkpoint::open(s, log_key()).is_err()),
    }

    // Whatever the signer accepts opens again to exactly itself.
    if let Ok(note) = LOG_SIGNER.sign(s) {
        assert_eq!(open(&note, log_key()), Ok(s), "a freshly signed note does not open");
    }
});
