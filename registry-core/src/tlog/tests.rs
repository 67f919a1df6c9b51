//! The tree against published RFC 6962 vectors and two independent implementations (ct-merkle builds
//! roots, sigstore-merkle checks our proofs), over every size up to 70.
use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// An in-memory node store filled the way the server fills its table.
#[derive(Default)]
struct Mem {
    nodes: HashMap<NodeId, Hash>,
    size: u64,
}

impl Mem {
    fn append(&mut self, entry: &[u8]) {
        let i = self.size;
        self.nodes.insert((0, i), leaf_hash(entry));
        for (parent, l, r) in completed_by(i) {
            let h = node_hash(&self.nodes[&l], &self.nodes[&r]);
            self.nodes.insert(parent, h);
        }
        self.size += 1;
    }
    fn node(&self, id: NodeId) -> Result<Hash, String> {
        self.nodes.get(&id).copied().ok_or_else(|| format!("missing node {id:?}"))
    }
    fn root(&self, size: u64) -> Hash {
        if size == 0 {
            return empty_root();
        }
        let hashes: Vec<Hash> = range_nodes(0, size).into_iter().map(|id| self.nodes[&id]).collect();
        fold(&hashes).expect("non-empty")
    }
}

/// The leaves of the certificate-transparency test vectors (RFC 6962 reference implementation).
fn ct_leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|h| hex::decode(h).expect("hex"))
        .collect()
}

