//! The libp2p behaviours a node runs and how they are configured: the outbound gate
//! ([`super::outbound_gate`]), connection limits, block list, identify, ping, our own
//! Kademlia DHT, gossipsub with content-hash ids and manual validation, and mDNS only when
//! enabled.

use super::{NetworkError, outbound_gate::OutboundGate, scoring, traffic};
use crate::{config::NetworkConfig, topic::dht_protocol, wire::MAX_MESSAGE_SIZE};
use alloy::primitives::keccak256;
use libp2p::{
    PeerId, Swarm, Transport, allow_block_list, connection_limits,
    core::{
        muxing::StreamMuxerBox,
        transport::{Boxed, MemoryTransport, OptionalTransport},
        upgrade,
    },
    gossipsub::{self, IdentTopic, MessageId},
    identify,
    identity::Keypair,
    kad, mdns,
    metrics::Registry,
    multiaddr::Protocol,
    noise, ping,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
    tcp, yamux,
};

/// Identify protocol version string.
const IDENTIFY_PROTOCOL: &str = "/avs-exex/id/1.0.0";
/// Limit on a whole gossipsub frame (messages plus control data such as IHAVE id lists). The
/// per-message cap is [`MAX_MESSAGE_SIZE`], enforced before decoding.
const MAX_FRAME: usize = 64 * 1024;
const _: () = assert!(MAX_MESSAGE_SIZE < MAX_FRAME);

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// First, so a dial over the outbound limit is refused before any other behaviour
    /// counts it.
    pub(super) outbound_gate: OutboundGate,
    pub(super) limits: connection_limits::Behaviour,
    pub(super) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) gossipsub: gossipsub::Behaviour,
    /// Present only with [`NetworkConfig::mdns`].
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The swarm and the registry its bandwidth and gossipsub counters live in (read by
/// [`super::traffic`]).
pub(super) fn build_swarm(
    keypair: Keypair,
    config: &NetworkConfig,
    topic: &IdentTopic,
) -> Result<(Swarm<Behaviour>, Registry), NetworkError> {
    let peer_id = keypair.public().to_peer_id();
    let mut registry = Registry::default();
    let behaviour = Behaviour {
        outbound_gate: OutboundGate::new(config.max_outbound),
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established_incoming(Some(config.max_inbound))
                .with_max_established_outgoing(Some(config.max_outbound))
                .with_max_established_per_peer(Some(config.max_per_peer))
                .with_max_pending_incoming(Some(config.max_pending))
                .with_max_pending_outgoing(Some(config.max_pending)),
        ),
        blocked: allow_block_list::Behaviour::default(),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), keypair.public())
                .with_agent_version(format!("avs-exex/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::default(),
        kad: {
            // Our own DHT per deployment (not the IPFS one): only AVS peers of this
            // deployment are found.
            let mut kad_config = kad::Config::new(dht_protocol(
                config.settlement_chain_id,
                config.task_manager,
            ));
            // Peer maintenance schedules the random walks by the peer count (see
            // `discovery`); Kademlia's own 5-minute bootstrap timer would add a second one.
            kad_config.set_periodic_bootstrap_interval(None);
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::new(peer_id),
                kad_config,
            );
            // Every AVS node is reachable by construction (operators publish their address),
            // so answer DHT queries without waiting for an external-address confirmation.
            kad.set_mode(Some(kad::Mode::Server));
            kad
        },
        gossipsub: build_gossipsub(
            config,
            topic,
            registry.sub_registry_with_prefix(traffic::GOSSIPSUB_PREFIX),
        )?,
        mdns: if config.mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| NetworkError::Mdns(e.to_string()))?,
            )
        } else {
            None
        }
        .into(),
    };
    let transport_err = |e: &dyn std::fmt::Display| NetworkError::Transport(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport_err(&e))?
        .with_quic()
        .with_other_transport(|key| memory_transport(key, config))
        .map_err(|e| transport_err(&e))?
        .with_dns()
        .map_err(|e| transport_err(&e))?
        .with_bandwidth_metrics(&mut registry)
        .with_behaviour(|_| behaviour)
        .map_err(|e| transport_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok((swarm, registry))
}

