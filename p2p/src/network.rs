//! The libp2p swarm and its event loop, driven by a cloneable [`NetworkHandle`].
//!
//! The swarm runs on its own tokio task. It never validates signatures itself: every decoded
//! message goes to the application through a bounded queue ([`InboundSignatures`]) and stays
//! unforwarded in gossipsub's cache until the application reports a [`Verdict`] through
//! [`NetworkHandle::report`]. The swarm does the checks that need no application knowledge:
//! size cap and wire format (malformed → reject), per-peer rate limit (over → ignore), and it
//! turns repeated rejects into bans (disconnect + block for `ban_duration`).
//!
//! # Discovery
//!
//! Peers are found through Kademlia (our own protocol id, so only AVS nodes) seeded by the
//! configured bootnodes; a node without peers redials its bootnodes every few seconds. With
//! [`NetworkConfig::mdns`] (off by default) the swarm also runs libp2p's mDNS behaviour: it
//! queries and answers on every non-loopback IPv4 interface and dials every peer it discovers.
//! Discovered peers are not put into the DHT directly: mDNS finds any libp2p node on the link,
//! and only those whose identify shows our Kademlia protocol are added (as for any peer). When
//! the option is off the behaviour is not even constructed (a disabled `Toggle`), so no
//! multicast socket is opened.

use crate::{
    config::{ConfigError, NetworkConfig},
    penalty::{PenaltyBox, PenaltyOutcome},
    ratelimit::RateLimiter,
    topic::signature_topic,
    wire::{MAX_MESSAGE_SIZE, SignatureMessage},
};
use alloy::primitives::keccak256;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits,
    gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, PublishError, TopicHash},
    identify,
    identity::Keypair,
    kad, mdns,
    multiaddr::Protocol,
    noise, ping,
    swarm::{
        NetworkBehaviour, SwarmEvent,
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{debug, info, warn};

/// Protocol of our own Kademlia DHT (not the IPFS one: we only want to find AVS peers).
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/avs-exex/kad/1.0.0");
/// Identify protocol version string.
const IDENTIFY_PROTOCOL: &str = "/avs-exex/id/1.0.0";
/// How long [`Network::start`] waits for every listener to report its address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of the command queue from handles to the swarm task.
const COMMAND_QUEUE: usize = 1024;
/// Limit on a whole gossipsub frame (messages plus control data such as IHAVE id lists). The
/// per-message cap is [`MAX_MESSAGE_SIZE`], enforced before decoding.
const MAX_FRAME: usize = 64 * 1024;
const _: () = assert!(MAX_MESSAGE_SIZE < MAX_FRAME);

/// What the application decided about an inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it to the mesh.
    Accept,
    /// Invalid: drop it, lower the forwarder's gossipsub score (P₄) and count an
    /// application-level penalty towards a ban.
    Reject,
    /// Not invalid but not worth forwarding (stale, duplicate, unverifiable yet): drop it
    /// without penalty.
    Ignore,
}

impl From<Verdict> for MessageAcceptance {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accept => Self::Accept,
            Verdict::Reject => Self::Reject,
            Verdict::Ignore => Self::Ignore,
        }
    }
}

/// Identifies one received copy of a message, for reporting its [`Verdict`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InboundId {
    /// Gossipsub message id (content hash of the payload).
    pub message_id: MessageId,
    /// The peer that forwarded it to us (not necessarily its author).
    pub source: PeerId,
}

/// A decoded signature message awaiting application validation.
#[derive(Clone, Debug)]
pub struct InboundSignature {
    /// Where to report the verdict.
    pub id: InboundId,
    /// The message.
    pub message: SignatureMessage,
}

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The transport stack could not be built.
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    /// The gossipsub configuration was refused.
    #[error("invalid gossipsub configuration: {0}")]
    Gossipsub(String),
    /// Listening on a configured address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Publishing failed.
    #[error("cannot publish signature: {0}")]
    Publish(String),
    /// mDNS was enabled but its behaviour could not be created.
    #[error("cannot start mDNS discovery: {0}")]
    Mdns(String),
    /// Dialing failed.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// How often a node without peers redials its bootnodes.
