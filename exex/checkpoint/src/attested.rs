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
//!
//! # Attestation depth
//! A block is only *attestable* ([`AttestedChain::attestable`]) once it is as deep as the
//! view's [`AttestDepth`]: a number of blocks below the tip, or the node's `safe` / `finalized`
//! block. An operator signs, and a generator tasks, nothing above that horizon: a signature over
//! a block that a later reorg replaces attests a block that is no longer the chain's. For the
//! tags the feeder calls [`AttestedChain::refresh_horizon`] after each notification; the horizon
//! only moves to a block the view holds with the same hash (or below the view), and stays where
//! it was when the tag is ahead of the blocks the host delivered or the node cannot say.
//!
//! # State roots
//! When the host verifies state roots as `required` ([`AttestedChain::require_verified_state_roots`]),
//! a block is attestable only if the host delivered it as
//! [`StateRootCheck::Verified`](avs_exex::StateRootCheck::Verified): re-executed to the header's
//! state root, from a parent that was verified too, back to the start of the host's verified
//! run (the host downgrades every block above an unverifiable one; see the host's
//! `state-root-run-ended` marker).

use std::{collections::BTreeMap, sync::Arc};

use alloy::{
    eips::{BlockNumHash, BlockNumberOrTag},
    primitives::{B256, BlockNumber},
    providers::Provider,
    transports::{RpcError, TransportErrorKind},
};
use futures::TryStreamExt;
use tokio::sync::watch;

use avs_exex::{ExExContext, ExExEvent, ExExNotification};

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

/// How deep a block must be before it is signed or tasked (`attest_depth` of the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestDepth {
    /// This many blocks below the view's tip (0: the tip itself).
    Blocks(u64),
    /// At or below the node's `safe` block.
    Safe,
    /// At or below the node's `finalized` block.
    Finalized,
}

impl AttestDepth {
    /// The block tag a node is asked for, if the depth is one.
    pub const fn tag(self) -> Option<BlockNumberOrTag> {
        match self {
            Self::Blocks(_) => None,
            Self::Safe => Some(BlockNumberOrTag::Safe),
            Self::Finalized => Some(BlockNumberOrTag::Finalized),
        }
    }
}

impl std::fmt::Display for AttestDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Blocks(blocks) => write!(f, "{blocks} blocks"),
            Self::Safe => f.write_str("safe"),
            Self::Finalized => f.write_str("finalized"),
        }
    }
}

/// `"finalized"`, `"safe"` or a number of blocks.
impl std::str::FromStr for AttestDepth {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "finalized" => Ok(Self::Finalized),
            "safe" => Ok(Self::Safe),
            number => number
                .parse()
                .map(Self::Blocks)
                .map_err(|_| format!("`{value}` is not `finalized`, `safe` or a number of blocks")),
        }
    }
}

#[derive(Debug)]
struct View {
    capacity: usize,
    blocks: BTreeMap<BlockNumber, AttestedBlock>,
    depth: AttestDepth,
    /// For a tag depth: the highest attestable block as last read from the node.
    tagged_horizon: Option<BlockNumber>,
    /// Only blocks the host verified the state roots of, up to and including them, are
    /// attestable.
    require_verified: bool,
    /// The view's blocks whose state root is not verified (tracked only when required).
    unverified: BTreeMap<BlockNumber, B256>,
}

impl View {
    fn horizon(&self) -> Option<BlockNumber> {
        match self.depth {
            AttestDepth::Blocks(blocks) => self
                .blocks
                .last_key_value()
                .and_then(|(tip, _)| tip.checked_sub(blocks)),
            AttestDepth::Safe | AttestDepth::Finalized => self.tagged_horizon,
        }
    }
}

/// A bounded, shared view of recent canonical attested blocks (cheap to clone).
#[derive(Debug, Clone)]
pub struct AttestedChain {
    chain_id: u64,
    view: Arc<watch::Sender<View>>,
}

impl AttestedChain {
    /// An empty view of chain `chain_id` keeping the latest `capacity` blocks (at least 1), in
    /// which every block is attestable (depth 0 blocks; see [`Self::with_depth`]).
    pub fn new(chain_id: u64, capacity: usize) -> Self {
        let view = View {
            capacity: capacity.max(1),
            blocks: BTreeMap::new(),
            depth: AttestDepth::Blocks(0),
            tagged_horizon: None,
            require_verified: false,
            unverified: BTreeMap::new(),
        };
        Self {
            chain_id,
            view: Arc::new(watch::Sender::new(view)),
        }
    }

    /// The same view with attestation depth `depth`.
    pub fn with_depth(self, depth: AttestDepth) -> Self {
        self.view.send_modify(|view| {
            view.depth = depth;
            view.tagged_horizon = None;
        });
        self
    }

    /// Makes only blocks with verified state roots attestable (see the module docs); called
    /// by the feeding ExEx when its host runs state-root verification as `required`.
    pub fn require_verified_state_roots(&self) {
        self.view.send_modify(|view| view.require_verified = true);
    }

