//! Peer maintenance: keep [`NetworkConfig::target_peers`] peers connected, find more, and
//! remember the ones that worked.
//!
//! Every [`MAINTENANCE_INTERVAL`], while fewer than the target are connected, the driver dials
//! the known peers that are due ([`KnownPeers::due`]: bootnodes first, then the operators'
//! on-chain sockets, back-off per peer). The known peers come from the configured bootnodes,
//! the operators' sockets ([`super::NetworkHandle::update_operator_peers`]), the peer store of the last
//! run, identify
//! (the listen addresses of every peer speaking our DHT protocol), Kademlia (random walks every
//! [`NetworkConfig::discovery_interval`] while below the target, more often below
//! [`NetworkConfig::min_peers`], [`SATISFIED_WALK_FACTOR`] times less often at the target) and,
//! if enabled, mDNS. So a node that restarts, or whose bootnode restarts, dials the peers it
//! knew; and peers that lost it dial it again when it is back: nobody waits to have no peer
//! at all.
//!
//! mDNS finds any libp2p node on the link: its peers are dialled, but only those whose
//! identify shows our Kademlia protocol go into the DHT, as for any peer.

use super::{
    behaviour::BehaviourEvent,
    driver::{Driver, dial_error_reason},
    peer_store,
    peers::{KnownPeers, Origin},
};
use crate::{config::NetworkConfig, topic::dht_protocol};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, identify, kad, mdns,
    multiaddr::Protocol,
    swarm::{
        DialError, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, info, warn};

/// How often the peer count is checked and due peers are dialled.
pub(super) const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(2);
/// Random walks below the minimum peer count happen at least this often.
const URGENT_WALK_INTERVAL: Duration = Duration::from_secs(6);
/// At the target peer count a walk only refreshes the routing table, so it comes this many
/// discovery intervals apart (5 minutes by default, libp2p's own bootstrap period). In the
/// network simulation (`just sim`) walks every 30 s were most of an idle node's traffic and
/// CPU.
const SATISFIED_WALK_FACTOR: u32 = 10;
/// How often a changed peer store is written.
const SAVE_INTERVAL: Duration = Duration::from_secs(30);
/// Most dials started per maintenance tick.
const MAX_DIALS_PER_TICK: usize = 16;
/// How long the group mate with the higher peer id waits for the lower one to dial it before
/// dialling itself: two mates dialling each other at once would open two connections where
/// one does, and a group of 32 would double every member's connection count.
const GROUP_DIAL_GRACE: Duration = Duration::from_secs(10);

/// Whether this node (`local`) dials group mate `mate` now: the lower peer id of a pair dials
/// at once, the higher one only after [`GROUP_DIAL_GRACE`] since it learnt its mates (the
/// lower one may be down, or at its connection limit).
fn dials_group_mate(local: &PeerId, mate: &PeerId, since: Instant, now: Instant) -> bool {
    local < mate || now >= since + GROUP_DIAL_GRACE
}

/// Most dials of group mates started per maintenance tick. A whole group learning its mates
/// at once and dialling them all would overrun every member's limits on connections being
/// set up (`NetworkConfig::max_pending` inbound, the outbound slots), which drop the excess
/// mid-handshake, and every retry would come back together; a few per tick connect a group
/// of 32 within seconds.
const MAX_GROUP_DIALS_PER_TICK: usize = 4;

/// Time between random walks with `connected` useful peers: [`URGENT_WALK_INTERVAL`] (at most)
/// below `min`, `interval` below `target`, [`SATISFIED_WALK_FACTOR`] intervals at the target.
fn walk_pause(connected: usize, min: usize, target: usize, interval: Duration) -> Duration {
    if connected < min {
        URGENT_WALK_INTERVAL.min(interval)
    } else if connected < target {
        interval
    } else {
        interval * SATISFIED_WALK_FACTOR
    }
}

