//! A partial Merkle-Patricia trie: the part of a state or storage trie a witness reveals, on
//! alloy-trie's node types, that can be read, updated and re-hashed.
//!
//! Invariants:
//! - Nodes are looked up by the keccak hash of their RLP, computed here from the witness's
//!   bytes ([`NodeSet::from_nodes`]), and only ever reached by descending from the root. So every
//!   value [`SparseTrie::get`] returns, and every proven absence, is bound to the root the trie
//!   was opened at.
//! - A node the witness lacks is an error ([`TrieError::MissingNode`]), never an empty subtree:
//!   a read through it, or a deletion that must collapse a branch onto it, fails closed.
//! - Keys are fixed-length (the secure tries' hashed keys), so no branch carries a value; a
//!   witness node that does is malformed.

use alloy::{
    primitives::{B256, Bytes, keccak256, map::B256Map},
    rlp::EMPTY_STRING_CODE,
    trie::{
        EMPTY_ROOT_HASH, Nibbles, TrieMask,
        nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode, TrieNode},
    },
};

/// Why a trie operation could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrieError {
    /// The witness does not hold a node the operation has to read.
    #[error("the witness lacks trie node {0}")]
    MissingNode(B256),
    /// A witness node (or an inline node within one) is not a valid trie node.
    #[error("trie node {hash} is malformed: {reason}")]
    Malformed {
        /// Hash of the node (of the enclosing node for an inline one).
        hash: B256,
        /// What is wrong with it.
        reason: String,
    },
}

/// The witness's trie nodes, keyed by the hash of their RLP encoding.
#[derive(Debug, Clone, Default)]
pub struct NodeSet {
    nodes: B256Map<Bytes>,
}

impl NodeSet {
    /// Indexes RLP-encoded nodes by their hash (computed here: a witness's own keys are never
    /// trusted).
    pub fn from_nodes(nodes: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            nodes: nodes
                .into_iter()
                .map(|rlp| (keccak256(&rlp), rlp))
                .collect(),
        }
    }

    /// Number of distinct nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Total size of the nodes' encodings.
    pub fn byte_len(&self) -> usize {
        self.nodes.values().map(|rlp| rlp.len()).sum()
    }

    fn resolve(&self, hash: B256) -> Result<Node, TrieError> {
        let rlp = self.nodes.get(&hash).ok_or(TrieError::MissingNode(hash))?;
        Node::decode(rlp, hash)
    }
}

/// Candidate pre-state nodes for a sibling that a deletion collapsed into `post_node`, a node of
/// a post-state proof: a leaf or extension that absorbed its collapsed parent's path, with every
/// shorter key it may have had before. Only a candidate whose hash a pre-state branch names is
/// ever used (nodes are found by hash), so wrong candidates are harmless; a sibling that was a
/// branch cannot be rebuilt this way and stays missing.
pub fn collapse_candidates(post_node: &[u8]) -> Vec<Bytes> {
    let Ok(node) = Node::decode(post_node, B256::ZERO) else {
        return Vec::new();
    };
    let mut candidates = Vec::new();
    match &node {
        Node::Leaf { key, value } => {
            for start in 1..=key.len() {
                let mut out = Vec::new();
                LeafNodeRef::new(&key.slice(start..), value).rlp(&mut out);
                candidates.push(Bytes::from(out));
            }
        }
        Node::Extension { key, child } => {
            let child = child.reference();
            for start in 1..key.len() {
                let mut out = Vec::new();
                ExtensionNodeRef::new(&key.slice(start..), &child).rlp(&mut out);
                candidates.push(Bytes::from(out));
            }
        }
        _ => {}
    }
    candidates
}

/// One node of the partial trie. `Hash` is a subtree the trie has not opened (yet): it keeps its
/// hash, and is resolved from the [`NodeSet`] when an operation needs to go through it.
#[derive(Debug, Clone)]
enum Node {
    Empty,
    Hash(B256),
    Leaf { key: Nibbles, value: Vec<u8> },
    Extension { key: Nibbles, child: Box<Node> },
    Branch { children: Box<[Node; 16]> },
}

