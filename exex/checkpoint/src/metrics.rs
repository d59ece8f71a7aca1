//! Prometheus metrics of the AVS ExEx (`avs_exex_*`), registered into a registry the caller owns.

use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};

/// The AVS ExEx's metrics.
#[derive(Debug, Clone)]
pub struct AvsMetrics {
    /// `NewTaskCreated` logs that became canonical.
    pub tasks_seen: IntCounter,
    /// Tasks this node's transactions created (task-generator role).
    pub tasks_created: IntCounter,
    /// Task creations whose transaction failed (retried on the next block).
    pub task_creation_failures: IntCounter,
    /// Tasks whose creation was reorged out or reverted.
    pub tasks_reverted: IntCounter,
    /// Responses signed for the first time.
    pub responses_signed: IntCounter,
    /// Signed responses withdrawn because their target block left the canonical chain.
    pub responses_withdrawn: IntCounter,
    /// Signing requests refused by the slashing-protection store (a different response for an
    /// already signed task).
    pub slashing_protection_refusals: IntCounter,
    /// Tasks skipped because the operator was not registered with stake in their quorums.
    pub tasks_not_eligible: IntCounter,
    /// Tasks given up because their target block did not appear in time.
    pub target_timeouts: IntCounter,
    /// Seconds from seeing a task to sending its signed response.
    pub signing_latency_seconds: Histogram,
    /// Canonical responses that differ from this node's view of their checkpoint block.
    pub responses_disputed: IntCounter,
    /// Finalized aggregates that list this operator as a non-signer although it had signed.
    pub own_signature_missing: IntCounter,
    /// Stake refreshes sent (task-generator role): updates of operators whose stake changed.
    pub stake_refreshes: IntCounter,
    /// Operators whose stake those refreshes updated.
    pub stake_refresh_operators: IntCounter,
}

impl AvsMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let signing_latency_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "avs_exex_signing_latency_seconds",
                "Seconds from seeing a task to sending its signed response",
            )
            .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]),
        )?;
        registry.register(Box::new(signing_latency_seconds.clone()))?;
        Ok(Self {
            tasks_seen: counter(
                "avs_exex_tasks_seen_total",
                "NewTaskCreated logs seen as canonical",
            )?,
            responses_disputed: counter(
                "avs_exex_responses_disputed_total",
                "Canonical responses that differ from this node's view of their checkpoint block",
            )?,
            own_signature_missing: counter(
                "avs_exex_own_signature_missing_total",
                "Finalized responses whose aggregate lists this operator as a non-signer though it signed",
            )?,
            stake_refreshes: counter(
                "avs_exex_stake_refreshes_total",
                "updateOperators transactions sent for operators whose stake changed",
            )?,
            stake_refresh_operators: counter(
                "avs_exex_stake_refresh_operators_total",
                "Operators whose changed stake a refresh updated",
            )?,
            tasks_created: counter(
                "avs_exex_tasks_created_total",
                "Checkpoint tasks this node created",
            )?,
            task_creation_failures: counter(
                "avs_exex_task_creation_failures_total",
                "createNewTask transactions that failed",
            )?,
            tasks_reverted: counter(
                "avs_exex_tasks_reverted_total",
                "Tasks whose creation was reorged out or reverted",
            )?,
            responses_signed: counter("avs_exex_responses_signed_total", "Responses signed")?,
            responses_withdrawn: counter(
                "avs_exex_responses_withdrawn_total",
                "Signed responses withdrawn after their target block was reorged out",
            )?,
            slashing_protection_refusals: counter(
                "avs_exex_slashing_protection_refusals_total",
                "Signing requests refused: a different response for an already signed task",
            )?,
            tasks_not_eligible: counter(
                "avs_exex_tasks_not_eligible_total",
                "Tasks skipped: operator not registered with stake in the task's quorums",
            )?,
            target_timeouts: counter(
                "avs_exex_tasks_target_timeouts_total",
                "Tasks given up because their target block did not appear in time",
            )?,
            signing_latency_seconds,
        })
    }
}
