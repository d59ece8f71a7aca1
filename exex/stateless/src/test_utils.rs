//! The Ethereum execution specification as a test oracle, and full witnesses of a state.
//!
//! [`spec_fixtures`] runs `tests/spec/blocks.py` (blocks executed by the specification's own
//! state-transition tool, in the venv `tools/install-spec.sh` makes) and parses its fixtures;
//! [`FullState`] hashes an allocation with alloy-trie's `HashBuilder` and keeps every node.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use alloy::{
    consensus::{Header, TxEnvelope},
    eips::{Decodable2718, eip4895::Withdrawal},
    primitives::{Address, B256, Bloom, Bytes, U256, keccak256},
    rlp::Encodable,
    trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount, proof::ProofRetainer},
};
use alloy_hardforks::EthereumHardfork;
use serde::Deserialize;

use crate::{
    ChainRules, ExecuteError, Executed, Verdict, Witness, execute_block, verify_state_root,
};

/// One account of an allocation (the execution spec's `alloc` format).
#[derive(Debug, Clone, Deserialize)]
pub struct AllocAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    #[serde(with = "alloy::serde::quantity")]
    pub nonce: u64,
    /// Code.
    pub code: Bytes,
    /// Non-zero storage slots.
    pub storage: BTreeMap<B256, U256>,
}

/// Accounts by address.
pub type Alloc = BTreeMap<Address, AllocAccount>;

/// A withdrawal as the fixtures write it (amount in gwei).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureWithdrawal {
    #[serde(with = "alloy::serde::quantity")]
    index: u64,
    #[serde(with = "alloy::serde::quantity")]
    validator_index: u64,
    address: Address,
    #[serde(with = "alloy::serde::quantity")]
    amount: u64,
}

/// The parts of the block environment the header does not carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Env {
    block_hashes: BTreeMap<U256, B256>,
    withdrawals: Vec<FixtureWithdrawal>,
}

/// A header with the hash the specification computed for it.
#[derive(Debug, Clone, Deserialize)]
struct HashedHeader {
    #[serde(flatten)]
    header: Header,
    hash: B256,
}

/// The commitments the specification computed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecResult {
    /// Post-state root.
    pub state_root: B256,
    /// Receipts root.
    pub receipts_root: B256,
    /// Transactions root.
    pub tx_root: B256,
    /// Gas used.
    #[serde(with = "alloy::serde::quantity")]
    pub gas_used: u64,
    /// Logs bloom.
    pub logs_bloom: Bloom,
    /// Withdrawals root.
    pub withdrawals_root: B256,
    /// EIP-7685 requests hash.
    pub requests_hash: B256,
}

/// One block the specification executed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fixture {
    /// Unique name (`transfers`, `branch_collapse`, ...).
    pub name: String,
    /// Chain id the transactions are signed for.
    pub chain_id: u64,
    /// The parent's state.
    pub pre: Alloc,
    /// The specification's root of `pre`.
    pub pre_state_root: B256,
    env: Env,
    /// The parent and its ancestors, oldest first.
    ancestors: Vec<HashedHeader>,
    /// The block's header.
    header: HashedHeader,
    /// Raw EIP-2718 transactions.
    pub txs: Vec<Bytes>,
    /// What the specification computed.
    pub result: SpecResult,
    /// The state after the block.
    pub post: Alloc,
}

impl Fixture {
    /// The fork rules the fixtures are executed under (Prague from genesis).
    pub fn rules(&self) -> ChainRules {
        ChainRules::dev(self.chain_id, EthereumHardfork::Prague)
    }

    /// The block's header, as the specification built and hashed it.
    ///
    /// # Panics
    /// If alloy's encoding of the header does not hash to the specification's block hash.
    pub fn header(&self) -> Header {
        let header = self.header.header.clone();
        assert_eq!(
            header.hash_slow(),
            self.header.hash,
            "{}: header hash",
            self.name
        );
        header
    }

    /// The block's hash.
    pub fn hash(&self) -> B256 {
        self.header.hash
    }