impl Node {
    fn from_root(root: B256) -> Self {
        if root == EMPTY_ROOT_HASH {
            Self::Empty
        } else {
            Self::Hash(root)
        }
    }

    /// Decodes a node's RLP; `hash` names the witness node it came from, for errors.
    fn decode(mut rlp: &[u8], hash: B256) -> Result<Self, TrieError> {
        let malformed = |reason: String| TrieError::Malformed { hash, reason };
        let node = alloy::rlp::Decodable::decode(&mut rlp).map_err(|e| malformed(e.to_string()))?;
        if !rlp.is_empty() {
            return Err(malformed("trailing bytes after the node".to_owned()));
        }
        Ok(match node {
            TrieNode::EmptyRoot => Self::Empty,
            TrieNode::Leaf(leaf) => Self::Leaf {
                key: leaf.key,
                value: leaf.value,
            },
            TrieNode::Extension(ext) => {
                if ext.key.is_empty() {
                    return Err(malformed("extension with an empty key".to_owned()));
                }
                Self::Extension {
                    key: ext.key,
                    child: Box::new(Self::child(&ext.child, hash)?),
                }
            }
            TrieNode::Branch(branch) => {
                let mut children: Box<[Self; 16]> = Box::new(std::array::from_fn(|_| Self::Empty));
                let mut stack = branch.stack.iter();
                for nibble in 0..16u8 {
                    if branch.state_mask.is_bit_set(nibble) {
                        let child = stack.next().ok_or_else(|| {
                            malformed("branch mask names more children than it has".to_owned())
                        })?;
                        children[usize::from(nibble)] = Self::child(child, hash)?;
                    }
                }
                Self::Branch { children }
            }
        })
    }

    /// A child reference: a hash to resolve later, or a node short enough to be inlined.
    fn child(reference: &RlpNode, parent: B256) -> Result<Self, TrieError> {
        match reference.as_hash() {
            Some(hash) => Ok(Self::Hash(hash)),
            None => Self::decode(reference, parent),
        }
    }

    /// Replaces a `Hash` node by the node it names.
    fn open(&mut self, nodes: &NodeSet) -> Result<(), TrieError> {
        if let Self::Hash(hash) = self {
            *self = nodes.resolve(*hash)?;
        }
        Ok(())
    }

    /// Opens the node reached with `path` left of the key, and checks that it fits there: with
    /// 64-nibble keys a leaf's key is exactly the rest of the path, an extension leaves at least
    /// one nibble for its branch, and a branch is never reached at the end of a key. A witness
    /// node that does not fit is malformed (and every nibble operation below stays in range).
    fn open_at(&mut self, path: &Nibbles, nodes: &NodeSet) -> Result<(), TrieError> {
        self.open(nodes)?;
        let fits = match self {
            Self::Leaf { key, .. } => key.len() == path.len(),
            Self::Extension { key, .. } => key.len() < path.len(),
            Self::Branch { .. } => !path.is_empty(),
            Self::Empty | Self::Hash(_) => true,
        };
        if fits {
            Ok(())
        } else {
            Err(TrieError::Malformed {
                hash: B256::ZERO,
                reason: format!("a node does not fit at depth {}", 64 - path.len()),
            })
        }
    }

    fn get(&mut self, path: Nibbles, nodes: &NodeSet) -> Result<Option<&[u8]>, TrieError> {
        self.open_at(&path, nodes)?;
        match self {
            Self::Empty => Ok(None),
            Self::Hash(_) => unreachable!("opened above"),
            Self::Leaf { key, value } => Ok((*key == path).then_some(value.as_slice())),
            Self::Extension { key, child } => {
                if path.starts_with(key) {
                    child.get(path.slice(key.len()..), nodes)
                } else {
                    Ok(None)
                }
            }
            Self::Branch { children } => {
                let nibble = path.get_unchecked(0); // `open_at`: not at the end of the key
                children[usize::from(nibble)].get(path.slice(1..), nodes)
            }
        }
    }

