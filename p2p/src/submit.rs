//! Turns a [`ServiceEvent::SubmitDue`](crate::ServiceEvent::SubmitDue) aggregate into a
//! `respondToTask` transaction sent with the node's wallet.
//!
//! One submission: the p2p [`Aggregate`] becomes the contract's `NonSignerStakesAndSignature`
//! (history indices from [`attach_registry_indices`]); the call is estimated (a revert found
//! there costs nothing: `TaskAlreadyResponded` is [`SubmitOutcome::AlreadyResponded`], any
//! other is [`SubmitError::Reverted`] with the decoded reason); EIP-1559 fees are estimated and
//! refused above [`SubmitterConfig::max_fee_per_gas`]; the transaction is signed locally with
//! the nonce read from the node for this very send — a cached nonce stays too high after a
//! reorg dropped an earlier transaction — and sent raw. The receipt is awaited for
//! [`SubmitterConfig::receipt_timeout`]; a transaction still pending then is replaced (same
//! nonce, both fees +12.5%, the minimum bump nodes accept) up to
//! [`SubmitterConfig::max_replacements`] times, and any of the sent versions may be the one
//! that is mined.
//!
//! Submissions of one [`Submitter`] are serialised, so two tasks never race for a nonce.
//! Every outcome counts in `avs_exex_submissions_total{outcome}`; gas of mined responses goes to
//! `avs_exex_submission_gas_used`.

use crate::aggregation::Aggregate;
use alloy::{
    eips::{BlockId, Encodable2718},
    network::{
        Ethereum, EthereumWallet, NetworkTransactionBuilder, NetworkWallet, TransactionBuilder,
        TransactionBuilderError,
    },
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
};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use std::time::Duration;
use tokio::{sync::Mutex, time::Instant};

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
    /// The fees the network asks for exceed the configured cap.
    #[error(
        "max fee per gas {required} wei exceeds the configured cap {cap} wei: not sending (raise max_fee_per_gas to pay more)"
    )]
    FeeCapExceeded {
        /// What the estimate (or the replacement bump) requires.
        required: u128,
        /// The cap.
        cap: u128,
    },
    /// A node request failed.
    #[error("{step}: {source}")]
    Rpc {
        /// What was being done.
        step: &'static str,
        /// The node's answer.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// Signing the transaction failed.
    #[error("signing respondToTask: {0}")]
    Sign(#[from] TransactionBuilderError<Ethereum>),
    /// No version of the transaction was mined in time.
    #[error(
        "no receipt for respondToTask (nonce {nonce}) after {attempts} send(s); last transaction {last_tx}"
    )]
    NoReceipt {
        /// The nonce all versions used.
        nonce: u64,
        /// How many versions were sent.
        attempts: u32,
        /// The last version sent.
        last_tx: B256,
    },
}

impl SubmitError {
    /// The `outcome` label this error counts under.
    fn outcome(&self) -> &'static str {
        match self {
            Self::Reverted { .. } => "reverted",
            Self::FeeCapExceeded { .. } => "fee_cap",
            Self::NoReceipt { .. } => "no_receipt",
            Self::TaskMismatch { .. } | Self::Indices(_) | Self::Rpc { .. } | Self::Sign(_) => {
                "error"
            }
        }
    }
}

/// How the submitter pays and waits.
#[derive(Clone, Debug)]
pub struct SubmitterConfig {
    /// Highest `maxFeePerGas` (wei) the node pays, including replacements.
    pub max_fee_per_gas: u128,
    /// How long to wait for a receipt before replacing the transaction.
    pub receipt_timeout: Duration,
    /// How many times a pending transaction may be replaced (0: never).
    pub max_replacements: u32,
    /// How often the node is asked for receipts while waiting.
    pub poll_interval: Duration,
    /// Extra gas on top of the estimate, in percent (state may change before inclusion).
    pub gas_margin_percent: u64,
}

impl Default for SubmitterConfig {
    fn default() -> Self {
        Self {
            max_fee_per_gas: 200_000_000_000, // 200 gwei
            receipt_timeout: Duration::from_secs(36),
            max_replacements: 3,
            poll_interval: Duration::from_secs(1),
            gas_margin_percent: 20,
        }
    }
}

/// The submitter's Prometheus metrics.
#[derive(Clone, Debug)]
pub struct SubmitMetrics {
    submissions: IntCounterVec,
    gas_used: Histogram,
}

impl SubmitMetrics {
    /// Creates `avs_exex_submissions_total{outcome}` and `avs_exex_submission_gas_used` in `registry`.
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
        registry.register(Box::new(submissions.clone()))?;
        registry.register(Box::new(gas_used.clone()))?;
        Ok(Self {
            submissions,
            gas_used,
        })
    }

    /// Submissions counted under `outcome` so far.
    pub fn count(&self, outcome: &str) -> u64 {
        self.submissions.with_label_values(&[outcome]).get()
    }
}

/// Sends `respondToTask` for aggregates with the node's ECDSA wallet.
pub struct Submitter<P> {
    provider: P,
    wallet: EthereumWallet,
    sender: Address,
    chain_id: u64,
    deployment: Deployment,
    config: SubmitterConfig,
    metrics: SubmitMetrics,
    /// Held for a whole submission: one nonce in flight at a time.
    sending: Mutex<()>,
}

impl<P: Provider> Submitter<P> {
    /// A submitter for `deployment`'s task manager paying from `wallet`'s default signer;
    /// `provider` needs no wallet of its own (transactions are signed here and sent raw).
    pub fn new(
        provider: P,
        wallet: EthereumWallet,
        deployment: Deployment,
        config: SubmitterConfig,
        metrics: SubmitMetrics,
    ) -> Self {
        let sender = NetworkWallet::<Ethereum>::default_signer_address(&wallet);
        Self {
            provider,
            wallet,
            sender,
            chain_id: deployment.chain_id,
            deployment,
            config,
            metrics,
            sending: Mutex::new(()),
        }
    }

