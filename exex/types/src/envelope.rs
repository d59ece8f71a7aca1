//! The transactions and receipts of a block, for Ethereum and OP-stack chains.
//!
//! [`BlockTransaction`] is Ethereum's [`TxEnvelope`] (legacy, EIP-2930, 1559, 4844, 7702) plus
//! the OP stack's deposit transaction (type `0x7e`, op-alloy's [`TxDeposit`]), so one host
//! follows either kind of chain; [`BlockReceipt`] likewise adds the deposit receipt, which
//! carries the deposit nonce and receipt version that its receipts-trie encoding includes.
//! Both encode exactly as the chain commits to them (EIP-2718), so the host's root checks hold
//! for either chain. Nothing here is hand-encoded: the variants are alloy's and op-alloy's types.

use alloy::{
    consensus::{Eip658Value, ReceiptEnvelope, Sealed, TransactionEnvelope, TxEnvelope, TxReceipt},
    eips::{Encodable2718, Typed2718},
    primitives::{B256, Bloom, Log},
    rlp::BufMut,
};
use op_alloy_consensus::{OpReceiptEnvelope, TxDeposit};
use serde::{Deserialize, Serialize};

/// EIP-2718 type of an OP-stack deposit transaction.
pub const DEPOSIT_TX_TYPE: u8 = op_alloy_consensus::DEPOSIT_TX_TYPE_ID;

/// A transaction of an Ethereum or OP-stack block.
#[derive(Debug, Clone, TransactionEnvelope)]
#[envelope(tx_type_name = BlockTxType, alloy_consensus = alloy::consensus)]
pub enum BlockTransaction {
    /// Any of Ethereum's transaction types.
    #[envelope(flatten)]
    Ethereum(TxEnvelope),
    /// An OP-stack deposit (L1 → L2), type 0x7e.
    #[envelope(ty = 126)]
    Deposit(Sealed<TxDeposit>),
}

impl BlockTransaction {
    /// The transaction hash (keccak256 of its EIP-2718 encoding).
    pub fn tx_hash(&self) -> B256 {
        match self {
            Self::Ethereum(tx) => *tx.tx_hash(),
            Self::Deposit(tx) => tx.hash(),
        }
    }
}

impl From<TxEnvelope> for BlockTransaction {
    fn from(tx: TxEnvelope) -> Self {
        Self::Ethereum(tx)
    }
}

/// A receipt of an Ethereum or OP-stack block. `Deposit` holds only op-alloy's deposit receipt
/// ([`OpReceiptEnvelope::Deposit`]): an OP-stack chain's other receipts are Ethereum's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockReceipt {
    /// A receipt of one of Ethereum's transaction types.
    Ethereum(ReceiptEnvelope),
    /// The receipt of an OP-stack deposit (type 0x7e).
    Deposit(OpReceiptEnvelope),
}

impl From<ReceiptEnvelope> for BlockReceipt {
    fn from(receipt: ReceiptEnvelope) -> Self {
        Self::Ethereum(receipt)
    }
}

impl BlockReceipt {
    /// The logs, in order.
    pub fn logs(&self) -> &[Log] {
        match self {
            Self::Ethereum(r) => r.logs(),
            Self::Deposit(r) => r.logs(),
        }
    }

    /// The bloom the receipt carries (not recomputed).
    pub fn bloom(&self) -> Bloom {
        match self {
            Self::Ethereum(r) => r.bloom(),
            Self::Deposit(r) => r.bloom(),
        }
    }

    /// Whether the transaction succeeded (post-Byzantium status).
    pub fn status(&self) -> bool {
        self.status_or_post_state().coerce_status()
    }

    /// Status, or the post-state root of a pre-Byzantium receipt.
    pub fn status_or_post_state(&self) -> Eip658Value {
        match self {
            Self::Ethereum(r) => r.status_or_post_state(),
            Self::Deposit(r) => r.status_or_post_state(),
        }
    }

    /// Gas used by the block up to and including this transaction.
    pub fn cumulative_gas_used(&self) -> u64 {
        match self {
            Self::Ethereum(r) => r.cumulative_gas_used(),
            Self::Deposit(r) => r.cumulative_gas_used(),
        }
    }
}

impl Typed2718 for BlockReceipt {
    fn ty(&self) -> u8 {
        match self {
            Self::Ethereum(r) => r.ty(),
            Self::Deposit(r) => r.ty(),
        }
    }
}

impl Encodable2718 for BlockReceipt {
    fn encode_2718_len(&self) -> usize {
        match self {
            Self::Ethereum(r) => r.encode_2718_len(),
            Self::Deposit(r) => r.encode_2718_len(),
        }
    }

    fn encode_2718(&self, out: &mut dyn BufMut) {
        match self {
            Self::Ethereum(r) => r.encode_2718(out),
            Self::Deposit(r) => r.encode_2718(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{ChainBuilder, TxSpec};

    /// The WAL stores blocks as JSON: blocks with deposits must come back identical, and an
    /// Ethereum transaction keeps the JSON it had as a plain `TxEnvelope` (WALs written before
    /// deposits were supported still read).
    #[test]
    fn blocks_with_deposits_round_trip_through_json() {
        let chain = ChainBuilder::new(7).chain(2, &[TxSpec::deposit(), TxSpec::with_log()]);
        let json = serde_json::to_string(&chain).expect("serialize");
        assert_eq!(
            serde_json::from_str::<crate::Chain>(&json).expect("deserialize"),
            chain
        );

        let block = chain.tip();
        let BlockTransaction::Ethereum(eth) = &block.transactions()[1] else {
            panic!("the second transaction is Ethereum's")
        };
        let as_envelope = serde_json::to_value(eth).expect("serialize");
        assert_eq!(
            serde_json::to_value(&block.transactions()[1]).expect("serialize"),
            as_envelope
        );
        let BlockReceipt::Ethereum(receipt) = &block.receipts[1] else {
            panic!("an Ethereum receipt")
        };
        assert_eq!(
            serde_json::from_value::<BlockReceipt>(
                serde_json::to_value(receipt).expect("serialize")
            )
            .expect("an old receipt reads"),
            block.receipts[1]
        );
    }
}