    fn insert(&mut self, path: Nibbles, value: Vec<u8>, nodes: &NodeSet) -> Result<(), TrieError> {
        self.open_at(&path, nodes)?;
        match self {
            Self::Empty => {
                *self = Self::Leaf { key: path, value };
                Ok(())
            }
            Self::Hash(_) => unreachable!("opened above"),
            Self::Leaf { key, value: old } => {
                if *key == path {
                    *old = value;
                    return Ok(());
                }
                let common = key.common_prefix_length(&path);
                let mut branch = Self::empty_branch();
                let existing = Self::Leaf {
                    key: key.slice(common + 1..),
                    value: std::mem::take(old),
                };
                branch.set_child(key.get_unchecked(common), existing);
                branch.set_child(
                    path.get_unchecked(common),
                    Self::Leaf {
                        key: path.slice(common + 1..),
                        value,
                    },
                );
                *self = Self::wrap(path.slice(..common), branch);
                Ok(())
            }
            Self::Extension { key, child } => {
                if path.starts_with(key) {
                    return child.insert(path.slice(key.len()..), value, nodes);
                }
                let common = key.common_prefix_length(&path);
                let mut branch = Self::empty_branch();
                let old_child = std::mem::replace(child.as_mut(), Self::Empty);
                branch.set_child(
                    key.get_unchecked(common),
                    Self::wrap(key.slice(common + 1..), old_child),
                );
                branch.set_child(
                    path.get_unchecked(common),
                    Self::Leaf {
                        key: path.slice(common + 1..),
                        value,
                    },
                );
                *self = Self::wrap(path.slice(..common), branch);
                Ok(())
            }
            Self::Branch { children } => {
                let nibble = path.get_unchecked(0); // `open_at`: not at the end of the key
                children[usize::from(nibble)].insert(path.slice(1..), value, nodes)
            }
        }
    }

    /// Removes `path`; a branch left with one child is collapsed into its parent, which needs
    /// that child's node (a `Hash` the witness must hold).
    fn remove(&mut self, path: Nibbles, nodes: &NodeSet) -> Result<(), TrieError> {
        self.open_at(&path, nodes)?;
        match self {
            Self::Empty => Ok(()),
            Self::Hash(_) => unreachable!("opened above"),
            Self::Leaf { key, .. } => {
                if *key == path {
                    *self = Self::Empty;
                }
                Ok(())
            }
            Self::Extension { key, child } => {
                if !path.starts_with(key) {
                    return Ok(());
                }
                child.remove(path.slice(key.len()..), nodes)?;
                let child = std::mem::replace(child.as_mut(), Self::Empty);
                *self = Self::wrap(*key, child);
                Ok(())
            }
            Self::Branch { children } => {
                let nibble = path.get_unchecked(0); // `open_at`: not at the end of the key
                children[usize::from(nibble)].remove(path.slice(1..), nodes)?;
                let mut remaining = children
                    .iter()
                    .enumerate()
                    .filter(|(_, child)| !matches!(child, Self::Empty));
                let (Some((only, _)), None) = (remaining.next(), remaining.next()) else {
                    return Ok(());
                };
                // The surviving sibling merges with this node's position: its kind decides the
                // shape, so it has to be known. A failure leaves this trie half-edited: the
                // caller gives up on the block.
                children[only].open_at(&path.slice(1..), nodes)?;
                let last = std::mem::replace(&mut children[only], Self::Empty);
                *self = Self::wrap(Nibbles::from_nibbles_unchecked([only as u8]), last);
                Ok(())
            }
        }
    }

