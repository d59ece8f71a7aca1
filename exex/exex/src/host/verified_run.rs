//! The run of verified state roots: a block's re-execution starts from its parent's state root,
//! so a block's root is only as good as every root below it. The host delivers a block as
//! [`StateRootCheck::Verified`] only if its parent is in the run.
//!
//! - The run starts at the first live block's parent (trusted on first use), or continues the
//!   run the WAL's verified blocks end with at a restart.
//! - A live block that is not verified (or a reorg below the run's oldest block) ends the run.
//!   Under `required` the end is written to a marker file in the host's data directory, so a
//!   restart (which a lying node can provoke) does not start a new run: every later block is
//!   delivered as unverifiable until the operator, having checked the node, deletes the marker.
//! - The run is computed on a copy for each fetched batch and committed only when the batch is
//!   delivered, so a batch the host fetches and then drops (the node reorged again) changes
//!   nothing.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
};

use alloy::eips::BlockNumHash;
use avs_exex_types::{ExExNotification, StateRootCheck};

use crate::chain::BlockWithReceipts;

/// File name of the marker of an ended run.
const MARKER: &str = "state-root-run-ended";

/// The recent blocks of the current verified run.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedRun {
    /// The run, oldest first; `None`: not started (the next live block's parent anchors it).
    blocks: Option<VecDeque<BlockNumHash>>,
    /// Blocks kept (a reorg deeper than the host's window stops the host anyway).
    capacity: usize,
    /// Why the run ended, if it did.
    ended: Option<String>,
    /// Where the end is recorded (under `required`), and whether it already is.
    marker: Option<PathBuf>,
    marked: bool,
}

impl VerifiedRun {
    /// A run that has not started and whose end is not recorded on disk.
    pub(crate) const fn new(capacity: usize) -> Self {
        Self {
            blocks: None,
            capacity,
            ended: None,
            marker: None,
            marked: false,
        }
    }

    /// A run that has not started; under `required` (`persist`), an end recorded in `dir` by an
    /// earlier process still holds.
    pub(crate) fn open(dir: &Path, capacity: usize, persist: bool) -> std::io::Result<Self> {
        let marker = persist.then(|| dir.join(MARKER));
        let ended = match &marker {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(reason) => Some(reason.trim().to_owned()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => return Err(err),
            },
            None => None,
        };
        Ok(Self {
            blocks: None,
            capacity,
            marked: ended.is_some(),
            ended,
            marker,
        })
    }

