//! Merkle proofs (RFC 9162) as a client or auditor checks them: verify_inclusion and
//! verify_consistency never panic on any index, sizes or proof hashes, and the range helpers stay
//! within their sizes. On a real tree of the fuzzer's chosen size, the proofs the log would serve
//! verify, and a proof that differs from them in any way does not (each proof is unique, barring a
//! SHA-256 collision).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use registry_core::tlog::{
    Hash, consistency_ranges, inclusion_ranges, leaf_hash, range_nodes, root_of, verify_consistency,
    verify_inclusion,
};

#[derive(Debug, Arbitrary)]
struct Input {
    /// Sizes and indexes used as they are (any u64) against random hashes.
    index: u64,
    size: u64,
    old: u64,
    proof: Vec<[u8; 32]>,
    leaf: [u8; 32],
    root: [u8; 32],
    old_root: [u8; 32],
    /// A real tree of `tree % 70` leaves, and what to change in its proofs.
    tree: u8,
    pick: u8,
    pick_old: u8,
    tamper: Tamper,
}

#[derive(Debug, Arbitrary)]
enum Tamper {
    None,
    Flip { hash: u8, byte: u8, bit: u8 },
    Drop { hash: u8 },
    Push([u8; 32]),
    Index(u64),
    Size(u64),
}

/// The hash of a range of a real tree, as the log computes it (MTH of the leaves).
fn mth(leaves: &[Hash], (s, e): (u64, u64)) -> Hash {
    root_of(&leaves[s as usize..e as usize])
}

fn tampered(mut proof: Vec<Hash>, t: &Tamper) -> Option<Vec<Hash>> {
    match *t {
        Tamper::Flip { hash, byte, bit } if !proof.is_empty() => {
            let i = hash as usize % proof.len();
            proof[i][byte as usize % 32] ^= 1 << (bit % 8);
        }
        Tamper::Drop { hash } if !proof.is_empty() => {
            proof.remove(hash as usize % proof.len());
        }
        Tamper::Push(h) => proof.push(h),
        _ => return None,
    }
    Some(proof)
}

fuzz_target!(|input: Input| {
    let proof: &[Hash] = &input.proof;
    // Random everything: no panic, whatever the sizes.
    let _ = verify_inclusion(&input.leaf, input.index, input.size, proof, &input.root);
    let _ = verify_consistency(input.old, input.size, proof, &input.old_root, &input.root);
    for (s, e) in inclusion_ranges(input.index, input.size) {
        assert!(s < e && e <= input.size, "inclusion range {s}..{e} outside {}", input.size);
        assert!(!range_nodes(s, e).is_empty());
    }
    for (s, e) in consistency_ranges(input.old, input.size) {
        assert!(s < e && e <= input.size, "consistency range {s}..{e} outside {}", input.size);
        assert!(!range_nodes(s, e).is_empty());
    }

    // A real tree.
    let n = u64::from(input.tree % 70);
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect();
    let root = root_of(&leaves);
    if n > 0 {
        let i = u64::from(input.pick) % n;
        let good: Vec<Hash> = inclusion_ranges(i, n).into_iter().map(|r| mth(&leaves, r)).collect();
        assert!(verify_inclusion(&leaves[i as usize], i, n, &good, &root), "real inclusion proof refused");
        if let Some(bad) = tampered(good.clone(), &input.tamper) {
            assert!(!verify_inclusion(&leaves[i as usize], i, n, &bad, &root), "tampered proof accepted");
        }
        match input.tamper {
            Tamper::Index(j) if j != i => {
                assert!(!verify_inclusion(&leaves[i as usize], j, n, &good, &root), "proof for another index")
            }
            Tamper::Size(m) => {
                // Against the real root of a smaller tree that holds the leaf, the proof for this size
                // verifies only if it is also that tree's proof.
                let m = i + 1 + m % (n - i);
                let real: Vec<Hash> = inclusion_ranges(i, m).into_iter().map(|r| mth(&leaves, r)).collect();
                let root_m = root_of(&leaves[..m as usize]);
                if verify_inclusion(&leaves[i as usize], i, m, &good, &root_m) {
                    assert_eq!(good, real, "a proof for size {n} verifies for size {m}");
                }
            }
            _ => {}
        }
        // A random proof verifies only if it is the real one.
        if verify_inclusion(&input.leaf, i, n, proof, &root) {
            assert_eq!((input.leaf, proof), (leaves[i as usize], good.as_slice()), "forged inclusion proof");
        }

        let old = 1 + u64::from(input.pick_old) % n;
        let old_root = root_of(&leaves[..old as usize]);
        let good: Vec<Hash> = consistency_ranges(old, n).into_iter().map(|r| mth(&leaves, r)).collect();
        assert!(verify_consistency(old, n, &good, &old_root, &root), "real consistency proof refused");
        if let Some(bad) = tampered(good.clone(), &input.tamper) {
            assert!(
                !verify_consistency(old, n, &bad, &old_root, &root),
                "tampered consistency proof accepted"
            );
        }
        if verify_consistency(old, n, proof, &input.old_root, &root) {
            assert_eq!((input.old_root, proof), (old_root, good.as_slice()), "forged consistency proof");
        }
    }
    // The empty tree is consistent only with itself, and includes nothing.
    assert!(!verify_inclusion(&input.leaf, input.index, 0, proof, &root));
});
