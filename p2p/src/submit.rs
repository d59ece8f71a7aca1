//! Turns a [`ServiceEvent::SubmitDue`](crate::ServiceEvent::SubmitDue) aggregate into a
//! `respondToTask` transaction sent with the node's wallet.
//!
//! One submission: the p2p [`Aggregate`] becomes the contract's `NonSignerStakesAndSignature`
//! (history indices from [`attach_registry_indices`]); the transaction goes through the wallet's
//! shared [`WalletSender`], which the task generator and the challenger of the same node send
//! through too, so they never race for a nonce. It estimates the call (a revert found there
//! costs nothing: `TaskAlreadyResponded` is [`SubmitOutcome::AlreadyResponded`], any other is
//! [`SubmitError::Reverted`] with the decoded reason), refuses fees above the wallet's cap
//! ([`SendError::FeeAboveCap`]), and signs with the nonce read from the node for this very send
//! — a cached nonce stays too high after a reorg dropped an earlier transaction. The receipt is
//! awaited for [`ConfirmPolicy::receipt_timeout`]; a transaction still pending then is replaced
//! (same nonce, both fees +12.5%, the minimum bump nodes accept) up to
//! [`ConfirmPolicy::max_replacements`] times, and any of the sent versions may be the one that
//! is mined. A transaction the node no longer knows (a reorg of the settlement chain took it out
//! of the pool, or the pool evicted it) is noticed within two receipt polls and sent again at
//! once, re-estimated: a task someone else answered meanwhile ends as
//! [`SubmitOutcome::AlreadyResponded`] without a transaction.
//!
//! Every outcome counts in `avs_exex_submissions_total{outcome}`; gas of mined responses goes to
//! `avs_exex_submission_gas_used`, resends of dropped responses to
//! `avs_exex_submission_resends_total`.

use crate::aggregation::Aggregate;
use alloy::{
    eips::BlockId,
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};
use avs_contracts::{
    aggregation::{AggregationError, attach_registry_indices},
    avs::{AvsTaskManager, IAvsTaskManager},
    deployment::Deployment,
    sender::{ConfirmPolicy, SendError, WalletSender},
};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use std::sync::Arc;

/// How a submission ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Our transaction answered the task.
    Responded {
        /// The mined transaction (the last replacement, if one was needed).
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// Gas it used.
        gas_used: u64,
    },
    /// Someone answered first; nothing more to do (no transaction was sent when this was
    /// already visible at gas estimation).
    AlreadyResponded,
}

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The aggregate is for another task than the one given.
    #[error(
        "aggregate of task {aggregate} (reference block {aggregate_block}) submitted with task reference block {task_block}"
    )]
    TaskMismatch {
        /// The aggregate's task index.
        aggregate: u32,
        /// The aggregate's reference block.
        aggregate_block: u32,
        /// The task's `taskCreatedBlock`.
        task_block: u32,
    },
    /// Reading the registry history indices failed.
    #[error("building respondToTask input: {0}")]
    Indices(#[from] AggregationError),
    /// The contract refuses the response (at estimation or on-chain), for a reason other than
    /// an earlier response.
    #[error("respondToTask for task {task_index} reverts: {reason}{}", tx_hash.map(|h| format!(" (transaction {h})")).unwrap_or_default())]
    Reverted {
        /// The task.
        task_index: u32,
        /// The decoded custom error, or the node's message when it is not one of ours.
        reason: String,
        /// The mined transaction, if the revert happened on-chain.
        tx_hash: Option<B256>,
    },
    /// A node request failed.
    #[error("{step}: {source}")]
    Rpc {
        /// What was being done.
        step: String,
        /// The node's answer.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// The wallet's sender did not get the response mined: fees above the cap
    /// ([`SendError::FeeAboveCap`]), no receipt after every replacement, dropped again after
    /// every resend, or a signing failure.
    #[error("respondToTask: {0}")]
    Send(SendError),
}

impl SubmitError {
    /// The `outcome` label this error counts under.
    fn outcome(&self) -> &'static str {
        match self {
            Self::Reverted { .. } => "reverted",
            Self::Send(SendError::FeeAboveCap { .. }) => "fee_cap",
            Self::Send(SendError::NoReceipt { .. } | SendError::Dropped { .. }) => "no_receipt",
            Self::Send(SendError::Abandoned { .. }) => "abandoned",
            Self::TaskMismatch { .. } | Self::Indices(_) | Self::Rpc { .. } | Self::Send(_) => {
                "error"
            }
        }
    }
}