    /// The lowest canonical block whose state root is not verified, when that stops
    /// attestation (state roots `required`).
    pub fn first_unverified(&self) -> Option<BlockNumber> {
        let view = self.view.borrow();
        view.require_verified
            .then(|| view.unverified.keys().next().copied())
            .flatten()
    }

    /// The attestation depth.
    pub fn depth(&self) -> AttestDepth {
        self.view.borrow().depth
    }

    /// The highest attestable block number, if any block is attestable yet.
    pub fn horizon(&self) -> Option<BlockNumber> {
        self.view.borrow().horizon()
    }

    /// The block with this number if the view holds it and it is deep enough to attest.
    pub fn attestable(&self, number: BlockNumber) -> Option<AttestedBlock> {
        let view = self.view.borrow();
        if view.horizon().is_none_or(|horizon| number > horizon) {
            return None;
        }
        if view.unverified.contains_key(&number) {
            return None;
        }
        view.blocks.get(&number).copied()
    }

    /// Reads the node's block for a tag depth (a no-op for a number of blocks) and moves the
    /// horizon to it when the view holds that block with the same hash (or the tag is below the
    /// view). A tag above the view's tip or a hash that disagrees with the view leaves the
    /// horizon where it was (the host has not caught up with the node yet), and so does an
    /// error: the caller logs it; nothing unverified becomes attestable.
    pub async fn refresh_horizon<P: Provider>(
        &self,
        provider: &P,
    ) -> Result<(), RpcError<TransportErrorKind>> {
        let Some(tag) = self.depth().tag() else {
            return Ok(());
        };
        let Some(block) = provider.get_block_by_number(tag).await? else {
            return Ok(());
        };
        let (number, hash) = (block.header.number, block.header.hash);
        self.view.send_if_modified(|view| {
            let Some((&tip, _)) = view.blocks.last_key_value() else {
                return false;
            };
            if number > tip {
                return false;
            }
            match view.blocks.get(&number) {
                Some(held) if held.hash != hash => return false,
                // Held with the same hash, or below the view (everything the view holds is
                // above it, so not yet as deep).
                _ => {}
            }
            if view.tagged_horizon == Some(number) {
                return false;
            }
            view.tagged_horizon = Some(number);
            true
        });
        Ok(())
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
                // A tagged block that was reverted (a `safe` block can be) is no longer known
                // to be deep: the horizon drops below the reverted range until re-read.
                let first = reverted.first().number();
                if view.tagged_horizon.is_some_and(|horizon| horizon >= first) {
                    view.tagged_horizon = first.checked_sub(1);
                }
                for block in reverted.blocks_iter() {
                    if view
                        .blocks
                        .get(&block.number())
                        .is_some_and(|b| b.hash == block.hash)
                    {
                        view.blocks.remove(&block.number());
                    }
                    if view.unverified.get(&block.number()) == Some(&block.hash) {
                        view.unverified.remove(&block.number());
                    }
                }
            }
            if let Some(committed) = notification.committed_chain() {
                // A committed chain replaces everything at and above its first block.
                view.blocks.split_off(&committed.first().number());
                view.unverified.split_off(&committed.first().number());
                for block in committed.blocks_iter() {
                    // Tracked only when it matters: under `best_effort` against a node without
                    // witnesses every block is unverifiable.
                    if view.require_verified && !block.state_root.is_verified() {
                        tracing::warn!(
                            block = block.number(),
                            reason = ?block.state_root,
                            "state root not verified: this block will not be signed \
                             (state_root_verification = required)"
                        );
                        view.unverified.insert(block.number(), block.hash);
                    }
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
            if let Some((&lowest, _)) = view.blocks.first_key_value() {
                view.unverified = view.unverified.split_off(&lowest);
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
    if ctx.config.state_root_required {
        view.require_verified_state_roots();
    }
    let mut finished = ctx.head.map(|head| head.block);
    while let Some(notification) = ctx.notifications.try_next().await? {
        view.apply(&notification);
        if let Err(err) = view.refresh_horizon(&ctx.provider).await {
            tracing::warn!(%err, depth = %view.depth(), "cannot read the attested node's tagged block; the attestable horizon stays");
        }
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
    use avs_exex::Chain;
    use avs_exex_test_utils::{ChainBuilder, test_exex_context};
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

    /// Under `required`, a block the host did not deliver as verified is not attestable (the
    /// host already downgrades everything above an unverifiable block); a reorg that replaces it
    /// makes its height attestable again; the record does not outgrow the view; without the
    /// requirement nothing changes.
    #[test]
    fn an_unverified_state_root_is_not_attested() {
        let mut builder = ChainBuilder::new(0);
        let mut blocks: Vec<_> = builder.chain(6, &[]).blocks().to_vec();
        for block in &mut blocks {
            block.state_root = avs_exex::StateRootCheck::Verified;
        }
        blocks[3].state_root = avs_exex::StateRootCheck::Unverifiable("no witness".to_owned());
        let commit = ExExNotification::ChainCommitted {
            new: Arc::new(Chain::new(blocks.clone()).unwrap()),
        };

        let lenient = AttestedChain::new(1, 3);
        lenient.apply(&commit);
        assert!(lenient.attestable(4).is_some());
        assert_eq!(lenient.first_unverified(), None);

        let strict = AttestedChain::new(1, 3);
        strict.require_verified_state_roots();
        strict.apply(&commit);
        assert_eq!(strict.first_unverified(), Some(4));
        assert!(strict.attestable(4).is_none());
        assert!(strict.attestable(5).is_some() && strict.attestable(6).is_some());

        // A reorg from block 3 replaces block 4 with verified blocks.
        let mut replacement: Vec<_> = builder
            .fork_from(&blocks[2])
            .chain(3, &[])
            .blocks()
            .to_vec();
        for block in &mut replacement {
            block.state_root = avs_exex::StateRootCheck::Verified;
        }
        strict.apply(&ExExNotification::ChainReorged {
            old: Arc::new(Chain::new(blocks[3..].to_vec()).unwrap()),
            new: Arc::new(Chain::new(replacement).unwrap()),
        });
        assert_eq!(strict.first_unverified(), None);
        assert!(strict.attestable(4).is_some());

        // Unverified blocks that leave the view leave the record.
        let mut unverified: Vec<_> = builder.chain(5, &[]).blocks().to_vec();
        for block in &mut unverified {
            block.state_root = avs_exex::StateRootCheck::NotChecked;
        }
        strict.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(Chain::new(unverified).unwrap()),
        });
        assert_eq!(
            strict.first_unverified(),
            Some(9),
            "capacity 3 keeps 9..=11"
        );
    }

    #[test]
    fn attest_depth_parses_tags_and_numbers() {
        assert_eq!("finalized".parse(), Ok(AttestDepth::Finalized));
        assert_eq!("safe".parse(), Ok(AttestDepth::Safe));
        assert_eq!(" 12 ".parse(), Ok(AttestDepth::Blocks(12)));
        let err = "latest".parse::<AttestDepth>().expect_err("not a depth");
        assert!(err.contains("`finalized`, `safe` or a number"), "{err}");
        assert!("-1".parse::<AttestDepth>().is_err());
    }

    #[test]
    fn a_block_is_attestable_only_at_the_depth() {
        let view = AttestedChain::new(1, 16).with_depth(AttestDepth::Blocks(2));
        assert_eq!(view.horizon(), None);
        let chain = ChainBuilder::new(0).chain(5, &[]);
        view.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(chain.clone()),
        });
        assert_eq!(view.horizon(), Some(3));
        assert_eq!(
            view.attestable(3).map(|b| b.hash),
            Some(chain.blocks()[2].hash)
        );
        assert_eq!(view.attestable(4), None, "one block on top is not enough");
        assert!(view.get(4).is_some(), "but the view holds it");
    }