    /// The parent and its ancestors (oldest first), each with its hash.
    pub fn ancestors(&self) -> Vec<(Header, B256)> {
        self.ancestors
            .iter()
            .map(|a| {
                assert_eq!(a.header.hash_slow(), a.hash, "{}: ancestor hash", self.name);
                (a.header.clone(), a.hash)
            })
            .collect()
    }

    /// The block's transactions.
    pub fn transactions(&self) -> Vec<TxEnvelope> {
        self.txs
            .iter()
            .map(|raw| TxEnvelope::decode_2718(&mut raw.as_ref()).expect("fixture transaction"))
            .collect()
    }

    /// The block's withdrawals.
    pub fn withdrawals(&self) -> Vec<Withdrawal> {
        self.env
            .withdrawals
            .iter()
            .map(|w| Withdrawal {
                index: w.index,
                validator_index: w.validator_index,
                address: w.address,
                amount: w.amount,
            })
            .collect()
    }

    /// The accounts the block touches (changed ones, its transactions' senders and recipients,
    /// the coinbase, withdrawal recipients; not the system contracts) with the slots it changes:
    /// what a node's `prestateTracer` reports.
    pub fn touched(&self) -> BTreeMap<Address, std::collections::BTreeSet<B256>> {
        let mut touched = self.changes();
        for system in SYSTEM_CONTRACTS {
            touched.remove(&system);
        }
        touched
    }

    /// [`Fixture::touched`], with the system contracts and the slots their calls change.
    fn changes(&self) -> BTreeMap<Address, std::collections::BTreeSet<B256>> {
        use alloy::consensus::{Transaction, transaction::SignerRecoverable};
        let (pre, post) = (&self.pre, &self.post);
        let empty = BTreeMap::new();
        let mut touched: BTreeMap<Address, std::collections::BTreeSet<B256>> = BTreeMap::new();
        for address in pre.keys().chain(post.keys()) {
            let (before, after) = (pre.get(address), post.get(address));
            if before.map(AllocAccount::fingerprint) == after.map(AllocAccount::fingerprint) {
                continue;
            }
            let (a, b) = (
                before.map_or(&empty, |acc| &acc.storage),
                after.map_or(&empty, |acc| &acc.storage),
            );
            let changed = a
                .keys()
                .chain(b.keys())
                .filter(|slot| a.get(*slot) != b.get(*slot));
            touched.entry(*address).or_default().extend(changed);
        }
        for tx in self.transactions() {
            touched
                .entry(tx.recover_signer().expect("signed"))
                .or_default();
            if let Some(to) = tx.to() {
                touched.entry(to).or_default();
            }
        }
        touched.entry(self.header().beneficiary).or_default();
        for withdrawal in self.withdrawals() {
            touched.entry(withdrawal.address).or_default();
        }
        touched
    }

    /// Executes the block over `witness`, rooted at `parent_root`.
    pub fn execute(&self, parent_root: B256, witness: &Witness) -> Result<Executed, ExecuteError> {
        execute_block(
            &self.rules(),
            &self.header(),
            &self.transactions(),
            Some(&self.withdrawals()),
            parent_root,
            witness,
            &self.block_hashes(),
        )
    }

    /// The verdict on the block under `header` (the fixture's, or one a test altered),
    /// re-executed over `witness` rooted at `parent_root`.
    pub fn verify(&self, header: &Header, parent_root: B256, witness: &Witness) -> Verdict {
        verify_state_root(
            &self.rules(),
            header,
            &self.transactions(),
            Some(&self.withdrawals()),
            parent_root,
            witness,
            &self.block_hashes(),
        )
    }

    /// The ancestors' hashes `BLOCKHASH` may read.
    pub fn block_hashes(&self) -> BTreeMap<u64, B256> {
        self.env
            .block_hashes
            .iter()
            .map(|(number, hash)| (number.to(), *hash))
            .collect()
    }
}

/// Path of the repository's root (this crate is `exex/stateless`).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the specification over `tests/spec/blocks.py`'s blocks and returns its fixtures.
///
/// # Panics
/// If the specification's venv is missing (run `bash tools/install-spec.sh`, which `just test`
/// does) or the generator fails.
pub fn spec_fixtures() -> Vec<Fixture> {
    run_generator(&[])
}