    fn empty_branch() -> Self {
        Self::Branch {
            children: Box::new(std::array::from_fn(|_| Self::Empty)),
        }
    }

    fn set_child(&mut self, nibble: u8, child: Self) {
        if let Self::Branch { children } = self {
            children[usize::from(nibble)] = child;
        }
    }

    /// `child` under the path `prefix`, in canonical form: prefixes merge into leaves and
    /// extensions, an empty prefix is the child itself, an empty child stays empty. A `Hash`
    /// child is only ever a branch here (callers open a collapsing sibling first; the child of
    /// an extension is a branch by construction).
    fn wrap(prefix: Nibbles, child: Self) -> Self {
        if prefix.is_empty() {
            return child;
        }
        match child {
            Self::Empty => Self::Empty,
            Self::Leaf { key, value } => Self::Leaf {
                key: prefix.join(&key),
                value,
            },
            Self::Extension { key, child } => Self::Extension {
                key: prefix.join(&key),
                child,
            },
            branch @ (Self::Branch { .. } | Self::Hash(_)) => Self::Extension {
                key: prefix,
                child: Box::new(branch),
            },
        }
    }

    /// The node's own RLP encoding.
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Empty => out.push(EMPTY_STRING_CODE),
            Self::Hash(hash) => out.extend_from_slice(RlpNode::word_rlp(hash).as_slice()),
            Self::Leaf { key, value } => {
                LeafNodeRef::new(key, value).rlp(out);
            }
            Self::Extension { key, child } => {
                let child = child.reference();
                ExtensionNodeRef::new(key, &child).rlp(out);
            }
            Self::Branch { children } => {
                let mut mask = TrieMask::default();
                let mut stack = Vec::with_capacity(16);
                for (nibble, child) in children.iter().enumerate() {
                    if !matches!(child, Self::Empty) {
                        mask.set_bit(nibble as u8);
                        stack.push(child.reference());
                    }
                }
                BranchNodeRef::new(&stack, mask).rlp(out);
            }
        }
    }

    /// How a parent refers to this node: its hash, or its encoding if shorter than 32 bytes.
    fn reference(&self) -> RlpNode {
        if let Self::Hash(hash) = self {
            return RlpNode::word_rlp(hash);
        }
        let mut out = Vec::new();
        self.encode(&mut out);
        RlpNode::from_rlp(&out)
    }

    fn hash(&self) -> B256 {
        match self {
            Self::Empty => EMPTY_ROOT_HASH,
            Self::Hash(hash) => *hash,
            node => {
                let mut out = Vec::new();
                node.encode(&mut out);
                keccak256(&out)
            }
        }
    }
}

/// A trie opened at a root, reading and writing through a [`NodeSet`] (see the module docs).
#[derive(Debug, Clone)]
pub struct SparseTrie {
    root: Node,
}

impl SparseTrie {
    /// The trie with root hash `root` (the empty root opens an empty trie).
    pub fn new(root: B256) -> Self {
        Self {
            root: Node::from_root(root),
        }
    }

    /// The value at `key` (a 32-byte hashed key), or `None` if the trie proves its absence.
    pub fn get(&mut self, key: &B256, nodes: &NodeSet) -> Result<Option<&[u8]>, TrieError> {
        self.root.get(Nibbles::unpack(key), nodes)
    }

    /// Sets `key` to `value` (which must not be empty: use [`SparseTrie::remove`]).
    pub fn insert(&mut self, key: &B256, value: Vec<u8>, nodes: &NodeSet) -> Result<(), TrieError> {
        debug_assert!(!value.is_empty(), "empty values are removals");
        self.root.insert(Nibbles::unpack(key), value, nodes)
    }

    /// Removes `key` (a no-op if absent).
    pub fn remove(&mut self, key: &B256, nodes: &NodeSet) -> Result<(), TrieError> {
        self.root.remove(Nibbles::unpack(key), nodes)
    }

