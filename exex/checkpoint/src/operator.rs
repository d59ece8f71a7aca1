//! The operator role: answer every canonical task from the node's own attested-chain view.
//!
//! Per task: wait (bounded) for the target block in the [`AttestedChain`], check the operator's
//! standing at the task's reference block, build the response, pass it through the
//! [`SlashingProtectionStore`] (which persists before it hands out a signature) and send
//! [`AvsEvent::Signed`]. Tasks are re-checked after every change:
//!
//! - a signed response whose target block left the canonical chain is withdrawn
//!   ([`AvsEvent::ResponseWithdrawn`]); when the target reappears, the same block gives the same
//!   signature again, a different block is refused by the store (metric + warning) — never a
//!   second response for one task;
//! - a task whose creation was reverted is dropped ([`AvsEvent::TaskReverted`]);
//! - a reverted `TaskResponded` puts the task back to answering, which re-sends its signature,
//!   and reopens it for submission ([`AvsEvent::ResponseReverted`]).
//!
//! # Low watermark
//! After each committed settlement chain the operator raises the store's low watermark over the
//! tasks that are *closed for good* (`TrackedTask::closed_for_good`), in index order, stopping
//! at the first that is not (or that it has not seen): its creation block is settled (at least
//! `retention_blocks` deep, beyond any reorg the host absorbs) and so is the end of its response
//! window or its `TaskResponded`. No reorg can then re-create it or any task before it, and no
//! response to it can land any more, so the watermark never passes a task that is still open.
//! Tasks the watermark has not passed are kept, and `FinishedHeight` stays below the first one's
//! creation, so a restart re-delivers them and the watermark can always move on.

use std::collections::BTreeMap;

use alloy::{eips::BlockNumHash, primitives::B256, sol_types::Eip712Domain};
use avs_bls::{OperatorId, SecretKey};
use avs_contracts::avs::{
    AvsTaskManager::TaskResponded,
    IAvsTaskManager::{Task, TaskResponse, TaskResponseMetadata},
    attestation_digest, signing_domain,
};
use tokio::{sync::mpsc, time::Instant};

use super::{
    AvsError,
    attested::{AttestedBlock, AttestedChain},
    book::{TaskBook, TaskPhase, TaskRecord},
    config::{AvsConfig, FaultMode},
    events::{AvsEvent, DisputedResponse, SignedResponse},
    metrics::AvsMetrics,
    registry::{OperatorRegistry, OperatorStanding},
    store::{Signing, SlashingProtectionStore, StoreError, TaskKey, TaskManagerId},
};

/// Where a task stands for this operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    /// Not signed yet: waiting for the target block (or a registry answer) until `deadline`.
    Answering { deadline: Instant },
    /// Signed `digest` for the target block with this hash.
    Signed { target: AttestedBlock, digest: B256 },
    /// Answered on-chain in settlement block `block`; `signed` is the response this operator
    /// signed before (target block, digest), restored if the response is reorged out.
    Responded {
        block: u64,
        signed: Option<(AttestedBlock, B256)>,
    },
    /// Nothing more to do (timed out, not eligible, refused, other chain).
    Closed,
    /// Never to be signed: the task does not name the settlement block that created it. Unlike
    /// [`Self::Closed`], a reverted response does not reopen it.
    Refused,
}

impl TaskState {
    /// The response this operator signed and stands behind (target block, digest), if any.
    const fn signed(self) -> Option<(AttestedBlock, B256)> {
        match self {
            Self::Signed { target, digest } => Some((target, digest)),
            Self::Responded { signed, .. } => signed,
            Self::Answering { .. } | Self::Closed | Self::Refused => None,
        }
    }

    /// The phase the task book publishes for this state.
    const fn phase(self) -> TaskPhase {
        match self {
            Self::Answering { .. } => TaskPhase::Answering,
            Self::Signed { digest, .. } => TaskPhase::Signed { digest },
            Self::Responded { block, .. } => TaskPhase::Responded { block },
            Self::Closed => TaskPhase::Closed,
            Self::Refused => TaskPhase::Refused,
        }
    }
}

