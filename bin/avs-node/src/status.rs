//! Periodic sampling of the node's live state into its metrics and its Node API health: the
//! p2p network's peers, the submitting wallet's balance and the performance score.
//!
//! These values have no event of their own (a peer count changes inside the swarm, a balance
//! on-chain), so they are read every [`SAMPLE_INTERVAL`]; the task metrics are updated by the
//! bridge as events happen.

use crate::{
    health::{ComponentHealth, HealthRegistry, NodeHealth, ServiceStatus},
    metrics::{EigenMetrics, NodeMetrics},
};
use alloy::{
    primitives::{Address, utils::format_ether},
    providers::{DynProvider, Provider},
};
use avs_p2p::NetworkHandle;
use std::time::Duration;

/// How often the state is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Reads the live state and publishes it; run with [`StatusSampler::run`].
pub struct StatusSampler {
    /// The p2p network.
    pub network: NetworkHandle,
    /// The settlement chain, for the wallet balance.
    pub provider: DynProvider,
    /// The submitting wallet.
    pub wallet: Address,
    /// Where peers and balance go.
    pub node: NodeMetrics,
    /// Where the performance score goes.
    pub eigen: EigenMetrics,
    /// The node's services (the score follows the node's health).
    pub health: HealthRegistry,
    /// The p2p service's entry: up with at least one peer, initializing without.
    pub p2p: ComponentHealth,
}

impl StatusSampler {
    /// Samples every `interval` until the task is dropped or aborted.
    pub async fn run(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sample().await;
        }
    }

    async fn sample(&self) {
        match self.network.status().await {
            Ok(status) => {
                self.node.connected_peers.set(gauge(status.connected.len()));
                self.node.mesh_peers.set(gauge(status.mesh.len()));
                self.node.banned_peers.set(gauge(status.banned.len()));
                self.node.known_peers.set(gauge(status.known.len()));
                self.p2p.set(if status.connected.is_empty() {
                    ServiceStatus::Initializing
                } else {
                    ServiceStatus::Up
                });
            }
            Err(_) => self.p2p.set(ServiceStatus::Down),
        }
        match self.provider.get_balance(self.wallet).await {
            Ok(balance) => {
                // Display precision only: the gauge is for alerting on a draining wallet.
                let ether = format_ether(balance).parse().unwrap_or(f64::MAX);
                self.node.wallet_balance_ether.set(ether);
            }
            Err(err) => tracing::debug!(%err, "reading the wallet balance"),
        }
        self.eigen
            .performance_score
            .set(performance_score(self.health.node_health()));
    }
}

/// `eigen_performance_score` from the node's health: every service up scores 100, some 50,
/// none 0.
pub fn performance_score(health: NodeHealth) -> f64 {
    match health {
        NodeHealth::Healthy => 100.0,
        NodeHealth::PartiallyHealthy => 50.0,
        NodeHealth::Unhealthy => 0.0,
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_follows_the_node_health() {
        let health = HealthRegistry::default();
        let a = health.register("a", "a", "a");
        let b = health.register("b", "b", "b");
        assert_eq!(performance_score(health.node_health()), 0.0);
        a.set(ServiceStatus::Up);
        assert_eq!(performance_score(health.node_health()), 50.0);
        b.set(ServiceStatus::Up);
        assert_eq!(performance_score(health.node_health()), 100.0);
    }
}
