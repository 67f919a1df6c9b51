//! Stored attestations' predicates as the policies read them (regorus documents), by attestation
//! digest. A promotion over 120 attestations used to decode every envelope (base64, JSON) and hand
//! regorus the whole input as JSON once per policy; now an attestation is decoded once.
//!
//! The key is the digest of the stored bytes, checked when an entry is made, so an entry never goes
//! stale and there is nothing to invalidate. What does change — whether the signer is trusted now
//! (keys, identities, roots) — is not cached: it is judged afresh at every decision from rows the
//! decision reads anyway, in microseconds (`attest::Trusted::status`), and re-checked at commit.

use std::collections::HashMap;
use std::sync::Mutex;

/// Predicate JSON bytes one generation holds (two generations: at most twice this, plus regorus's
/// overhead per byte). A predicate bigger than this is decoded every time.
pub const GENERATION_BYTES: usize = 4 << 20;

/// Bytes charged per entry besides its predicate JSON and key.
const ENTRY_OVERHEAD: usize = 256;

/// A bounded map of decoded predicates with two generations: lookups promote from the old one,
/// and when the young one is full it becomes the old one (the least recently used half goes).
#[derive(Default)]
pub struct Predicates {
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<String, Entry>,
    old: HashMap<String, Entry>,
    young_bytes: usize,
}

#[derive(Clone)]
struct Entry {
    doc: regorus::Value,
    bytes: usize,
}

impl std::fmt::Debug for Predicates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("Predicates").field("young", &g.young.len()).field("old", &g.old.len()).finish()
    }
}

impl Predicates {
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The predicate of the attestation whose stored bytes hash to `digest` (hex), if held.
    pub fn get(&self, digest: &str) -> Option<regorus::Value> {
        let mut g = self.lock();
        if let Some(e) = g.young.get(digest) {
            return Some(e.doc.clone());
        }
        let e = g.old.remove(digest)?;
        let doc = e.doc.clone();
        g.insert(digest.to_owned(), e);
        Some(doc)
    }

    /// Holds `doc`, decoded from `bytes` of predicate JSON, for the attestation whose stored bytes
    /// were checked to hash to `digest`.
    pub fn put(&self, digest: String, doc: regorus::Value, bytes: usize) {
        // Charged beyond its JSON: the key and the map slot, so tiny predicates cannot make
        // millions of entries.
        let bytes = bytes + digest.len() + ENTRY_OVERHEAD;
        if bytes <= GENERATION_BYTES {
            self.lock().insert(digest, Entry { doc, bytes });
        }
    }

    /// Entries held (both generations).
    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }
}

impl Generations {
    fn insert(&mut self, digest: String, e: Entry) {
        if self.young_bytes + e.bytes > GENERATION_BYTES {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += e.bytes;
        if let Some(prev) = self.young.insert(digest, e) {
            self.young_bytes -= prev.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recently_used_half_survives_and_the_rest_is_dropped() {
        let c = Predicates::default();
        let third = GENERATION_BYTES / 3 - ENTRY_OVERHEAD - 1;
        let doc = |n: u64| regorus::Value::from(n);
        c.put("a".into(), doc(1), third);
        c.put("b".into(), doc(2), third);
        c.put("c".into(), doc(3), third);
        // Full: a fourth entry starts a new generation; a, b, c are old.
        c.put("d".into(), doc(4), third);
        assert_eq!(c.get("a"), Some(doc(1)), "a lookup moves an old entry to the young generation");
        c.put("e".into(), doc(5), third);
        // d, a, e fill the young generation: the next entry drops b and c.
        c.put("f".into(), doc(6), third);
        assert_eq!(c.get("b"), None);
        assert_eq!(c.get("c"), None);
        for (k, v) in [("a", 1), ("d", 4), ("e", 5), ("f", 6)] {
            assert_eq!(c.get(k), Some(doc(v)), "{k}");
        }
        assert!(c.len() <= 6);
        // Too big for a generation: not held at all.
        c.put("huge".into(), doc(7), GENERATION_BYTES + 1);
        assert_eq!(c.get("huge"), None);
    }
}
