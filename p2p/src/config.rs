//! [`NetworkConfig`]: everything the swarm needs besides its identity key, with defaults
//! suited to a public operator network and a [`NetworkConfig::validate`] that names the field
//! to fix.
//!
//! Discovery is Kademlia seeded by `bootnodes`; local-network discovery with mDNS is an opt-in
//! (`mdns`, off by default).

use alloy::primitives::Address;
use libp2p::{Multiaddr, multiaddr::Protocol};
use std::time::Duration;

/// Default TCP and QUIC port.
pub const DEFAULT_PORT: u16 = 9777;

/// Configuration of the gossip network.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Settlement chain id; part of the topic name.
    pub settlement_chain_id: u64,
    /// Task manager contract on the settlement chain; part of the topic name.
    pub task_manager: Address,
    /// Addresses to listen on (TCP and/or QUIC `quic-v1`).
    pub listen_addrs: Vec<Multiaddr>,
    /// Addresses other peers can reach this node at (behind NAT / port forwarding). Announced
    /// through identify and Kademlia in addition to the observed listen addresses.
    pub external_addrs: Vec<Multiaddr>,
    /// Bootnodes: full multiaddrs ending in `/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Also discover peers on the local network with mDNS (multicast DNS on every non-loopback
    /// IPv4 interface), and dial them. Off by default: operators find each other through the
    /// bootnodes and Kademlia, and on a public host mDNS would only announce the node to its
    /// data-centre neighbours. Useful for a LAN devnet without bootnodes.
    pub mdns: bool,
    /// Most established inbound connections.
    pub max_inbound: u32,
    /// Most established outbound connections.
    pub max_outbound: u32,
    /// Most established connections per peer.
    pub max_per_peer: u32,
    /// Most connections being negotiated at once (each direction).
    pub max_pending: u32,
    /// Gossipsub heartbeat (mesh maintenance, gossip emission, score decay).
    pub heartbeat_interval: Duration,
    /// Capacity of the queue of inbound messages awaiting application validation. When it is
    /// full new messages are ignored (not forwarded) rather than blocking the swarm.
    pub inbound_queue: usize,
    /// Per-peer rate limit: sustained messages per second a peer may forward to us.
    pub peer_rate_per_sec: u32,
    /// Per-peer rate limit: burst allowance above the sustained rate.
    pub peer_burst: u32,
    /// Rejected messages from one peer (within `penalty_window`) before it is banned.
    pub rejects_before_ban: u32,
    /// Window over which rejected messages are counted.
    pub penalty_window: Duration,
    /// How long a banned peer stays disconnected and blocked.
    pub ban_duration: Duration,
    /// Close connections idle for this long.
    pub idle_connection_timeout: Duration,
}

impl NetworkConfig {
    /// Defaults for the deployment `(settlement_chain_id, task_manager)`: listen on TCP and
    /// QUIC on all interfaces, port [`DEFAULT_PORT`].
    pub fn new(settlement_chain_id: u64, task_manager: Address) -> Self {
        Self {
            settlement_chain_id,
            task_manager,
            listen_addrs: vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_PORT}")
                    .parse()
                    .expect("static multiaddr"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_PORT}/quic-v1")
                    .parse()
                    .expect("static multiaddr"),
            ],
            external_addrs: Vec::new(),
            bootnodes: Vec::new(),
            mdns: false,
            max_inbound: 64,
            max_outbound: 32,
            max_per_peer: 2,
            max_pending: 32,
            heartbeat_interval: Duration::from_millis(700),
            inbound_queue: 4096,
            // An operator set of a few hundred signs once per task; 200/s sustained with a
            // burst of 400 absorbs a full storm forwarded by one mesh peer.
            peer_rate_per_sec: 200,
            peer_burst: 400,
            rejects_before_ban: 8,
            penalty_window: Duration::from_secs(60),
            ban_duration: Duration::from_secs(600),
            idle_connection_timeout: Duration::from_secs(60),
        }
    }

    /// Checks the configuration; the error names the field and what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen_addrs.is_empty() {
            return Err(ConfigError::invalid(
                "listen_addrs",
                "give at least one address",
            ));
        }
        for addr in &self.bootnodes {
            if !matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
                return Err(ConfigError::BootnodeWithoutPeerId(addr.clone()));
            }
        }
        let positive = [
            ("max_inbound", self.max_inbound),
            ("max_outbound", self.max_outbound),
            ("max_per_peer", self.max_per_peer),
            ("max_pending", self.max_pending),
            ("peer_rate_per_sec", self.peer_rate_per_sec),
            ("peer_burst", self.peer_burst),
            ("rejects_before_ban", self.rejects_before_ban),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::invalid(field, "must be at least 1"));
        }
        if self.inbound_queue == 0 {
            return Err(ConfigError::invalid("inbound_queue", "must be at least 1"));
        }
        let durations = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("penalty_window", self.penalty_window),
            ("ban_duration", self.ban_duration),
            ("idle_connection_timeout", self.idle_connection_timeout),
        ];
        if let Some((field, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::invalid(field, "must be longer than zero"));
        }
        Ok(())
    }
}

/// A [`NetworkConfig`] field that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has an unusable value.
    #[error("invalid network config `{field}`: {fix}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What to change.
        fix: &'static str,
    },
    /// A bootnode address lacks the peer id needed to authenticate it.
    #[error("bootnode {0} must end in /p2p/<peer id>")]
    BootnodeWithoutPeerId(Multiaddr),
}

impl ConfigError {
    fn invalid(field: &'static str, fix: &'static str) -> Self {
        Self::Invalid { field, fix }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        NetworkConfig::new(1, Address::ZERO).validate().unwrap();
    }

    #[test]
    fn mdns_is_off_by_default() {
        assert!(!NetworkConfig::new(1, Address::ZERO).mdns);
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = NetworkConfig::new(1, Address::ZERO);
        c.listen_addrs.clear();
        assert_eq!(
            c.validate(),
            Err(ConfigError::invalid(
                "listen_addrs",
                "give at least one address"
            ))
        );

        let mut c = NetworkConfig::new(1, Address::ZERO);
        c.max_per_peer = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("max_per_peer")
        );

        let mut c = NetworkConfig::new(1, Address::ZERO);
        c.ban_duration = Duration::ZERO;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("ban_duration")
        );

        let mut c = NetworkConfig::new(1, Address::ZERO);
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        c.bootnodes.push(addr.clone());
        assert_eq!(c.validate(), Err(ConfigError::BootnodeWithoutPeerId(addr)));
    }
}
