//! Prometheus metrics of the host, registered into a registry the caller owns (the binary
//! serves it).

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The host's metrics (`avs_exex_host_*`).
#[derive(Debug, Clone)]
pub struct HostMetrics {
    /// Highest canonical block delivered.
    pub head_block: IntGauge,
    /// Finished height per ExEx (label `exex`).
    pub finished_height: IntGaugeVec,
    /// Reorgs and reverts delivered.
    pub reorgs_total: IntCounter,
    /// Blocks rejected by verification.
    pub invalid_blocks_total: IntCounter,
    /// Bytes of WAL segments on disk.
    pub wal_bytes: IntGauge,
    /// Fetch rate of the last multi-block batch.
    pub backfill_blocks_per_second: Gauge,
    /// Blocks delivered (committed) in total.
    pub delivered_blocks_total: IntCounter,
    /// Blocks whose state root re-execution reproduced.
    pub state_root_verified_total: IntCounter,
    /// Blocks refused because re-execution produced another state root (or gas, receipts).
    pub state_root_mismatched_total: IntCounter,
    /// Blocks delivered as unverifiable.
    pub state_root_unverifiable_total: IntCounter,
    /// Size of each execution witness (nodes and codes).
    pub witness_bytes: Histogram,
    /// Time to fetch each execution witness.
    pub witness_fetch_seconds: Histogram,
    /// Re-execution time per million gas of the last verified block.
    pub execution_seconds_per_mgas: Gauge,
}

impl HostMetrics {
    /// Creates the metrics, named `<namespace>_…`, and registers them into `registry`.
    pub fn register(registry: &Registry, namespace: &str) -> Result<Self, prometheus::Error> {
        let name = |suffix: &str| format!("{namespace}_{suffix}");
        let metrics = Self {
            head_block: IntGauge::new(name("head_block"), "Highest canonical block delivered")?,
            finished_height: IntGaugeVec::new(
                Opts::new(
                    name("finished_height"),
                    "Finished height reported by each ExEx",
                ),
                &["exex"],
            )?,
            reorgs_total: IntCounter::new(name("reorgs_total"), "Reorgs and reverts delivered")?,
            invalid_blocks_total: IntCounter::new(
                name("invalid_blocks_total"),
                "Blocks from the node that failed verification",
            )?,
            wal_bytes: IntGauge::new(name("wal_bytes"), "Bytes of WAL segments on disk")?,
            backfill_blocks_per_second: Gauge::new(
                name("backfill_blocks_per_second"),
                "Blocks per second fetched and verified in the last multi-block batch",
            )?,
            delivered_blocks_total: IntCounter::new(
                name("delivered_blocks_total"),
                "Canonical blocks committed to the ExExes",
            )?,
            state_root_verified_total: IntCounter::new(
                name("state_root_verified_total"),
                "Blocks whose state root stateless re-execution reproduced",
            )?,
            state_root_mismatched_total: IntCounter::new(
                name("state_root_mismatched_total"),
                "Blocks refused because re-execution produced a different state root",
            )?,
            state_root_unverifiable_total: IntCounter::new(
                name("state_root_unverifiable_total"),
                "Blocks delivered with a state root that could not be re-executed",
            )?,
            witness_bytes: Histogram::with_opts(
                HistogramOpts::new(name("witness_bytes"), "Size of each execution witness")
                    .buckets(prometheus::exponential_buckets(1024.0, 4.0, 10)?),
            )?,
            witness_fetch_seconds: Histogram::with_opts(HistogramOpts::new(
                name("witness_fetch_seconds"),
                "Time to fetch each execution witness",
            ))?,
            execution_seconds_per_mgas: Gauge::new(
                name("execution_seconds_per_mgas"),
                "Stateless re-execution time per million gas of the last verified block",
            )?,
        };
        registry.register(Box::new(metrics.head_block.clone()))?;
        registry.register(Box::new(metrics.finished_height.clone()))?;
        registry.register(Box::new(metrics.reorgs_total.clone()))?;
        registry.register(Box::new(metrics.invalid_blocks_total.clone()))?;
        registry.register(Box::new(metrics.wal_bytes.clone()))?;
        registry.register(Box::new(metrics.backfill_blocks_per_second.clone()))?;
        registry.register(Box::new(metrics.delivered_blocks_total.clone()))?;
        registry.register(Box::new(metrics.state_root_verified_total.clone()))?;
        registry.register(Box::new(metrics.state_root_mismatched_total.clone()))?;
        registry.register(Box::new(metrics.state_root_unverifiable_total.clone()))?;
        registry.register(Box::new(metrics.witness_bytes.clone()))?;
        registry.register(Box::new(metrics.witness_fetch_seconds.clone()))?;
        registry.register(Box::new(metrics.execution_seconds_per_mgas.clone()))?;
        Ok(metrics)
    }
}