#[derive(Debug)]
struct TrackedTask {
    task: Task,
    created_at: BlockNumHash,
    seen_at: Instant,
    state: TaskState,
    /// Its canonical on-chain response, until compared with this node's view.
    unverified_response: Option<OnChainResponse>,
    /// A `TaskResponded` of it was seen (finality is reported once, even if a reorg makes the
    /// task respond twice).
    responded_before: bool,
    /// A `TaskResponded` of it is canonical now (refused tasks included).
    answered: bool,
    /// [`AvsEvent::TaskClosed`] was sent for it.
    closed_reported: bool,
}

/// A canonical `TaskResponded`, waiting until the checkpoint block is at the attestation depth
/// in this node's view to be compared with it.
#[derive(Debug, Clone)]
struct OnChainResponse {
    response: TaskResponse,
    metadata: TaskResponseMetadata,
    transaction_hash: B256,
}

impl TrackedTask {
    /// Whether nothing can happen to the task any more once settlement block `settled` can no
    /// longer be reorged: its creation is at or below it, and so is its response, or its
    /// response window ended before it (`respondToTask` refuses after the deadline block).
    fn closed_for_good(&self, settled: u64) -> bool {
        let created = self.created_at.number;
        if created > settled {
            return false;
        }
        // A task that misnames its creation block (refused) gets the later of both.
        let deadline = created.max(u64::from(self.task.taskCreatedBlock))
            + u64::from(self.task.responseWindowBlocks);
        deadline < settled
            || matches!(self.state, TaskState::Responded { block, .. } if block <= settled)
    }
}

/// The operator role's state and dependencies.
#[derive(Debug)]
pub(crate) struct Operator<R> {
    key: SecretKey,
    operator_id: OperatorId,
    registry: R,
    store: SlashingProtectionStore,
    /// The task manager whose tasks this operator signs (the scope of the store's watermark).
    deployment: TaskManagerId,
    /// The deployment's EIP-712 signing domain.
    domain: Eip712Domain,
    fault_mode: FaultMode,
    target_wait: std::time::Duration,
    events: mpsc::Sender<AvsEvent>,
    metrics: AvsMetrics,
    /// The owner's working state of every task; each transition is published to `book`.
    tasks: BTreeMap<u32, TrackedTask>,
    /// What the rest of the node reads (see [`TaskBook`]).
    book: TaskBook,
    /// Tasks (index, task hash) whose response was reverted, to report once they are answered
    /// again.
    reopened: Vec<(u32, B256)>,
    /// Whether the watermark being stuck below tasks this run never saw was logged.
    stuck_warned: bool,
}

impl<R: OperatorRegistry> Operator<R> {
    pub(crate) fn new(
        config: &AvsConfig,
        key: SecretKey,
        registry: R,
        store: SlashingProtectionStore,
        events: mpsc::Sender<AvsEvent>,
        metrics: AvsMetrics,
        book: TaskBook,
    ) -> Self {
        Self {
            operator_id: key.public_key().operator_id(),
            key,
            registry,
            store,
            deployment: TaskManagerId {
                chain_id: config.settlement_chain_id,
                task_manager: config.task_manager,
            },
            domain: signing_domain(config.settlement_chain_id, config.task_manager),
            fault_mode: config.fault_mode,
            target_wait: config.target_wait,
            events,
            metrics,
            tasks: BTreeMap::new(),
            book,
            reopened: Vec::new(),
            stuck_warned: false,
        }
    }

    /// Moves `task_index` to `state` and publishes the transition: the only place a tracked
    /// task's state changes.
    fn transition(&mut self, task_index: u32, state: TaskState) {
        if let Some(tracked) = self.tasks.get_mut(&task_index) {
            tracked.state = state;
            self.book.set_phase(task_index, state.phase());
        }
    }