    /// Why the run ended, if it did.
    pub(crate) fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }

    /// Replays a WAL record: the run continues from the verified blocks the WAL ends with (their
    /// verdicts were given by the run of their time).
    pub(crate) fn seed(&mut self, notification: &ExExNotification) {
        if let Some(reverted) = notification.reverted_chain() {
            self.pop_from(reverted.first().number());
        }
        for block in notification
            .committed_chain()
            .iter()
            .flat_map(|c| c.blocks_iter())
        {
            self.pop_from(block.number());
            let linked = self
                .blocks
                .as_ref()
                .is_some_and(|run| run.back() == Some(&parent_of(block)));
            if !block.state_root.is_verified() {
                self.blocks = None;
            } else if linked {
                self.push(block.num_hash());
            } else {
                self.blocks = Some(VecDeque::from([block.num_hash()]));
            }
        }
    }

    /// Applies the run to live canonical blocks, in order (see the module docs).
    pub(crate) fn extend(&mut self, blocks: &mut [BlockWithReceipts]) {
        for block in blocks {
            let number = block.number();
            if let Some(reason) = &self.ended {
                downgrade(block, reason, self.marker.as_deref());
                continue;
            }
            let Some(run) = &mut self.blocks else {
                match &block.state_root {
                    // Genesis is not executed: it anchors the run itself.
                    _ if number == 0 => {
                        self.blocks = Some(VecDeque::from([block.num_hash()]));
                    }
                    StateRootCheck::Verified => {
                        // The first live block: its parent's root is trusted on first use.
                        self.blocks = Some(VecDeque::from([parent_of(block), block.num_hash()]));
                    }
                    other => self.end(number, &describe(other)),
                }
                continue;
            };
            while run.back().is_some_and(|b| b.number >= number) {
                run.pop_back();
            }
            if run.is_empty() {
                let reason = "a reorg replaced the run's oldest block".to_owned();
                self.end(number, &reason);
                downgrade(block, self.ended.as_deref().unwrap_or_default(), None);
                continue;
            }
            let linked = run.back() == Some(&parent_of(block));
            match (&block.state_root, linked) {
                (StateRootCheck::Verified, true) => self.push(block.num_hash()),
                (StateRootCheck::Verified, false) => {
                    self.end(number, "its parent is not the run's last block");
                    downgrade(block, self.ended.as_deref().unwrap_or_default(), None);
                }
                (other, _) => {
                    let reason = describe(other);
                    self.end(number, &reason);
                }
            }
        }
    }

    /// Records an ended run in the marker file (once); call when the blocks that ended it are
    /// delivered.
    pub(crate) fn persist(&mut self) -> std::io::Result<()> {
        if let (Some(reason), Some(marker), false) = (&self.ended, &self.marker, self.marked) {
            std::fs::write(marker, format!("{reason}\n"))?;
            self.marked = true;
            tracing::error!(
                %reason,
                marker = %marker.display(),
                "the run of verified state roots ended: no checkpoint above this block will be \
                 signed (state_root_verification = required). Check the node's witnesses, then \
                 delete the marker file and restart to trust the node's state at that point"
            );
        }
        Ok(())
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

    fn end(&mut self, number: u64, reason: &str) {
        self.ended = Some(format!(
            "the run of verified state roots ended at block {number}: {reason}"
        ));
    }

    fn push(&mut self, block: BlockNumHash) {
        let run = self.blocks.get_or_insert_with(VecDeque::new);
        run.push_back(block);
        while run.len() > self.capacity {
            run.pop_front();
        }
    }

    fn pop_from(&mut self, number: u64) {
        if let Some(run) = &mut self.blocks {
            while run.back().is_some_and(|b| b.number >= number) {
                run.pop_back();
            }
            if run.is_empty() {
                self.blocks = None;
            }
        }
    }
}

fn parent_of(block: &BlockWithReceipts) -> BlockNumHash {
    BlockNumHash {
        number: block.number().saturating_sub(1),
        hash: block.header().parent_hash,
    }
}

fn describe(check: &StateRootCheck) -> String {
    match check {
        StateRootCheck::Unverifiable(reason) => reason.clone(),
        StateRootCheck::NotChecked => "not checked".to_owned(),
        StateRootCheck::Verified => "verified".to_owned(),
    }
}