const REJOIN_INTERVAL: Duration = Duration::from_secs(2);

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    /// Present only with [`NetworkConfig::mdns`].
    mdns: Toggle<mdns::tokio::Behaviour>,
}

enum Command {
    Publish(SignatureMessage, oneshot::Sender<Result<(), NetworkError>>),
    Report(InboundId, Verdict),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetworkError>>),
    Status(oneshot::Sender<NetworkStatus>),
    Shutdown(oneshot::Sender<()>),
}

/// A snapshot of the swarm's state, for tests, metrics and the operator's status page.
#[derive(Clone, Debug, Default)]
pub struct NetworkStatus {
    /// Peers with an open connection.
    pub connected: Vec<PeerId>,
    /// Peers in our gossipsub mesh for the signature topic.
    pub mesh: Vec<PeerId>,
    /// Peers subscribed to the signature topic.
    pub subscribed: Vec<PeerId>,
    /// Currently banned peers.
    pub banned: Vec<PeerId>,
    /// Gossipsub scores of connected and banned peers.
    pub scores: Vec<(PeerId, f64)>,
}

impl NetworkStatus {
    /// Gossipsub score of `peer`, if it is connected.
    pub fn score(&self, peer: &PeerId) -> Option<f64> {
        self.scores.iter().find(|(p, _)| p == peer).map(|(_, s)| *s)
    }
}

/// Cloneable handle to a running network. Dropping every handle stops the network.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    listen_addrs: std::sync::Arc<[Multiaddr]>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Publish(..) => "Publish",
            Self::Report(..) => "Report",
            Self::Dial(..) => "Dial",
            Self::Status(..) => "Status",
            Self::Shutdown(..) => "Shutdown",
        })
    }
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// One resolved address per configured listener (ports filled in), each ending in
    /// `/p2p/<peer id>`, ready to be used as another node's bootnode.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Publishes our own signature. Our own messages skip validation: we produced them.
    pub async fn publish(&self, message: SignatureMessage) -> Result<(), NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish(message, tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Reports the application's verdict on an inbound message (exactly once per message).
    pub async fn report(&self, id: InboundId, verdict: Verdict) -> Result<(), NetworkError> {
        self.send(Command::Report(id, verdict)).await
    }

    /// Dials a peer (e.g. one learnt out of band).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Dial(addr, tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Current connections, mesh, bans and scores.
    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Stops the swarm: closes listeners and connections and ends the task. Returns once the
    /// task has stopped; calling it on a stopped network is a no-op.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), NetworkError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| NetworkError::Stopped)
    }
}

/// Bounded stream of decoded inbound signatures. Each one must be answered with
/// [`NetworkHandle::report`]; until then gossipsub holds it without forwarding.
#[derive(Debug)]
pub struct InboundSignatures(mpsc::Receiver<InboundSignature>);

impl InboundSignatures {
    /// Next message; `None` once the network has stopped.
    pub async fn recv(&mut self) -> Option<InboundSignature> {
        self.0.recv().await
    }