/// The driver's peer-maintenance state.
pub(super) struct PeerMaintenance {
    known: KnownPeers,
    target: usize,
    min: usize,
    store: Option<PathBuf>,
    walk_interval: Duration,
    /// The last random walk (`None`: none yet, so the first tick walks).
    last_walk: Option<Instant>,
    next_save: Instant,
    /// Whether the last tick found fewer than `min` peers (its warning is logged once).
    below_min: bool,
    /// This deployment's DHT protocol: peers that speak it are AVS peers of this deployment.
    dht: StreamProtocol,
    /// The nodes of this node's signing-group mates: dialled whatever the peer count.
    group: HashSet<PeerId>,
    /// When the group mates were last set.
    group_since: Instant,
}

impl PeerMaintenance {
    /// Loads the peer store (if configured) and adds the bootnodes.
    pub(super) fn new(config: &NetworkConfig) -> Self {
        let stored = config
            .peer_store
            .as_deref()
            .map(peer_store::load)
            .unwrap_or_default();
        if !stored.is_empty() {
            info!(peers = stored.len(), "loaded the peer store");
        }
        let mut known = KnownPeers::from_stored(stored);
        for addr in &config.bootnodes {
            // validate() guarantees the trailing /p2p.
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                known.insert(peer, vec![addr.clone()], Origin::Bootnode);
            }
        }
        let now = Instant::now();
        Self {
            known,
            target: config.target_peers,
            min: config.min_peers,
            store: config.peer_store.clone(),
            walk_interval: config.discovery_interval,
            last_walk: None,
            // The first save comes as soon as there is something to save.
            next_save: now,
            below_min: false,
            dht: dht_protocol(config.settlement_chain_id, config.task_manager),
            group: HashSet::new(),
            group_since: now,
        }
    }

    /// Every known address, to seed the DHT's routing table at start.
    pub(super) fn seeds(&mut self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.known.addresses()
    }

    pub(super) fn interval(&self) -> Duration {
        MAINTENANCE_INTERVAL
    }

    /// Known peers with an address to dial.
    pub(super) fn dialable(&self) -> Vec<PeerId> {
        self.known.dialable()
    }

    /// No longer an operator's published address.
    pub(super) fn unpin(&mut self, peer: &PeerId) {
        self.known.unpin(peer);
    }

    /// Forgets a peer (banned, or of another deployment), unless pinned (a bootnode or an
    /// operator's socket stays known).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.known.remove(peer);
    }
}

impl Driver {
    /// One maintenance tick: dial due peers while below the target, walk the DHT, save the
    /// peer store if it changed.
    pub(super) fn maintain(&mut self) {
        let now = Instant::now();
        let connected_peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        self.peers.known.touch(&connected_peers, unix_now());
        // Only AVS peers count towards the target: connections of anything else (any libp2p
        // node can connect) must not stop the node from finding its own network.
        self.dial_group_peers(now);
        let connected = self.useful_peers();
        let want = self
            .peers
            .target
            .saturating_sub(connected)
            .min(MAX_DIALS_PER_TICK)
            .min(self.free_dials());
        if want > 0 {
            let local = *self.swarm.local_peer_id();
            let (swarm, penalties) = (&self.swarm, &self.penalties);
            let due = self.peers.known.due(now, want, |peer| {
                *peer == local || swarm.is_connected(peer) || penalties.is_banned(peer)
            });
            if !due.is_empty() {
                debug!(
                    connected,
                    target = self.peers.target,
                    dialling = due.len(),
                    "below the target peer count"
                );
            }
            for (peer, addrs) in due {
                self.dial_peer(peer, addrs);
            }
        }
        let below_min = connected < self.peers.min;
        if below_min && !self.peers.below_min {
            warn!(
                connected,
                min_peers = self.peers.min,
                known = self.peers.known.len(),
                "fewer peers than the minimum; dialling known peers and searching the DHT"
            );
        } else if !below_min && self.peers.below_min {
            info!(connected, "peer count back above the minimum");
        }
        self.peers.below_min = below_min;
        // The pause follows the current peer count, so a node that loses a peer walks again
        // within one discovery interval of its last walk, not of a long satisfied pause.
        let pause = walk_pause(
            connected,
            self.peers.min,
            self.peers.target,
            self.peers.walk_interval,
        );
        if self.peers.last_walk.is_none_or(|last| now >= last + pause) {
            self.walk();
            self.peers.last_walk = Some(now);
        }
        if now >= self.peers.next_save {
            self.peers.next_save = now + SAVE_INTERVAL;
            self.save_peers();
            self.log_scores();
        }
    }

