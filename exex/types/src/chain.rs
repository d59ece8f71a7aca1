//! [`Chain`]: consecutive canonical blocks with their receipts, the payload of every
//! notification.
//!
//! Mirrors reth's `Chain` (blocks keyed by number plus the execution outcome's receipts), built
//! from alloy consensus types because that is what any node returns over JSON-RPC. Invariants,
//! checked by [`Chain::new`] and [`Chain::append`]: at least one block, numbers strictly
//! consecutive, every block's parent hash is the previous block's hash, and every block holds
//! exactly one receipt per transaction.

use std::ops::RangeInclusive;

use alloy::{
    consensus::{Block, Header},
    eips::BlockNumHash,
    primitives::{B256, BlockNumber, Log},
};
use serde::{Deserialize, Serialize};

use crate::envelope::{BlockReceipt, BlockTransaction};

/// One block, its hash and the receipts of its transactions (in transaction order).
///
/// The host only builds these from data that passed the host's block verification (`avs_exex::verify`), so `hash` is the keccak of
/// the header's RLP and the receipts match the header's receipts root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockWithReceipts {
    /// The block hash (keccak256 of the RLP-encoded header).
    pub hash: B256,
    /// Header and body (transactions, ommers, withdrawals); Ethereum's transaction types and
    /// the OP stack's deposits.
    pub block: Block<BlockTransaction>,
    /// One receipt per transaction, in the same order.
    pub receipts: Vec<BlockReceipt>,
    /// What the host established about the header's state root (stateless re-execution).
    #[serde(default)]
    pub state_root: StateRootCheck,
}

/// Whether the host reproduced a block's state root by re-executing the block.
///
/// A block whose execution produced a *different* state root never reaches an ExEx: the host
/// refuses it like any block that fails verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateRootCheck {
    /// Not checked: the host's state-root verification is off.
    #[default]
    NotChecked,
    /// The host re-executed the block over a witness and got the header's state root.
    Verified,
    /// The block could not be re-executed; the reason says why (no witness from the node, an
    /// unsupported transaction type, a node whose state roots are not Ethereum's, ...).
    Unverifiable(String),
}

impl StateRootCheck {
    /// True only for [`StateRootCheck::Verified`].
    pub const fn is_verified(&self) -> bool {
        matches!(self, Self::Verified)
    }
}

impl BlockWithReceipts {
    /// The header.
    pub const fn header(&self) -> &Header {
        &self.block.header
    }

    /// The block number.
    pub const fn number(&self) -> BlockNumber {
        self.block.header.number
    }

    /// Number and hash.
    pub const fn num_hash(&self) -> BlockNumHash {
        BlockNumHash {
            number: self.block.header.number,
            hash: self.hash,
        }
    }

    /// The parent block's hash.
    pub const fn parent_hash(&self) -> B256 {
        self.block.header.parent_hash
    }

    /// The transactions, in block order.
    pub fn transactions(&self) -> &[BlockTransaction] {
        &self.block.body.transactions
    }

    /// Every log of the block, in order, with the hash of the transaction that emitted it.
    pub fn logs_with_tx_hash(&self) -> impl Iterator<Item = (B256, &Log)> + '_ {
        self.transactions()
            .iter()
            .zip(&self.receipts)
            .flat_map(|(tx, receipt)| {
                let hash = tx.tx_hash();
                receipt.logs().iter().map(move |log| (hash, log))
            })
    }
}