    /// A provider answering `eth_getBlockByNumber(tag)` with a block of `number` and `hash`.
    fn node_answering(number: u64, hash: B256) -> impl Provider {
        let asserter = alloy::providers::mock::Asserter::new();
        let mut block = alloy::rpc::types::Block::<alloy::rpc::types::Transaction>::default();
        block.header.hash = hash;
        block.header.inner.number = number;
        asserter.push_success(&block);
        alloy::providers::ProviderBuilder::new().connect_mocked_client(asserter)
    }

    #[tokio::test]
    async fn the_finalized_horizon_follows_the_node_only_where_the_view_agrees() {
        let view = AttestedChain::new(1, 16).with_depth(AttestDepth::Finalized);
        let mut builder = ChainBuilder::new(0);
        let chain = builder.chain(6, &[]);
        view.apply(&ExExNotification::ChainCommitted {
            new: Arc::new(chain.clone()),
        });
        assert_eq!(view.attestable(1), None, "nothing before the node said");
        // The node's finalized block 3 is the view's block 3.
        view.refresh_horizon(&node_answering(3, chain.blocks()[2].hash))
            .await
            .expect("answer");
        assert_eq!(view.horizon(), Some(3));
        assert!(view.attestable(3).is_some() && view.attestable(4).is_none());
        // Another hash at 5 (the host is on another branch), or a block above the tip: no move.
        view.refresh_horizon(&node_answering(5, B256::repeat_byte(1)))
            .await
            .expect("answer");
        view.refresh_horizon(&node_answering(9, B256::repeat_byte(2)))
            .await
            .expect("answer");
        assert_eq!(view.horizon(), Some(3));
        // An error leaves it too (the mock has no answer queued).
        let silent = alloy::providers::ProviderBuilder::new()
            .connect_mocked_client(alloy::providers::mock::Asserter::new());
        assert!(view.refresh_horizon(&silent).await.is_err());
        assert_eq!(view.horizon(), Some(3));
        // A revert reaching below the horizon pulls it below the reverted blocks.
        let tail = Chain::new(chain.blocks()[2..].to_vec()).expect("consecutive");
        view.apply(&ExExNotification::ChainReverted {
            old: Arc::new(tail),
        });
        assert_eq!(view.horizon(), Some(2));
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
