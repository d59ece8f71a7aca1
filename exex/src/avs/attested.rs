//! [`AttestedChain`]: the node's own verified view of the attested chain's recent blocks.
//!
//! Operators answer tasks from this view only: number → (hash, stateRoot, receiptsRoot) of
//! blocks that the host verified and delivered as canonical. It is fed with notifications —
//! by the AVS ExEx itself when the attested chain is the settlement chain, or by
//! [`attested_chain_exex`] on a second host that follows the attested chain's node.
//!
//! Invariants: the view holds at most `capacity` consecutive blocks ending at the tip; a revert
//! removes the reverted blocks before a reorg's new blocks are inserted, so a reader never sees a
//! mix of both branches; every change wakes [`AttestedChain::subscribe`]rs.

use std::{collections::BTreeMap, sync::Arc};

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber},
};
use futures::TryStreamExt;
use tokio::sync::watch;

use crate::{ExExContext, ExExEvent, ExExNotification};

/// The parts of an attested block a checkpoint response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttestedBlock {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
    /// Header `stateRoot`.
    pub state_root: B256,
    /// Header `receiptsRoot`.
    pub receipts_root: B256,
}

#[derive(Debug)]
struct View {
    capacity: usize,
    blocks: BTreeMap<BlockNumber, AttestedBlock>,
}

/// A bounded, shared view of recent canonical attested blocks (cheap to clone).
#[derive(Debug, Clone)]
pub struct AttestedChain {
    chain_id: u64,
    view: Arc<watch::Sender<View>>,
}

impl AttestedChain {
    /// An empty view of chain `chain_id` keeping the latest `capacity` blocks (at least 1).
    pub fn new(chain_id: u64, capacity: usize) -> Self {
        let view = View {
            capacity: capacity.max(1),
            blocks: BTreeMap::new(),
        };
        Self {
            chain_id,
            view: Arc::new(watch::Sender::new(view)),
        }
    }

    /// The attested chain's id.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// How many blocks the view keeps.
    pub fn capacity(&self) -> usize {
        self.view.borrow().capacity
    }

    /// The block with this number, if the view holds it.
    pub fn get(&self, number: BlockNumber) -> Option<AttestedBlock> {
        self.view.borrow().blocks.get(&number).copied()
    }

    /// The highest block held.
    pub fn tip(&self) -> Option<AttestedBlock> {
        self.view
            .borrow()
            .blocks
            .last_key_value()
            .map(|(_, block)| *block)
    }

    /// The lowest block held.
    pub fn lowest(&self) -> Option<AttestedBlock> {
        self.view
            .borrow()
            .blocks
            .first_key_value()
            .map(|(_, block)| *block)
    }

    /// A receiver that is marked changed after every applied notification.
    pub fn subscribe(&self) -> AttestedChanges {
        AttestedChanges(self.view.subscribe())
    }

    /// Applies a notification of the attested chain: drops reverted blocks, then inserts the
    /// committed ones and prunes to the capacity.
    pub fn apply(&self, notification: &ExExNotification) {
        self.view.send_modify(|view| {
            if let Some(reverted) = notification.reverted_chain() {
                for block in reverted.blocks_iter() {
                    if view
                        .blocks
                        .get(&block.number())
                        .is_some_and(|b| b.hash == block.hash)
                    {
                        view.blocks.remove(&block.number());
                    }
                }
            }
            if let Some(committed) = notification.committed_chain() {
                // A committed chain replaces everything at and above its first block.
                view.blocks.split_off(&committed.first().number());
                for block in committed.blocks_iter() {
                    let header = block.header();
                    view.blocks.insert(
                        block.number(),
                        AttestedBlock {
                            number: block.number(),
                            hash: block.hash,
                            state_root: header.state_root,
                            receipts_root: header.receipts_root,
                        },
                    );
                }
            }
            while view.blocks.len() > view.capacity {
                view.blocks.pop_first();
            }
        });
    }

