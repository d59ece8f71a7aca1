//! The task-generator role: create a checkpoint task for every `interval`-th attested block once
//! it has `confirmations` blocks on top.
//!
//! Idempotence comes from two sources. `NewTaskCreated` logs seen on the settlement chain (and
//! this node's own successful creations) mark checkpoints as tasked; a reverted log un-marks its
//! checkpoint, so a task whose creation was reorged out is created again. After a restart (or
//! when another generator was faster) the contract itself refuses a duplicate with
//! `CheckpointAlreadyTasked`, which [`ContractTaskCreator`] reports as
//! [`CreateOutcome::AlreadyTasked`] — a success. Several generators are therefore safe.
//!
//! Only checkpoints at or above the first attested block this run saw are candidates: the node
//! does not back-fill tasks for history it was not following.

use std::{collections::BTreeMap, future::Future, time::Duration};

use alloy::{
    primitives::{Address, B256, Bytes},
    providers::{DynProvider, PendingTransactionError, Provider},
};

use avs_contracts::avs::AvsTaskManager::{self, AvsTaskManagerInstance, NewTaskCreated};

use super::{attested::AttestedChain, config::GeneratorConfig, metrics::AvsMetrics};

/// What a creation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// This node's transaction created task `task_index`.
    Created {
        /// The new task's index.
        task_index: u32,
        /// The settlement block the transaction was mined in.
        block_number: u64,
    },
    /// The checkpoint already has a live task (the contract refused a duplicate).
    AlreadyTasked {
        /// The existing task's index.
        task_index: u32,
    },
}

/// A `createNewTask` transaction failed (the checkpoint is tried again on the next block).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The node refused the call or transaction.
    #[error("createNewTask was refused: {0}")]
    Call(#[from] alloy::contract::Error),
    /// The transaction's receipt did not arrive.
    #[error("createNewTask receipt: {0}")]
    Receipt(#[from] PendingTransactionError),
    /// No receipt within the configured timeout.
    #[error("createNewTask got no receipt within {0:?}")]
    Timeout(Duration),
    /// The transaction was mined but reverted (e.g. another generator was faster).
    #[error("createNewTask transaction {0} reverted")]
    Reverted(B256),
    /// The receipt holds no `NewTaskCreated` log of the task manager.
    #[error("createNewTask transaction {0} emitted no NewTaskCreated log")]
    NoEvent(B256),
}

/// Sends `createNewTask` for a checkpoint.
pub trait TaskCreator: Send + Sync {
    /// Creates the task for (`chain_id`, `block_number`), or reports the one that exists.
    fn create_task(
        &self,
        chain_id: u64,
        block_number: u64,
        quorum_threshold_percentage: u32,
        quorum_numbers: Bytes,
    ) -> impl Future<Output = Result<CreateOutcome, CreateError>> + Send;
}

/// [`TaskCreator`] that sends the transaction to the task manager through a provider holding the
/// node's ECDSA wallet.
#[derive(Debug, Clone)]
pub struct ContractTaskCreator {
    contract: AvsTaskManagerInstance<DynProvider>,
    sender: Address,
    timeout: Duration,
}

impl ContractTaskCreator {
    /// Sends through `provider` (whose wallet signs for `sender`) to `task_manager`, waiting at
    /// most `timeout` for each receipt.
    pub const fn new(
        provider: DynProvider,
        sender: Address,
        task_manager: Address,
        timeout: Duration,
    ) -> Self {
        Self {
            contract: AvsTaskManager::new(task_manager, provider),
            sender,
            timeout,
        }
    }
}

impl TaskCreator for ContractTaskCreator {
    async fn create_task(
        &self,
        chain_id: u64,
        block_number: u64,
        quorum_threshold_percentage: u32,
        quorum_numbers: Bytes,
    ) -> Result<CreateOutcome, CreateError> {
        // The nonce is read from the node every time instead of a provider's nonce cache: a
        // reorg can drop this sender's transactions, and a cached nonce would then be too high
        // for the new branch (the transaction would never be mined).
        let nonce = self
            .contract
            .provider()
            .get_transaction_count(self.sender)
            .pending()
            .await
            .map_err(|err| CreateError::Call(err.into()))?;
        let call = self
            .contract
            .createNewTask(
                chain_id,
                block_number,
                quorum_threshold_percentage,
                quorum_numbers,
            )
            .from(self.sender)
            .nonce(nonce);
        let pending = match call.send().await {
            Ok(pending) => pending,
            Err(err) => {
                // Gas estimation runs the call: a duplicate is refused before anything is sent.
                if let Some(AvsTaskManager::AvsTaskManagerErrors::CheckpointAlreadyTasked(e)) =
                    err.as_decoded_interface_error::<AvsTaskManager::AvsTaskManagerErrors>()
                {
                    return Ok(CreateOutcome::AlreadyTasked {
                        task_index: e.taskIndex,
                    });
                }
                return Err(err.into());
            }
        };
        let tx_hash = *pending.tx_hash();
        let receipt = tokio::time::timeout(self.timeout, pending.get_receipt())
            .await
            .map_err(|_| CreateError::Timeout(self.timeout))??;
        if !receipt.status() {
            return Err(CreateError::Reverted(tx_hash));
        }
        let block_number = receipt.block_number.ok_or(CreateError::NoEvent(tx_hash))?;
        receipt
            .decoded_log::<NewTaskCreated>()
            .filter(|log| log.address == *self.contract.address())
            .map(|log| CreateOutcome::Created {
                task_index: log.data.taskIndex,
                block_number,
            })
            .ok_or(CreateError::NoEvent(tx_hash))
    }
}

/// A checkpoint known to have a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tasked {
    task_index: u32,
    /// For this node's own creation whose log was not delivered yet: the settlement block its
    /// transaction was mined in. If the settlement chain passes that block without the log, the
    /// transaction was reorged out before the host saw it, and the checkpoint needs a task again.
    unconfirmed_at: Option<u64>,
}