/// The memory transport when a listen address wants it, else an empty one.
type MemoryTransportIfWanted = OptionalTransport<Boxed<(PeerId, StreamMuxerBox)>>;

/// libp2p's in-process memory transport (with noise and yamux, as over TCP), only when a
/// listen address is `/memory/…`: the network simulation (`just sim`) runs a thousand nodes in
/// one process without a socket per connection. A node on TCP and QUIC has none.
fn memory_transport(
    key: &Keypair,
    config: &NetworkConfig,
) -> Result<MemoryTransportIfWanted, Box<dyn std::error::Error + Send + Sync>> {
    let wanted = config
        .listen_addrs
        .iter()
        .any(|a| matches!(a.iter().next(), Some(Protocol::Memory(_))));
    if !wanted {
        return Ok(OptionalTransport::none());
    }
    Ok(OptionalTransport::some(
        MemoryTransport::default()
            .upgrade(upgrade::Version::V1)
            .authenticate(noise::Config::new(key)?)
            .multiplex(yamux::Config::default())
            .boxed(),
    ))
}

fn build_gossipsub(
    config: &NetworkConfig,
    topic: &IdentTopic,
    registry: &mut Registry,
) -> Result<gossipsub::Behaviour, NetworkError> {
    let err = |e: &dyn std::fmt::Display| NetworkError::Gossipsub(e.to_string());
    let gs_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.heartbeat_interval)
        // The first heartbeat grafts the mesh: after one interval, not gossipsub's default of
        // 5 s, so a restarted node is back in the mesh at once.
        .heartbeat_initial_delay(config.heartbeat_interval)
        // Messages awaiting our verdict stay in the cache for the validation timeout (one
        // window per heartbeat), so a late accept still forwards them.
        .history_length(history_windows(config))
        .max_transmit_size(MAX_FRAME)
        // Content-addressed ids: the same signature arriving via several peers (or republished
        // by its operator after a restart) is one message.
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(keccak256(&m.data).to_vec()))
        // Authorship is proven by the BLS signature inside the payload; libp2p envelope
        // signatures would only add bytes and a second verification.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .build()
        .map_err(|e| err(&e))?;
    let mut gs = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gs_config)
        .map_err(|e| err(&e))?;
    gs.with_peer_score(
        scoring::score_params(topic.hash()),
        scoring::score_thresholds(),
    )
    .map_err(|e| err(&e))?;
    gs = gs.with_metrics(registry, gossipsub::MetricsConfig::default());
    gs.subscribe(topic).map_err(|e| err(&e))?;
    Ok(gs)
}

/// Heartbeat windows of the message cache: the validation timeout, and never fewer than
/// gossipsub's default of 5.
fn history_windows(config: &NetworkConfig) -> usize {
    let heartbeat = config.heartbeat_interval.as_millis().max(1);
    let windows = config.validation_timeout.as_millis().div_ceil(heartbeat);
    usize::try_from(windows).unwrap_or(usize::MAX).max(5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::signature_topic;
    use alloy::primitives::Address;
    use std::time::Duration;

    fn swarm_with(mdns: bool) -> Swarm<Behaviour> {
        let mut config = NetworkConfig::new(1, Address::ZERO);
        config.mdns = mdns;
        let topic = signature_topic(config.settlement_chain_id, config.task_manager);
        build_swarm(Keypair::generate_ed25519(), &config, &topic)
            .expect("swarm builds")
            .0
    }

    #[test]
    fn the_message_cache_covers_the_validation_timeout() {
        let mut config = NetworkConfig::new(1, Address::ZERO);
        assert_eq!(history_windows(&config), 35, "24 s of 700 ms heartbeats");
        config.validation_timeout = Duration::from_millis(100);
        assert_eq!(
            history_windows(&config),
            5,
            "never below gossipsub's default"
        );
    }

    // The swarms are built, never polled: nothing listens and no mDNS packet is sent.
    #[tokio::test]
    async fn mdns_behaviour_exists_only_when_enabled() {
        assert!(
            !swarm_with(false).behaviour().mdns.is_enabled(),
            "mdns: false must not construct the mDNS behaviour"
        );
        assert!(
            swarm_with(true).behaviour().mdns.is_enabled(),
            "mdns: true must construct the mDNS behaviour"
        );
    }
}