    /// The gossipsub view at debug level: mesh size and the peers scored below zero (the
    /// first thing to look at when signatures stop arriving).
    fn log_scores(&self) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let negative: Vec<(PeerId, f64)> = gossipsub
            .all_peers()
            .filter_map(|(peer, _)| {
                let score = gossipsub.peer_score(peer)?;
                (score < 0.0).then_some((*peer, score))
            })
            .collect();
        debug!(
            mesh = gossipsub.mesh_peers(&self.topic).count(),
            useful = self.useful_peers(),
            ?negative,
            "gossipsub peers"
        );
    }

    /// How many dials of its own the node may start now: beyond the outbound slots left they
    /// would be refused, and each peer handed out would back off for nothing (peers still
    /// below their own limits dial this node instead).
    fn free_dials(&self) -> usize {
        self.swarm.behaviour().outbound_gate.free()
    }

    /// Connected peers subscribed to the signature topic: AVS nodes.
    fn useful_peers(&self) -> usize {
        self.swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&self.topic))
            .count()
    }

    /// Writes the peer store if it changed; a failed write is tried again at the next save.
    pub(super) fn save_peers(&mut self) {
        let Some(path) = self.peers.store.clone() else {
            return;
        };
        if self.peers.known.take_dirty()
            && let Err(e) = peer_store::save(&path, self.peers.known.to_stored())
        {
            self.peers.known.mark_dirty();
            warn!(error = %e, "cannot save the peer store; trying again at the next save");
        }
    }

    /// A random walk: one lookup of a random id, which connects to the peers closest to it
    /// and so finds peers we do not know yet. Not a Kademlia bootstrap (a lookup of our own
    /// id and then one per routing-table bucket): a node needs a couple of dozen peers, not a
    /// refreshed table, and in the network simulation a bootstrap cost each of 256 nodes
    /// about 500 KB and ten seconds of traffic, nine lookups where one finds as many peers.
    /// (Kademlia still bootstraps by itself whenever a peer joins a routing table of fewer
    /// than 20: at start-up, and always in a deployment of 20 nodes or fewer, where a
    /// bootstrap is small.) Without any known peer there is nothing to ask.
    fn walk(&mut self) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if kad.kbuckets().all(|bucket| bucket.num_entries() == 0) {
            debug!("no DHT peer to search from yet");
            return;
        }
        kad.get_closest_peers(PeerId::random());
    }

    /// Dials `peer` with `addrs` plus whatever the behaviours know, unless it is us, banned,
    /// connected or already being dialled.
    fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == *self.swarm.local_peer_id()
            || self.penalties.is_banned(&peer)
            || self.swarm.is_connected(&peer)
        {
            self.peers.known.dial_not_started(&peer);
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            self.peers.known.dial_not_started(&peer);
            debug!(%peer, reason = dial_error_reason(&e), "cannot dial a known peer");
        }
    }

    /// Dials the group mates that are not connected (and not backing off, banned or us),
    /// whatever the peer count: a group's signatures travel only among its members.
    fn dial_group_peers(&mut self, now: Instant) {
        let limit = MAX_GROUP_DIALS_PER_TICK.min(self.free_dials());
        if self.peers.group.is_empty() || limit == 0 {
            return;
        }
        let local = *self.swarm.local_peer_id();
        let (swarm, penalties, group) = (&self.swarm, &self.penalties, &self.peers.group);
        let since = self.peers.group_since;
        let due = self.peers.known.due(now, limit, |peer| {
            !group.contains(peer)
                || *peer == local
                || !dials_group_mate(&local, peer, since, now)
                || swarm.is_connected(peer)
                || penalties.is_banned(peer)
        });
        for (peer, addrs) in due {
            self.dial_peer(peer, addrs);
        }
    }

    /// This node's group mates (see [`super::NetworkHandle::set_group_peers`]): known and pinned
    /// like operators' sockets, and dialled at once.
    pub(super) fn set_group_peers(&mut self, peers: Vec<(PeerId, Multiaddr)>) {
        let now = Instant::now();
        self.peers.group = peers.iter().map(|(peer, _)| *peer).collect();
        self.peers.group_since = now;
        self.add_chain_peers(peers);
        self.dial_group_peers(now);
    }

    /// Operators' published addresses: pinned known peers, in the DHT too, dialled by the
    /// maintenance ticks (a bounded number per tick) while the node is below its target.
    pub(super) fn add_chain_peers(&mut self, peers: Vec<(PeerId, Multiaddr)>) {
        for (peer, addr) in peers {
            if peer == *self.swarm.local_peer_id() {
                continue;
            }
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
            self.peers.known.insert(peer, vec![addr], Origin::Chain);
        }
    }

    /// The swarm events peer maintenance learns from; everything else is ignored.
    pub(super) fn on_discovery_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                let dialled = endpoint
                    .is_dialer()
                    .then(|| endpoint.get_remote_address().clone());
                self.peers.known.on_connected(peer_id, dialled, unix_now());
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error: error @ DialError::Denied { .. },
                ..
            } => {
                // Connected, then refused by this node's own limits (another connection to the
                // peer, the block list): no fault of the peer's, so no strike. (A dial refused
                // before it starts never gets here: `Swarm::dial` returns the refusal.)
                self.peers.known.dial_not_started(&peer);
                debug!(%peer, reason = dial_error_reason(&error), "connection refused by this node");
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                // With no peer at all the failure is most likely the node's own outage.
                let isolated = self.swarm.connected_peers().next().is_none();
                let forgotten = self.peers.known.on_dial_failed(&peer, isolated);
                debug!(%peer, %error, isolated, forgotten, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&self.peers.dht) => {
                // Only peers speaking our DHT protocol go into the routing table and the
                // peer store.
                for addr in &info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                self.peers
                    .known
                    .insert(peer_id, info.listen_addrs, Origin::Learnt);
                self.peers.known.on_connected(peer_id, None, unix_now());
                self.peers.known.on_healthy(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                ..
            })) => {
                // Not a node of this deployment (another deployment, an older protocol, any
                // libp2p node): whatever put it among the known peers (an old peer store, mDNS,
                // a DHT answer), it is forgotten, unless configured or published on chain.
                debug!(peer = %peer_id, "not a peer of this deployment; forgetting it");
                self.peers.forget(&peer_id);
                self.swarm.behaviour_mut().kad.remove_peer(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) => {
                // Dialled by the maintenance ticks while the node is below its target:
                // gossipsub meshes over connections.
                self.peers
                    .known
                    .insert(peer, addresses.into_vec(), Origin::Learnt);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    debug!(%peer, ?addrs, "discovered over mDNS");
                    self.peers.known.insert(peer, addrs, Origin::Learnt);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                // Connections have their own lifetime and known peers their own back-off.
                debug!(n = gone.len(), "mDNS records expired");
            }
            _ => {}
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_two_group_mates_the_lower_peer_id_dials_and_the_other_only_after_the_grace() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let t0 = Instant::now();
        assert!(dials_group_mate(&low, &high, t0, t0));
        assert!(!dials_group_mate(&high, &low, t0, t0));
        assert!(!dials_group_mate(
            &high,
            &low,
            t0,
            t0 + GROUP_DIAL_GRACE / 2
        ));
        assert!(dials_group_mate(&high, &low, t0, t0 + GROUP_DIAL_GRACE));
    }

    #[test]
    fn walks_come_sooner_the_fewer_peers_a_node_has() {
        let interval = Duration::from_secs(30);
        // At or above the target: a refresh every ten intervals.
        assert_eq!(walk_pause(24, 4, 24, interval), Duration::from_secs(300));
        assert_eq!(walk_pause(30, 4, 24, interval), Duration::from_secs(300));
        // One peer lost: back to every interval, counted from the last walk.
        assert_eq!(walk_pause(23, 4, 24, interval), interval);
        // Below the minimum: urgently, but never slower than the interval itself.
        assert_eq!(walk_pause(3, 4, 24, interval), URGENT_WALK_INTERVAL);
        assert_eq!(
            walk_pause(0, 4, 24, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }
}