    async fn emit(&self, event: AvsEvent) -> Result<(), AvsError> {
        self.events
            .send(event)
            .await
            .map_err(|_| AvsError::EventsClosed)
    }

    /// A `NewTaskCreated` became canonical in settlement block `at`, whose parent is
    /// `parent_hash`.
    pub(crate) async fn on_created(
        &mut self,
        task_index: u32,
        task: Task,
        at: BlockNumHash,
        parent_hash: B256,
    ) -> Result<(), AvsError> {
        self.metrics.tasks_seen.inc();
        let now = Instant::now();
        let mut state = TaskState::Answering {
            deadline: now + self.target_wait,
        };
        // The task binds its signatures to the fork it was created on: a task that does not
        // name the block that logged it is not signed (fail closed).
        if u64::from(task.taskCreatedBlock) != at.number
            || task.taskCreatedParentHash != parent_hash
        {
            self.metrics.tasks_not_eligible.inc();
            tracing::error!(
                task_index,
                created_block = task.taskCreatedBlock,
                created_parent = %task.taskCreatedParentHash,
                log_block = at.number,
                log_parent = %parent_hash,
                "task does not match the settlement block that created it; refusing to sign it"
            );
            state = TaskState::Refused;
        } else if task_index < self.store.watermark(self.deployment) {
            // A node that imported another's record re-reads old tasks from the chain: they
            // are closed for good, no reason to try (the store would refuse anyway).
            tracing::debug!(task_index, "task below the slashing-protection watermark");
            state = TaskState::Closed;
        }
        self.book.publish(
            task_index,
            TaskRecord {
                task: task.clone(),
                created_at: at,
                seen_at: now,
                phase: state.phase(),
            },
        );
        self.tasks.insert(
            task_index,
            TrackedTask {
                task: task.clone(),
                created_at: at,
                seen_at: now,
                state,
                unverified_response: None,
                responded_before: false,
                answered: false,
                closed_reported: false,
            },
        );
        self.emit(AvsEvent::TaskCreated { task_index, task }).await
    }

    /// The `NewTaskCreated` of `task_index` in settlement block `at` left the canonical chain.
    pub(crate) async fn on_creation_reverted(
        &mut self,
        task_index: u32,
        at: BlockNumHash,
    ) -> Result<(), AvsError> {
        if self
            .tasks
            .get(&task_index)
            .is_none_or(|tracked| tracked.created_at != at)
        {
            return Ok(());
        }
        self.tasks.remove(&task_index);
        self.book.remove(task_index);
        self.metrics.tasks_reverted.inc();
        tracing::info!(task_index, "task creation reverted; dropping the task");
        self.emit(AvsEvent::TaskReverted { task_index }).await
    }

