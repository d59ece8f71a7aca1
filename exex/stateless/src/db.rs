//! A revm [`Database`] over a witness: every account and slot it serves is read from a
//! [`SparseTrie`] opened at the parent block's state root.

use std::collections::{BTreeMap, HashMap};

use alloy::{
    primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256, map::B256Map},
    rlp::Decodable,
    trie::{EMPTY_ROOT_HASH, TrieAccount},
};
use revm::{
    Database, bytecode::Bytecode, database::BundleState, database_interface::DBErrorMarker,
    state::AccountInfo,
};

use crate::trie::{NodeSet, SparseTrie, TrieError};

/// Why the witness could not answer a read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// A trie node on the path to the value is missing or malformed.
    #[error(transparent)]
    Trie(#[from] TrieError),
    /// An account's code is not in the witness.
    #[error("the witness lacks the code with hash {0}")]
    MissingCode(B256),
    /// A `BLOCKHASH` (or EIP-2935) read of a block the host's window does not hold.
    #[error("no canonical hash for block {0}")]
    MissingBlockHash(u64),
    /// A proven leaf is not a valid account or storage value.
    #[error("{what} at {key} is not valid RLP: {reason}")]
    BadLeaf {
        /// `account` or `storage slot`.
        what: &'static str,
        /// The hashed key.
        key: B256,
        /// The decoder's message.
        reason: String,
    },
}

impl DBErrorMarker for WitnessError {}

/// The pre-state: tries opened at the parent's state root, the witness's nodes and codes, and
/// the canonical hashes `BLOCKHASH` may read.
#[derive(Debug)]
pub struct WitnessDb<'w> {
    nodes: &'w NodeSet,
    codes: &'w B256Map<Bytecode>,
    block_hashes: &'w BTreeMap<u64, B256>,
    accounts: SparseTrie,
    storage: HashMap<Address, SparseTrie>,
}

impl<'w> WitnessDb<'w> {
    /// The state at `state_root`, as far as `nodes` reveal it.
    pub fn new(
        state_root: B256,
        nodes: &'w NodeSet,
        codes: &'w B256Map<Bytecode>,
        block_hashes: &'w BTreeMap<u64, B256>,
    ) -> Self {
        Self {
            nodes,
            codes,
            block_hashes,
            accounts: SparseTrie::new(state_root),
            storage: HashMap::new(),
        }
    }

    /// The account at `address` as the account trie holds it now.
    pub(crate) fn account(
        &mut self,
        address: Address,
    ) -> Result<Option<TrieAccount>, WitnessError> {
        let key = keccak256(address);
        let Some(mut leaf) = self.accounts.get(&key, self.nodes)? else {
            return Ok(None);
        };
        TrieAccount::decode(&mut leaf)
            .map(Some)
            .map_err(|e| WitnessError::BadLeaf {
                what: "account",
                key,
                reason: e.to_string(),
            })
    }

    /// The storage trie of `address`, opened at its current storage root on first use.
    pub(crate) fn storage_trie(
        &mut self,
        address: Address,
    ) -> Result<&mut SparseTrie, WitnessError> {
        if !self.storage.contains_key(&address) {
            let root = self
                .account(address)?
                .map_or(EMPTY_ROOT_HASH, |account| account.storage_root);
            self.storage.insert(address, SparseTrie::new(root));
        }
        Ok(self.storage.get_mut(&address).expect("inserted above"))
    }

    /// Writes a block's changes into the tries and returns the new state root. Removals that
    /// collapse a branch onto a sibling the witness does not prove fail (see [`SparseTrie`]).
    ///
    /// Every trie gets its insertions before its removals, each in hashed-key order, as geth
    /// and reth apply them when they build a witness: a removal then only needs the siblings
    /// that the final trie collapses onto, which is what their witnesses hold.
    pub(crate) fn apply(&mut self, bundle: &BundleState) -> Result<B256, WitnessError> {
        let nodes = self.nodes;
        let mut changed: Vec<_> = bundle
            .state
            .iter()
            .map(|(address, account)| (keccak256(address), address, account))
            .collect();
        changed.sort_unstable_by_key(|(key, _, _)| *key);
        let mut removed = Vec::new();
        for (key, address, account) in changed {
            let Some(info) = &account.info else {
                // Self-destructed, or touched while empty (EIP-161).
                removed.push(key);
                continue;
            };
            if account.status.was_destroyed() {
                // Destroyed and re-created within the block: the old storage is gone.
                self.storage
                    .insert(*address, SparseTrie::new(EMPTY_ROOT_HASH));
            }
            let trie = self.storage_trie(*address)?;
            let mut slots: Vec<_> = account
                .storage
                .iter()
                .map(|(slot, value)| (keccak256(B256::from(*slot)), value.present_value))
                .collect();
            slots.sort_unstable_by_key(|(key, value)| (value.is_zero(), *key));
            for (slot_key, value) in slots {
                if value.is_zero() {
                    trie.remove(&slot_key, nodes)?;
                } else {
                    trie.insert(&slot_key, alloy::rlp::encode(value), nodes)?;
                }
            }
            let leaf = TrieAccount {
                nonce: info.nonce,
                balance: info.balance,
                storage_root: trie.root(),
                code_hash: info.code_hash,
            };
            self.accounts
                .insert(&key, alloy::rlp::encode(leaf), nodes)?;
        }
        for key in removed {
            self.accounts.remove(&key, nodes)?;
        }
        Ok(self.accounts.root())
    }
}

impl Database for WitnessDb<'_> {
    type Error = WitnessError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let Some(account) = self.account(address)? else {
            return Ok(None);
        };
        // The code is left to `code_by_hash`, which revm calls only when it runs or copies it:
        // witnesses (reth's, geth's) hold only the codes execution read, not those of every
        // account whose balance was touched.
        Ok(Some(AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: account.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK256_EMPTY {
            return Ok(Bytecode::default());
        }
        self.codes
            .get(&code_hash)
            .cloned()
            .ok_or(WitnessError::MissingCode(code_hash))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        let nodes = self.nodes;
        let key = keccak256(B256::from(index));
        let Some(mut leaf) = self.storage_trie(address)?.get(&key, nodes)? else {
            return Ok(U256::ZERO);
        };
        U256::decode(&mut leaf).map_err(|e| WitnessError::BadLeaf {
            what: "storage slot",
            key,
            reason: e.to_string(),
        })
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.block_hashes
            .get(&number)
            .copied()
            .ok_or(WitnessError::MissingBlockHash(number))
    }
}
