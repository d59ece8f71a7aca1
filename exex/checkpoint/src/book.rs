//! The task book: the lifecycle of every task this node tracks, with one writer.
//!
//! The operator role ([`crate::avs_exex`]) is the only owner of task state: it derives every
//! transition from the canonical chain and its slashing-protection record, and publishes each
//! one here as it makes it. Everything else in the node (the p2p bridge, the submitter, the
//! Node API) holds a [`TaskBook`] clone and only reads it: the write methods are private to this
//! crate, so no second copy of a task's state can drift from the owner's.
//!
//! # Lifecycle
//! ```text
//!                 ┌─── withdrawn (target block reorged out) ───┐
//!                 ▼                                            │
//! created ──▶ Answering ──▶ signed ──▶ Signed { digest } ──────┴──▶ responded ──▶ Responded { block }
//!                 │                           ▲                                        │
//!                 │                           └──── response reverted (reorg): what ───┘
//!                 ▼                                 this node signed is restored
//!              Closed (timed out, not eligible, refused by the record)
//!
//! creation reverted (any phase): the entry is removed; the index may be re-created as another
//! task (another task hash). Closed for good (settled, and answered or past its window): an
//! `AvsEvent::TaskClosed` once, and the entry is removed when the owner prunes it (a task
//! pruned before it was reported, after a restart, is reported then).
//! A `Closed` task that others answer moves to `Responded` too; if that response is reverted it
//! goes back to `Answering`, having nothing signed to restore.
//! ```
//! `Refused` is a task that misnames its creation block: never signed, never reopened.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use alloy::{eips::BlockNumHash, primitives::B256};
use avs_contracts::avs::IAvsTaskManager::Task;
use tokio::time::Instant;

/// Where a task stands for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPhase {
    /// Waiting for its checkpoint block at the attestation depth (or a registry answer) to sign.
    Answering,
    /// This operator signed the response with EIP-712 digest `digest` and stands behind it.
    Signed {
        /// The digest signed.
        digest: B256,
    },
    /// A response is canonical in settlement block `block`.
    Responded {
        /// The settlement block of the `TaskResponded`.
        block: u64,
    },
    /// Nothing more to do: timed out, not eligible, or refused by the slashing-protection record.
    Closed,
    /// Never to be signed: the task does not name the settlement block that created it.
    Refused,
}

/// One task as the owner last published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task as created.
    pub task: Task,
    /// The settlement block whose `NewTaskCreated` log created it.
    pub created_at: BlockNumHash,
    /// When this node saw it created.
    pub seen_at: Instant,
    /// Where it stands.
    pub phase: TaskPhase,
}

/// Why this node refuses to pay for submitting an aggregate that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitRefusal {
    /// The task is not in the book (reverted, closed for good, or never seen), or the index
    /// holds another task now (a reorg re-created it).
    #[error("the task is not open on this node's chain")]
    UnknownTask,
    /// A response to the task is canonical already.
    #[error("the task is answered already")]
    Answered,
    /// The node has not signed a response to the task (its view has not verified the block),
    /// or withdrew the one it signed.
    #[error("this node has no response of its own to the task (not signed yet, or withdrawn)")]
    NoOwnResponse,
    /// The aggregate reached quorum for a response other than the one this node signed.
    #[error("the aggregate's response {aggregate} differs from the one this node signed, {own}")]
    Differs {
        /// What this node signed.
        own: B256,
        /// What the aggregate is over.
        aggregate: B256,
    },
}

/// The shared, read-only (outside this crate) view of the owner's task lifecycle. Cheap to
/// clone; every clone sees the same book.
#[derive(Debug, Clone, Default)]
pub struct TaskBook {
    tasks: Arc<RwLock<BTreeMap<u32, TaskRecord>>>,
}

impl TaskBook {
    /// An empty book, to hand to the AVS ExEx (`AvsDeps::tasks`) and keep clones of.
    pub fn new() -> Self {
        Self::default()
    }

    /// The task at `task_index`, as last published.
    pub fn get(&self, task_index: u32) -> Option<TaskRecord> {
        self.read().get(&task_index).cloned()
    }