fn downgrade(block: &mut BlockWithReceipts, reason: &str, marker: Option<&Path>) {
    if block.state_root.is_verified() {
        let remedy = marker.map_or_else(String::new, |m| {
            format!(
                "; once the node is checked, delete {} and restart",
                m.display()
            )
        });
        block.state_root = StateRootCheck::Unverifiable(format!(
            "re-executed to its state root, but above unverified state: {reason}{remedy}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use avs_exex_types::{Chain, test_utils::ChainBuilder};

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

    fn verified(blocks: &[BlockWithReceipts]) -> Vec<bool> {
        blocks.iter().map(|b| b.state_root.is_verified()).collect()
    }

    #[test]
    fn one_unverifiable_block_ends_the_run_and_a_restart_does_not_start_another() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = ChainBuilder::new(9);
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let mut first = blocks(&mut builder, &[true, true, false, true]);
        run.extend(&mut first);
        run.persist().unwrap();
        assert_eq!(verified(&first), [true, true, false, false]);
        let StateRootCheck::Unverifiable(reason) = &first[3].state_root else {
            unreachable!()
        };
        assert!(reason.contains("ended at block 12: no witness"), "{reason}");
        assert!(reason.contains(MARKER), "{reason}");

        // A new process (a restart the node may have provoked) finds the marker.
        let mut restarted = VerifiedRun::open(dir.path(), 64, true).unwrap();
        assert!(restarted.ended().is_some());
        let mut later = blocks(&mut builder, &[true]);
        restarted.extend(&mut later);
        assert_eq!(verified(&later), [false]);

        // The operator deletes the marker: the next process trusts the node again.
        std::fs::remove_file(dir.path().join(MARKER)).unwrap();
        let mut fresh = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let mut next = blocks(&mut builder, &[true, true]);
        fresh.extend(&mut next);
        assert_eq!(verified(&next), [true, true]);
    }

    #[test]
    fn a_first_live_block_that_is_not_verified_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let mut blocks = blocks(&mut ChainBuilder::new(0), &[false, true]);
        run.extend(&mut blocks);
        assert_eq!(verified(&blocks), [false, false]);
    }

    #[test]
    fn a_copy_that_is_not_committed_changes_nothing_and_reorgs_inside_the_run_continue_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = ChainBuilder::new(0);
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let mut base = blocks(&mut builder, &[true, true, true]);
        run.extend(&mut base);

        // A batch whose copy ends the run, then dropped.
        let mut dropped = run.clone();
        dropped.extend(&mut blocks(&mut builder, &[false]));
        assert!(dropped.ended().is_some() && run.ended().is_none());

        // A reorg from the second block continues the run.
        let mut fork = blocks(builder.fork_from(&base[1]), &[true, true]);
        run.extend(&mut fork);
        assert_eq!(verified(&fork), [true, true]);

        // A reorg below the run's first block ends it.
        let mut deep = blocks(ChainBuilder::new(0).fork_from(&base[0]), &[true]);
        deep[0].block.header.number = 0;
        run.extend(&mut deep);
        assert_eq!(verified(&deep), [false]);
    }

    #[test]
    fn a_restart_continues_the_run_the_wal_ends_with() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = ChainBuilder::new(0);
        let stored = blocks(&mut builder, &[true, true, true]);
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        run.seed(&ExExNotification::ChainCommitted {
            new: Arc::new(Chain::new(stored).unwrap()),
        });
        let mut next = blocks(&mut builder, &[true]);
        run.extend(&mut next);
        assert_eq!(verified(&next), [true]);

        // A WAL ending with an unverified block (best_effort before) leaves the run unstarted:
        // the first live block starts one (no marker was written under best_effort).
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let stored = blocks(&mut builder, &[true, false]);
        run.seed(&ExExNotification::ChainCommitted {
            new: Arc::new(Chain::new(stored).unwrap()),
        });
        let mut next = blocks(&mut builder, &[true]);
        run.extend(&mut next);
        assert_eq!(verified(&next), [true]);
    }

    /// Following from genesis: block 0 is not executed but anchors the run.
    #[test]
    fn genesis_anchors_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = ChainBuilder::new(0);
        let mut genesis = builder.block(&[]);
        genesis.block.header.number = 0;
        genesis.hash = genesis.block.header.hash_slow();
        genesis.state_root =
            StateRootCheck::Unverifiable("the genesis block is not executed".into());
        let mut next = blocks(builder.fork_from(&genesis), &[true]);
        let mut run = VerifiedRun::open(dir.path(), 64, true).unwrap();
        let mut all = vec![genesis];
        all.append(&mut next);
        run.extend(&mut all);
        assert_eq!(verified(&all), [false, true]);
        assert!(run.ended().is_none());
    }

    #[test]
    fn blocks_outside_the_live_path_are_never_verified() {
        let mut blocks = blocks(&mut ChainBuilder::new(0), &[true, false]);
        VerifiedRun::outside(&mut blocks);
        assert!(blocks.iter().all(|b| !b.state_root.is_verified()));
    }
}
