//! Decoding a node's JSON-RPC answers (`eth_getBlockByNumber` with full transactions,
//! `eth_getBlockReceipts` / `eth_getTransactionReceipt`) into [`BlockTransaction`] and
//! [`BlockReceipt`], with alloy's and op-alloy's own serde and conversions. No transport here:
//! callers fetch, this decodes.
//!
//! A type this crate does not know is a [`DecodeError`] naming the transaction and its type,
//! never a guess: a block that cannot be decoded cannot be verified, so it must not be skipped
//! or retried as if the node were only slow.

use alloy::{
    network::{AnyRpcTransaction, AnyTxEnvelope, TransactionResponse},
    primitives::B256,
    rpc::types::{Log as RpcLog, TransactionReceipt},
};
use op_alloy_consensus::{OpReceiptEnvelope, OpTxEnvelope};
use serde::Deserialize;

use crate::envelope::{BlockReceipt, BlockTransaction, DEPOSIT_TX_TYPE};

/// Highest EIP-2718 type among Ethereum's transactions (EIP-7702's 4).
const LAST_ETHEREUM_TX_TYPE: u8 = 4;

/// Why a transaction or receipt from the node is not one this build can verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A transaction of a type neither Ethereum nor the OP stack defines (another L2's).
    #[error(
        "transaction {index} ({hash}) has type {tx_type:#04x}, which this build cannot decode (Ethereum's types and OP-stack deposits 0x7e only)"
    )]
    UnsupportedTransaction {
        /// Position in the block.
        index: usize,
        /// The hash the node reported.
        hash: B256,
        /// Its EIP-2718 type.
        tx_type: u8,
    },
    /// A receipt of a type this build cannot decode.
    #[error("receipt {index} has transaction type {tx_type:#04x}, which this build cannot decode")]
    UnsupportedReceipt {
        /// Position in the block.
        index: usize,
        /// Its EIP-2718 type.
        tx_type: u8,
    },
    /// The node's JSON is not a transaction or receipt of its declared type.
    #[error("{what} {index} is malformed: {reason}")]
    Malformed {
        /// `transaction` or `receipt`.
        what: &'static str,
        /// Position in the block.
        index: usize,
        /// The decoder's message.
        reason: String,
    },
}

/// Transaction `index` of a block the node returned with full transactions.
pub fn block_transaction(
    index: usize,
    tx: AnyRpcTransaction,
) -> Result<BlockTransaction, DecodeError> {
    let hash = TransactionResponse::tx_hash(&tx);
    let tx_type = match tx.as_ref() {
        AnyTxEnvelope::Ethereum(_) => None,
        AnyTxEnvelope::Unknown(unknown) => Some(unknown.inner.ty.0),
    };
    match tx_type {
        None => match tx.into_inner().inner.into_inner() {
            AnyTxEnvelope::Ethereum(tx) => Ok(BlockTransaction::Ethereum(tx)),
            AnyTxEnvelope::Unknown(_) => unreachable!("matched as Ethereum above"),
        },
        Some(DEPOSIT_TX_TYPE) => {
            // op-alloy's conversion puts back the sender, which the RPC wrapper holds apart.
            let malformed = |reason: String| DecodeError::Malformed {
                what: "transaction",
                index,
                reason: format!("deposit transaction {hash}: {reason}"),
            };
            let OpTxEnvelope::Deposit(deposit) =
                OpTxEnvelope::try_from(tx).map_err(|e| malformed(e.to_string()))?
            else {
                return Err(malformed("not a deposit after conversion".into()));
            };
            // The hash is recomputed from the encoding, not taken from the node.
            if deposit.hash() != hash {
                return Err(malformed(format!("it hashes to {}", deposit.hash())));
            }
            Ok(BlockTransaction::Deposit(deposit))
        }
        Some(tx_type) => Err(DecodeError::UnsupportedTransaction {
            index,
            hash,
            tx_type,
        }),
    }
}

/// A receipt as the node returned it: which block and transaction it says it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcReceipt {
    /// The block the node says it is from.
    pub block_hash: Option<B256>,
    /// The transaction the node says it is for.
    pub transaction_hash: B256,
    /// The receipt.
    pub receipt: BlockReceipt,
}

/// The fields that choose a receipt's decoder.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptHead {
    #[serde(rename = "type", with = "alloy::serde::quantity")]
    ty: u8,
    block_hash: Option<B256>,
    transaction_hash: B256,
}