    /// The root hash of the trie as it is now.
    pub fn root(&self) -> B256 {
        self.root.hash()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy::trie::{HashBuilder, proof::ProofRetainer};
    use proptest::prelude::*;

    use super::*;

    fn builder_root(entries: &BTreeMap<B256, Vec<u8>>) -> B256 {
        let mut builder = HashBuilder::default();
        for (key, value) in entries {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        builder.root()
    }

    /// Every node of the trie holding `entries` (a full witness), plus its root.
    fn full_witness(entries: &BTreeMap<B256, Vec<u8>>) -> (B256, NodeSet) {
        let keys: Vec<B256> = entries.keys().copied().collect();
        let (root, nodes) = proof(entries, &keys);
        (root, NodeSet::from_nodes(nodes))
    }

    /// The root of the trie holding `entries`, and the proof nodes of `targets` (HashBuilder's).
    fn proof(entries: &BTreeMap<B256, Vec<u8>>, targets: &[B256]) -> (B256, Vec<Bytes>) {
        let targets = targets.iter().map(Nibbles::unpack).collect();
        let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(targets));
        for (key, value) in entries {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        let root = builder.root();
        let nodes = builder
            .take_proof_nodes()
            .into_inner()
            .into_values()
            .collect();
        (root, nodes)
    }

    fn key(byte: u8) -> B256 {
        keccak256([byte])
    }

    /// A value of 1..=40 bytes.
    fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..=40)
    }

    /// Keys that share all but their last two bytes: deep branches whose leaves have 1–3 nibbles
    /// of key and, with short values, RLP encodings under 32 bytes, inlined into their parents.
    #[test]
    fn inline_nodes_are_read_written_and_hashed_like_hash_builder() {
        let key = |suffix: u16| {
            let mut key = B256::repeat_byte(0x11);
            key.0[30..].copy_from_slice(&suffix.to_be_bytes());
            key
        };
        let mut entries: BTreeMap<B256, Vec<u8>> = (0..40u16)
            .map(|i| (key(i * 7), vec![i as u8 + 1]))
            .collect();
        let (root, nodes) = full_witness(&entries);
        assert!(
            nodes.nodes.values().any(|rlp| rlp.len() < 32),
            "some nodes are short enough to be inlined"
        );
        let mut trie = SparseTrie::new(root);
        assert_eq!(trie.get(&key(7), &nodes).unwrap(), Some(&[2u8][..]));
        for i in (0..40u16).step_by(3) {
            trie.remove(&key(i * 7), &nodes).unwrap();
            entries.remove(&key(i * 7));
        }
        trie.insert(&key(1), vec![0xaa], &nodes).unwrap();
        entries.insert(key(1), vec![0xaa]);
        assert_eq!(trie.root(), builder_root(&entries));
    }

    /// A leaf whose key does not reach the end of the path (possible only in a forged node) is
    /// malformed, not a panic.
    #[test]
    fn a_node_that_does_not_fit_its_depth_is_malformed() {
        let mut rlp = Vec::new();
        LeafNodeRef::new(&Nibbles::from_nibbles([1, 2, 3]), &[7u8; 40]).rlp(&mut rlp);
        let nodes = NodeSet::from_nodes([Bytes::from(rlp.clone())]);
        for op in 0..3 {
            let mut trie = SparseTrie::new(keccak256(&rlp));
            let outcome = match op {
                0 => trie.get(&key(1), &nodes).map(|_| ()),
                1 => trie.insert(&key(1), vec![1], &nodes),
                _ => trie.remove(&key(1), &nodes),
            };
            assert!(
                matches!(outcome, Err(TrieError::Malformed { .. })),
                "op {op}"
            );
        }
    }