    /// The block `retention` below the tip (or the lowest held): what an ExEx feeding this view
    /// may report as finished so that a restart re-delivers the blocks the view needs.
    pub fn finished_candidate(&self, retention: u64) -> Option<BlockNumHash> {
        let view = self.view.borrow();
        let tip = view.blocks.last_key_value()?.1.number;
        let (_, block) = view
            .blocks
            .range(..=tip.saturating_sub(retention))
            .next_back()?;
        Some(BlockNumHash {
            number: block.number,
            hash: block.hash,
        })
    }
}

/// Change notifications of an [`AttestedChain`].
#[derive(Debug)]
pub struct AttestedChanges(watch::Receiver<View>);

impl AttestedChanges {
    /// Waits for the next change; `None` if the view was dropped.
    pub async fn changed(&mut self) -> Option<()> {
        self.0.changed().await.ok()
    }
}

/// The ExEx of a second host following the attested chain's node (two-chain mode): feeds `view`
/// and reports `FinishedHeight` `retention` blocks below its tip, so a restarted node gets the
/// recent blocks again and can answer tasks created just before the restart.
pub async fn attested_chain_exex(
    mut ctx: ExExContext,
    view: AttestedChain,
    retention: u64,
) -> eyre::Result<()> {
    let mut finished = ctx.head.map(|head| head.block);
    while let Some(notification) = ctx.notifications.try_next().await? {
        view.apply(&notification);
        let candidate = view.finished_candidate(retention);
        if let Some(height) = candidate.filter(|c| finished.is_none_or(|f| c.number > f.number)) {
            ctx.send_event(ExExEvent::FinishedHeight(height)).await?;
            finished = Some(height);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{ChainBuilder, test_exex_context};
    use std::time::Duration;

    #[test]
    fn reorgs_and_reverts_replace_blocks_and_capacity_bounds_the_view() {
        let view = AttestedChain::new(1, 4);
        let mut builder = ChainBuilder::new(0);
        let base = builder.chain(3, &[]);
        view.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(base.clone()),
        });
        assert_eq!(view.tip().map(|b| b.number), Some(3));
        assert_eq!(view.get(2).map(|b| b.hash), Some(base.blocks()[1].hash));
        assert_eq!(
            view.get(3).map(|b| b.state_root),
            Some(base.tip().header().state_root)
        );

        let old = builder.chain(2, &[]);
        view.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(old.clone()),
        });
        assert_eq!(
            view.lowest().map(|b| b.number),
            Some(2),
            "capacity 4 keeps 2..=5"
        );

        let new = builder.fork_from(base.tip()).chain(1, &[]);
        view.apply(&ExExNotification::ChainReorged {
            old: Arc::new(old),
            new: Arc::new(new.clone()),
        });
        assert_eq!(
            view.tip().map(|b| (b.number, b.hash)),
            Some((4, new.tip().hash))
        );
        assert_eq!(view.get(5), None);

        view.apply(&ExExNotification::ChainReverted { old: Arc::new(new) });
        assert_eq!(view.tip().map(|b| b.number), Some(3));
        assert_eq!(view.finished_candidate(1).map(|b| b.number), Some(2));
    }

    #[tokio::test]
    async fn attested_chain_exex_feeds_the_view_and_trails_finished_height() {
        let (ctx, mut handle) = test_exex_context();
        let view = AttestedChain::new(1, 16);
        let mut changes = view.subscribe();
        let exex = tokio::spawn(attested_chain_exex(ctx, view.clone(), 2));
        let chain = ChainBuilder::new(0).chain(5, &[]);
        let expected = chain.blocks()[2].num_hash();
        handle
            .send_notification_chain_committed(chain)
            .await
            .expect("send");
        tokio::time::timeout(Duration::from_secs(10), changes.changed())
            .await
            .expect("the view changes within 10s");
        assert_eq!(view.tip().map(|b| b.number), Some(5));
        let event = handle
            .next_event(Duration::from_secs(10))
            .await
            .expect("event");
        assert_eq!(event, ExExEvent::FinishedHeight(expected));
        exex.abort();
    }
}