/// The submitter's Prometheus metrics.
#[derive(Clone, Debug)]
pub struct SubmitMetrics {
    submissions: IntCounterVec,
    gas_used: Histogram,
    resends: IntCounter,
}

impl SubmitMetrics {
    /// Creates `avs_exex_submissions_total{outcome}`, `avs_exex_submission_gas_used` and
    /// `avs_exex_submission_resends_total` in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let submissions = IntCounterVec::new(
            Opts::new(
                "avs_exex_submissions_total",
                "respondToTask submissions by outcome",
            ),
            &["outcome"],
        )?;
        let gas_used = Histogram::with_opts(
            HistogramOpts::new(
                "avs_exex_submission_gas_used",
                "gas used by mined respondToTask transactions",
            )
            .buckets(prometheus::exponential_buckets(100_000.0, 1.5, 10)?),
        )?;
        let resends = IntCounter::new(
            "avs_exex_submission_resends_total",
            "respondToTask transactions sent again because the node dropped them (reorg, eviction)",
        )?;
        registry.register(Box::new(submissions.clone()))?;
        registry.register(Box::new(gas_used.clone()))?;
        registry.register(Box::new(resends.clone()))?;
        Ok(Self {
            submissions,
            gas_used,
            resends,
        })
    }

    /// Submissions counted under `outcome` so far.
    pub fn count(&self, outcome: &str) -> u64 {
        self.submissions.with_label_values(&[outcome]).get()
    }

    /// Dropped responses sent again so far.
    pub fn resends(&self) -> u64 {
        self.resends.get()
    }
}

/// Sends `respondToTask` for aggregates through the node's wallet sender.
pub struct Submitter {
    sender: Arc<WalletSender>,
    deployment: Deployment,
    policy: ConfirmPolicy,
    metrics: SubmitMetrics,
}

impl Submitter {
    /// A submitter for `deployment`'s task manager paying through `sender` (the wallet's one
    /// sender, shared with every other component paying from it), each response awaited under
    /// `policy`.
    pub const fn new(
        sender: Arc<WalletSender>,
        deployment: Deployment,
        policy: ConfirmPolicy,
        metrics: SubmitMetrics,
    ) -> Self {
        Self {
            sender,
            deployment,
            policy,
            metrics,
        }
    }

    /// The address transactions are sent from.
    pub fn sender(&self) -> Address {
        self.sender.address()
    }

    /// The metrics this submitter records into.
    pub const fn metrics(&self) -> &SubmitMetrics {
        &self.metrics
    }

    /// Submits `aggregate` as the response to `task` (the task as created, from the ExEx's
    /// `TaskCreated`).
    pub async fn submit(
        &self,
        aggregate: &Aggregate,
        task: &IAvsTaskManager::Task,
    ) -> Result<SubmitOutcome, SubmitError> {
        self.submit_while(aggregate, task, || true).await
    }

    /// [`Self::submit`], asking `still_wanted` before paying again for a replacement or a
    /// resend of the response: a node that withdrew its response meanwhile (a reorg took the
    /// attested block out) stops paying for it ([`SendError::Abandoned`], outcome `abandoned`).
    pub async fn submit_while(
        &self,
        aggregate: &Aggregate,
        task: &IAvsTaskManager::Task,
        still_wanted: impl Fn() -> bool,
    ) -> Result<SubmitOutcome, SubmitError> {
        let result = self.submit_once(aggregate, task, still_wanted).await;
        let outcome = match &result {
            Ok(SubmitOutcome::Responded { gas_used, .. }) => {
                // Gas figures are far below 2^53, exact in f64.
                self.metrics.gas_used.observe(*gas_used as f64);
                "responded"
            }
            Ok(SubmitOutcome::AlreadyResponded) => "already_responded",
            // Expected: the node withdrew its response while the transaction waited.
            Err(err @ SubmitError::Send(SendError::Abandoned { .. })) => {
                tracing::info!(task_index = aggregate.task_index, %err, "submission abandoned");
                err.outcome()
            }
            Err(err) => {
                tracing::warn!(task_index = aggregate.task_index, %err, "submission failed");
                err.outcome()
            }
        };
        self.metrics.submissions.with_label_values(&[outcome]).inc();
        result
    }