/// Receipt `index` of a block, from its JSON.
pub fn block_receipt(index: usize, json: &serde_json::Value) -> Result<RpcReceipt, DecodeError> {
    let malformed = |e: serde_json::Error| DecodeError::Malformed {
        what: "receipt",
        index,
        reason: e.to_string(),
    };
    let head = ReceiptHead::deserialize(json).map_err(malformed)?;
    let receipt = match head.ty {
        0..=LAST_ETHEREUM_TX_TYPE => {
            let rpc: TransactionReceipt =
                TransactionReceipt::deserialize(json).map_err(malformed)?;
            BlockReceipt::Ethereum(rpc.into_primitives_receipt().inner)
        }
        DEPOSIT_TX_TYPE => {
            let op = OpReceiptEnvelope::<RpcLog>::deserialize(json).map_err(malformed)?;
            BlockReceipt::Deposit(op.map_logs(|log| log.inner))
        }
        tx_type => return Err(DecodeError::UnsupportedReceipt { index, tx_type }),
    };
    Ok(RpcReceipt {
        block_hash: head.block_hash,
        transaction_hash: head.transaction_hash,
        receipt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
    use serde_json::Value;

    /// Block 1 of `anvil --network optimism` holding one deposit; its header's roots are the
    /// oracle for our decoding and encoding.
    fn fixture() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/op_deposit_block.json"))
            .expect("fixture")
    }

    fn root(v: &Value, key: &str) -> B256 {
        v[key].as_str().expect("hex").parse().expect("B256")
    }

    fn transaction(json: Value) -> Result<BlockTransaction, DecodeError> {
        block_transaction(0, serde_json::from_value(json).expect("an RPC transaction"))
    }

    #[test]
    fn a_deposit_and_its_receipt_decode_to_the_headers_roots() {
        let v = fixture();
        let tx = transaction(v["transaction"].clone()).expect("a deposit decodes");
        assert!(matches!(tx, BlockTransaction::Deposit(_)));
        assert_eq!(
            calculate_transaction_root(&[tx]),
            root(&v, "transactionsRoot")
        );
        let receipt = block_receipt(0, &v["receipt"]).expect("a deposit receipt decodes");
        let BlockReceipt::Deposit(OpReceiptEnvelope::Deposit(deposit)) = &receipt.receipt else {
            panic!("a deposit receipt: {receipt:?}")
        };
        assert_eq!(deposit.receipt.deposit_nonce, Some(1));
        assert_eq!(
            calculate_receipt_root(std::slice::from_ref(&receipt.receipt)),
            root(&v, "receiptsRoot")
        );

        // The deposit fields are part of the encoding the root commits to.
        let mut other = v["receipt"].clone();
        other["depositNonce"] = "0x2".into();
        let changed = block_receipt(0, &other).expect("decodes").receipt;
        assert_ne!(calculate_receipt_root(&[changed]), root(&v, "receiptsRoot"));
    }

    #[test]
    fn a_deposit_whose_fields_do_not_hash_to_its_hash_is_malformed() {
        let mut tx = fixture()["transaction"].clone();
        tx["mint"] = "0x9".into();
        let err = transaction(tx).expect_err("another deposit than the hash says");
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    what: "transaction",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("hashes to"), "{err}");
    }

    #[test]
    fn unknown_types_are_named_not_guessed() {
        let mut tx = fixture()["transaction"].clone();
        tx["type"] = "0x64".into();
        let err = transaction(tx).expect_err("type 0x64");
        assert!(
            matches!(
                err,
                DecodeError::UnsupportedTransaction {
                    tx_type: 0x64,
                    index: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("type 0x64"), "{err}");

        let mut receipt = fixture()["receipt"].clone();
        receipt["type"] = "0x64".into();
        assert_eq!(
            block_receipt(3, &receipt).expect_err("type 0x64"),
            DecodeError::UnsupportedReceipt {
                index: 3,
                tx_type: 0x64
            }
        );
        let err = block_receipt(1, &serde_json::json!({"type": "0x2"})).expect_err("no fields");
        assert!(
            matches!(
                err,
                DecodeError::Malformed {
                    what: "receipt",
                    index: 1,
                    ..
                }
            ),
            "{err}"
        );
    }
}
