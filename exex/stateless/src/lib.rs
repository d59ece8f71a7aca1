//! Stateless re-execution of an attested block: the node signs a state root only when its own
//! execution of the block reproduces it.
//!
//! A block is executed with alloy-evm's Ethereum block executor (revm, the chain's fork rules,
//! the EIP-2935/4788 pre-block and EIP-7002/7251 post-block system calls, withdrawals) over a
//! [`WitnessDb`](db::WitnessDb): the parent's state as a [`SparseTrie`](trie::SparseTrie) opened
//! at the parent header's state root and resolved from the witness's nodes. The block's changes
//! are written back into those tries and the new root is compared with the header's.
//!
//! Invariants:
//! - Every value execution reads is proven against the parent's state root; a node the witness
//!   lacks is an error, never a zero. A witness therefore cannot make the node compute a wrong
//!   root; at worst it makes the block [`Verdict::Unverifiable`].
//! - A deletion that collapses a branch onto a sibling the witness does not prove is
//!   `Unverifiable`, never guessed.
//! - Only [`Verdict::Verified`] means the state root was reproduced; the host's policy decides
//!   what the other verdicts stop.
//!
//! Modules: [`trie`] (the partial trie), [`db`] (revm's view of it), [`execute`] (running a
//! block), [`chain`] (fork rules).

pub mod chain;
pub mod db;
pub mod execute;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod trie;

use std::collections::BTreeMap;

use alloy::{
    consensus::{Header, TxEnvelope},
    eips::eip4895::Withdrawal,
    primitives::B256,
};

pub use chain::ChainRules;
pub use execute::{ExecuteError, Executed, Witness, execute_block};

/// The outcome of re-executing a block against its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Execution reproduced the header's state root (and its gas used, receipts root, logs
    /// bloom and requests hash).
    Verified,
    /// Execution produced a different commitment than the header's: the node serving the
    /// block, or its witness, is wrong (or this build's execution is).
    Mismatch {
        /// Which header field (`stateRoot`, `gasUsed`, `receiptsRoot`, `logsBloom`,
        /// `requestsHash`).
        field: &'static str,
        /// The header's value.
        header: String,
        /// The value execution produced.
        computed: String,
    },
    /// The block could not be re-executed: the reason says why (a missing witness node, an
    /// unsupported transaction type, a chain whose rules are unknown, ...).
    Unverifiable {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// An `Unverifiable` verdict.
    pub fn unverifiable(reason: impl std::fmt::Display) -> Self {
        Self::Unverifiable {
            reason: reason.to_string(),
        }
    }
}

/// Re-executes `header`'s block over `witness` (rooted at `parent_state_root`) and compares the
/// commitments execution produced with the header's.
pub fn verify_state_root(
    rules: &ChainRules,
    header: &Header,
    transactions: &[TxEnvelope],
    withdrawals: Option<&[Withdrawal]>,
    parent_state_root: B256,
    witness: &Witness,
    block_hashes: &BTreeMap<u64, B256>,
) -> Verdict {
    if let Some(reason) = rules.unsupported_at(header.number, header.timestamp) {
        return Verdict::Unverifiable { reason };
    }
    let executed = match execute_block(
        rules,
        header,
        transactions,
        withdrawals,
        parent_state_root,
        witness,
        block_hashes,
    ) {
        Ok(executed) => executed,
        Err(error) => return Verdict::unverifiable(error),
    };
    compare(header, &executed)
}

/// The first commitment `executed` disagrees with `header` on, cheapest meaning first.
pub fn compare(header: &Header, executed: &Executed) -> Verdict {
    let mismatch = |field, header: &dyn std::fmt::Display, computed: &dyn std::fmt::Display| {
        Verdict::Mismatch {
            field,
            header: header.to_string(),
            computed: computed.to_string(),
        }
    };
    if header.gas_used != executed.gas_used {
        return mismatch("gasUsed", &header.gas_used, &executed.gas_used);
    }
    if header.receipts_root != executed.receipts_root {
        return mismatch(
            "receiptsRoot",
            &header.receipts_root,
            &executed.receipts_root,
        );
    }
    if header.logs_bloom != executed.logs_bloom {
        return mismatch("logsBloom", &header.logs_bloom, &executed.logs_bloom);
    }
    if header.requests_hash != executed.requests_hash {
        let show = |hash: Option<B256>| hash.map_or_else(|| "none".to_owned(), |h| h.to_string());
        return mismatch(
            "requestsHash",
            &show(header.requests_hash),
            &show(executed.requests_hash),
        );
    }
    if header.state_root != executed.state_root {
        return mismatch("stateRoot", &header.state_root, &executed.state_root);
    }
    Verdict::Verified
}
