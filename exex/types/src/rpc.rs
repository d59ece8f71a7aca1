//! Decoding a node's JSON-RPC answers (`eth_getBlockByNumber` with full transactions,
//! `eth_getBlockReceipts` / `eth_getTransactionReceipt`) into [`BlockTransaction`] and
//! [`BlockReceipt`], with alloy's and op-alloy's own serde and conversions. No transport here:
//! callers fetch, this decodes.
//!
//! A type this crate does not know is a [`DecodeError`] naming the transaction and its type,
//! never a guess: a block that cannot be decoded cannot be verified, so it must not be skipped
//! or retried as if the node were only slow ([`DecodeError::is_unsupported`]). JSON that is not
//! what its declared type requires is the node's fault ([`DecodeError::Malformed`]): another
//! node, or the same one later, may answer correctly.

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

impl DecodeError {
    /// True for a type this build does not know (asking again returns the same type), false
    /// for malformed data from the node.
    pub const fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedTransaction { .. } | Self::UnsupportedReceipt { .. }
        )
    }
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
        // alloy's envelope is untagged: an Ethereum type lands here when its fields do not
        // decode as that type, which is the node's data, not an unknown type.
        Some(tx_type @ 0..=LAST_ETHEREUM_TX_TYPE) => Err(DecodeError::Malformed {
            what: "transaction",
            index,
            reason: format!("type {tx_type:#04x} transaction {hash} does not decode as one"),
        }),
        Some(tx_type) => Err(DecodeError::UnsupportedTransaction {
            index,
            hash,
            tx_type,
        }),
    }
}

/// What a receipt says of itself: its type, and the block and transaction it belongs to.
/// Read first, so that a receipt of another block is refused as such before its body is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptHead {
    /// Its EIP-2718 type; absent means legacy, as alloy's own decoding takes it.
    #[serde(default, rename = "type", with = "alloy::serde::quantity::opt")]
    pub ty: Option<u8>,
    /// The block the node says it is from.
    pub block_hash: Option<B256>,
    /// The transaction the node says it is for.
    pub transaction_hash: B256,
}

fn malformed_receipt(index: usize) -> impl Fn(serde_json::Error) -> DecodeError {
    move |e| DecodeError::Malformed {
        what: "receipt",
        index,
        reason: e.to_string(),
    }
}

/// The head of receipt `index` of a block, from its JSON.
pub fn receipt_head(index: usize, json: &serde_json::Value) -> Result<ReceiptHead, DecodeError> {
    ReceiptHead::deserialize(json).map_err(malformed_receipt(index))
}

/// Receipt `index` of a block, from its JSON and its head (see [`receipt_head`]).
pub fn block_receipt(
    index: usize,
    head: &ReceiptHead,
    json: &serde_json::Value,
) -> Result<BlockReceipt, DecodeError> {
    let malformed = malformed_receipt(index);
    match head.ty.unwrap_or(0) {
        0..=LAST_ETHEREUM_TX_TYPE => {
            let rpc: TransactionReceipt =
                TransactionReceipt::deserialize(json).map_err(malformed)?;
            Ok(BlockReceipt::Ethereum(rpc.into_primitives_receipt().inner))
        }
        DEPOSIT_TX_TYPE => {
            let op = OpReceiptEnvelope::<RpcLog>::deserialize(json).map_err(malformed)?;
            Ok(BlockReceipt::Deposit(op.map_logs(|log| log.inner)))
        }
        tx_type => Err(DecodeError::UnsupportedReceipt { index, tx_type }),
    }
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

    /// The node's data, not an unknown type: retried and counted, never fatal.
    fn assert_malformed_transaction(err: &DecodeError) {
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
        assert!(!err.is_unsupported(), "{err}");
    }

    fn decode_receipt(index: usize, json: &Value) -> Result<BlockReceipt, DecodeError> {
        block_receipt(index, &receipt_head(index, json)?, json)
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
        let receipt = decode_receipt(0, &v["receipt"]).expect("a deposit receipt decodes");
        let BlockReceipt::Deposit(OpReceiptEnvelope::Deposit(deposit)) = &receipt else {
            panic!("a deposit receipt: {receipt:?}")
        };
        assert_eq!(deposit.receipt.deposit_nonce, Some(1));
        assert_eq!(
            calculate_receipt_root(std::slice::from_ref(&receipt)),
            root(&v, "receiptsRoot")
        );

        // The deposit fields are part of the encoding the root commits to.
        let mut other = v["receipt"].clone();
        other["depositNonce"] = "0x2".into();
        let changed = decode_receipt(0, &other).expect("decodes");
        assert_ne!(calculate_receipt_root(&[changed]), root(&v, "receiptsRoot"));
    }

    #[test]
    fn a_deposit_whose_fields_do_not_hash_to_its_hash_is_malformed() {
        let mut tx = fixture()["transaction"].clone();
        tx["mint"] = "0x9".into();
        let err = transaction(tx).expect_err("another deposit than the hash says");
        assert_malformed_transaction(&err);
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
        assert!(err.is_unsupported());
        assert!(err.to_string().contains("type 0x64"), "{err}");

        let mut other = fixture()["receipt"].clone();
        other["type"] = "0x64".into();
        let err = decode_receipt(3, &other).expect_err("type 0x64");
        assert_eq!(
            err,
            DecodeError::UnsupportedReceipt {
                index: 3,
                tx_type: 0x64
            }
        );
        assert!(err.is_unsupported());
    }

    /// Malformed data is the node's fault (retried, counted as invalid), not an unknown type.
    #[test]
    fn malformed_data_is_not_an_unsupported_type() {
        let head = serde_json::json!({"type": "0x2", "transactionHash": B256::ZERO});
        let err = decode_receipt(1, &head).expect_err("no receipt fields");
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
        assert!(!err.is_unsupported());
        // An Ethereum type whose fields do not decode is malformed, not "type 0x02 unknown".
        let mut tx = fixture()["transaction"].clone();
        tx["type"] = "0x2".into();
        let err = transaction(tx).expect_err("a deposit's fields as a type-2 transaction");
        assert_malformed_transaction(&err);
        assert!(!err.is_unsupported());
    }

    /// A receipt without `type` is legacy (some nodes omit it for old blocks).
    #[test]
    fn a_receipt_without_a_type_is_legacy() {
        let mut legacy = fixture()["receipt"].clone();
        legacy.as_object_mut().expect("object").remove("type");
        let head = receipt_head(0, &legacy).expect("head");
        assert_eq!(head.ty, None);
        let decoded = block_receipt(0, &head, &legacy).expect("decodes as legacy");
        assert!(matches!(
            decoded,
            BlockReceipt::Ethereum(alloy::consensus::ReceiptEnvelope::Legacy(_))
        ));
    }
}