/// Why a list of blocks is not a [`Chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A chain needs at least one block.
    #[error("a chain needs at least one block")]
    Empty,
    /// Two neighbouring blocks are not consecutive by number.
    #[error("block {got} follows block {previous}: chain blocks must be consecutive")]
    NotConsecutive {
        /// The earlier block's number.
        previous: BlockNumber,
        /// The following block's number.
        got: BlockNumber,
    },
    /// A block's parent hash is not its predecessor's hash.
    #[error("block {number} has parent hash {parent}, but block {} has hash {expected}", number - 1)]
    ParentMismatch {
        /// The child's number.
        number: BlockNumber,
        /// The child's parent hash.
        parent: B256,
        /// The predecessor's hash.
        expected: B256,
    },
    /// The receipt list length differs from the transaction count.
    #[error("block {number} has {transactions} transactions but {receipts} receipts")]
    ReceiptCount {
        /// The block number.
        number: BlockNumber,
        /// Transactions in the body.
        transactions: usize,
        /// Receipts supplied.
        receipts: usize,
    },
}

/// Consecutive, parent-linked blocks with receipts (see the module docs for the invariants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    blocks: Vec<BlockWithReceipts>,
}

impl Chain {
    /// Builds a chain, checking numbering, parent linkage and receipt counts.
    pub fn new(blocks: Vec<BlockWithReceipts>) -> Result<Self, ChainError> {
        if blocks.is_empty() {
            return Err(ChainError::Empty);
        }
        for block in &blocks {
            check_receipts(block)?;
        }
        for pair in blocks.windows(2) {
            check_link(&pair[0], &pair[1])?;
        }
        Ok(Self { blocks })
    }

    /// Appends a block on top of the tip, with the same checks as [`Chain::new`].
    pub fn append(&mut self, block: BlockWithReceipts) -> Result<(), ChainError> {
        check_receipts(&block)?;
        check_link(self.tip(), &block)?;
        self.blocks.push(block);
        Ok(())
    }

    /// The blocks, lowest first.
    pub fn blocks_iter(&self) -> impl DoubleEndedIterator<Item = &BlockWithReceipts> + '_ {
        self.blocks.iter()
    }

    /// The blocks as a slice, lowest first.
    pub fn blocks(&self) -> &[BlockWithReceipts] {
        &self.blocks
    }

    /// Consumes the chain, returning its blocks.
    pub fn into_blocks(self) -> Vec<BlockWithReceipts> {
        self.blocks
    }

    /// The highest block.
    pub fn tip(&self) -> &BlockWithReceipts {
        self.blocks
            .last()
            .expect("a chain is never empty (checked in Chain::new)")
    }

    /// The lowest block.
    pub fn first(&self) -> &BlockWithReceipts {
        self.blocks
            .first()
            .expect("a chain is never empty (checked in Chain::new)")
    }

    /// The block numbers covered, inclusive.
    pub fn range(&self) -> RangeInclusive<BlockNumber> {
        self.first().number()..=self.tip().number()
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a chain holds at least one block (present for clippy's `len` convention).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The block with this number, if the chain covers it.
    pub fn block_by_number(&self, number: BlockNumber) -> Option<&BlockWithReceipts> {
        let index = number.checked_sub(self.first().number())?;
        self.blocks.get(usize::try_from(index).ok()?)
    }

    /// The block with this hash, if the chain holds it.
    pub fn block_by_hash(&self, hash: B256) -> Option<&BlockWithReceipts> {
        self.blocks.iter().find(|block| block.hash == hash)
    }

    /// The receipts of the block with this hash.
    pub fn receipts_by_block(&self, hash: B256) -> Option<&[BlockReceipt]> {
        self.block_by_hash(hash)
            .map(|block| block.receipts.as_slice())
    }

    /// Each block paired with its receipts, lowest first.
    pub fn block_receipts_iter(
        &self,
    ) -> impl Iterator<Item = (&BlockWithReceipts, &[BlockReceipt])> + '_ {
        self.blocks
            .iter()
            .map(|block| (block, block.receipts.as_slice()))
    }

    /// Every log of the chain in canonical order, with its block's number/hash and its
    /// transaction's hash.
    pub fn logs_iter(&self) -> impl Iterator<Item = (BlockNumHash, B256, &Log)> + '_ {
        self.blocks.iter().flat_map(|block| {
            let at = block.num_hash();
            block
                .logs_with_tx_hash()
                .map(move |(tx, log)| (at, tx, log))
        })
    }

    /// Keeps only the blocks above `number`; `None` if none remain.
    pub fn blocks_above(&self, number: BlockNumber) -> Option<Self> {
        let blocks: Vec<_> = self
            .blocks
            .iter()
            .filter(|b| b.number() > number)
            .cloned()
            .collect();
        (!blocks.is_empty()).then_some(Self { blocks })
    }
}

