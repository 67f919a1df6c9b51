//! A Rekor-v1-shaped log: RFC 6962 Merkle trees, signed-note checkpoints, signed entry timestamps,
//! and the `tlogEntries` item of a bundle.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::TlogEvidence;
use crate::x509::{Key, random, sha256};

/// The checkpoint origin's host part and the signature line's name.
pub(crate) const LOG_NAME: &str = "rekor.sigstore-testkit.invalid";

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([0u8]).chain_update(data).finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// Merkle tree hash of `leaves` (already leaf-hashed), RFC 6962 §2.1.
fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => sha256(b""),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `m`, leaf to root (RFC 6962 §2.1.1 PATH).
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// A signed note checkpoint over (`size`, `root`), in the form Rekor v1 writes it.
fn checkpoint(log: &Key, size: u64, root: &[u8; 32]) -> String {
    let note = format!("{LOG_NAME} - 1\n{size}\n{}\n", B64.encode(root));
    let mut sig = log.key_id()[..4].to_vec(); // key hint
    sig.extend_from_slice(&log.sign(note.as_bytes()));
    format!("{note}\n\u{2014} {LOG_NAME} {}\n", B64.encode(sig))
}

/// Rekor's canonical JSON (RFC 8785) of `v`.
pub(crate) fn canonical(v: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(v).expect("JSON values canonicalize")
}

/// The bundle's transparency log entry for `body` logged at `index` and `integrated_time`, with
/// the evidence asked for. `None` for [`TlogEvidence::None`].
pub(crate) fn entry(
    log: &Key,
    kind: &str,
    body: &[u8],
    index: u64,
    integrated_time: i64,
    evidence: TlogEvidence,
) -> Option<Value> {
    let (proof, promise) = match evidence {
        TlogEvidence::ProofAndPromise => (true, true),
        TlogEvidence::ProofOnly => (true, false),
        TlogEvidence::PromiseOnly => (false, true),
        TlogEvidence::None => return None,
    };
    let log_id = log.key_id();
    let mut entry = json!({
        "logIndex": index.to_string(),
        "logId": { "keyId": B64.encode(log_id) },
        "kindVersion": { "kind": kind, "version": "0.0.1" },
        "integratedTime": integrated_time.to_string(),
        "canonicalizedBody": B64.encode(body),
    });
    if promise {
        // The signed entry timestamp: the log's signature over this canonical JSON.
        let payload = json!({
            "body": B64.encode(body),
            "integratedTime": integrated_time,
            "logID": hex(&log_id),
            "logIndex": index,
        });
        entry["inclusionPromise"] =
            json!({ "signedEntryTimestamp": B64.encode(log.sign(&canonical(&payload))) });
    }
    if proof {
        // Other entries around ours, so the audit path has hashes on both sides.
        let size = index + 3;
        let leaves: Vec<[u8; 32]> = (0..size)
            .map(|i| if i == index { leaf_hash(body) } else { leaf_hash(&random::<32>()) })
            .collect();
        let at = usize::try_from(index).expect("a small index");
        let root = root(&leaves);
        entry["inclusionProof"] = json!({
            "logIndex": index.to_string(),
            "rootHash": B64.encode(root),
            "treeSize": size.to_string(),
            "hashes": path(at, &leaves).iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": { "envelope": checkpoint(log, size, &root) },
        });
    }
    Some(entry)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex of SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recomputes the root from a leaf and its path (RFC 9162 §2.1.3.2).
    fn climb(mut index: u64, size: u64, leaf: [u8; 32], path: &[[u8; 32]]) -> [u8; 32] {
        let (mut last, mut hash) = (size - 1, leaf);
        for sibling in path {
            if !index.is_multiple_of(2) || index == last {
                hash = node_hash(sibling, &hash);
                while index.is_multiple_of(2) && index != 0 {
                    index >>= 1;
                    last >>= 1;
                }
            } else {
                hash = node_hash(&hash, sibling);
            }
            index >>= 1;
            last >>= 1;
        }
        hash
    }

    #[test]
    fn every_audit_path_climbs_to_the_root() {
        for size in 1..20u64 {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            for m in 0..size {
                let p = path(m as usize, &leaves);
                assert_eq!(climb(m, size, leaves[m as usize], &p), root(&leaves), "size {size} leaf {m}");
            }
        }
    }
}
