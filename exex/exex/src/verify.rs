//! Block verification: nothing reaches an ExEx unless its data hashes to what its header commits
//! to, and its header hashes to the block hash the node claims.
//!
//! The checks, in order (cheapest first):
//! 1. one receipt per transaction;
//! 2. `keccak256(rlp(header)) == claimed hash` (so every root below is bound to the hash);
//! 3. transactions root = ordered trie root of the EIP-2718 encodings;
//! 4. withdrawals root, when the header has one (on an OP-stack block, whose first transaction
//!    is the L1-attributes deposit, the header's withdrawalsRoot commits to the L2-to-L1
//!    message passer's storage since Isthmus, and the body must hold no withdrawals);
//! 5. each receipt's bloom equals the bloom recomputed from its logs;
//! 6. receipts root = ordered trie root of the EIP-2718 receipt encodings;
//! 7. header logs bloom = OR of the receipt blooms.
//!
//! The state root is the one commitment these checks cannot reach: the host's state-root stage
//! re-executes the block for it (`host::StateRootMode`, the `avs-exex-stateless` crate).
//!
//! Parent linkage is checked by [`crate::chain::Chain`] and by the host against its canonical
//! window. Ommers are not checked: JSON-RPC returns only their hashes (and post-merge blocks have
//! none).

use alloy::{
    consensus::proofs::{
        calculate_receipt_root, calculate_transaction_root, calculate_withdrawals_root,
    },
    primitives::{B256, BlockNumber, Bloom},
};

use crate::chain::BlockWithReceipts;
use avs_exex_types::BlockTransaction;

/// Which part of a block did not match its commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The receipt list length differs from the transaction count.
    #[error("block {number}: {transactions} transactions but {receipts} receipts")]
    ReceiptCount {
        /// Block number.
        number: BlockNumber,
        /// Transactions in the body.
        transactions: usize,
        /// Receipts returned.
        receipts: usize,
    },
    /// An OP-stack block carries L1-style withdrawals, which the OP stack does not have.
    #[error("block {number}: an OP-stack block with {count} withdrawals in its body")]
    OpStackWithdrawals {
        /// Block number.
        number: BlockNumber,
        /// Withdrawals in the body.
        count: usize,
    },
    /// The header does not hash to the claimed block hash.
    #[error("block {number}: header hashes to {computed}, but the node claims {claimed}")]
    HeaderHash {
        /// Block number.
        number: BlockNumber,
        /// Hash the node sent.
        claimed: B256,
        /// keccak256 of the RLP header.
        computed: B256,
    },
    /// A commitment in the header does not match the data.
    #[error(
        "block {number}: {field} in the header is {header}, recomputed from the data {computed}"
    )]
    RootMismatch {
        /// Block number.
        number: BlockNumber,
        /// Which header field (`transactionsRoot`, `receiptsRoot`, `withdrawalsRoot`).
        field: &'static str,
        /// Value in the header.
        header: B256,
        /// Value recomputed from the body/receipts.
        computed: B256,
    },
    /// A receipt's bloom does not match its logs.
    #[error("block {number}: receipt {index} carries a bloom that does not match its logs")]
    ReceiptBloom {
        /// Block number.
        number: BlockNumber,
        /// Receipt index in the block.
        index: usize,
    },
    /// The header's logs bloom is not the OR of the receipt blooms.
    #[error("block {number}: header logsBloom differs from the OR of the receipts' blooms")]
    LogsBloom {
        /// Block number.
        number: BlockNumber,
    },
}

/// Verifies `block` against its own header and its claimed hash (see the module docs).
pub fn verify_block(block: &BlockWithReceipts) -> Result<(), VerifyError> {
    let header = block.header();
    let number = header.number;
    let transactions = block.transactions();
    if transactions.len() != block.receipts.len() {
        return Err(VerifyError::ReceiptCount {
            number,
            transactions: transactions.len(),
            receipts: block.receipts.len(),
        });
    }

    let computed = header.hash_slow();
    if computed != block.hash {
        return Err(VerifyError::HeaderHash {
            number,
            claimed: block.hash,
            computed,
        });
    }

    check_root(
        number,
        "transactionsRoot",
        header.transactions_root,
        calculate_transaction_root(transactions),
    )?;

    if let Some(expected) = header.withdrawals_root {
        let withdrawals = block
            .block
            .body
            .withdrawals
            .as_ref()
            .map_or(&[][..], |w| w.as_slice());
        let op_stack = matches!(transactions.first(), Some(BlockTransaction::Deposit(_)));
        if op_stack {
            // The root is bound by the header hash checked above; there is nothing in the
            // body for it to commit to.
            if !withdrawals.is_empty() {
                return Err(VerifyError::OpStackWithdrawals {
                    number,
                    count: withdrawals.len(),
                });
            }
        } else {
            check_root(
                number,
                "withdrawalsRoot",
                expected,
                calculate_withdrawals_root(withdrawals),
            )?;
        }
    }

    let mut bloom = Bloom::ZERO;
    for (index, receipt) in block.receipts.iter().enumerate() {
        let from_logs: Bloom = receipt.logs().iter().collect();
        if from_logs != receipt.bloom() {
            return Err(VerifyError::ReceiptBloom { number, index });
        }
        bloom |= from_logs;
    }
    check_root(
        number,
        "receiptsRoot",
        header.receipts_root,
        calculate_receipt_root(&block.receipts),
    )?;
    if bloom != header.logs_bloom {
        return Err(VerifyError::LogsBloom { number });
    }
    Ok(())
}