#[test]
fn roots_match_the_rfc6962_reference_vectors() {
    let want = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut m = Mem::default();
    for (i, leaf) in ct_leaves().iter().enumerate() {
        m.append(leaf);
        assert_eq!(hex::encode(m.root(i as u64 + 1)), want[i], "size {}", i + 1);
    }
    assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn roots_match_ct_merkle_and_a_full_replay() {
    let mut ours = Mem::default();
    let mut theirs = ct_merkle::mem_backed_tree::MemoryBackedTree::<sha2::Sha256, Vec<u8>>::new();
    let mut leaves = Vec::new();
    for i in 0..300u32 {
        let e = format!("entry {i}").into_bytes();
        ours.append(&e);
        leaves.push(leaf_hash(&e));
        theirs.push(e);
        let r = ours.root(u64::from(i) + 1);
        assert_eq!(&r[..], theirs.root().as_bytes().as_slice(), "size {}", i + 1);
        assert_eq!(root_of(&leaves), r);
    }
}

fn sig(h: &Hash) -> sigstore_types::Sha256Hash {
    sigstore_types::Sha256Hash::new(*h)
}

#[test]
fn every_inclusion_and_consistency_proof_up_to_70_verifies_here_and_in_sigstore_merkle() {
    let mut m = Mem::default();
    for i in 0..70u32 {
        m.append(format!("e{i}").as_bytes());
    }
    for size in 1..=70u64 {
        let root = m.root(size);
        for index in 0..size {
            let proof = proof_from(&inclusion_ranges(index, size), |id| m.node(id)).expect("nodes");
            let leaf = leaf_hash(format!("e{index}").as_bytes());
            assert!(verify_inclusion(&leaf, index, size, &proof, &root), "ours {index}/{size}");
            let p: Vec<_> = proof.iter().map(sig).collect();
            sigstore_merkle::verify_inclusion_proof(&sig(&leaf), index, size, &p, &sig(&root))
                .unwrap_or_else(|e| panic!("sigstore-merkle {index}/{size}: {e}"));
            assert!(!verify_inclusion(&leaf, index, size, &proof, &m.root(size.max(2) - 1)) || size == 1);
        }
        for old in 1..=size {
            let proof = proof_from(&consistency_ranges(old, size), |id| m.node(id)).expect("nodes");
            let (r1, r2) = (m.root(old), root);
            assert!(verify_consistency(old, size, &proof, &r1, &r2), "ours {old}->{size}");
            let p: Vec<_> = proof.iter().map(sig).collect();
            sigstore_merkle::verify_consistency_proof(old, size, &p, &sig(&r1), &sig(&r2))
                .unwrap_or_else(|e| panic!("sigstore-merkle {old}->{size}: {e}"));
        }
    }
}

#[test]
fn a_proof_needs_few_nodes_even_for_a_huge_tree() {
    // O(log n): never more than 2 * 64 stored nodes, whatever the size.
    for (index, size) in
        [(0u64, 1_000_000u64), (999_999, 1_000_000), (123_456, 1_000_001), (1 << 40, (1 << 41) + 3)]
    {
        let n = nodes_needed(&inclusion_ranges(index, size)).len();
        assert!(n <= 2 * 64, "{n} nodes for {index}/{size}");
        let c = nodes_needed(&consistency_ranges(index + 1, size)).len();
        assert!(c <= 3 * 64, "{c} nodes for {index}->{size}");
    }
}

#[test]
fn tampered_proofs_fail() {
    let mut m = Mem::default();
    for i in 0..13u32 {
        m.append(&i.to_le_bytes());
    }
    let root = m.root(13);
    let mut proof = proof_from(&inclusion_ranges(5, 13), |id| m.node(id)).expect("nodes");
    let leaf = leaf_hash(&5u32.to_le_bytes());
    assert!(verify_inclusion(&leaf, 5, 13, &proof, &root));
    assert!(!verify_inclusion(&leaf, 6, 13, &proof, &root), "wrong index");
    m.append(b"one more");
    assert!(!verify_inclusion(&leaf, 5, 14, &proof, &m.root(14)), "a proof for 13 does not prove 14's root");
    assert!(!verify_inclusion(&leaf_hash(b"x"), 5, 13, &proof, &root), "wrong leaf");
    proof[1][0] ^= 1;
    assert!(!verify_inclusion(&leaf, 5, 13, &proof, &root), "changed hash");
    let c = proof_from(&consistency_ranges(6, 13), |id| m.node(id)).expect("nodes");
    assert!(verify_consistency(6, 13, &c, &m.root(6), &root));
    assert!(!verify_consistency(6, 13, &c, &m.root(5), &root));
    assert!(!verify_consistency(13, 6, &c, &root, &m.root(6)));
    assert!(!verify_consistency(6, 13, &c[1..], &m.root(6), &root));
}

#[test]
fn a_frontier_seeded_from_the_last_leafs_proof_extends_to_every_later_root() {
    let mut m = Mem::default();
    for i in 0..70u32 {
        m.append(&i.to_le_bytes());
    }
    for start in 0..69u64 {
        // The proof of leaf `start` in the tree that ends with it names the prefix's complete subtrees.
        let proof = proof_from(&inclusion_ranges(start, start + 1), |id| m.node(id)).expect("nodes");
        let leaf = leaf_hash(&(start as u32).to_le_bytes());
        let mut f = Frontier::from_last_leaf(start, &proof, leaf).expect("fits");
        assert_eq!(f.root(), m.root(start + 1));
        for i in start + 1..70 {
            f.push(leaf_hash(&(i as u32).to_le_bytes()));
            assert_eq!(f.root(), m.root(i + 1), "start {start}, size {}", i + 1);
        }
        // A leaf left out cannot reach the signed root.
        if start >= 60 {
            continue;
        }
        let mut skipped = Frontier::from_last_leaf(start, &proof, leaf).expect("fits");
        for i in (start + 1..70).filter(|i| *i != 60) {
            skipped.push(leaf_hash(&(i as u32).to_le_bytes()));
        }
        assert_ne!(skipped.root(), m.root(70));
    }
    assert!(Frontier::from_nodes(5, &[[0; 32]]).is_none(), "5 leaves are two complete subtrees");
}

proptest! {
    #[test]
    fn verifiers_never_panic(
        leaf in proptest::array::uniform32(any::<u8>()),
        index in any::<u64>(), size in any::<u64>(),
        proof in proptest::collection::vec(proptest::array::uniform32(any::<u8>()), 0..70),
        root in proptest::array::uniform32(any::<u8>()),
    ) {
        let _ = verify_inclusion(&leaf, index, size, &proof, &root);
        let _ = verify_consistency(index, size, &proof, &leaf, &root);
    }
}
