//! The libp2p swarm and its event loop, driven by a cloneable [`NetworkHandle`].
//!
//! The swarm runs on its own tokio task. It never validates signatures itself: every decoded
//! message goes to the application through a bounded queue ([`InboundMessages`]), tagged with
//! the [`Channel`] it came on (the deployment topic or a signing group's), and stays
//! unforwarded in gossipsub's cache until the application reports a [`Verdict`] through
//! [`NetworkHandle::report`]. The swarm does the checks that need no application knowledge:
//! size cap and wire format (malformed → reject), per-peer rate limit (over → ignore), and it
//! turns repeated rejects into bans (disconnect + block for `ban_duration`).
//!
//! # Modules
//!
//! - `behaviour`: the libp2p behaviours and the swarm built from them; `scoring`: gossipsub
//!   peer-score parameters.
//! - `driver`: the event loop (commands, gossip in and out).
//! - `discovery`: peer maintenance: keep [`NetworkConfig::target_peers`] connected from the
//!   known peers (`peers`: back-off, forgetting dead ones) and the peer store (`peer_store`,
//!   [`NetworkConfig::peer_store`]), Kademlia random walks, optional mDNS.
//! - `bans`: verdicts back to gossipsub, and bans for repeated rejects.
//!
//! # Discovery
//!
//! Peers are found through the configured bootnodes, the peer store of the last run,
//! identify, Kademlia (our own protocol id, so only AVS nodes) and, with
//! [`NetworkConfig::mdns`] (off by default), libp2p's mDNS on every non-loopback IPv4
//! interface. While fewer than the target are connected, known peers are dialled with a
//! back-off per peer, bootnodes first; a restarted node dials the peers it knew, and the peers
//! that knew it dial it again, so no node depends on one bootnode being up. When mDNS is off
//! its behaviour is not even constructed (a disabled `Toggle`), so no multicast socket is
//! opened.

mod bans;
mod behaviour;
mod discovery;
mod driver;
mod outbound_gate;
mod peer_store;
mod peers;
mod scoring;
mod traffic;

pub use outbound_gate::OutboundFull;
pub use peer_store::PeerStoreError;
pub use traffic::Traffic;

use crate::{
    config::{ConfigError, NetworkConfig},
    groups::GroupId,
    penalty::PenaltyBox,
    ratelimit::RateLimiter,
    topic::signature_topic,
    wire::GossipMessage,
};
use behaviour::build_swarm;
use discovery::PeerMaintenance;
use driver::Driver;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId,
    gossipsub::{MessageAcceptance, MessageId},
    identity::Keypair,
    multiaddr::Protocol,
    swarm::SwarmEvent,
};
use std::{collections::HashMap, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::info;

/// How long [`Network::start`] waits for every listener to report its address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of the command queue from handles to the swarm task.
const COMMAND_QUEUE: usize = 1024;

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

/// The gossip topic a message travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The deployment's signature topic ([`crate::signature_topic`]): signatures of small
    /// operator sets, and group aggregates.
    Deployment,
    /// A signing group's topic ([`crate::topic::group_topic`]): its members' signatures.
    Group(GroupId),
}

/// A decoded gossip message awaiting application validation.
#[derive(Clone, Debug)]
pub struct InboundMessage {
    /// Where to report the verdict.
    pub id: InboundId,
    /// The topic it came on.
    pub channel: Channel,
    /// The message.
    pub message: GossipMessage,
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

enum Command {
    Publish(
        Channel,
        GossipMessage,
        oneshot::Sender<Result<(), NetworkError>>,
    ),
    Groups(Vec<GroupId>),
    GroupPeers(Vec<(PeerId, Multiaddr)>),
    Report(InboundId, Verdict),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetworkError>>),
    OperatorPeers {
        added: Vec<(PeerId, Multiaddr)>,
        retired: Vec<PeerId>,
    },
    Status(oneshot::Sender<NetworkStatus>),
    Traffic(oneshot::Sender<Traffic>),
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
    /// Peers this node knows an address of (bootnodes, peer store, operators' on-chain
    /// sockets, identify, DHT, mDNS).
    pub known: Vec<PeerId>,
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
            Self::Groups(..) => "Groups",
            Self::GroupPeers(..) => "GroupPeers",
            Self::Dial(..) => "Dial",
            Self::OperatorPeers { .. } => "OperatorPeers",
            Self::Status(..) => "Status",
            Self::Traffic(..) => "Traffic",
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

