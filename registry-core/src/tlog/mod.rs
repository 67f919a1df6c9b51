//! The transparency log's mathematics, with no storage: RFC 6962/9162 Merkle hashing, which stored
//! nodes a root or proof needs, proof construction over any node source, and proof verification.
//!
//! Storage keeps every complete subtree as it becomes complete, keyed `(level, index)`: node `(l, i)`
//! covers leaves `[i * 2^l, (i + 1) * 2^l)`. Every range the RFC algorithms hash is aligned, so its hash
//! is a right fold over the complete subtrees of its binary decomposition: a root or a proof needs
//! O(log n) stored nodes, and no proof ever reads all leaves.
use sha2::{Digest as _, Sha256};

pub mod entry;
pub mod note;
pub mod replay;

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::new().finalize().into()
}

/// A stored node: `(level, index)` covers leaves `[index << level, (index + 1) << level)`.
pub type NodeId = (u8, u64);

/// The complete subtrees that tile `[start, end)`, left to right (largest first). `start` must be a
/// multiple of the largest power of two not above `end - start`, which holds for every range the RFC
/// algorithms hash.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut s = start;
    let n = end - start;
    for level in (0..64u8).rev() {
        if n & (1u64 << level) != 0 {
            out.push((level, s >> level));
            s += 1u64 << level;
        }
    }
    out
}

/// MTH of `[start, end)` from the hashes of [`range_nodes`], in that order (a right fold).
pub fn fold(nodes: &[Hash]) -> Option<Hash> {
    let (last, rest) = nodes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, n| node_hash(n, &acc)))
}

/// Largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The ranges whose MTHs form the RFC 9162 inclusion proof of leaf `index` in a tree of `size`,
/// in proof order (deepest sibling first).
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    fn path(m: u64, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, start + k, out);
            out.push((start + k, end));
        } else {
            path(m - k, start + k, end, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

/// The ranges whose MTHs form the RFC 9162 consistency proof from `old` to `new` (`0 < old <= new`).
pub fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    fn sub(m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push((start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, start, start + k, whole, out);
            out.push((start + k, end));
        } else {
            sub(m - k, start + k, end, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if 0 < old && old < new {
        sub(old, 0, new, true, &mut out);
    }
    out
}

/// Builds the proof hashes for `ranges` from a node source (what a store looks up in one query).
pub fn proof_from<E>(
    ranges: &[(u64, u64)],
    mut node: impl FnMut(NodeId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    ranges
        .iter()
        .map(|&(s, e)| {
            let hashes = range_nodes(s, e).into_iter().map(&mut node).collect::<Result<Vec<_>, E>>()?;
            Ok(fold(&hashes).expect("a proof range is never empty"))
        })
        .collect()
}

/// Every stored node a set of ranges needs (to fetch them in one query).
pub fn nodes_needed(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = ranges.iter().flat_map(|&(s, e)| range_nodes(s, e)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The nodes that become complete when leaf `index` is appended, bottom-up after the leaf itself:
/// each is `(level, index)` with its left and right children.
pub fn completed_by(index: u64) -> Vec<(NodeId, NodeId, NodeId)> {
    let mut out = Vec::new();
    let (mut level, mut i) = (0u8, index);
    while i & 1 == 1 {
        out.push(((level + 1, i >> 1), (level, i - 1), (level, i)));
        level += 1;
        i >>= 1;
    }
    out
}

/// RFC 9162 §2.1.3.2: does `proof` show leaf `index` (hash `leaf`) in the tree of `size` with `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree of size `old` (root `old_root`) is a prefix of the
/// tree of size `new` (root `new_root`)?
pub fn verify_consistency(old: u64, new: u64, proof: &[Hash], old_root: &Hash, new_root: &Hash) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

/// The complete subtrees of a log prefix, extended leaf by leaf: what an append-only log keeps to
/// know its root (RFC 9162 MTH) without the leaves. Seeded from the stored nodes of a prefix, it turns
/// "these are every entry from index `n` to the checkpoint" into one root comparison.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    stack: Vec<(u8, Hash)>,
    size: u64,
}

impl Frontier {
    /// The frontier of the first `size` leaves from the hashes of [`range_nodes`]`(0, size)`, in that
    /// order (largest first); `None` when the count does not fit. Nothing here trusts the hashes: a
    /// wrong one only yields a root that will not match a signed checkpoint.
    pub fn from_nodes(size: u64, nodes: &[Hash]) -> Option<Self> {
        let ids = range_nodes(0, size);
        if ids.len() != nodes.len() {
            return None;
        }
        Some(Self { stack: ids.iter().zip(nodes).map(|(&(level, _), h)| (level, *h)).collect(), size })
    }

    /// The frontier of the first `index + 1` leaves from the RFC 9162 inclusion proof of leaf
    /// `index` in the tree of exactly `index + 1` leaves (whose siblings are the complete subtrees of
    /// the first `index` leaves, deepest first) and that leaf's hash.
    pub fn from_last_leaf(index: u64, proof: &[Hash], leaf: Hash) -> Option<Self> {
        let nodes: Vec<Hash> = proof.iter().rev().copied().collect();
        let mut f = Self::from_nodes(index, &nodes)?;
        f.push(leaf);
        Some(f)
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut cur = (0u8, leaf);
        while let Some(&(level, h)) = self.stack.last() {
            if level != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (level + 1, node_hash(&h, &cur.1));
        }
        self.stack.push(cur);
        self.size += 1;
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the leaves so far.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.stack.iter().map(|(_, h)| *h).collect();
        fold(&hashes).unwrap_or_else(empty_root)
    }
}

/// The root of a whole list of leaf hashes (an auditor's replay; O(n) time, O(log n) memory).
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for leaf in leaves {
        f.push(*leaf);
    }
    f.root()
}

#[cfg(test)]
mod tests;