/// The generator's state: which checkpoints have a (known) task.
#[derive(Debug)]
pub struct TaskGenerator<C> {
    config: GeneratorConfig,
    creator: C,
    /// Checkpoint block → its task.
    tasked: BTreeMap<u64, Tasked>,
    /// The lowest attested block this run saw: no tasks for history below it.
    floor: Option<u64>,
}

impl<C: TaskCreator> TaskGenerator<C> {
    /// A generator with the given parameters, sending through `creator`.
    pub const fn new(config: GeneratorConfig, creator: C) -> Self {
        Self {
            config,
            creator,
            tasked: BTreeMap::new(),
            floor: None,
        }
    }

    /// A `NewTaskCreated` for checkpoint `block_number` became canonical.
    pub(crate) fn on_task_created(&mut self, block_number: u64, task_index: u32) {
        self.tasked.insert(
            block_number,
            Tasked {
                task_index,
                unconfirmed_at: None,
            },
        );
    }

    /// Every settlement log up to `tip` was seen: this node's own creations mined at or below it
    /// whose log never arrived are forgotten (and so created again).
    pub(crate) fn on_settlement_tip(&mut self, tip: u64) {
        self.tasked.retain(|checkpoint, tasked| {
            let lost = tasked.unconfirmed_at.is_some_and(|at| at <= tip);
            if lost {
                tracing::warn!(
                    checkpoint,
                    tasked.task_index,
                    "own task creation is not canonical"
                );
            }
            !lost
        });
    }

    /// The creation of `task_index` left the canonical chain: its checkpoint needs a task again.
    pub(crate) fn on_task_reverted(&mut self, block_number: u64, task_index: u32) {
        if self
            .tasked
            .get(&block_number)
            .is_some_and(|tasked| tasked.task_index == task_index)
        {
            self.tasked.remove(&block_number);
        }
    }

    /// Creates the tasks of every confirmed, untasked checkpoint in the attested view.
    pub(crate) async fn tick(&mut self, view: &AttestedChain, metrics: &AvsMetrics) {
        let (Some(tip), Some(lowest)) = (view.tip(), view.lowest()) else {
            return;
        };
        let floor = *self.floor.get_or_insert(lowest.number);
        // Forget checkpoints that left the view: they are never candidates again.
        self.tasked = self.tasked.split_off(&lowest.number);
        let Some(confirmed) = tip.number.checked_sub(self.config.confirmations) else {
            return;
        };
        let interval = self.config.interval;
        let first = floor.max(lowest.number).div_ceil(interval) * interval;
        for checkpoint in
            (first..=confirmed).step_by(usize::try_from(interval).unwrap_or(usize::MAX))
        {
            if self.tasked.contains_key(&checkpoint) {
                continue;
            }
            let outcome = self
                .creator
                .create_task(
                    view.chain_id(),
                    checkpoint,
                    self.config.quorum_threshold_percentage,
                    self.config.quorum_numbers.clone(),
                )
                .await;
            match outcome {
                Ok(CreateOutcome::Created {
                    task_index,
                    block_number,
                }) => {
                    tracing::info!(
                        checkpoint,
                        task_index,
                        block_number,
                        "created checkpoint task"
                    );
                    metrics.tasks_created.inc();
                    let tasked = Tasked {
                        task_index,
                        unconfirmed_at: Some(block_number),
                    };
                    self.tasked.insert(checkpoint, tasked);
                }
                Ok(CreateOutcome::AlreadyTasked { task_index }) => {
                    tracing::debug!(checkpoint, task_index, "checkpoint already has a task");
                    self.tasked.insert(
                        checkpoint,
                        Tasked {
                            task_index,
                            unconfirmed_at: None,
                        },
                    );
                }
                Err(err) => {
                    metrics.task_creation_failures.inc();
                    tracing::warn!(checkpoint, %err, "task creation failed; retrying on the next block");
                }
            }
        }
    }
}