    /// A `TaskResponded` became canonical in settlement block `block_number`, sent by
    /// `transaction_hash`. Its response is compared with this node's view as soon as the
    /// checkpoint block is at the attestation depth ([`Self::process`]).
    ///
    /// `non_signers` (from the submitting call, when it was a direct `respondToTask`) tells
    /// whether this operator's signature made it into the aggregate: an operator that signed
    /// and is listed as a non-signer lost its signature on the way (gossip, a late submitter),
    /// which `avs_exex_own_signature_missing_total` counts.
    pub(crate) async fn on_responded(
        &mut self,
        event: TaskResponded,
        block_number: u64,
        transaction_hash: B256,
        non_signers: Option<&[OperatorId]>,
    ) -> Result<(), AvsError> {
        let task_index = event.taskIndex;
        // Only a signature over the response that landed can be missing from it.
        let signed = self
            .tasks
            .get(&task_index)
            .and_then(|tracked| tracked.state.signed());
        let signed_this = signed
            .is_some_and(|(target, _)| self.response(task_index, target) == event.taskResponse);
        let mut first = false;
        if let Some(tracked) = self.tasks.get_mut(&task_index) {
            tracked.answered = true;
            // A refused task keeps its state: a reverted response does not reopen it.
            if tracked.state != TaskState::Refused {
                if signed_this && non_signers.is_some_and(|ids| ids.contains(&self.operator_id)) {
                    self.metrics.own_signature_missing.inc();
                    tracing::warn!(
                        task_index,
                        "this operator signed the task but the finalized aggregate lists it as \
                         a non-signer (its signature did not reach the submitter in time)"
                    );
                }
                first = !tracked.responded_before;
                tracked.responded_before = true;
                tracked.unverified_response = Some(OnChainResponse {
                    response: event.taskResponse,
                    metadata: event.taskResponseMetadata,
                    transaction_hash,
                });
                self.transition(
                    task_index,
                    TaskState::Responded {
                        block: block_number,
                        signed,
                    },
                );
            }
        }
        self.emit(AvsEvent::TaskResponded {
            task_index,
            block_number,
            first,
        })
        .await
    }

    /// A `TaskResponded` left the canonical chain: the task needs its signatures again, and
    /// the p2p layer its aggregate submitted again.
    ///
    /// The response this operator signed before is restored ([`TaskState::Signed`]) and
    /// [`AvsEvent::ResponseReverted`] is sent by the next [`Self::process`] that finds the task
    /// signed (its target still canonical, or answered again): the p2p layer then submits at
    /// once, and the task book must already show the response this node stands behind, or the
    /// submission would be refused.
    pub(crate) fn on_response_reverted(&mut self, task_index: u32) {
        let deadline = Instant::now() + self.target_wait;
        let Some(tracked) = self.tasks.get_mut(&task_index) else {
            return;
        };
        tracked.answered = false;
        if tracked.state == TaskState::Refused {
            return;
        }
        tracked.unverified_response = None;
        let task_hash = tracked.task.hash();
        // What this operator signed before still stands (no registry read, no store write):
        // the next `process` withdraws it if its target left the canonical chain meanwhile.
        let state = match tracked.state.signed() {
            Some((target, digest)) => TaskState::Signed { target, digest },
            None => TaskState::Answering { deadline },
        };
        self.transition(task_index, state);
        self.reopened.push((task_index, task_hash));
        tracing::info!(task_index, "task response reverted; the task is open again");
    }