fn check_receipts(block: &BlockWithReceipts) -> Result<(), ChainError> {
    let transactions = block.transactions().len();
    if transactions != block.receipts.len() {
        return Err(ChainError::ReceiptCount {
            number: block.number(),
            transactions,
            receipts: block.receipts.len(),
        });
    }
    Ok(())
}

fn check_link(previous: &BlockWithReceipts, next: &BlockWithReceipts) -> Result<(), ChainError> {
    if previous.number().checked_add(1) != Some(next.number()) {
        return Err(ChainError::NotConsecutive {
            previous: previous.number(),
            got: next.number(),
        });
    }
    if next.parent_hash() != previous.hash {
        return Err(ChainError::ParentMismatch {
            number: next.number(),
            parent: next.parent_hash(),
            expected: previous.hash,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{ChainBuilder, TxSpec};

    #[test]
    fn chain_accessors_follow_block_order() {
        let mut builder = ChainBuilder::new(10);
        let chain = builder.chain(3, &[TxSpec::with_log(), TxSpec::transfer()]);
        assert_eq!(chain.range(), 11..=13);
        assert_eq!(chain.first().number(), 11);
        assert_eq!(chain.tip().number(), 13);
        assert_eq!(chain.len(), 3);
        let numbers: Vec<_> = chain.blocks_iter().map(BlockWithReceipts::number).collect();
        assert_eq!(numbers, vec![11, 12, 13]);
        let middle = chain.block_by_number(12).expect("block 12");
        assert_eq!(
            chain.receipts_by_block(middle.hash).map(<[_]>::len),
            Some(2)
        );
        assert!(chain.block_by_number(14).is_none());
        assert!(chain.block_by_number(10).is_none());
        // One log per block (the first tx of each block emits one).
        let logs: Vec<_> = chain.logs_iter().collect();
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[1].0, middle.num_hash());
        assert_eq!(logs[1].1, *middle.transactions()[0].tx_hash());
        assert_eq!(chain.blocks_above(12).map(|c| c.range()), Some(13..=13));
        assert!(chain.blocks_above(13).is_none());
    }

    #[test]
    fn chain_rejects_gaps_bad_parents_and_missing_receipts() {
        let mut builder = ChainBuilder::new(0);
        let blocks = builder.chain(3, &[TxSpec::transfer()]).into_blocks();
        assert_eq!(Chain::new(vec![]), Err(ChainError::Empty));

        let gap = vec![blocks[0].clone(), blocks[2].clone()];
        assert!(matches!(
            Chain::new(gap),
            Err(ChainError::NotConsecutive {
                previous: 1,
                got: 3
            })
        ));

        let mut wrong_parent = blocks.clone();
        wrong_parent[1].block.header.parent_hash = B256::repeat_byte(7);
        assert!(matches!(
            Chain::new(wrong_parent),
            Err(ChainError::ParentMismatch { number: 2, .. })
        ));

        let mut missing = blocks.clone();
        missing[2].receipts.clear();
        assert!(matches!(
            Chain::new(missing),
            Err(ChainError::ReceiptCount {
                number: 3,
                transactions: 1,
                receipts: 0
            })
        ));

        let mut chain = Chain::new(blocks[..2].to_vec()).expect("valid");
        chain.append(blocks[2].clone()).expect("consecutive");
        assert_eq!(chain.range(), 1..=3);
        assert!(chain.append(blocks[2].clone()).is_err());
    }
}
