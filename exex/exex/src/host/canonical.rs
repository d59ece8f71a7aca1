//! The host's view of the canonical chain: the tip and a bounded window of recent blocks, enough
//! to find a common ancestor and to hand reverted blocks to the ExExes.

use std::collections::VecDeque;

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber},
};

use crate::{chain::BlockWithReceipts, notification::ExExNotification};

/// Recent canonical blocks, at most `capacity` of them (memory does not grow with the chain).
#[derive(Debug)]
pub(crate) struct Canonical {
    blocks: VecDeque<BlockWithReceipts>,
    capacity: usize,
    /// The tip; known even when no block is held (e.g. resuming from a finished height alone).
    tip: Option<BlockNumHash>,
}

impl Canonical {
    pub(crate) fn new(capacity: usize, tip: Option<BlockNumHash>) -> Self {
        Self {
            blocks: VecDeque::with_capacity(capacity),
            capacity,
            tip,
        }
    }

    pub(crate) const fn tip(&self) -> Option<BlockNumHash> {
        self.tip
    }

    /// The canonical hash at `number`, if the window (or the tip) covers it.
    pub(crate) fn hash_at(&self, number: BlockNumber) -> Option<B256> {
        if let Some(tip) = self.tip.filter(|tip| tip.number == number) {
            return Some(tip.hash);
        }
        let first = self.blocks.front()?.number();
        self.blocks
            .get(usize::try_from(number.checked_sub(first)?).ok()?)
            .map(|b| b.hash)
    }

    /// The held blocks above `number`, lowest first.
    pub(crate) fn blocks_above(&self, number: BlockNumber) -> Vec<BlockWithReceipts> {
        self.blocks
            .iter()
            .filter(|b| b.number() > number)
            .cloned()
            .collect()
    }

    /// Applies a delivered notification.
    pub(crate) fn apply(&mut self, notification: &ExExNotification) {
        if let Some(old) = notification.reverted_chain() {
            let first = old.first().number();
            while self.blocks.back().is_some_and(|b| b.number() >= first) {
                self.blocks.pop_back();
            }
            self.tip = match self.blocks.back() {
                Some(block) => Some(block.num_hash()),
                None => first.checked_sub(1).map(|number| BlockNumHash {
                    number,
                    hash: old.first().parent_hash(),
                }),
            };
        }
        if let Some(new) = notification.committed_chain() {
            let skip = new.len().saturating_sub(self.capacity);
            for block in new.blocks_iter().skip(skip) {
                if self.blocks.len() == self.capacity {
                    self.blocks.pop_front();
                }
                self.blocks.push_back(block.clone());
            }
            self.tip = Some(new.tip().num_hash());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use avs_exex_types::test_utils::{ChainBuilder, TxSpec};

    #[test]
    fn window_is_bounded_and_follows_reorgs_and_reverts() {
        let mut builder = ChainBuilder::new(0);
        let mut canonical = Canonical::new(4, None);
        let first = builder.chain(6, &[TxSpec::transfer()]);
        canonical.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(first.clone()),
        });
        assert_eq!(canonical.tip(), Some(first.tip().num_hash()));
        assert_eq!(
            canonical.hash_at(2),
            None,
            "only the last 4 blocks are held"
        );
        assert_eq!(
            canonical.hash_at(3),
            Some(first.block_by_number(3).expect("3").hash)
        );
        assert_eq!(canonical.blocks_above(4).len(), 2);

        let fork_point = first.block_by_number(4).expect("4").clone();
        let new = builder.fork_from(&fork_point).chain(3, &[]);
        let old = crate::chain::Chain::new(canonical.blocks_above(4)).expect("old");
        canonical.apply(&ExExNotification::ChainReorged {
            old: Arc::new(old),
            new: Arc::new(new.clone()),
        });
        assert_eq!(canonical.tip(), Some(new.tip().num_hash()));
        assert_eq!(canonical.hash_at(5), Some(new.first().hash));
        assert_eq!(canonical.hash_at(4), Some(fork_point.hash));

        let reverted = crate::chain::Chain::new(canonical.blocks_above(5)).expect("old");
        canonical.apply(&ExExNotification::ChainReverted {
            old: Arc::new(reverted),
        });
        assert_eq!(canonical.tip(), Some(new.first().num_hash()));
        assert_eq!(canonical.hash_at(6), None);
    }
}