/// Blocks of about 1, 10 and 30 million gas (transfers, storage writes and deletions, hashing
/// loops; `bench_1mgas`, `bench_10mgas`, `bench_30mgas`), executed by the specification (about
/// 25 s of Python).
///
/// # Panics
/// As [`spec_fixtures`].
pub fn spec_bench_fixtures() -> Vec<Fixture> {
    run_generator(&["--bench"])
}

fn run_generator(args: &[&str]) -> Vec<Fixture> {
    #[derive(Deserialize)]
    struct Output {
        fixtures: Vec<Fixture>,
    }
    let root = repo_root();
    let python = root.join(".tools/spec-venv/bin/python");
    assert!(
        python.exists(),
        "the execution specification is not installed: run `bash tools/install-spec.sh` \
         (`just test` does)"
    );
    let output = Command::new(&python)
        .arg(root.join("exex/stateless/tests/spec/blocks.py"))
        .args(args)
        .current_dir(&root)
        .output()
        .expect("run the specification's block generator");
    assert!(
        output.status.success(),
        "the specification's block generator failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output: Output =
        serde_json::from_slice(&output.stdout).expect("the generator prints its fixtures as JSON");
    output.fixtures
}

/// Nodes of a state's tries (all of them, or a block's proofs), codes, and the state root.
#[derive(Debug, Clone)]
pub struct FullState {
    /// The state root.
    pub root: B256,
    /// Every trie node (account trie and all storage tries).
    pub nodes: Vec<Bytes>,
    /// Every non-empty code.
    pub codes: Vec<Bytes>,
}

impl FullState {
    /// Hashes `alloc` with alloy-trie's `HashBuilder`, keeping every node.
    pub fn of(alloc: &Alloc) -> Self {
        let mut nodes = Vec::new();
        let mut leaves = BTreeMap::new();
        for (address, account) in alloc {
            let slots = account.storage_leaves();
            let every_slot: Vec<B256> = slots.keys().copied().collect();
            hash_with_nodes(&slots, &every_slot, &mut nodes);
            leaves.insert(keccak256(address), account.leaf());
        }
        let every_account: Vec<B256> = leaves.keys().copied().collect();
        let root = hash_with_nodes(&leaves, &every_account, &mut nodes);
        let codes = alloc
            .values()
            .filter(|account| !account.code.is_empty())
            .map(|account| account.code.clone())
            .collect();
        Self { root, nodes, codes }
    }

    /// All of it as a witness.
    pub fn witness(&self) -> Witness {
        Witness::new(self.nodes.iter().cloned(), self.codes.iter().cloned())
    }

    /// The part of the state a node serves as `fixture`'s block witness: the proofs of every account and slot
    /// the block changes or reads (its transactions' senders and recipients, the coinbase,
    /// withdrawal recipients, the system contracts), plus the proofs of the neighbours of every
    /// deleted key, whose nodes a collapsing branch needs.
    pub fn for_block(fixture: &Fixture) -> Self {
        let pre = &fixture.pre;
        let touched = fixture.changes();
        let accounts: Vec<Address> = touched.keys().copied().chain(SYSTEM_CONTRACTS).collect();
        let account_keys: Vec<B256> = accounts.iter().map(keccak256).collect();

        let mut nodes = Vec::new();
        let mut leaves = BTreeMap::new();
        for (address, account) in pre {
            let slots = account.storage_leaves();
            let changed = touched
                .get(address)
                .into_iter()
                .flatten()
                .map(keccak256)
                .collect();
            hash_with_nodes(&slots, &with_neighbours(&slots, changed), &mut nodes);
            leaves.insert(keccak256(address), account.leaf());
        }
        hash_with_nodes(&leaves, &with_neighbours(&leaves, account_keys), &mut nodes);
        let codes = accounts
            .iter()
            .filter_map(|a| pre.get(a))
            .filter(|account| !account.code.is_empty())
            .map(|account| account.code.clone())
            .collect();
        Self {
            root: fixture.pre_state_root,
            nodes,
            codes,
        }
    }

    /// A witness without the node at `index` of [`FullState::nodes`].
    pub fn witness_without(&self, index: usize) -> Witness {
        let nodes = self.nodes.iter().enumerate().filter(|(i, _)| *i != index);
        Witness::new(
            nodes.map(|(_, node)| node.clone()),
            self.codes.iter().cloned(),
        )
    }
}

/// `eth_getProof` of `address` and `slots` in the state `alloc`, as a node answers it.
pub fn account_proof(
    alloc: &Alloc,
    address: Address,
    slots: &[B256],
) -> alloy::rpc::types::EIP1186AccountProofResponse {
    use alloy::rpc::types::EIP1186StorageProof;
    let account = alloc.get(&address);
    let leaves: BTreeMap<B256, Vec<u8>> = alloc
        .iter()
        .map(|(a, acc)| (keccak256(a), acc.leaf()))
        .collect();
    let mut account_proof = Vec::new();
    hash_with_nodes(&leaves, &[keccak256(address)], &mut account_proof);
    let storage = account
        .map(AllocAccount::storage_leaves)
        .unwrap_or_default();
    let storage_proof = slots
        .iter()
        .map(|slot| {
            let mut proof = Vec::new();
            hash_with_nodes(&storage, &[keccak256(slot)], &mut proof);
            EIP1186StorageProof {
                key: (*slot).into(),
                value: account
                    .and_then(|acc| acc.storage.get(slot).copied())
                    .unwrap_or_default(),
                proof,
            }
        })
        .collect();
    alloy::rpc::types::EIP1186AccountProofResponse {
        address,
        balance: account.map(|a| a.balance).unwrap_or_default(),
        code_hash: account.map_or(alloy::primitives::KECCAK256_EMPTY, |a| keccak256(&a.code)),
        nonce: account.map(|a| a.nonce).unwrap_or_default(),
        storage_hash: hash_with_nodes(&storage, &[], &mut Vec::new()),
        account_proof,
        storage_proof,
    }
}

/// The EIP-2935, EIP-4788, EIP-7002 and EIP-7251 system contracts every Prague block calls.
const SYSTEM_CONTRACTS: [Address; 4] = [
    alloy::eips::eip2935::HISTORY_STORAGE_ADDRESS,
    alloy::eips::eip4788::BEACON_ROOTS_ADDRESS,
    alloy::eips::eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    alloy::eips::eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
];

impl AllocAccount {
    /// The account's storage trie leaves (hashed slot → RLP value).
    fn storage_leaves(&self) -> BTreeMap<B256, Vec<u8>> {
        self.storage
            .iter()
            .filter(|(_, value)| !value.is_zero())
            .map(|(slot, value)| (keccak256(slot), alloy::rlp::encode(value)))
            .collect()
    }

    /// The account trie leaf (the storage root computed from the slots).
    fn leaf(&self) -> Vec<u8> {
        let storage_root = hash_with_nodes(&self.storage_leaves(), &[], &mut Vec::new());
        let mut value = Vec::new();
        TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root,
            code_hash: keccak256(&self.code),
        }
        .encode(&mut value);
        value
    }

    /// Everything, to tell changed accounts apart.
    fn fingerprint(&self) -> (U256, u64, &Bytes, &BTreeMap<B256, U256>) {
        (self.balance, self.nonce, &self.code, &self.storage)
    }
}

/// `keys` plus, for each key, the nearest keys of `leaves` on either side: a deleted key's
/// collapsing branch keeps a sibling whose subtree holds one of them.
fn with_neighbours(leaves: &BTreeMap<B256, Vec<u8>>, keys: Vec<B256>) -> Vec<B256> {
    let mut all = keys.clone();
    for key in keys {
        all.extend(leaves.range(..key).next_back().map(|(k, _)| *k));
        all.extend(
            leaves
                .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
                .next()
                .map(|(k, _)| *k),
        );
    }
    all
}

/// The root of the trie holding `leaves`, pushing the proof nodes of `targets` onto `nodes`.
fn hash_with_nodes(
    leaves: &BTreeMap<B256, Vec<u8>>,
    targets: &[B256],
    nodes: &mut Vec<Bytes>,
) -> B256 {
    if leaves.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    let targets = targets.iter().map(Nibbles::unpack).collect();
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(targets));
    for (key, value) in leaves {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    let root = builder.root();
    nodes.extend(builder.take_proof_nodes().into_inner().into_values());
    root
}
