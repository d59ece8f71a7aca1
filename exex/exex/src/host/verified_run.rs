//! The run of verified state roots: a block's re-execution starts from its parent's state root,
//! so a block's root is only as good as every root below it. The host marks a block
//! [`StateRootCheck::Verified`] only if its parent is in the run, which starts at the first
//! block the host fetches live after a start (its parent's root is the anchor: trusted on
//! start). One block that is not verified ends the run: every later block is delivered as
//! unverifiable, until the host is restarted.

use std::collections::VecDeque;

use alloy::{eips::BlockNumHash, primitives::BlockNumber};
use avs_exex_types::StateRootCheck;

use crate::chain::BlockWithReceipts;

/// The recent blocks of the current verified run.
#[derive(Debug)]
pub(crate) struct VerifiedRun {
    /// `None` until the first live block: that block starts the run.
    blocks: Option<VecDeque<BlockNumHash>>,
    /// Blocks kept (a reorg deeper than the host's window stops the host anyway).
    capacity: usize,
    /// Where the run ended, for the reason given to later blocks.
    ended_at: Option<BlockNumber>,
}

impl VerifiedRun {
    pub(crate) const fn new(capacity: usize) -> Self {
        Self {
            blocks: None,
            capacity,
            ended_at: None,
        }
    }

    /// Applies the run to live canonical blocks, in order: a verified block whose parent is not
    /// in the run becomes unverifiable, naming the block where the run ended.
    pub(crate) fn extend(&mut self, blocks: &mut [BlockWithReceipts]) {
        for block in blocks {
            let number = block.number();
            let parent = BlockNumHash {
                number: number.wrapping_sub(1),
                hash: block.header().parent_hash,
            };
            let run = self.blocks.get_or_insert_with(|| VecDeque::from([parent]));
            // A reorg replaces the blocks at and above this one.
            while run.back().is_some_and(|b| b.number >= number) {
                run.pop_back();
            }
            let chained = run.back() == Some(&parent);
            match (&block.state_root, chained) {
                (StateRootCheck::Verified, true) => {
                    run.push_back(block.num_hash());
                    while run.len() > self.capacity {
                        run.pop_front();
                    }
                }
                (StateRootCheck::Verified, false) => {
                    block.state_root = StateRootCheck::Unverifiable(format!(
                        "re-executed to its state root, but from the unverified state root of \
                         an ancestor (the verified run ended at block {}; restart the node to \
                         start a new one)",
                        self.ended_at.unwrap_or(number)
                    ));
                }
                // Not pushed: the blocks above it are not chained, but a reorg below it can
                // still continue the run.
                _ => {
                    if chained {
                        self.ended_at = Some(number);
                    }
                }
            }
        }
    }

    /// Blocks fetched outside the live path (for an ExEx catching up below the WAL) are not part
    /// of the run: their verdicts can only be as strong as the run's.
    pub(crate) fn outside(blocks: &mut [BlockWithReceipts]) {
        for block in blocks {
            if block.state_root.is_verified() {
                block.state_root = StateRootCheck::Unverifiable(
                    "fetched below the WAL, outside this run's verified state roots".to_owned(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use avs_exex_types::test_utils::ChainBuilder;

    use super::*;

    fn blocks(builder: &mut ChainBuilder, verdicts: &[bool]) -> Vec<BlockWithReceipts> {
        verdicts
            .iter()
            .map(|verified| {
                let mut block = builder.block(&[]);
                block.state_root = if *verified {
                    StateRootCheck::Verified
                } else {
                    StateRootCheck::Unverifiable("no witness".to_owned())
                };
                block
            })
            .collect()
    }

    #[test]
    fn one_unverifiable_block_ends_the_run_until_a_reorg_replaces_it() {
        let mut builder = ChainBuilder::new(9);
        let mut run = VerifiedRun::new(64);
        let mut first = blocks(&mut builder, &[true, true, false, true, true]);
        run.extend(&mut first);
        let verified: Vec<bool> = first.iter().map(|b| b.state_root.is_verified()).collect();
        assert_eq!(verified, [true, true, false, false, false]);
        let StateRootCheck::Unverifiable(reason) = &first[4].state_root else {
            unreachable!()
        };
        assert!(reason.contains("ended at block 12"), "{reason}");

        // A later batch stays outside the run.
        let mut later = blocks(&mut builder, &[true]);
        run.extend(&mut later);
        assert!(!later[0].state_root.is_verified());

        // A reorg from block 11 (verified) replaces the unverifiable block 12.
        let mut fork = blocks(builder.fork_from(&first[1]), &[true, true]);
        run.extend(&mut fork);
        assert!(fork.iter().all(|b| b.state_root.is_verified()));
    }

    #[test]
    fn blocks_outside_the_live_path_are_never_verified() {
        let mut blocks = blocks(&mut ChainBuilder::new(0), &[true, false]);
        VerifiedRun::outside(&mut blocks);
        assert!(blocks.iter().all(|b| !b.state_root.is_verified()));
    }
}
