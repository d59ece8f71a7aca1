//! Prometheus metrics of the host, registered into a registry the caller owns (the binary
//! serves it).

use prometheus::{Gauge, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

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
        };
        registry.register(Box::new(metrics.head_block.clone()))?;
        registry.register(Box::new(metrics.finished_height.clone()))?;
        registry.register(Box::new(metrics.reorgs_total.clone()))?;
        registry.register(Box::new(metrics.invalid_blocks_total.clone()))?;
        registry.register(Box::new(metrics.wal_bytes.clone()))?;
        registry.register(Box::new(metrics.backfill_blocks_per_second.clone()))?;
        registry.register(Box::new(metrics.delivered_blocks_total.clone()))?;
        Ok(metrics)
    }
}
