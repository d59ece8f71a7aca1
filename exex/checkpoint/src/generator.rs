//! The task-generator role: create a checkpoint task for every `interval`-th attested block once
//! it has `confirmations` blocks on top and is at the view's attestation depth.
//!
//! Creation never waits for a receipt: the ExEx that runs the generator also signs tasks, and a
//! receipt wait (a whole block on a real chain) would hold its own signature back past quorum.
//! A sent creation marks its checkpoint as tasked until its `NewTaskCreated` log arrives through
//! the host; if the settlement chain moves `confirm_within_blocks` past the send without that
//! log (dropped, reverted or reorged out), the checkpoint is a candidate again.
//!
//! Idempotence comes from two sources. `NewTaskCreated` logs seen on the settlement chain mark
//! checkpoints as tasked; a reverted log un-marks its checkpoint, so a task whose creation was
//! reorged out is created again. After a restart (or when another generator was faster) the
//! contract itself refuses a duplicate with `CheckpointAlreadyTasked`, which
//! [`ContractTaskCreator`] reports as [`CreateOutcome::AlreadyTasked`] — a success. Several
//! generators are therefore safe.
//!
//! Only checkpoints at or above the first attested block this run saw are candidates: the node
//! does not back-fill tasks for history it was not following.
//!
//! Stakes: the task manager refuses responses over stale stakes (EigenLayer's rule, see
//! [`avs_contracts::stakes`]). Before a creation whose quorums are past half of the withdrawal
//! delay since their last stake update, [`ContractTaskCreator`] sends the quorums' stake update
//! first, so a task is never created that could not be answered. With
//! [`ContractTaskCreator::with_stake_refresh`] it also refreshes, at most once per period, the
//! operators whose recorded stake no longer matches their delegated stake
//! (`RegistryCoordinator.updateOperators`), so withdrawn stake stops counting and new stake
//! starts to. Both updates go out in the same nonce sequence as the creation that follows.
//!
//! Sending: [`ContractTaskCreator`] sends through the wallet's shared [`WalletSender`], as the
//! node's submitter and challenger do. The stake update and the creation are one
//! [`Sequence`](avs_contracts::sender::Sequence): consecutive nonces, read from the node when it
//! starts, with no other component's transaction in between. Everything the update needs is
//! read before the sequence is taken, so a response waiting to be sent never waits for the
//! generator's reads. Every one of them pays at most the
//! wallet's fee cap (`max_fee_gwei`); above it nothing is sent and the creation fails with
//! [`SendError::FeeAboveCap`] (counted in `avs_exex_task_creation_failures_total`, tried again
//! on the next block).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};

use avs_contracts::{
    avs::AvsTaskManager,
    deployment::Deployment,
    sender::{SendError, Sequence, WalletSender},
    stakes::StakeFreshness,
};

use super::{attested::AttestedChain, config::GeneratorConfig, metrics::AvsMetrics};

/// What a creation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// This node sent the creation; its `NewTaskCreated` log will confirm it.
    Sent {
        /// The `createNewTask` transaction.
        tx_hash: B256,
        /// The node's head when it took the transaction. While the host is still backfilling,
        /// this is ahead of the delivered settlement tip; the log is awaited relative to it.
        head: u64,
    },
    /// The checkpoint already has a live task (the contract refused a duplicate).
    AlreadyTasked {
        /// The existing task's index.
        task_index: u32,
    },
    /// The contract refused the checkpoint for good: it is a block of the settlement chain whose
    /// hash would leave the contract's reach before the task's challenge deadline, so a wrong
    /// response could never be proven (`CheckpointNotProvable`). Never tried again.
    Unprovable {
        /// The task's latest challenge deadline (settlement block).
        challenge_deadline: u64,
        /// The last block at which the checkpoint's hash is still readable on-chain.
        provable_until: u64,
    },
}