    /// Moves up to `limit` already-queued messages into `buf` without waiting, so a burst can
    /// be batch-verified. Returns how many were added.
    pub fn drain_ready(&mut self, buf: &mut Vec<InboundSignature>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.0.try_recv() {
                Ok(m) => {
                    buf.push(m);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }
}

/// A started network: the handle, the inbound queue and the swarm task.
#[derive(Debug)]
pub struct Network {
    /// Handle for publishing, reporting verdicts and shutting down.
    pub handle: NetworkHandle,
    /// Inbound messages awaiting validation.
    pub inbound: InboundSignatures,
    /// The swarm task; finishes after [`NetworkHandle::shutdown`] or when all handles drop.
    pub task: JoinHandle<()>,
}

impl Network {
    /// Validates `config`, builds the swarm with `keypair`, starts listening (waiting until
    /// every listener has its address), dials the bootnodes and spawns the event loop.
    pub async fn start(keypair: Keypair, config: NetworkConfig) -> Result<Self, NetworkError> {
        config.validate()?;
        let topic = signature_topic(config.settlement_chain_id, config.task_manager);
        let mut swarm = build_swarm(keypair, &config, &topic)?;
        let peer_id = *swarm.local_peer_id();

        let mut pending = HashMap::new();
        for addr in &config.listen_addrs {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NetworkError::Listen {
                    addr: addr.clone(),
                    reason: error_chain(&e),
                })?;
            pending.insert(id, addr.clone());
        }
        let mut listen_addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !pending.is_empty() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| NetworkError::Listen {
                    addr: pending
                        .values()
                        .next()
                        .cloned()
                        .unwrap_or_else(Multiaddr::empty),
                    reason: format!("no listen address reported within {LISTEN_TIMEOUT:?}"),
                })?;
            match event {
                // Only the first address per listener: a wildcard address reports one per
                // interface, and one is enough to be dialled.
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } if pending.remove(&listener_id).is_some() => {
                    listen_addrs.push(address.with(Protocol::P2p(peer_id)));
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if pending.contains_key(&listener_id) => {
                    return Err(NetworkError::Listen {
                        addr: pending[&listener_id].clone(),
                        reason: match reason {
                            Ok(()) => "the listener closed".to_owned(),
                            Err(e) => error_chain(&e),
                        },
                    });
                }
                _ => {}
            }
        }
        for addr in &config.external_addrs {
            swarm.add_external_address(addr.clone());
        }
        for addr in &config.bootnodes {
            // validate() guarantees the trailing /p2p.
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                warn!(%addr, error = %e, "cannot dial bootnode");
            }
        }
        if !config.bootnodes.is_empty() {
            // Fails only without known peers, which the loop above just added.
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
        info!(%peer_id, addrs = ?listen_addrs, topic = %topic, "p2p network started");

        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(config.inbound_queue);
        let driver = Driver {
            swarm,
            bootnodes: config.bootnodes.clone(),
            topic: topic.hash(),
            inbound: in_tx,
            rate: RateLimiter::new(config.peer_rate_per_sec, config.peer_burst),
            penalties: PenaltyBox::new(
                config.rejects_before_ban,
                config.penalty_window,
                config.ban_duration,
            ),
        };
        let task = tokio::spawn(driver.run(cmd_rx));
        Ok(Self {
            handle: NetworkHandle {
                commands: cmd_tx,
                peer_id,
                listen_addrs: listen_addrs.into(),
            },
            inbound: InboundSignatures(in_rx),
            task,
        })
    }
}

/// An error and every error under it, joined: libp2p's transport errors say little themselves
/// ("Other") and carry the OS reason ("Address already in use") in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.join(": ")
}

fn build_swarm(
    keypair: Keypair,
    config: &NetworkConfig,
    topic: &IdentTopic,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let peer_id = keypair.public().to_peer_id();
    let behaviour = Behaviour {
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
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::new(peer_id),
                kad::Config::new(KAD_PROTOCOL),
            );
            // Every AVS node is reachable by construction (operators publish their address),
            // so answer DHT queries without waiting for an external-address confirmation.
            kad.set_mode(Some(kad::Mode::Server));
            kad
        },
        gossipsub: build_gossipsub(config, topic)?,
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
        .with_dns()
        .map_err(|e| transport_err(&e))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| transport_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

fn build_gossipsub(
    config: &NetworkConfig,
    topic: &IdentTopic,
) -> Result<gossipsub::Behaviour, NetworkError> {
    let err = |e: &dyn std::fmt::Display| NetworkError::Gossipsub(e.to_string());
    let gs_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.heartbeat_interval)
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
    gs.with_peer_score(score_params(topic.hash()), score_thresholds())
        .map_err(|e| err(&e))?;
    gs.subscribe(topic).map_err(|e| err(&e))?;
    Ok(gs)
}