const fn check_root(
    number: BlockNumber,
    field: &'static str,
    header: B256,
    computed: B256,
) -> Result<(), VerifyError> {
    if header.const_eq(&computed) {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch {
            number,
            field,
            header,
            computed,
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        consensus::ReceiptEnvelope,
        primitives::{Address, Log, U256},
    };

    use super::*;
    use avs_exex_types::{
        BlockReceipt,
        test_utils::{ChainBuilder, TxSpec},
    };

    fn good_block() -> BlockWithReceipts {
        ChainBuilder::new(41).block(&[TxSpec::with_log(), TxSpec::transfer(), TxSpec::with_log()])
    }

    #[test]
    fn synthetic_block_verifies() {
        verify_block(&good_block()).expect("consistent block");
        verify_block(&ChainBuilder::new(0).block(&[])).expect("empty block");
    }

    #[test]
    fn wrong_claimed_hash_is_rejected() {
        let mut block = good_block();
        block.hash = B256::repeat_byte(1);
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::HeaderHash { number: 42, .. })
        ));
    }

    #[test]
    fn tampered_transaction_is_rejected() {
        let mut block = good_block();
        block.block.body.transactions.swap(0, 1);
        block.receipts.swap(0, 1);
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::RootMismatch {
                field: "transactionsRoot",
                ..
            })
        ));
    }

    #[test]
    fn tampered_receipt_is_rejected() {
        let mut block = good_block();
        let BlockReceipt::Ethereum(ReceiptEnvelope::Eip1559(receipt)) = &mut block.receipts[1]
        else {
            panic!("synthetic receipts are EIP-1559")
        };
        receipt.receipt.cumulative_gas_used += 1;
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::RootMismatch {
                field: "receiptsRoot",
                ..
            })
        ));
    }

    #[test]
    fn tampered_log_is_caught_by_the_receipt_bloom() {
        let mut block = good_block();
        let BlockReceipt::Ethereum(ReceiptEnvelope::Eip1559(receipt)) = &mut block.receipts[0]
        else {
            panic!("synthetic receipts are EIP-1559")
        };
        receipt.receipt.logs[0] =
            Log::new_unchecked(Address::repeat_byte(9), vec![], vec![1].into());
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::ReceiptBloom { index: 0, .. })
        ));
    }

    #[test]
    fn header_bloom_must_be_the_or_of_receipt_blooms() {
        let mut block = good_block();
        block.block.header.logs_bloom = Bloom::ZERO;
        block.hash = block.block.header.hash_slow();
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::LogsBloom { number: 42 })
        ));
    }

    #[test]
    fn missing_receipt_is_rejected() {
        let mut block = good_block();
        block.receipts.pop();
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::ReceiptCount { receipts: 2, .. })
        ));
        let mut block = good_block();
        block.block.header.base_fee_per_gas = Some(U256::from(3).to());
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::HeaderHash { .. })
        ));
    }

    fn op_block() -> BlockWithReceipts {
        ChainBuilder::new(9).block(&[TxSpec::deposit(), TxSpec::with_log(), TxSpec::deposit()])
    }

    #[test]
    fn op_stack_block_with_deposits_verifies() {
        let block = op_block();
        assert!(matches!(
            block.transactions()[0],
            BlockTransaction::Deposit(_)
        ));
        verify_block(&block).expect("deposits and their receipts encode as the roots commit");
    }

    #[test]
    fn a_deposit_receipt_is_bound_by_its_deposit_fields() {
        let mut block = op_block();
        let BlockReceipt::Deposit(op_alloy_consensus::OpReceiptEnvelope::Deposit(receipt)) =
            &mut block.receipts[0]
        else {
            panic!("a deposit's receipt")
        };
        // The deposit nonce is part of the receipts-trie encoding.
        receipt.receipt.deposit_nonce = receipt.receipt.deposit_nonce.map(|n| n + 1);
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::RootMismatch {
                field: "receiptsRoot",
                ..
            })
        ));
    }

    /// Since Isthmus an OP-stack header's withdrawalsRoot is the L2-to-L1 message passer's
    /// storage root: it binds nothing in the body, which must have no withdrawals.
    #[test]
    fn op_stack_withdrawals_root_is_not_a_body_root() {
        let mut block = op_block();
        block.block.header.withdrawals_root = Some(B256::repeat_byte(0x77));
        block.hash = block.block.header.hash_slow();
        verify_block(&block).expect("an OP-stack block's withdrawalsRoot is the message passer's");
        block.block.body.withdrawals = Some(vec![Default::default()].into());
        assert!(matches!(
            verify_block(&block),
            Err(VerifyError::OpStackWithdrawals { count: 1, .. })
        ));
        // An Ethereum block gets no such exception.
        let mut eth = good_block();
        eth.block.header.withdrawals_root = Some(B256::repeat_byte(0x77));
        eth.hash = eth.block.header.hash_slow();
        assert!(matches!(
            verify_block(&eth),
            Err(VerifyError::RootMismatch {
                field: "withdrawalsRoot",
                ..
            })
        ));
    }
}