    async fn submit_once(
        &self,
        aggregate: &Aggregate,
        task: &IAvsTaskManager::Task,
        still_wanted: impl Fn() -> bool,
    ) -> Result<SubmitOutcome, SubmitError> {
        if aggregate.task_created_block != task.taskCreatedBlock
            || aggregate.response.reference_task_index != aggregate.task_index
        {
            return Err(SubmitError::TaskMismatch {
                aggregate: aggregate.task_index,
                aggregate_block: aggregate.task_created_block,
                task_block: task.taskCreatedBlock,
            });
        }
        let provider = self.sender.provider();
        let proof =
            attach_registry_indices(provider, &self.deployment, task, aggregate.signed.clone())
                .await?;
        let call = AvsTaskManager::respondToTaskCall {
            task: task.clone(),
            response: aggregate.response.into(),
            nonSignerStakesAndSignature: proof,
        };
        let request = TransactionRequest::default()
            .with_from(self.sender.address())
            .with_to(self.deployment.avs.task_manager)
            .with_input(Bytes::from(call.abi_encode()));
        let task_index = aggregate.task_index;
        let confirmed = match self
            .sender
            .send_and_confirm_while("respondToTask", request.clone(), &self.policy, still_wanted)
            .await
        {
            Ok(confirmed) => confirmed,
            // Gas estimation runs the call, on a resend of a dropped response too: a task
            // answered meanwhile is refused before anything is sent.
            Err(SendError::Rpc { step, source }) => {
                return classify_revert(task_index, source, None, step);
            }
            Err(err) => return Err(SubmitError::Send(err)),
        };
        self.metrics.resends.inc_by(u64::from(confirmed.resends));
        self.conclude(task_index, &request, &confirmed.receipt)
            .await
    }

    /// The outcome of a mined transaction; a revert is replayed at its block for the reason.
    async fn conclude(
        &self,
        task_index: u32,
        request: &TransactionRequest,
        receipt: &TransactionReceipt,
    ) -> Result<SubmitOutcome, SubmitError> {
        let tx_hash = receipt.transaction_hash;
        let block_number = receipt.block_number.unwrap_or_default();
        if receipt.status() {
            return Ok(SubmitOutcome::Responded {
                tx_hash,
                block_number,
                gas_used: receipt.gas_used,
            });
        }
        // Replaying against the state after the block reproduces what made it fail — usually
        // a response from someone else in the same block.
        match self
            .sender
            .provider()
            .call(request.clone())
            .block(BlockId::number(block_number))
            .await
        {
            Err(err) => classify_revert(
                task_index,
                err,
                Some(tx_hash),
                "replaying respondToTask".to_owned(),
            ),
            Ok(_) => Err(SubmitError::Reverted {
                task_index,
                reason: "reverted on-chain; the replay at its block succeeds (out of gas?)"
                    .to_owned(),
                tx_hash: Some(tx_hash),
            }),
        }
    }
}

/// `TaskAlreadyResponded` → quiet success; another revert → [`SubmitError::Reverted`]; a
/// failure that is not a revert → [`SubmitError::Rpc`].
fn classify_revert(
    task_index: u32,
    err: RpcError<TransportErrorKind>,
    tx_hash: Option<B256>,
    step: String,
) -> Result<SubmitOutcome, SubmitError> {
    let Some(payload) = err.as_error_resp() else {
        return Err(SubmitError::Rpc { step, source: err });
    };
    match payload.as_decoded_interface_error::<AvsTaskManager::AvsTaskManagerErrors>() {
        Some(AvsTaskManager::AvsTaskManagerErrors::TaskAlreadyResponded(_)) => {
            Ok(SubmitOutcome::AlreadyResponded)
        }
        Some(other) => Err(SubmitError::Reverted {
            task_index,
            reason: format!("{other:?}"),
            tx_hash,
        }),
        None if payload.as_revert_data().is_some() || tx_hash.is_some() => {
            Err(SubmitError::Reverted {
                task_index,
                reason: payload.message.to_string(),
                tx_hash,
            })
        }
        None => Err(SubmitError::Rpc { step, source: err }),
    }
}
