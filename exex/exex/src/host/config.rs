//! Host configuration.

use std::{path::PathBuf, time::Duration};

use alloy::primitives::BlockNumber;

use super::state_root::StateRootConfig;
use crate::wal::WalConfig;

/// Which head the host follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowMode {
    /// The node's `latest` block minus `confirmations` (0 = the very latest; reorgs shallower than
    /// `confirmations` are never seen).
    Latest {
        /// Blocks to stay behind the node's head.
        confirmations: u64,
    },
    /// The node's `finalized` block (no reorgs, higher latency).
    Finalized,
}

/// Everything the host needs; [`HostConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// JSON-RPC over HTTP: all block and receipt fetching goes here.
    pub http_url: String,
    /// Optional WebSocket endpoint for `eth_subscribe("newHeads")`; without it (or while it is
    /// down) the host polls every [`HostConfig::poll_interval`].
    pub ws_url: Option<String>,
    /// Directory for the WAL and the finished heights.
    pub data_dir: PathBuf,
    /// First block delivered to an ExEx that has never finished one.
    pub start_block: BlockNumber,
    /// Which head to follow.
    pub follow: FollowMode,
    /// Recent canonical blocks kept for reorg handling; a deeper reorg stops the host.
    pub reorg_window: usize,
    /// Blocks per notification during backfill.
    pub batch_size: u64,
    /// Blocks fetched concurrently.
    pub fetch_concurrency: usize,
    /// Polling period (and the head re-check period while subscribed).
    pub poll_interval: Duration,
    /// Bound on each JSON-RPC request.
    pub request_timeout: Duration,
    /// First retry delay after an error; doubles up to [`HostConfig::retry_max`] (each delay
    /// plus up to as much again of jitter, so nodes do not retry in lockstep).
    pub retry_initial: Duration,
    /// Longest retry delay before jitter (which adds up to as much again).
    pub retry_max: Duration,
    /// Consecutive invalid blocks after which the node is considered lying and the host stops.
    pub max_consecutive_invalid: u32,
    /// Capacity of each ExEx's notification and event channels.
    pub channel_capacity: usize,
    /// WAL tuning.
    pub wal: WalConfig,
    /// Prefix of the host's metric names (`<namespace>_head_block`, …): two hosts in one
    /// process (a node following two chains) need different ones.
    pub metrics_namespace: String,
    /// Stateless re-execution of every block (see [`super::StateRootMode`]).
    pub state_root: StateRootConfig,
}

impl HostConfig {
    /// A configuration with defaults: follow `latest`, window 64, batches of 100 blocks,
    /// 8 concurrent fetches, 1 s polling, 10 s request timeout, retries from 100 ms to 5 s, 5 invalid blocks tolerated.
    pub fn new(http_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            http_url: http_url.into(),
            ws_url: None,
            data_dir: data_dir.into(),
            start_block: 0,
            follow: FollowMode::Latest { confirmations: 0 },
            reorg_window: 64,
            batch_size: 100,
            fetch_concurrency: 8,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            max_consecutive_invalid: 5,
            channel_capacity: 16,
            wal: WalConfig::default(),
            metrics_namespace: "avs_exex_host".to_owned(),
            state_root: StateRootConfig::default(),
        }
    }

    /// The delays between the retries of a failed step, forever: exponential from
    /// `retry_initial` to `retry_max`, each with jitter, so that nodes which lost the same
    /// endpoint do not hit it again in lockstep.
    pub(crate) fn retry_delays(&self) -> backon::ExponentialBackoff {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::new()
            .with_min_delay(self.retry_initial)
            .with_max_delay(self.retry_max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Checks values that would make the host misbehave.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let checks = [
            (self.reorg_window == 0, "reorg_window must be at least 1"),
            (self.batch_size == 0, "batch_size must be at least 1"),
            (
                self.fetch_concurrency == 0,
                "fetch_concurrency must be at least 1",
            ),
            (
                self.channel_capacity == 0,
                "channel_capacity must be at least 1",
            ),
            (
                self.max_consecutive_invalid == 0,
                "max_consecutive_invalid must be at least 1",
            ),
            (
                self.poll_interval.is_zero(),
                "poll_interval must be positive",
            ),
            (
                !is_metric_name(&self.metrics_namespace),
                "metrics_namespace must be a Prometheus metric name ([a-zA-Z_][a-zA-Z0-9_]*)",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, message)) => Err((*message).to_owned()),
            None => Ok(()),
        }
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