    /// How many tasks the book holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The task to submit an aggregate over `digest` for task `task_index` with struct hash
    /// `task_hash`, if this node may pay for it: a node submits only the response it signed
    /// itself and still stands behind. One that reached quorum while differing from its own
    /// view is a faulty majority's, never this node's to send.
    pub fn submission(
        &self,
        task_index: u32,
        task_hash: B256,
        digest: B256,
    ) -> Result<Task, SubmitRefusal> {
        let tasks = self.read();
        let record = tasks
            .get(&task_index)
            .filter(|record| record.task.hash() == task_hash)
            .ok_or(SubmitRefusal::UnknownTask)?;
        match record.phase {
            TaskPhase::Signed { digest: own } if own == digest => Ok(record.task.clone()),
            TaskPhase::Signed { digest: own } => Err(SubmitRefusal::Differs {
                own,
                aggregate: digest,
            }),
            TaskPhase::Responded { .. } => Err(SubmitRefusal::Answered),
            TaskPhase::Answering | TaskPhase::Closed | TaskPhase::Refused => {
                Err(SubmitRefusal::NoOwnResponse)
            }
        }
    }

    /// Publishes the owner's record of `task_index` (a creation or a transition).
    pub(crate) fn publish(&self, task_index: u32, record: TaskRecord) {
        self.write().insert(task_index, record);
    }

    /// Moves the published `task_index` to `phase`.
    pub(crate) fn set_phase(&self, task_index: u32, phase: TaskPhase) {
        if let Some(record) = self.write().get_mut(&task_index) {
            record.phase = phase;
        }
    }

    /// Removes `task_index` (its creation reverted, or pruned once closed for good).
    pub(crate) fn remove(&self, task_index: u32) {
        self.write().remove(&task_index);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, TaskRecord>> {
        // A panic while held leaves a consistent map (every write is one insert or remove).
        self.tasks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, TaskRecord>> {
        self.tasks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(phase: TaskPhase) -> TaskRecord {
        TaskRecord {
            task: Task {
                chainId: 31337,
                blockNumber: 10,
                taskCreatedBlock: 12,
                taskCreatedParentHash: B256::repeat_byte(11),
                quorumThresholdPercentage: 67,
                responseWindowBlocks: 100,
                challengeWindowBlocks: 100,
                quorumNumbers: vec![0].into(),
            },
            created_at: BlockNumHash::new(12, B256::repeat_byte(12)),
            seen_at: Instant::now(),
            phase,
        }
    }

    #[test]
    fn only_the_nodes_own_standing_response_is_submitted() {
        let (own, other) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let task = record(TaskPhase::Answering).task;
        let hash = task.hash();
        let book = TaskBook::new();
        let reader = book.clone();
        let submission = |digest| reader.submission(7, hash, digest);
        assert_eq!(submission(own), Err(SubmitRefusal::UnknownTask));

        book.publish(7, record(TaskPhase::Answering));
        assert_eq!(submission(own), Err(SubmitRefusal::NoOwnResponse));

        book.set_phase(7, TaskPhase::Signed { digest: own });
        assert_eq!(submission(own), Ok(task));
        assert_eq!(
            submission(other),
            Err(SubmitRefusal::Differs {
                own,
                aggregate: other
            })
        );
        // An aggregate for another task at the index (one a reorg replaced) is not an alarm:
        // it is not this task's.
        assert_eq!(
            reader.submission(7, B256::repeat_byte(3), other),
            Err(SubmitRefusal::UnknownTask)
        );

        // Withdrawn (the target block was reorged out): back to answering, nothing to submit.
        book.set_phase(7, TaskPhase::Answering);
        assert_eq!(submission(own), Err(SubmitRefusal::NoOwnResponse));

        // Answered on-chain: nothing to submit, and no reason to warn.
        book.set_phase(7, TaskPhase::Responded { block: 14 });
        assert_eq!(submission(own), Err(SubmitRefusal::Answered));

        // The creation is reverted: the index is free for another task.
        book.remove(7);
        assert_eq!(submission(own), Err(SubmitRefusal::UnknownTask));
        assert!(reader.is_empty());
    }

    #[test]
    fn a_transition_of_an_unknown_task_creates_nothing() {
        let book = TaskBook::new();
        book.set_phase(3, TaskPhase::Closed);
        assert_eq!(book.get(3), None);
        assert_eq!(book.len(), 0);
    }
}
