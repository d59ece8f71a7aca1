//! Prometheus metrics: one [`prometheus::Registry`] per process that every component registers
//! its metrics into (the AVS ExEx's `AvsMetrics::register(&registry)`, the p2p service, ...),
//! served in the text exposition format at `/metrics` by [`router`].
//!
//! The binary itself registers EigenLayer's standard AVS node metrics ([`EigenMetrics`]), with
//! the names, types and labels of EigenLayer's metrics spec, each carrying the constant label
//! `avs_name`, so EigenLayer's dashboards work unchanged.

use axum::{Router, http::header, response::IntoResponse, routing::get};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder,
};

/// The `avs_name` label value of this AVS.
pub const AVS_NAME: &str = "avs-exex";

/// The value of the unlabelled metric `name` in a text exposition (what `/metrics` serves), if
/// it is there and a number.
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// EigenLayer's standard AVS node metrics.
#[derive(Debug, Clone)]
pub struct EigenMetrics {
    /// `eigen_performance_score`: 0–100, how well the node is doing its job (100 = healthy).
    pub performance_score: Gauge,
    /// `eigen_rpc_request_duration_seconds{method, client_type, version}`.
    pub rpc_request_duration_seconds: HistogramVec,
    /// `eigen_rpc_request_total{method, client_type, version}`.
    pub rpc_request_total: IntCounterVec,
    /// `eigen_registered_stakes{quorum_number, quorum_name}`: the operator's weighted stake.
    pub registered_stakes: GaugeVec,
}

impl EigenMetrics {
    /// Registers the metrics into `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let rpc_labels = ["method", "client_type", "version"];
        let metrics = Self {
            performance_score: Gauge::with_opts(opts(
                "eigen_performance_score",
                "The performance metric is a score between 0 and 100 and each developer can define their own way of calculating the score. The score is calculated based on the performance of the Node and the performance of the backing services.",
            ))?,
            rpc_request_duration_seconds: HistogramVec::new(
                HistogramOpts::from(opts(
                    "eigen_rpc_request_duration_seconds",
                    "Duration of json-rpc <method> in seconds",
                )),
                &rpc_labels,
            )?,
            rpc_request_total: IntCounterVec::new(
                opts(
                    "eigen_rpc_request_total",
                    "Total of json-rpc <method> requests",
                ),
                &rpc_labels,
            )?,
            registered_stakes: GaugeVec::new(
                opts(
                    "eigen_registered_stakes",
                    "Operator stake in <quorum> of <avs_name>'s StakeRegistry contract",
                ),
                &["quorum_number", "quorum_name"],
            )?,
        };
        registry.register(Box::new(metrics.performance_score.clone()))?;
        registry.register(Box::new(metrics.rpc_request_duration_seconds.clone()))?;
        registry.register(Box::new(metrics.rpc_request_total.clone()))?;
        registry.register(Box::new(metrics.registered_stakes.clone()))?;
        Ok(metrics)
    }
}

/// This node's own metrics: task outcomes and finality latency as the node saw them, the p2p
/// network's peers and the submitting wallet's balance. (Components register theirs: the host
/// `avs_exex_host_*`, the AVS ExEx `avs_exex_tasks_*`/`avs_exex_responses_*`, the p2p service
/// `avs_exex_signatures_received_total`, the submitter `avs_exex_submissions_total`.)
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    /// `avs_exex_tasks_finalized_total`: tasks whose `TaskResponded` became canonical.
    pub tasks_finalized: IntCounter,
    /// `avs_exex_tasks_skipped_total`: tasks whose operator set could not be read (after
    /// retries): the node neither validated nor aggregated their signatures.
    pub tasks_skipped: IntCounter,
    /// `avs_exex_tasks_expired_total`: tasks closed for good unanswered (counted once their
    /// response window is settled, `retention_blocks` deep).
    pub tasks_expired: IntCounter,
    /// `avs_exex_quorum_latency_blocks`: `taskCreatedBlock` → block of the `TaskResponded`.
    pub quorum_latency_blocks: Histogram,
    /// `avs_exex_quorum_latency_seconds`: task seen by this node → its response seen.
    pub quorum_latency_seconds: Histogram,
    /// `avs_exex_p2p_connected_peers`: peers with an open connection.
    pub connected_peers: IntGauge,
    /// `avs_exex_p2p_mesh_peers`: peers in the gossipsub mesh of the signature topic.
    pub mesh_peers: IntGauge,
    /// `avs_exex_p2p_banned_peers`: peers currently banned for invalid messages.
    pub banned_peers: IntGauge,
    /// `avs_exex_p2p_known_peers`: peers the node knows an address of (bootnodes, peer store,
    /// discovery); the pool it redials from.
    pub known_peers: IntGauge,
    /// `avs_exex_p2p_reachable_stake_ratio`: share (0–1) of the latest task's stake, lowest over
    /// its quorums, held by operators this node heard a signature from recently (itself
    /// included). Below the task's threshold the node cannot see a quorum: it is partitioned
    /// or too much stake is offline.
    pub reachable_stake_ratio: Gauge,
    /// `avs_exex_wallet_balance_ether`: the submitting wallet's balance.
    pub wallet_balance_ether: Gauge,
    /// `avs_exex_submissions_refused_total`: aggregates due for submission by this node that it
    /// refused because they are not the response it signed and still stands behind.
    pub submissions_refused: IntCounter,
    /// `avs_exex_challenges_total{result}`: challenges this node took up (`succeeded`: raised
    /// here, or raised by another challenger and carried on; `failed`).
    pub challenges: IntCounterVec,
}