/// A `createNewTask` could not be sent (the checkpoint is tried again on the next block).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A read the creation needs (stake freshness, the head) failed.
    #[error("createNewTask was refused: {0}")]
    Call(#[from] alloy::contract::Error),
    /// The wallet's sender refused or failed to send a transaction (fees above the cap, a
    /// revert at estimation, the node refusing it).
    #[error("createNewTask was not sent: {0}")]
    Send(#[from] SendError),
    /// The node did not answer within the configured timeout.
    #[error("createNewTask: the node did not answer within {0:?}")]
    Timeout(Duration),
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

/// [`TaskCreator`] that sends the transaction to the task manager through the wallet's shared
/// [`WalletSender`], without waiting for its receipt.
#[derive(Debug)]
pub struct ContractTaskCreator {
    sender: Arc<WalletSender>,
    task_manager: Address,
    freshness: StakeFreshness,
    timeout: Duration,
    stake_refresh: Option<StakeRefresh>,
}

/// The periodic refresh of changed operator stakes.
#[derive(Debug)]
struct StakeRefresh {
    /// Settlement blocks between two refreshes.
    interval: u64,
    /// The first head at which the next refresh is due (0: at the first creation).
    next_at: AtomicU64,
    /// `avs_exex_stake_refreshes_total`: refreshes that found changed stakes and sent an update.
    refreshes: prometheus::IntCounter,
    /// `avs_exex_stake_refresh_operators_total`: operators whose stake those updates refreshed.
    operators: prometheus::IntCounter,
}

impl ContractTaskCreator {
    /// Sends through `sender` (the wallet's one sender, shared with every other component
    /// paying from it) to `deployment`'s task manager (and its registry coordinator for stake
    /// updates), waiting at most `timeout` for the node to take the transactions of a creation.
    pub fn new(sender: Arc<WalletSender>, deployment: &Deployment, timeout: Duration) -> Self {
        Self {
            sender,
            task_manager: deployment.avs.task_manager,
            freshness: StakeFreshness::new(deployment),
            timeout,
            stake_refresh: None,
        }
    }

    /// Also refreshes, before a creation and at most once per `interval_blocks` settlement
    /// blocks, the stakes of the operators whose recorded stake differs from their current
    /// weight, counting into `metrics`' `stake_refreshes` / `stake_refresh_operators`.
    #[must_use]
    pub fn with_stake_refresh(mut self, interval_blocks: u64, metrics: &AvsMetrics) -> Self {
        self.stake_refresh = (interval_blocks > 0).then(|| StakeRefresh {
            interval: interval_blocks,
            next_at: AtomicU64::new(0),
            refreshes: metrics.stake_refreshes.clone(),
            operators: metrics.stake_refresh_operators.clone(),
        });
        self
    }

    /// The operators whose stake changed, if a refresh is due at `head` and any changed (a
    /// read: nothing is sent).
    async fn changed_stakes_due(
        &self,
        quorums: &[u8],
        head: u64,
    ) -> Result<Option<StakeUpdate>, CreateError> {
        let Some(refresh) = &self.stake_refresh else {
            return Ok(None);
        };
        if head < refresh.next_at.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // A failed refresh is tried again after a sixteenth of the period, not at every
        // creation; the full period starts once one went through.
        refresh.next_at.store(
            head.saturating_add((refresh.interval / 16).max(1)),
            Ordering::Relaxed,
        );
        let block = u32::try_from(head).unwrap_or(u32::MAX);
        let changed = self
            .freshness
            .changed_operators(self.sender.provider(), quorums, block)
            .await?;
        if changed.is_empty() {
            refresh
                .next_at
                .store(head.saturating_add(refresh.interval), Ordering::Relaxed);
            tracing::debug!(head, "stake refresh: every recorded stake is current");
            return Ok(None);
        }
        Ok(Some(StakeUpdate::Operators(changed)))
    }

    /// The update of `quorums`' stakes, if a task created now (reference block `head + 1`)
    /// would be past half of the withdrawal delay since their last update (a read: nothing is
    /// sent).
    async fn quorum_update_due(
        &self,
        quorums: &[u8],
        head: u64,
    ) -> Result<Option<StakeUpdate>, CreateError> {
        let provider = self.sender.provider();
        let (stale_from, delay) = self.freshness.stale_from(provider, quorums).await?;
        if delay == 0 || head + 1 + delay / 2 < stale_from {
            return Ok(None);
        }
        let block = u32::try_from(head).unwrap_or(u32::MAX);
        let call = self.freshness.update_call(provider, quorums, block).await?;
        Ok(Some(StakeUpdate::Quorums { call, stale_from }))
    }

    /// Sends `update` to the registry coordinator in `sequence`, without waiting for its
    /// receipt; the creation that follows takes the next nonce.
    async fn send_stake_update(
        &self,
        update: StakeUpdate,
        head: u64,
        sequence: &mut Sequence<'_>,
    ) -> Result<(), CreateError> {
        let (step, input) = match &update {
            StakeUpdate::Quorums { call, .. } => ("updateOperatorsForQuorum", call.clone()),
            StakeUpdate::Operators(changed) => (
                "updateOperators",
                StakeFreshness::update_operators_call(changed.clone()),
            ),
        };
        let request = TransactionRequest::default()
            .with_to(self.freshness.registry_coordinator())
            .with_input(input);
        let tx_hash = sequence.send(step, request).await?.tx_hash;
        match update {
            StakeUpdate::Quorums { stale_from, .. } => tracing::info!(
                stale_from,
                tx_hash = %tx_hash,
                "updating the quorums' stakes before tasking (the stale-stake rule would refuse responses otherwise)"
            ),
            StakeUpdate::Operators(changed) => {
                if let Some(refresh) = &self.stake_refresh {
                    refresh
                        .next_at
                        .store(head.saturating_add(refresh.interval), Ordering::Relaxed);
                    refresh.refreshes.inc();
                    refresh.operators.inc_by(changed.len() as u64);
                    tracing::info!(
                        operators = changed.len(),
                        changed = ?changed,
                        tx_hash = %tx_hash,
                        next_at = head + refresh.interval,
                        "refreshing the stakes of operators whose delegated stake changed"
                    );
                }
            }
        }
        Ok(())
    }
}

/// A stake update to send before a creation, planned (read from the chain) before the
/// wallet's nonce sequence is taken, so the node's other transactions never wait for the reads.
enum StakeUpdate {
    /// Every operator of the quorums (`updateOperatorsForQuorum`): their last update is about
    /// to be too old for the stale-stake rule.
    Quorums { call: Bytes, stale_from: u64 },
    /// The operators whose stake changed (`updateOperators`): the periodic refresh.
    Operators(Vec<Address>),
}

impl TaskCreator for ContractTaskCreator {
    async fn create_task(
        &self,
        chain_id: u64,
        block_number: u64,
        quorum_threshold_percentage: u32,
        quorum_numbers: Bytes,
    ) -> Result<CreateOutcome, CreateError> {
        let send = async {
            let head = self
                .sender
                .provider()
                .get_block_number()
                .await
                .map_err(|err| CreateError::Call(err.into()))?;
            // Every operator of the quorums is updated by the quorum update: nothing left to
            // refresh then.
            let update = match self.quorum_update_due(&quorum_numbers, head).await? {
                Some(update) => Some(update),
                // Best effort, bounded to half the creation's time: a refresh that fails or
                // hangs never keeps the checkpoint from being tasked.
                None => match tokio::time::timeout(
                    self.timeout / 2,
                    self.changed_stakes_due(&quorum_numbers, head),
                )
                .await
                {
                    Ok(Ok(update)) => update,
                    Ok(Err(err)) => {
                        tracing::warn!(%err, "stake refresh failed; tasking anyway, tried again later");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(
                            "stake refresh did not finish in time; tasking anyway, tried again later"
                        );
                        None
                    }
                },
            };
            // One nonce sequence for the stake update and the creation, taken after the reads:
            // the wallet's sender reads the nonce from the node when it starts (never a cache,
            // which a reorg or a refused estimate would leave wrong) and keeps the node's other
            // components (the submitter, the challenger) from taking a nonce in between.
            let mut sequence = self.sender.sequence().await?;
            if let Some(update) = update {
                let refresh = matches!(update, StakeUpdate::Operators(_));
                match self.send_stake_update(update, head, &mut sequence).await {
                    Ok(()) => {}
                    Err(err) if refresh => {
                        tracing::warn!(%err, "stake refresh failed; tasking anyway, tried again later");
                    }
                    Err(err) => return Err(err),
                }
            }
            let call = AvsTaskManager::createNewTaskCall {
                chainId: chain_id,
                blockNumber: block_number,
                quorumThresholdPercentage: quorum_threshold_percentage,
                quorumNumbers: quorum_numbers,
            };
            let request = TransactionRequest::default()
                .with_to(self.task_manager)
                .with_input(Bytes::from(call.abi_encode()));
            match sequence.send("createNewTask", request).await {
                Ok(sent) => Ok(CreateOutcome::Sent {
                    tx_hash: sent.tx_hash,
                    head,
                }),
                // Gas estimation runs the call: a duplicate is refused before anything is sent.
                Err(err) => match err.revert::<AvsTaskManager::AvsTaskManagerErrors>() {
                    Some(AvsTaskManager::AvsTaskManagerErrors::CheckpointAlreadyTasked(e)) => {
                        Ok(CreateOutcome::AlreadyTasked {
                            task_index: e.taskIndex,
                        })
                    }
                    Some(AvsTaskManager::AvsTaskManagerErrors::CheckpointNotProvable(e)) => {
                        Ok(CreateOutcome::Unprovable {
                            challenge_deadline: e.challengeDeadline.saturating_to(),
                            provable_until: e.provableUntil.saturating_to(),
                        })
                    }
                    _ => Err(err.into()),
                },
            }
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| CreateError::Timeout(self.timeout))?
    }
}

/// A checkpoint known to have a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tasked {
    /// `None` for this node's own creation whose log was not delivered yet.
    task_index: Option<u32>,
    /// For such a creation: the settlement block by which its log must have arrived. Past it,
    /// the transaction was dropped, reverted or reorged out, and the checkpoint needs a task
    /// again.
    unconfirmed_until: Option<u64>,
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
    /// The settlement chain's tip as last delivered (a sent creation's log is expected within
    /// `confirm_within_blocks` of it, or of the node's head at sending if that is higher).
    settlement_tip: u64,
}

impl<C: TaskCreator> TaskGenerator<C> {
    /// A generator with the given parameters, sending through `creator`.
    pub const fn new(config: GeneratorConfig, creator: C) -> Self {
        Self {
            config,
            creator,
            tasked: BTreeMap::new(),
            floor: None,
            settlement_tip: 0,
        }
    }

    /// A `NewTaskCreated` for checkpoint `block_number` became canonical.
    pub(crate) fn on_task_created(&mut self, block_number: u64, task_index: u32) {
        self.tasked.insert(
            block_number,
            Tasked {
                task_index: Some(task_index),
                unconfirmed_until: None,
            },
        );
    }

    /// Every settlement log up to `tip` was seen: this node's own creations whose log should
    /// have arrived by now are forgotten (and so created again).
    pub(crate) fn on_settlement_tip(&mut self, tip: u64) {
        self.settlement_tip = tip;
        self.tasked.retain(|checkpoint, tasked| {
            let lost = tasked.unconfirmed_until.is_some_and(|until| until < tip);
            if lost {
                tracing::warn!(
                    checkpoint,
                    "own task creation did not become canonical in time; creating it again"
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
            .is_some_and(|tasked| tasked.task_index == Some(task_index))
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
        // Only checkpoints at the attestation depth are tasked (operators sign nothing above it).
        let Some(confirmed) = tip
            .number
            .checked_sub(self.config.confirmations)
            .and_then(|confirmed| Some(confirmed.min(view.horizon()?)))
        else {
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
                Ok(CreateOutcome::Sent { tx_hash, head }) => {
                    tracing::info!(checkpoint, %tx_hash, "sent checkpoint task creation");
                    metrics.tasks_created.inc();
                    let sent_at = head.max(self.settlement_tip);
                    let tasked = Tasked {
                        task_index: None,
                        unconfirmed_until: Some(sent_at + self.config.confirm_within_blocks),
                    };
                    self.tasked.insert(checkpoint, tasked);
                }
                Ok(CreateOutcome::Unprovable {
                    challenge_deadline,
                    provable_until,
                }) => {
                    metrics.task_creation_failures.inc();
                    tracing::warn!(
                        checkpoint,
                        challenge_deadline,
                        provable_until,
                        "checkpoint is too old to task: its hash would be unreadable on-chain \
                         before the challenge deadline; skipping it"
                    );
                    self.tasked.insert(
                        checkpoint,
                        Tasked {
                            task_index: None,
                            unconfirmed_until: None,
                        },
                    );
                }
                Ok(CreateOutcome::AlreadyTasked { task_index }) => {
                    tracing::debug!(checkpoint, task_index, "checkpoint already has a task");
                    self.tasked.insert(
                        checkpoint,
                        Tasked {
                            task_index: Some(task_index),
                            unconfirmed_until: None,
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
