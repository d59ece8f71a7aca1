//! [`NetworkConfig`]: everything the swarm needs besides its identity key, with defaults
//! suited to a public operator network and a [`NetworkConfig::validate`] that names the field
//! to fix.
//!
//! Discovery keeps `target_peers` connected from the bootnodes, the peer store
//! (`peer_store`), identify and Kademlia; local-network discovery with mDNS is an opt-in
//! (`mdns`, off by default).

use alloy::primitives::Address;
use libp2p::{Multiaddr, multiaddr::Protocol};
use std::{path::PathBuf, time::Duration};

/// Default TCP and QUIC port.
pub const DEFAULT_PORT: u16 = 9777;
/// Default [`NetworkConfig::target_peers`]: well above gossipsub's mesh degree (6), so the
/// mesh has peers to choose from and loses no more than a few of them when one node goes.
pub const DEFAULT_TARGET_PEERS: usize = 24;
/// Default [`NetworkConfig::min_peers`].
pub const DEFAULT_MIN_PEERS: usize = 4;

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
    /// Peers the node keeps connected: below this many it dials the peers it knows (bootnodes
    /// first, with a back-off per peer).
    pub target_peers: usize,
    /// Below this many connected peers the node warns and searches the DHT more often.
    pub min_peers: usize,
    /// File of the peers this node was connected to, read at start and rewritten as they
    /// change (a node's data directory holds it at `p2p/peers.json`); `None` keeps them in
    /// memory only.
    pub peer_store: Option<PathBuf>,
    /// Interval of Kademlia random walks (a bootstrap: our own id and a random id per bucket)
    /// while below `target_peers`; at the target they come ten times less often, below
    /// `min_peers` at least every 6 s.
    pub discovery_interval: Duration,
    /// Most established inbound connections.
    pub max_inbound: u32,
    /// Most established outbound connections. At the limit a dial (the node's own or a DHT
    /// query's) is refused before it starts, so no handshake reaches the peer.
    pub max_outbound: u32,
    /// Most established connections per peer.
    pub max_per_peer: u32,
    /// Most connections being negotiated at once (each direction).
    pub max_pending: u32,
    /// Gossipsub heartbeat (mesh maintenance, gossip emission, score decay).
    pub heartbeat_interval: Duration,
    /// How long a message may await the application's verdict and still be forwarded once
    /// accepted: gossipsub keeps it in its message cache that long. A signature can wait for
    /// its task (the service buffers it up to `ValidatorConfig::pending_ttl`, 30 s by
    /// default), e.g. on a node catching up after a restart; a shorter cache would drop it
    /// unforwarded. Keep it below `pending_ttl`: a signature whose task never came is
    /// rejected at `pending_ttl`, and only the application's own penalty (bounded per peer)
    /// may apply then, not gossipsub's invalid-message score. Under churn many honest peers
    /// forward such signatures, and that score would graylist them all.
    pub validation_timeout: Duration,
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
            target_peers: DEFAULT_TARGET_PEERS,
            min_peers: DEFAULT_MIN_PEERS,
            peer_store: None,
            discovery_interval: Duration::from_secs(30),
            max_inbound: 64,
            max_outbound: 32,
            max_per_peer: 2,
            max_pending: 32,
            heartbeat_interval: Duration::from_millis(700),
            validation_timeout: Duration::from_secs(24),
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
        if self.target_peers == 0 {
            return Err(ConfigError::invalid("target_peers", "must be at least 1"));
        }
        if self.min_peers > self.target_peers {
            return Err(ConfigError::invalid(
                "min_peers",
                "must not exceed target_peers",
            ));
        }
        if self.target_peers > self.max_outbound as usize + self.max_inbound as usize {
            return Err(ConfigError::invalid(
                "target_peers",
                "must not exceed max_outbound + max_inbound",
            ));
        }
        if self.inbound_queue == 0 {
            return Err(ConfigError::invalid("inbound_queue", "must be at least 1"));
        }
        let durations = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("penalty_window", self.penalty_window),
            ("ban_duration", self.ban_duration),
            ("idle_connection_timeout", self.idle_connection_timeout),
            ("discovery_interval", self.discovery_interval),
            ("validation_timeout", self.validation_timeout),
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

    /// An honest forwarder of a signature whose task never comes (a reorged-out or
    /// never-seen task, common under churn) is rejected at the validator's pending timeout.
    /// Gossipsub must have dropped the message by then, so only the application's bounded
    /// penalty applies, never gossipsub's invalid-message score: the 16-node churn run with a
    /// longer cache (32 s) cut every node off from every peer.
    #[test]
    fn unvalidated_messages_leave_the_cache_before_the_pending_timeout_rejects_them() {
        let network = NetworkConfig::new(1, Address::ZERO);
        let validator = crate::validation::ValidatorConfig::default();
        assert!(
            network.validation_timeout < validator.pending_ttl,
            "validation_timeout {:?} must stay below pending_ttl {:?}",
            network.validation_timeout,
            validator.pending_ttl
        );
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

        // Each broken field, and the field the error must name.
        type Break = fn(&mut NetworkConfig);
        let broken: [(&str, Break); 5] = [
            ("max_per_peer", |c| c.max_per_peer = 0),
            ("ban_duration", |c| c.ban_duration = Duration::ZERO),
            ("min_peers", |c| c.min_peers = c.target_peers + 1),
            ("target_peers", |c| {
                c.target_peers = 0;
                c.min_peers = 0;
            }),
            ("target_peers", |c| {
                c.target_peers = (c.max_inbound + c.max_outbound + 1) as usize;
            }),
        ];
        for (field, break_it) in broken {
            let mut c = NetworkConfig::new(1, Address::ZERO);
            break_it(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }

        let mut c = NetworkConfig::new(1, Address::ZERO);
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        c.bootnodes.push(addr.clone());
        assert_eq!(c.validate(), Err(ConfigError::BootnodeWithoutPeerId(addr)));
    }
}