    /// The address transactions are sent from.
    pub const fn sender(&self) -> Address {
        self.sender
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
        let result = self.submit_serialised(aggregate, task).await;
        let outcome = match &result {
            Ok(SubmitOutcome::Responded { gas_used, .. }) => {
                // Gas figures are far below 2^53, exact in f64.
                self.metrics.gas_used.observe(*gas_used as f64);
                "responded"
            }
            Ok(SubmitOutcome::AlreadyResponded) => "already_responded",
            Err(err) => {
                tracing::warn!(task_index = aggregate.task_index, %err, "submission failed");
                err.outcome()
            }
        };
        self.metrics.submissions.with_label_values(&[outcome]).inc();
        result
    }

    async fn submit_serialised(
        &self,
        aggregate: &Aggregate,
        task: &IAvsTaskManager::Task,
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
        let proof = attach_registry_indices(
            &self.provider,
            &self.deployment,
            task,
            aggregate.signed.clone(),
        )
        .await?;
        let call = AvsTaskManager::respondToTaskCall {
            task: task.clone(),
            response: aggregate.response.into(),
            nonSignerStakesAndSignature: proof,
        };
        let request = TransactionRequest::default()
            .with_from(self.sender)
            .with_to(self.deployment.avs.task_manager)
            .with_input(Bytes::from(call.abi_encode()));

        let _sending = self.sending.lock().await;
        let task_index = aggregate.task_index;
        let gas = match self.provider.estimate_gas(request.clone()).await {
            Ok(gas) => gas,
            Err(err) => return classify_revert(task_index, err, None, "eth_estimateGas"),
        };
        let gas = gas.saturating_add(gas * self.config.gas_margin_percent / 100);
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|source| SubmitError::Rpc {
                step: "fee estimation",
                source,
            })?;
        self.check_cap(fees.max_fee_per_gas)?;
        let nonce = self
            .provider
            .get_transaction_count(self.sender)
            .pending()
            .await
            .map_err(|source| SubmitError::Rpc {
                step: "reading the sender's nonce",
                source,
            })?;

        let mut max_fee = fees.max_fee_per_gas;
        let mut priority_fee = fees.max_priority_fee_per_gas.min(max_fee);
        let mut sent = Vec::new();
        for attempt in 0..=self.config.max_replacements {
            if attempt > 0 {
                max_fee = bump(max_fee);
                priority_fee = bump(priority_fee);
                self.check_cap(max_fee)?;
                tracing::info!(
                    task_index,
                    nonce,
                    max_fee,
                    "replacing pending respondToTask"
                );
            }
            let tx = request
                .clone()
                .with_nonce(nonce)
                .with_chain_id(self.chain_id)
                .with_gas_limit(gas)
                .with_max_fee_per_gas(max_fee)
                .with_max_priority_fee_per_gas(priority_fee)
                .build(&self.wallet)
                .await?;
            let raw = tx.encoded_2718();
            match self.provider.send_raw_transaction(&raw).await {
                Ok(pending) => sent.push(*pending.tx_hash()),
                // An earlier version may have been mined meanwhile ("nonce too low"): keep
                // waiting for the versions already sent.
                Err(err) if !sent.is_empty() => {
                    tracing::warn!(task_index, nonce, %err, "replacement not accepted");
                }
                Err(source) => {
                    return Err(SubmitError::Rpc {
                        step: "eth_sendRawTransaction",
                        source,
                    });
                }
            }
            if let Some(receipt) = self.wait_for_any(&sent).await? {
                return self.conclude(task_index, &request, &receipt).await;
            }
        }
        Err(SubmitError::NoReceipt {
            nonce,
            attempts: u32::try_from(sent.len()).unwrap_or(u32::MAX),
            last_tx: sent.last().copied().unwrap_or_default(),
        })
    }

    fn check_cap(&self, required: u128) -> Result<(), SubmitError> {
        if required > self.config.max_fee_per_gas {
            return Err(SubmitError::FeeCapExceeded {
                required,
                cap: self.config.max_fee_per_gas,
            });
        }
        Ok(())
    }

    /// Polls the receipts of `hashes` until one exists or `receipt_timeout` passes.
    async fn wait_for_any(
        &self,
        hashes: &[B256],
    ) -> Result<Option<TransactionReceipt>, SubmitError> {
        let deadline = Instant::now() + self.config.receipt_timeout;
        loop {
            for hash in hashes {
                let receipt =
                    self.provider
                        .get_transaction_receipt(*hash)
                        .await
                        .map_err(|source| SubmitError::Rpc {
                            step: "eth_getTransactionReceipt",
                            source,
                        })?;
                if receipt.is_some() {
                    return Ok(receipt);
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep_until(deadline.min(Instant::now() + self.config.poll_interval))
                .await;
        }
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
            .provider
            .call(request.clone())
            .block(BlockId::number(block_number))
            .await
        {
            Err(err) => classify_revert(task_index, err, Some(tx_hash), "replaying respondToTask"),
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
    step: &'static str,
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

/// `value × 1.125`, rounded up, and at least one wei more.
fn bump(value: u128) -> u128 {
    value
        .saturating_add(value.div_ceil(8))
        .max(value.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::bump;

    #[test]
    fn bump_is_at_least_an_eighth_and_one_wei() {
        assert_eq!(bump(8), 9);
        assert_eq!(bump(9), 11);
        assert_eq!(bump(0), 1);
        assert_eq!(bump(1_000_000_000), 1_125_000_000);
        assert_eq!(bump(u128::MAX), u128::MAX);
    }
}
