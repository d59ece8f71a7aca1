//! Executing a block over a witness and hashing the state it leaves.

use std::{borrow::Cow, collections::BTreeMap};

use alloy::{
    consensus::{
        Header, ReceiptEnvelope, TxEnvelope,
        proofs::calculate_receipt_root,
        transaction::{Recovered, SignerRecoverable},
    },
    eips::eip4895::Withdrawal,
    primitives::{B256, Bloom, keccak256, map::B256Map},
};
use alloy_evm::{
    EvmEnv, EvmFactory,
    block::{BlockExecutionError, BlockExecutor},
    eth::{
        EthBlockExecutionCtx, EthBlockExecutor, EthEvmFactory, receipt_builder::AlloyReceiptBuilder,
    },
};
use alloy_hardforks::EthereumHardforks;
use revm::{
    bytecode::Bytecode,
    database::{State, states::bundle_state::BundleRetention},
};

use crate::{
    chain::ChainRules,
    db::{WitnessDb, WitnessError},
    trie::NodeSet,
};

/// What a stateless execution needs besides the block: the witness's trie nodes and codes.
#[derive(Debug, Clone, Default)]
pub struct Witness {
    /// Trie nodes of the parent's state (account and storage tries alike).
    pub nodes: NodeSet,
    /// Contract codes, by hash (hashed here, like the nodes).
    pub codes: B256Map<Bytecode>,
}

impl Witness {
    /// A witness from nodes and codes as a node serves them. A code revm cannot decode (a
    /// malformed EIP-7702 delegation) is left out: an account that needs it is unverifiable.
    pub fn new(
        nodes: impl IntoIterator<Item = alloy::primitives::Bytes>,
        codes: impl IntoIterator<Item = alloy::primitives::Bytes>,
    ) -> Self {
        Self {
            nodes: NodeSet::from_nodes(nodes),
            codes: codes
                .into_iter()
                .filter_map(|code| {
                    let hash = keccak256(&code);
                    Bytecode::new_raw_checked(code)
                        .ok()
                        .map(|code| (hash, code))
                })
                .collect(),
        }
    }

    /// Size of the nodes and codes in bytes.
    pub fn byte_len(&self) -> usize {
        self.nodes.byte_len() + self.codes.values().map(Bytecode::len).sum::<usize>()
    }
}

/// The commitments a block's execution produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// State root after the block.
    pub state_root: B256,
    /// Receipts root of the receipts execution produced.
    pub receipts_root: B256,
    /// OR of the receipts' blooms.
    pub logs_bloom: Bloom,
    /// Gas the block used.
    pub gas_used: u64,
    /// EIP-7685 requests hash (Prague on).
    pub requests_hash: Option<B256>,
    /// The receipts execution produced.
    pub receipts: Vec<ReceiptEnvelope>,
}

/// Why a block could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// A transaction's signature does not recover a sender.
    #[error("transaction {index} has no valid signature")]
    Signature {
        /// Position in the block.
        index: usize,
    },
    /// The block does not execute (an invalid transaction, a failed system call) or the
    /// witness was missing something execution read.
    #[error("block execution failed: {0}")]
    Execution(#[from] BlockExecutionError),
    /// Execution succeeded but its changes could not be written into the witness's tries: a
    /// removal collapses a branch onto a sibling the witness does not hold.
    #[error("the post-state cannot be hashed: {0}")]
    PostState(WitnessError),
}

/// Executes `header`'s block (`transactions`, `withdrawals`) on the state at
/// `parent_state_root` as `witness` reveals it, and returns the commitments it produces.
/// `block_hashes` are the canonical hashes of recent ancestors (for `BLOCKHASH`).
pub fn execute_block(
    rules: &ChainRules,
    header: &Header,
    transactions: &[TxEnvelope],
    withdrawals: Option<&[Withdrawal]>,
    parent_state_root: B256,
    witness: &Witness,
    block_hashes: &BTreeMap<u64, B256>,
) -> Result<Executed, ExecuteError> {
    let recovered = transactions
        .iter()
        .enumerate()
        .map(|(index, tx)| {
            // Checked recovery: a high-s signature is invalid since Homestead.
            tx.recover_signer()
                .map(|signer| Recovered::new_unchecked(tx, signer))
                .map_err(|_| ExecuteError::Signature { index })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let db = WitnessDb::new(
        parent_state_root,
        &witness.nodes,
        &witness.codes,
        block_hashes,
    );
    let mut state = State::builder()
        .with_database(db)
        .with_bundle_update()
        .build();
    let env = EvmEnv::for_eth_block(
        header,
        rules,
        rules.chain_id(),
        rules.blob_params_at(header.timestamp),
    );
    let evm = EthEvmFactory::default().create_evm(&mut state, env);
    let ctx = EthBlockExecutionCtx {
        parent_hash: header.parent_hash,
        parent_beacon_block_root: header.parent_beacon_block_root,
        ommers: &[],
        withdrawals: withdrawals.map(Cow::Borrowed),
        extra_data: header.extra_data.clone(),
        tx_count_hint: Some(transactions.len()),
        slot_number: None,
    };
    let executor = EthBlockExecutor::new(evm, ctx, rules, AlloyReceiptBuilder::default());
    let result = executor.execute_block(recovered)?;

    state.merge_transitions(BundleRetention::PlainState);
    let bundle = state.take_bundle();
    let state_root = state
        .database
        .apply(&bundle)
        .map_err(ExecuteError::PostState)?;

    let logs_bloom = result
        .receipts
        .iter()
        .fold(Bloom::ZERO, |bloom, receipt| bloom | receipt.logs_bloom());
    Ok(Executed {
        state_root,
        receipts_root: calculate_receipt_root(&result.receipts),
        logs_bloom,
        gas_used: result.gas_used,
        requests_hash: rules
            .is_prague_active_at_timestamp(header.timestamp)
            .then(|| result.requests.requests_hash()),
        receipts: result.receipts,
    })
}