    /// Publishes our own message on `channel` (a group's topic must be subscribed,
    /// [`Self::set_groups`]). Our own messages skip validation: we produced them.
    pub async fn publish(
        &self,
        channel: Channel,
        message: GossipMessage,
    ) -> Result<(), NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish(channel, message, tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// The signing groups whose topics this node is subscribed to, besides the deployment
    /// topic: those of its operator in the open tasks. Topics not listed are left.
    pub async fn set_groups(&self, groups: Vec<GroupId>) -> Result<(), NetworkError> {
        self.send(Command::Groups(groups)).await
    }

    /// The nodes of this node's signing-group mates (their operators' published addresses):
    /// kept connected whatever the peer count, since a group's signatures travel only among
    /// its members. Replaces the previous list; those left out are ordinary peers again.
    pub async fn set_group_peers(
        &self,
        peers: Vec<(PeerId, Multiaddr)>,
    ) -> Result<(), NetworkError> {
        self.send(Command::GroupPeers(peers)).await
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

    /// Operators' published addresses (their on-chain sockets, each ending in the peer id):
    /// `added` become peers this node keeps dialling while below its target (pinned, never
    /// forgotten); `retired` ones (the operator published another) are ordinary peers again.
    pub async fn update_operator_peers(
        &self,
        added: Vec<(PeerId, Multiaddr)>,
        retired: Vec<PeerId>,
    ) -> Result<(), NetworkError> {
        self.send(Command::OperatorPeers { added, retired }).await
    }

    /// Current connections, mesh, bans and scores.
    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Bytes and signature-topic messages this swarm received and sent since it started (one
    /// text encoding of its libp2p counters per call: for measurements, not a hot path).
    pub async fn traffic(&self) -> Result<Traffic, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Traffic(tx)).await?;
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

/// Bounded stream of decoded inbound messages. Each one must be answered with
/// [`NetworkHandle::report`]; until then gossipsub holds it without forwarding.
#[derive(Debug)]
pub struct InboundMessages(mpsc::Receiver<InboundMessage>);

impl InboundMessages {
    /// Next message; `None` once the network has stopped.
    pub async fn recv(&mut self) -> Option<InboundMessage> {
        self.0.recv().await
    }

    /// Moves up to `limit` already-queued messages into `buf` without waiting, so a burst can
    /// be batch-verified. Returns how many were added.
    pub fn drain_ready(&mut self, buf: &mut Vec<InboundMessage>, limit: usize) -> usize {
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

#[cfg(feature = "test-fixtures")]
impl InboundMessages {
    /// The same queue with every message handed on `latency` after it arrived: in a network
    /// simulation on one machine, the one-way latency of the link it came over. A node
    /// validates and forwards a message only once it has it, so each gossip hop adds
    /// `latency`, as on a real link (gossipsub's control traffic is not delayed). At most the
    /// queue's capacity is in flight; beyond that the swarm's own queue fills, as it would
    /// behind a slow application.
    pub fn delayed(mut self, latency: Duration) -> Self {
        let capacity = self.0.max_capacity();
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(async move {
            let mut line: std::collections::VecDeque<(tokio::time::Instant, InboundMessage)> =
                std::collections::VecDeque::new();
            let mut open = true;
            while open || !line.is_empty() {
                let due = line.front().map(|(at, _)| *at);
                tokio::select! {
                    m = self.0.recv(), if open && line.len() < capacity => match m {
                        Some(m) => line.push_back((tokio::time::Instant::now() + latency, m)),
                        None => open = false,
                    },
                    () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                        let Some((_, m)) = line.pop_front() else { continue };
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Self(rx)
    }
}

/// A started network: the handle, the inbound queue and the swarm task.
#[derive(Debug)]
pub struct Network {
    /// Handle for publishing, reporting verdicts and shutting down.
    pub handle: NetworkHandle,
    /// Inbound messages awaiting validation.
    pub inbound: InboundMessages,
    /// The swarm task; finishes after [`NetworkHandle::shutdown`] or when all handles drop.
    pub task: JoinHandle<()>,
}

impl Network {
    /// Validates `config`, builds the swarm with `keypair`, starts listening (waiting until
    /// every listener has its address), loads the known peers and spawns the event loop, which
    /// dials them at once.
    pub async fn start(keypair: Keypair, config: NetworkConfig) -> Result<Self, NetworkError> {
        config.validate()?;
        let topic = signature_topic(config.settlement_chain_id, config.task_manager);
        let (mut swarm, metrics) = build_swarm(keypair, &config, &topic)?;
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
        let mut peers = PeerMaintenance::new(&config);
        for (peer, addrs) in peers.seeds() {
            for addr in addrs {
                swarm.behaviour_mut().kad.add_address(&peer, addr);
            }
        }
        info!(%peer_id, addrs = ?listen_addrs, topic = %topic, known_peers = peers.dialable().len(), "p2p network started");

        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(config.inbound_queue);
        let driver = Driver {
            swarm,
            topic: topic.hash(),
            deployment: (config.settlement_chain_id, config.task_manager),
            groups: HashMap::new(),
            inbound: in_tx,
            rate: RateLimiter::new(config.peer_rate_per_sec, config.peer_burst),
            penalties: PenaltyBox::new(
                config.rejects_before_ban,
                config.penalty_window,
                config.ban_duration,
            ),
            peers,
            metrics,
        };
        let task = tokio::spawn(driver.run(cmd_rx));
        Ok(Self {
            handle: NetworkHandle {
                commands: cmd_tx,
                peer_id,
                listen_addrs: listen_addrs.into(),
            },
            inbound: InboundMessages(in_rx),
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