    #[test]
    fn empty_trie_has_the_empty_root() {
        let trie = SparseTrie::new(EMPTY_ROOT_HASH);
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn a_missing_node_is_an_error_not_an_absence() {
        let mut trie = SparseTrie::new(B256::repeat_byte(7));
        assert_eq!(
            trie.get(&key(1), &NodeSet::default()),
            Err(TrieError::MissingNode(B256::repeat_byte(7)))
        );
    }

    /// Deleting one of a branch's two children collapses the branch onto the other: without the
    /// other's node in the witness the new root is unknowable, so removal fails.
    #[test]
    fn a_collapse_onto_an_unproven_sibling_fails_closed() {
        // Two keys that differ in their first nibble: the root is a branch with two children.
        let (a, b) = (0u8..)
            .map(key)
            .zip((0u8..).map(key).skip(1))
            .find(|(a, b)| a[0] >> 4 != b[0] >> 4)
            .unwrap();
        let entries = BTreeMap::from([(a, vec![0xaa; 40]), (b, vec![0xbb; 40])]);
        let (root, all) = full_witness(&entries);
        // A witness proving `a` only: the root branch and a's leaf.
        let (proof_root, proof_nodes) = proof(&entries, &[a]);
        assert_eq!(proof_root, root);
        let partial = NodeSet::from_nodes(proof_nodes);
        assert!(partial.len() < all.len());

        let mut trie = SparseTrie::new(root);
        assert!(matches!(
            trie.remove(&a, &partial),
            Err(TrieError::MissingNode(_))
        ));
        let mut trie = SparseTrie::new(root);
        trie.remove(&a, &all).unwrap();
        assert_eq!(
            trie.root(),
            builder_root(&BTreeMap::from([(b, vec![0xbb; 40])]))
        );
    }

    /// A pre-state witness proving only the deleted key, plus the candidates rebuilt from the
    /// post-state proof of that key, suffices to collapse onto a leaf sibling.
    #[test]
    fn post_state_hints_rebuild_a_collapsed_leaf_sibling() {
        let mut checked = 0;
        for seed in 0u16..200 {
            let entries: BTreeMap<B256, Vec<u8>> = (0..24u16)
                .map(|i| {
                    (
                        keccak256([seed.to_be_bytes(), i.to_be_bytes()].concat()),
                        vec![i as u8 + 1; 36],
                    )
                })
                .collect();
            let deleted = *entries.keys().nth(usize::from(seed) % 24).unwrap();
            let (root, pre_nodes) = proof(&entries, &[deleted]);
            let mut after = entries.clone();
            after.remove(&deleted);
            let (post_root, post_nodes) = proof(&after, &[deleted]);

            let mut trie = SparseTrie::new(root);
            match trie.remove(&deleted, &NodeSet::from_nodes(pre_nodes.clone())) {
                Ok(()) => continue, // the sibling was on the proof path already
                Err(TrieError::MissingNode(_)) => {}
                Err(other) => panic!("{other}"),
            }
            let hints = post_nodes.iter().flat_map(|n| collapse_candidates(n));
            let nodes = NodeSet::from_nodes(pre_nodes.into_iter().chain(hints));
            let mut trie = SparseTrie::new(root);
            match trie.remove(&deleted, &nodes) {
                Ok(()) => {
                    assert_eq!(trie.root(), post_root, "seed {seed}");
                    checked += 1;
                }
                // A branch sibling cannot be rebuilt: still fails closed.
                Err(TrieError::MissingNode(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert!(
            checked > 20,
            "only {checked} collapses onto a leaf were exercised"
        );
    }

    #[test]
    fn a_tampered_node_is_not_found_under_the_root() {
        let entries = BTreeMap::from([(key(1), vec![1; 40]), (key(2), vec![2; 40])]);
        let (root, nodes) = full_witness(&entries);
        let tampered = NodeSet::from_nodes(nodes.nodes.values().map(|rlp| {
            let mut rlp = rlp.to_vec();
            *rlp.last_mut().unwrap() ^= 1;
            Bytes::from(rlp)
        }));
        let mut trie = SparseTrie::new(root);
        assert!(matches!(
            trie.get(&key(1), &tampered),
            Err(TrieError::MissingNode(hash)) if hash == root
        ));
    }

    #[test]
    fn a_branch_with_a_value_is_malformed() {
        let mut rlp = vec![0xd1];
        rlp.extend([EMPTY_STRING_CODE; 16]);
        rlp.push(0x01);
        let hash = keccak256(&rlp);
        let mut trie = SparseTrie::new(hash);
        assert!(matches!(
            trie.get(&key(1), &NodeSet::from_nodes([Bytes::from(rlp)])),
            Err(TrieError::Malformed { .. })
        ));
    }

    proptest! {
        // 10,000 random key sets, each built, edited and compared with alloy-trie's HashBuilder.
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// Opened on a full witness of `initial`, then edited (inserts, overwrites, removals of
        /// present and absent keys), the trie's root equals HashBuilder's root of the result,
        /// and every read returns the current value.
        #[test]
        fn edits_match_hash_builder(
            initial in proptest::collection::btree_map(any::<[u8; 2]>(), value_strategy(), 0..48),
            edits in proptest::collection::vec((any::<[u8; 2]>(), proptest::option::of(value_strategy())), 0..48),
        ) {
            // Two-byte preimages: keys collide in their first nibbles, so branches, extensions
            // and collapses are frequent.
            let mut entries: BTreeMap<B256, Vec<u8>> =
                initial.into_iter().map(|(k, v)| (keccak256(k), v)).collect();
            let (root, nodes) = full_witness(&entries);
            prop_assert_eq!(root, builder_root(&entries));
            let mut trie = SparseTrie::new(root);
            for (preimage, value) in edits {
                let k = keccak256(preimage);
                match value {
                    Some(v) => {
                        trie.insert(&k, v.clone(), &nodes).unwrap();
                        entries.insert(k, v);
                    }
                    None => {
                        trie.remove(&k, &nodes).unwrap();
                        entries.remove(&k);
                    }
                }
            }
            prop_assert_eq!(trie.root(), builder_root(&entries));
            for (k, v) in &entries {
                prop_assert_eq!(trie.get(k, &nodes).unwrap(), Some(v.as_slice()));
            }
            prop_assert_eq!(trie.get(&keccak256([0u8; 3]), &nodes).unwrap(), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// With a witness that proves only the edited keys (what a block's witness is), reads
        /// and edits still give HashBuilder's root, or fail with `MissingNode`, never a wrong
        /// root.
        #[test]
        fn a_proof_only_witness_never_gives_a_wrong_root(
            initial in proptest::collection::btree_map(any::<[u8; 2]>(), value_strategy(), 1..48),
            edits in proptest::collection::vec((any::<[u8; 2]>(), proptest::option::of(value_strategy())), 1..8),
        ) {
            let mut entries: BTreeMap<B256, Vec<u8>> =
                initial.into_iter().map(|(k, v)| (keccak256(k), v)).collect();
            let targets: Vec<B256> = edits.iter().map(|(p, _)| keccak256(p)).collect();
            let (root, nodes) = proof(&entries, &targets);
            let nodes = NodeSet::from_nodes(nodes);
            let mut trie = SparseTrie::new(root);
            for (preimage, value) in edits {
                let k = keccak256(preimage);
                let outcome = match &value {
                    Some(v) => trie.insert(&k, v.clone(), &nodes),
                    None => trie.remove(&k, &nodes),
                };
                match outcome {
                    Ok(()) => match value {
                        Some(v) => { entries.insert(k, v); }
                        None => { entries.remove(&k); }
                    },
                    Err(TrieError::MissingNode(_)) => return Ok(()),
                    Err(other) => prop_assert!(false, "unexpected {other}"),
                }
            }
            prop_assert_eq!(trie.root(), builder_root(&entries));
        }
    }
}
