//! The swarm's event loop: one tokio task owning the [`Swarm`], answering the handles'
//! commands, handing decoded gossip to the application and reporting its verdicts back.
//! Peer maintenance ([`super::discovery`]) and bans ([`super::bans`]) are its other jobs,
//! each in its own module.

use super::{
    Channel, Command, InboundId, InboundMessage, NetworkError, NetworkStatus, Verdict,
    behaviour::{Behaviour, BehaviourEvent},
    discovery::PeerMaintenance,
};
use crate::{
    groups::GroupId, penalty::PenaltyBox, ratelimit::RateLimiter, topic::group_topic,
    wire::GossipMessage,
};
use alloy::primitives::Address;
use futures::StreamExt;
use libp2p::{
    PeerId, Swarm,
    gossipsub::{self, PublishError, TopicHash},
    swarm::{DialError, SwarmEvent},
};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// How often expired bans are lifted.
const BAN_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Driver {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) topic: TopicHash,
    /// Settlement chain id and task manager: what group topics are named after.
    pub(super) deployment: (u64, Address),
    /// The subscribed group topics.
    pub(super) groups: HashMap<TopicHash, GroupId>,
    pub(super) inbound: mpsc::Sender<InboundMessage>,
    pub(super) rate: RateLimiter<PeerId>,
    pub(super) penalties: PenaltyBox<PeerId>,
    pub(super) peers: PeerMaintenance,
    /// Where the swarm's bandwidth and gossipsub counters live ([`super::traffic`]).
    pub(super) metrics: libp2p::metrics::Registry,
}

impl Driver {
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut ban_sweep = tokio::time::interval(BAN_SWEEP_INTERVAL);
        ban_sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the bootnodes and stored peers are dialled at once.
        let mut maintenance = tokio::time::interval(self.peers.interval());
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                _ = maintenance.tick() => self.maintain(),
            }
        }
        debug!("p2p network task stopped");
    }

    /// Disconnects every peer and saves the peer store.
    fn close(&mut self) {
        self.save_peers();
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(channel, msg, reply) => {
                let topic = match channel {
                    Channel::Deployment => self.topic.clone(),
                    Channel::Group(group) => self.group_topic(group).hash(),
                };
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic, msg.encode())
                    .map(|_| ())
                    .or_else(|e| match e {
                        // Already out there (content-addressed ids): publishing again is a no-op.
                        PublishError::Duplicate => Ok(()),
                        e => Err(NetworkError::Publish(e.to_string())),
                    });
                let _ = reply.send(result);
            }
            Command::Groups(groups) => self.set_groups(groups),
            Command::GroupPeers(peers) => self.set_group_peers(peers),
            Command::Report(id, verdict) => self.report(&id, verdict),
            Command::Dial(addr, reply) => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetworkError::Dial {
                        addr,
                        reason: dial_error_reason(&e),
                    });
                let _ = reply.send(result);
            }
            Command::OperatorPeers { added, retired } => {
                self.add_chain_peers(added);
                for peer in &retired {
                    self.peers.unpin(peer);
                }
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Traffic(reply) => {
                let _ = reply.send(super::traffic::read(&self.metrics));
            }
            // `run` intercepts shutdown before dispatching; answering here keeps this total.
            Command::Shutdown(done) => {
                self.close();
                let _ = done.send(());
            }
        }
    }

    fn group_topic(&self, group: GroupId) -> gossipsub::IdentTopic {
        group_topic(self.deployment.0, self.deployment.1, group)
    }

    /// Subscribes to the topics of `groups` (scored like the deployment topic) and leaves the
    /// other group topics.
    fn set_groups(&mut self, groups: Vec<GroupId>) {
        let wanted: HashMap<TopicHash, GroupId> = groups
            .into_iter()
            .map(|g| (self.group_topic(g).hash(), g))
            .collect();
        let left: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(hash, _)| !wanted.contains_key(*hash))
            .map(|(_, g)| *g)
            .collect();
        for group in left {
            let topic = self.group_topic(group);
            self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
            debug!(%group, "left the signing group's topic");
        }
        for group in wanted.values() {
            if self.groups.values().any(|g| g == group) {
                continue;
            }
            let topic = self.group_topic(*group);
            let gs = &mut self.swarm.behaviour_mut().gossipsub;
            if let Err(e) = gs.set_topic_params(topic.clone(), super::scoring::topic_params()) {
                warn!(%group, error = e, "group topic not scored");
            }
            match gs.subscribe(&topic) {
                Ok(_) => debug!(%group, "joined the signing group's topic"),
                Err(e) => warn!(%group, error = %e, "cannot join the signing group's topic"),
            }
        }
        self.groups = wanted;
    }

    fn status(&self) -> NetworkStatus {
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
        NetworkStatus {
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
            known: self.peers.dialable(),
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let id = InboundId {
                    message_id,
                    source: propagation_source,
                };
                match self.channel(&message.topic) {
                    Some(channel) => self.on_message(id, channel, &message.data),
                    // A topic just left: nobody here validates it any more.
                    None => self.report(&id, Verdict::Ignore),
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.rate.remove(&peer_id);
            }
            SwarmEvent::NewListenAddr { address, .. } => debug!(%address, "listening"),
            event => self.on_discovery_event(event),
        }
    }

    fn channel(&self, topic: &TopicHash) -> Option<Channel> {
        if *topic == self.topic {
            Some(Channel::Deployment)
        } else {
            self.groups.get(topic).copied().map(Channel::Group)
        }
    }

    fn on_message(&mut self, id: InboundId, channel: Channel, data: &[u8]) {
        if !self.rate.try_acquire(id.source, Instant::now()) {
            debug!(peer = %id.source, "peer over its rate limit; ignoring message");
            self.report(&id, Verdict::Ignore);
            return;
        }
        let message = match GossipMessage::decode(data) {
            Ok(m) => m,
            Err(e) => {
                debug!(peer = %id.source, error = %e, "malformed gossip message");
                self.report(&id, Verdict::Reject);
                return;
            }
        };
        debug!(
            peer = %id.source,
            task = message.task_index(),
            ?channel,
            "gossip message received"
        );
        match self.inbound.try_send(InboundMessage {
            id,
            channel,
            message,
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => {
                // The application is behind; dropping (unforwarded) keeps the swarm live. The
                // signature is lost to this node: gossipsub's duplicate cache drops the copies
                // other peers forward. The queue is sized for bursts well above an operator
                // set's (`NetworkConfig::inbound_queue`), so only a node saturated for seconds
                // gets here.
                warn!("inbound message queue full; ignoring message");
                self.report(&m.id, Verdict::Ignore);
            }
            Err(mpsc::error::TrySendError::Closed(m)) => self.report(&m.id, Verdict::Ignore),
        }
    }
}

/// What went wrong with a dial, for an error message: libp2p prints a refused dial as only
/// "Dial error", and its `ConnectionDenied` as "connection denied" with the reason (e.g.
/// [`super::OutboundFull`]) as its source, so the reason is spelt out.
pub(super) fn dial_error_reason(error: &DialError) -> String {
    match error {
        DialError::Denied { cause } => {
            let reason =
                std::error::Error::source(cause).map_or_else(String::new, |why| format!(": {why}"));
            format!("refused by this node{reason}")
        }
        other => other.to_string(),
    }
}