/// Peer scoring tuned for a low-volume topic: the one strong signal is invalid messages (P₄),
/// which push a peer below the graylist threshold after a handful; mesh-delivery quotas (P₃)
/// are off because a quiet network would otherwise punish honest peers, and so is IP
/// colocation (P₆): operators may share an address.
fn score_params(topic: TopicHash) -> gossipsub::PeerScoreParams {
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams::default();
    params.topics.insert(topic, topic_params);
    // Operators legitimately share addresses (a devnet, a NAT, one provider's egress), and a
    // peer cannot forge a registered operator's signature, so peer count per IP says nothing
    // here. With the default penalty a node with more than ~14 peers on one IP scored them all
    // below the publish threshold and could not publish at all.
    params.ip_colocation_factor_weight = 0.0;
    params
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -50.0,
        publish_threshold: -100.0,
        graylist_threshold: -200.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

struct Driver {
    swarm: Swarm<Behaviour>,
    /// Dialled again while the node has no peer (see [`Driver::rejoin`]).
    bootnodes: Vec<Multiaddr>,
    topic: TopicHash,
    inbound: mpsc::Sender<InboundSignature>,
    rate: RateLimiter<PeerId>,
    penalties: PenaltyBox<PeerId>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut ban_sweep = tokio::time::interval(Duration::from_secs(1));
        ban_sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rejoin = tokio::time::interval(REJOIN_INTERVAL);
        rejoin.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        self.close();
                        let _ = done.send(());
                        break;
                    }
                    Some(cmd) => self.on_command(cmd),
                    // Every handle dropped: nobody can use the network any more.
                    None => {
                        self.close();
                        break;
                    }
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = ban_sweep.tick() => self.expire_bans(),
                _ = rejoin.tick() => self.rejoin(),
            }
        }
        debug!("p2p network task stopped");
    }

    /// Redials the bootnodes (and peers mDNS still lists) while the node has no peer at all.
    /// The start-up dial fails when a bootnode is not listening yet (nodes started together) or
    /// restarts; without a retry the node would stay alone and its signatures would never
    /// leave it. mDNS reports a peer only once per record lifetime, so after losing it the
    /// node would otherwise wait minutes for the record to expire and be rediscovered.
    fn rejoin(&mut self) {
        if self.swarm.connected_peers().next().is_some() {
            return;
        }
        if !self.bootnodes.is_empty() {
            debug!(
                bootnodes = self.bootnodes.len(),
                "no peers: dialling the bootnodes again"
            );
            for addr in &self.bootnodes {
                let _ = self.swarm.dial(addr.clone());
            }
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        let local: Vec<PeerId> = self
            .swarm
            .behaviour()
            .mdns
            .as_ref()
            .map(|m| m.discovered_nodes().copied().collect())
            .unwrap_or_default();
        for peer in local {
            self.dial_discovered(peer, Vec::new());
        }
    }

    /// Dials every peer mDNS found (with all the addresses it announced), unless it is us,
    /// banned, connected or already being dialled.
    fn on_mdns_discovered(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
        for (peer, addr) in found {
            by_peer.entry(peer).or_default().push(addr);
        }
        for (peer, addrs) in by_peer {
            debug!(%peer, ?addrs, "discovered over mDNS");
            self.dial_discovered(peer, addrs);
        }
    }

    fn dial_discovered(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == *self.swarm.local_peer_id()
            || self.penalties.is_banned(&peer)
            || self.swarm.is_connected(&peer)
        {
            return;
        }
        // The behaviours (mDNS's list, Kademlia's table) add the addresses they know.
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, error = %e, "cannot dial a peer found over mDNS");
        }
    }

    fn close(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(msg, reply) => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), msg.encode().to_vec())
                    .map(|_| ())
                    .or_else(|e| match e {
                        // Already out there (content-addressed ids): publishing again is a no-op.
                        PublishError::Duplicate => Ok(()),
                        e => Err(NetworkError::Publish(e.to_string())),
                    });
                let _ = reply.send(result);
            }
            Command::Report(id, verdict) => self.report(&id, verdict),
            Command::Dial(addr, reply) => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetworkError::Dial {
                        addr,
                        reason: e.to_string(),
                    });
                let _ = reply.send(result);
            }
            Command::Status(reply) => {
                let gs = &self.swarm.behaviour().gossipsub;
                let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                let banned: Vec<PeerId> = self
                    .swarm
                    .behaviour()
                    .blocked
                    .blocked_peers()
                    .iter()
                    .copied()
                    .collect();
                let status = NetworkStatus {
                    // Banned peers keep their (retained) score, so it can still be inspected.
                    scores: connected
                        .iter()
                        .chain(&banned)
                        .filter_map(|p| gs.peer_score(p).map(|s| (*p, s)))
                        .collect(),
                    connected,
                    mesh: gs.mesh_peers(&self.topic).copied().collect(),
                    subscribed: gs
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&&self.topic))
                        .map(|(p, _)| *p)
                        .collect(),
                    banned,
                };
                let _ = reply.send(status);
            }
            // `run` intercepts shutdown before dispatching; answering here keeps this total.
            Command::Shutdown(done) => {
                self.close();
                let _ = done.send(());
            }
        }
    }

    fn report(&mut self, id: &InboundId, verdict: Verdict) {
        // `false` only means gossipsub already dropped the message from its cache (we were
        // slower than its history window); the penalty below still applies.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id.message_id, &id.source, verdict.into());
        if verdict == Verdict::Reject {
            self.penalise(id.source);
        }
    }

    fn penalise(&mut self, peer: PeerId) {
        match self.penalties.penalise(&peer, Instant::now()) {
            PenaltyOutcome::Ban { until } => {
                warn!(%peer, ban_secs = until.saturating_duration_since(Instant::now()).as_secs(), "banning peer for repeated invalid messages");
                // Blocking closes its connections and refuses new ones until unblocked.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                self.swarm.behaviour_mut().kad.remove_peer(&peer);
                self.rate.remove(&peer);
            }
            PenaltyOutcome::Counted { rejects } => debug!(%peer, rejects, "peer penalised"),
            PenaltyOutcome::AlreadyBanned => {}
        }
    }

    fn expire_bans(&mut self) {
        for peer in self.penalties.expire(Instant::now()) {
            info!(%peer, "ban expired");
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_message(
                InboundId {
                    message_id,
                    source: propagation_source,
                },
                &message.data,
            ),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                // Only peers speaking our DHT protocol go into the routing table.
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, ..
            })) if !self.swarm.is_connected(&peer) && !self.penalties.is_banned(&peer) => {
                // Discovery is only useful if we connect: gossipsub meshes over connections.
                let _ = self.swarm.dial(peer);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.on_mdns_discovered(found);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                // Connections have their own lifetime; an expired record only stops redials.
                debug!(n = gone.len(), "mDNS records expired");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.rate.remove(&peer_id);
            }
            SwarmEvent::NewListenAddr { address, .. } => debug!(%address, "listening"),
            _ => {}
        }
    }

    fn on_message(&mut self, id: InboundId, data: &[u8]) {
        if !self.rate.try_acquire(id.source, Instant::now()) {
            debug!(peer = %id.source, "peer over its rate limit; ignoring message");
            self.report(&id, Verdict::Ignore);
            return;
        }
        let message = match SignatureMessage::decode(data) {
            Ok(m) => m,
            Err(e) => {
                debug!(peer = %id.source, error = %e, "malformed signature message");
                self.report(&id, Verdict::Reject);
                return;
            }
        };
        match self.inbound.try_send(InboundSignature { id, message }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                // The application is behind; dropping (unforwarded) keeps the swarm live, and
                // the signature will still reach us via other peers' gossip if it matters.
                warn!("inbound signature queue full; ignoring message");
                self.report(&m.id, Verdict::Ignore);
            }
            Err(mpsc::error::TrySendError::Closed(m)) => self.report(&m.id, Verdict::Ignore),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    fn swarm_with(mdns: bool) -> Swarm<Behaviour> {
        let mut config = NetworkConfig::new(1, Address::ZERO);
        config.mdns = mdns;
        let topic = signature_topic(config.settlement_chain_id, config.task_manager);
        build_swarm(Keypair::generate_ed25519(), &config, &topic).expect("swarm builds")
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