impl NodeMetrics {
    /// Registers the metrics into `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            tasks_finalized: IntCounter::new(
                "avs_exex_tasks_finalized_total",
                "Tasks whose TaskResponded became canonical",
            )?,
            tasks_skipped: IntCounter::new(
                "avs_exex_tasks_skipped_total",
                "Tasks whose operator set could not be read: their signatures were neither validated nor aggregated here",
            )?,
            tasks_expired: IntCounter::new(
                "avs_exex_tasks_expired_total",
                "Tasks closed for good unanswered (their response window settled)",
            )?,
            quorum_latency_blocks: Histogram::with_opts(
                HistogramOpts::new(
                    "avs_exex_quorum_latency_blocks",
                    "Blocks from taskCreatedBlock to the block holding the task's response",
                )
                .buckets(vec![
                    1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0,
                ]),
            )?,
            quorum_latency_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "avs_exex_quorum_latency_seconds",
                    "Seconds from the task's creation to its response, both as seen by this node",
                )
                .buckets(prometheus::exponential_buckets(0.25, 2.0, 11)?),
            )?,
            connected_peers: IntGauge::new(
                "avs_exex_p2p_connected_peers",
                "Peers with an open connection",
            )?,
            mesh_peers: IntGauge::new(
                "avs_exex_p2p_mesh_peers",
                "Peers in the gossipsub mesh of the signature topic",
            )?,
            banned_peers: IntGauge::new(
                "avs_exex_p2p_banned_peers",
                "Peers currently banned for invalid messages",
            )?,
            known_peers: IntGauge::new(
                "avs_exex_p2p_known_peers",
                "Peers the node knows an address of (bootnodes, peer store, discovery)",
            )?,
            reachable_stake_ratio: Gauge::new(
                "avs_exex_p2p_reachable_stake_ratio",
                "Share of the latest task's stake (lowest quorum) held by operators heard from recently",
            )?,
            wallet_balance_ether: Gauge::new(
                "avs_exex_wallet_balance_ether",
                "Balance of the wallet that submits responses, in ether",
            )?,
            submissions_refused: IntCounter::new(
                "avs_exex_submissions_refused_total",
                "Aggregates this node refused to submit: not the response it signed (or it withdrew it)",
            )?,
            challenges: IntCounterVec::new(
                Opts::new(
                    "avs_exex_challenges_total",
                    "Challenges of wrong responses this node took up (raised here, or by another challenger and carried on), by result",
                ),
                &["result"],
            )?,
        };
        registry.register(Box::new(metrics.tasks_finalized.clone()))?;
        registry.register(Box::new(metrics.tasks_skipped.clone()))?;
        registry.register(Box::new(metrics.tasks_expired.clone()))?;
        registry.register(Box::new(metrics.quorum_latency_blocks.clone()))?;
        registry.register(Box::new(metrics.quorum_latency_seconds.clone()))?;
        registry.register(Box::new(metrics.connected_peers.clone()))?;
        registry.register(Box::new(metrics.mesh_peers.clone()))?;
        registry.register(Box::new(metrics.banned_peers.clone()))?;
        registry.register(Box::new(metrics.known_peers.clone()))?;
        registry.register(Box::new(metrics.reachable_stake_ratio.clone()))?;
        registry.register(Box::new(metrics.wallet_balance_ether.clone()))?;
        registry.register(Box::new(metrics.submissions_refused.clone()))?;
        registry.register(Box::new(metrics.challenges.clone()))?;
        Ok(metrics)
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).const_label("avs_name", AVS_NAME)
}

/// The registry's current state in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    // Encoding into a Vec only fails on metric families that violate the format, which the
    // registry refuses at registration.
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::warn!(error = %e, "encoding metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// `GET /metrics`.
pub fn router(registry: Registry) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                    encode(&registry),
                )
                    .into_response()
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_reads_only_the_unlabelled_metric_of_that_exact_name() {
        let exposition = "# HELP avs_x a gauge\n# TYPE avs_x gauge\navs_x_total 7\navs_x{a=\"b\"} 3\navs_x 0.5\navs_y NaNx\n";
        assert_eq!(sample(exposition, "avs_x"), Some(0.5));
        assert_eq!(sample(exposition, "avs_x_total"), Some(7.0));
        assert_eq!(sample(exposition, "avs_y"), None, "not a number");
        assert_eq!(sample(exposition, "avs_z"), None, "absent");
    }

    #[test]
    fn eigen_metrics_carry_spec_names_and_labels() {
        let registry = Registry::new();
        let metrics = EigenMetrics::register(&registry).unwrap();
        metrics.performance_score.set(100.0);
        metrics
            .rpc_request_total
            .with_label_values(&["eth_blockNumber", "rpc", "v1"])
            .inc();
        metrics
            .registered_stakes
            .with_label_values(&["0", "quorum 0"])
            .set(1000.0);
        let text = encode(&registry);
        assert!(
            text.contains("eigen_performance_score{avs_name=\"avs-exex\"} 100"),
            "{text}"
        );
        assert!(
            text.contains(
                "eigen_rpc_request_total{avs_name=\"avs-exex\",client_type=\"rpc\",method=\"eth_blockNumber\",version=\"v1\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "eigen_registered_stakes{avs_name=\"avs-exex\",quorum_name=\"quorum 0\",quorum_number=\"0\"} 1000"
            ),
            "{text}"
        );
        assert!(
            EigenMetrics::register(&registry).is_err(),
            "registering twice is refused"
        );
    }
}