    /// The earliest answering deadline, to wake up for timeouts.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.tasks
            .values()
            .filter_map(|tracked| match tracked.state {
                TaskState::Answering { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// The lowest settlement block that created a task still being answered or not yet passed
    /// by the watermark: `FinishedHeight` must stay below it so a restart re-delivers the task.
    pub(crate) fn unfinished_floor(&self) -> Option<u64> {
        let first_open = self.first_open().map(|(_, tracked)| tracked);
        self.tasks
            .values()
            .filter(|tracked| matches!(tracked.state, TaskState::Answering { .. }))
            .chain(first_open)
            .map(|tracked| tracked.created_at.number)
            .min()
    }

    /// The task at the watermark, if this run saw it: every task the watermark has not passed
    /// is at or above it (indices are created in order).
    fn first_open(&self) -> Option<(u32, &TrackedTask)> {
        let watermark = self.store.watermark(self.deployment);
        self.tasks
            .get(&watermark)
            .map(|tracked| (watermark, tracked))
    }

    /// Forgets tasks created below settlement block `below` that need no more work and that
    /// the watermark has passed. A task forgotten before [`Self::report_closed`] reported it
    /// (re-read below a watermark loaded at start-up) is reported closed now, so the p2p
    /// layer drops its state too.
    pub(crate) async fn prune(&mut self, below: u64) -> Result<(), AvsError> {
        let first_open = self.first_open().map(|(index, _)| index);
        let mut unreported = Vec::new();
        let book = &self.book;
        self.tasks.retain(|index, tracked| {
            let keep = tracked.created_at.number >= below
                || matches!(tracked.state, TaskState::Answering { .. })
                || first_open.is_some_and(|first| *index >= first);
            if !keep {
                book.remove(*index);
                if !tracked.closed_reported {
                    unreported.push((*index, tracked.answered));
                }
            }
            keep
        });
        self.emit_closed(unreported).await
    }

    /// Sends [`AvsEvent::TaskClosed`], once, for every task closed for good once settlement
    /// block `settled` can no longer be reorged: no reorg the host absorbs can re-create it or
    /// take its response out any more, so the p2p layer may drop its signatures.
    pub(crate) async fn report_closed(&mut self, settled: u64) -> Result<(), AvsError> {
        let closed: Vec<(u32, bool)> = self
            .tasks
            .iter_mut()
            .filter(|(_, tracked)| !tracked.closed_reported && tracked.closed_for_good(settled))
            .map(|(index, tracked)| {
                tracked.closed_reported = true;
                (*index, tracked.answered)
            })
            .collect();
        self.emit_closed(closed).await
    }

    /// Sends [`AvsEvent::TaskClosed`] for each (task, answered).
    async fn emit_closed(&self, closed: Vec<(u32, bool)>) -> Result<(), AvsError> {
        for (task_index, answered) in closed {
            self.emit(AvsEvent::TaskClosed {
                task_index,
                answered,
            })
            .await?;
        }
        Ok(())
    }

    /// Raises the store's watermark over every task closed for good once settlement block
    /// `settled` can no longer be reorged (see the module docs).
    pub(crate) async fn advance_watermark(&mut self, settled: u64) -> Result<(), AvsError> {
        let from = self.store.watermark(self.deployment);
        let mut to = from;
        while let Some(tracked) = self.tasks.get(&to)
            && tracked.closed_for_good(settled)
            && let Some(next) = to.checked_add(1)
        {
            to = next;
        }
        if to > from {
            self.store.raise_watermark(self.deployment, to).await?;
            tracing::debug!(from, to, settled, "slashing-protection watermark raised");
        } else if !self.stuck_warned
            && !self.tasks.contains_key(&from)
            && self.tasks.range(from..).next().is_some()
        {
            // Tasks from `from` up were created before the blocks this run was given (a store
            // from before the watermark, or imported into a data directory whose host had moved
            // on): whether they are closed is unknown, so the watermark stays. Safe, but the
            // store keeps its records from `from` up until the host re-reads those blocks.
            self.stuck_warned = true;
            tracing::warn!(
                watermark = from,
                first_seen = ?self.tasks.range(from..).next().map(|(index, _)| index),
                "the slashing-protection watermark cannot advance: tasks from it up were created \
                 before the blocks this node re-read at start-up; to let it advance (and the \
                 store be pruned), stop the node and remove the host directory of the data \
                 directory so it re-reads the chain from the deployment block"
            );
        }
        Ok(())
    }

    /// Re-checks every task against the attested view: withdraws responses whose target left the
    /// canonical chain, answers tasks whose target is available, times out the rest.
    pub(crate) async fn process(&mut self, view: &AttestedChain) -> Result<(), AvsError> {
        let indices: Vec<u32> = self.tasks.keys().copied().collect();
        for task_index in indices {
            let Some(tracked) = self.tasks.get(&task_index) else {
                continue;
            };
            match tracked.state {
                TaskState::Signed { target, .. } => {
                    if target_left_canonical_chain(view, target) {
                        let deadline = self.withdraw(task_index).await?;
                        // Answer again at once: the same block back gives the same signature,
                        // a different one is refused by the store.
                        self.answer(task_index, deadline, view).await?;
                    }
                }
                TaskState::Answering { deadline } => {
                    self.answer(task_index, deadline, view).await?;
                }
                TaskState::Responded { .. } | TaskState::Closed | TaskState::Refused => {}
            }
            self.verify_response(task_index, view).await?;
        }
        for (task_index, task_hash) in std::mem::take(&mut self.reopened) {
            // Not when its creation was reverted too (the index may hold another task now), nor
            // when the new branch holds a response again (`TaskResponded` was reported).
            let state = self
                .tasks
                .get(&task_index)
                .filter(|tracked| tracked.task.hash() == task_hash && !tracked.answered)
                .map(|tracked| tracked.state);
            match state {
                // Reported once this node stands behind a response again: the p2p layer
                // submits at once, and only a response of its own is paid for.
                Some(TaskState::Signed { .. }) => {
                    self.emit(AvsEvent::ResponseReverted { task_index }).await?;
                }
                Some(TaskState::Answering { .. }) => self.reopened.push((task_index, task_hash)),
                // Closed (it could not be signed in time), refused, answered again or replaced.
                _ => {}
            }
        }
        Ok(())
    }

    /// Compares a canonical response with this node's view of its checkpoint block, once that
    /// block is at the attestation depth: a mismatch is [`AvsEvent::ResponseDisputed`]. The
    /// view's own block is the reference, whatever this node signed (a faulty signer's node
    /// still reports the truth).
    async fn verify_response(
        &mut self,
        task_index: u32,
        view: &AttestedChain,
    ) -> Result<(), AvsError> {
        let Some(tracked) = self.tasks.get_mut(&task_index) else {
            return Ok(());
        };
        if tracked.task.chainId != view.chain_id() {
            return Ok(());
        }
        let Some(target) = view.attestable(tracked.task.blockNumber) else {
            return Ok(());
        };
        let Some(on_chain) = tracked.unverified_response.take() else {
            return Ok(());
        };
        let expected = TaskResponse {
            referenceTaskIndex: task_index,
            blockHash: target.hash,
            stateRoot: target.state_root,
            receiptsRoot: target.receipts_root,
        };
        if on_chain.response == expected {
            return Ok(());
        }
        self.metrics.responses_disputed.inc();
        tracing::error!(
            task_index,
            block = tracked.task.blockNumber,
            on_chain_block_hash = %on_chain.response.blockHash,
            on_chain_state_root = %on_chain.response.stateRoot,
            expected_block_hash = %expected.blockHash,
            expected_state_root = %expected.stateRoot,
            "ALERT: a finalized response differs from this node's view of the checkpoint block"
        );
        let disputed = DisputedResponse {
            task_index,
            task: tracked.task.clone(),
            response: on_chain.response,
            metadata: on_chain.metadata,
            transaction_hash: on_chain.transaction_hash,
            expected,
        };
        self.emit(AvsEvent::ResponseDisputed(Box::new(disputed)))
            .await
    }

    async fn withdraw(&mut self, task_index: u32) -> Result<Instant, AvsError> {
        let deadline = Instant::now() + self.target_wait;
        self.transition(task_index, TaskState::Answering { deadline });
        self.metrics.responses_withdrawn.inc();
        tracing::warn!(
            task_index,
            "target block left the canonical chain; withdrawing the response"
        );
        self.emit(AvsEvent::ResponseWithdrawn { task_index })
            .await?;
        Ok(deadline)
    }

    fn close(&mut self, task_index: u32) {
        self.transition(task_index, TaskState::Closed);
    }

    async fn answer(
        &mut self,
        task_index: u32,
        deadline: Instant,
        view: &AttestedChain,
    ) -> Result<(), AvsError> {
        let tracked = &self.tasks[&task_index];
        if tracked.task.chainId != view.chain_id() {
            tracing::debug!(
                task_index,
                chain = tracked.task.chainId,
                "task for another chain"
            );
            self.close(task_index);
            return Ok(());
        }
        // Only a block at the attestation depth is signed.
        let Some(target) = view.attestable(tracked.task.blockNumber) else {
            if Instant::now() >= deadline {
                self.metrics.target_timeouts.inc();
                tracing::warn!(
                    task_index,
                    block = tracked.task.blockNumber,
                    horizon = ?view.horizon(),
                    depth = %view.depth(),
                    "target block not in the attested chain at the attestation depth in time; \
                     giving the task up"
                );
                self.close(task_index);
            }
            return Ok(());
        };
        let (quorums, reference) = (
            tracked.task.quorumNumbers.clone(),
            tracked.task.taskCreatedBlock,
        );
        match self
            .registry
            .standing(self.operator_id, &quorums, reference)
            .await
        {
            Ok(OperatorStanding::Active) => {}
            Ok(standing) => {
                self.metrics.tasks_not_eligible.inc();
                tracing::info!(task_index, ?standing, "operator may not sign this task");
                self.close(task_index);
                return Ok(());
            }
            Err(err) => {
                // Retried on the next change; the deadline bounds the retries.
                tracing::warn!(task_index, %err, "cannot read operator standing");
                if Instant::now() >= deadline {
                    self.close(task_index);
                }
                return Ok(());
            }
        }
        let response = self.response(task_index, target);
        let task = &self.tasks[&task_index].task;
        let key = TaskKey {
            chain_id: self.deployment.chain_id,
            task_manager: self.deployment.task_manager,
            task_index,
            task_hash: task.hash(),
        };
        let digest = attestation_digest(&self.domain, task, &response);
        let signing = self
            .store
            .sign_once(key, digest, |digest| self.key.sign(digest))
            .await;
        let signature = match signing {
            Ok(Signing::New(signature)) => {
                self.metrics.responses_signed.inc();
                let latency = self.tasks[&task_index].seen_at.elapsed();
                self.metrics
                    .signing_latency_seconds
                    .observe(latency.as_secs_f64());
                signature
            }
            Ok(Signing::Resend(signature)) => signature,
            Err(StoreError::Conflict {
                recorded,
                requested,
                ..
            }) => {
                self.metrics.slashing_protection_refusals.inc();
                tracing::warn!(
                    task_index,
                    %recorded,
                    %requested,
                    "slashing protection refused a second, different response for this task"
                );
                self.close(task_index);
                return Ok(());
            }
            Err(StoreError::BelowWatermark { watermark, .. }) => {
                // The response window ended while the target was awaited: nothing to sign.
                tracing::info!(
                    task_index,
                    watermark,
                    "task closed for good before it could be signed; not signing it"
                );
                self.close(task_index);
                return Ok(());
            }
            // The store cannot promise safety any more: stop the ExEx.
            Err(err) => return Err(err.into()),
        };
        self.transition(task_index, TaskState::Signed { target, digest });
        let signed = SignedResponse {
            task_index,
            response,
            task_hash: key.task_hash,
            digest,
            signature,
            operator_id: self.operator_id,
        };
        self.emit(AvsEvent::Signed(signed)).await
    }

    fn response(&self, task_index: u32, target: AttestedBlock) -> TaskResponse {
        let state_root = match self.fault_mode {
            FaultMode::Off => target.state_root,
            // TEST ONLY (config validation refuses it outside devnets).
            FaultMode::SignWrongStateRoot => !target.state_root,
        };
        TaskResponse {
            referenceTaskIndex: task_index,
            blockHash: target.hash,
            stateRoot: state_root,
            receiptsRoot: target.receipts_root,
        }
    }
}

/// Whether the block a response was signed for is no longer canonical: another block holds its
/// number, or the chain was reverted below it. (A block pruned from the bottom of the view is
/// still canonical.)
fn target_left_canonical_chain(view: &AttestedChain, target: AttestedBlock) -> bool {
    match view.get(target.number) {
        Some(block) => block.hash != target.hash,
        None => view.tip().is_none_or(|tip| tip.number < target.number),
    }
}
