//! The peers a node knows how to reach, and which of them to dial next.
//!
//! [`KnownPeers`] is plain state, driven by the swarm's events and clock: bootnodes and stored
//! peers go in at start; operators' on-chain sockets, AVS peers' identify addresses, Kademlia
//! and mDNS while running. Every maintenance tick, while the node has fewer useful peers than
//! its target, the driver dials [`KnownPeers::due`]: peers not connected, not banned and not
//! backing off.
//!
//! # Invariants
//!
//! - Back-off: each dial handed out backs the peer off ([`BACKOFF_BASE`] doubling with every
//!   attempt up to [`BACKOFF_CAP`]), until the peer proves healthy ([`KnownPeers::on_healthy`]:
//!   identify over a connection, as an AVS node). A peer that accepts connections and drops
//!   them at once (full) is therefore not redialled every tick.
//! - Forgetting: a learnt peer is forgotten after [`FORGET_AFTER`] of our dials failed in a row
//!   while the node had other peers. Failures while the node has none are its own outage and
//!   do not count, so a node cut off for a while still knows everyone when it is back.
//!   Bootnodes and operators' on-chain sockets are pinned: never forgotten.
//! - Only AVS peers get an entry: configured, stored, on-chain, or identified with our DHT
//!   protocol. A bare inbound connection adds nothing.
//! - Bounded: at most [`MAX_PEERS`] peers and [`MAX_ADDRS`] addresses per peer (newest first).
//!   When full, the peer evicted is one never dialled successfully (an address that only the
//!   peer itself claims), least recently connected first; pinned peers are never evicted.
//!   The store keeps the [`MAX_STORED`] best: verified first, then most recently connected.

use super::peer_store::StoredPeer;
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Back-off after the first dial; doubles with each further attempt.
pub(super) const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest back-off between dials of one peer.
pub(super) const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Failed dials in a row (while the node had other peers) after which a learnt peer is
/// forgotten: with the capped back-off, about a quarter of an hour of failures.
pub(super) const FORGET_AFTER: u32 = 16;
/// Most peers kept in memory.
pub(super) const MAX_PEERS: usize = 2048;
/// Most peers written to the peer store.
pub(super) const MAX_STORED: usize = 256;
/// Most addresses kept per peer (newest first).
pub(super) const MAX_ADDRS: usize = 8;

/// Where a peer was learnt. Bootnodes and operators' published sockets are pinned: never
/// forgotten, and dialled before learnt peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Origin {
    /// Configured bootnode.
    Bootnode,
    /// Published on-chain by an operator of the current set (its socket).
    Chain,
    /// Learnt from the peer store, identify, Kademlia or mDNS.
    Learnt,
}

impl Origin {
    fn pinned(self) -> bool {
        self != Self::Learnt
    }
}

#[derive(Clone, Debug)]
struct Known {
    /// Newest first, without a trailing `/p2p`.
    addrs: Vec<Multiaddr>,
    origin: Origin,
    /// Unix seconds of the last time the node was connected to it (refreshed while connected).
    last_connected: Option<u64>,
    /// A dial of ours reached it: its address is not only its own claim.
    verified: bool,
    /// Dials handed out since it was last healthy: the back-off.
    attempts: u32,
    /// Our dials that failed in a row while the node had other peers: forgetting.
    strikes: u32,
    /// Not dialled before this instant.
    retry_at: Option<Instant>,
    /// A dial [`KnownPeers::due`] handed out has not reported back yet. Only those count as
    /// strikes: Kademlia's queries dial peers too, and a peer that is down for a while must
    /// not be forgotten for every query that tried it.
    dialling: bool,
}

/// The peers this node knows, with their addresses and dial back-off.
#[derive(Debug, Default)]
pub(super) struct KnownPeers {
    peers: HashMap<PeerId, Known>,
    /// Persisted state changed since [`KnownPeers::take_dirty`].
    dirty: bool,
}

impl KnownPeers {
    /// Peers loaded from the peer store.
    pub(super) fn from_stored(stored: Vec<StoredPeer>) -> Self {
        let mut known = Self::default();
        for peer in stored {
            known.insert(peer.peer_id, peer.addrs, Origin::Learnt);
            if let Some(entry) = known.peers.get_mut(&peer.peer_id) {
                entry.last_connected = Some(peer.last_connected);
                entry.verified = peer.verified;
            }
        }
        known.dirty = false;
        known
    }

    /// Adds `peer` with `addrs` (any trailing `/p2p` of its own id removed) in front of what
    /// is known of it. An address naming another peer id is ignored.
    pub(super) fn insert(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, origin: Origin) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS && !self.evict_one() {
            return;
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Known {
            addrs: Vec::new(),
            origin,
            last_connected: None,
            verified: false,
            attempts: 0,
            strikes: 0,
            retry_at: None,
            dialling: false,
        });
        // The strongest origin wins (bootnode, then chain, then learnt).
        entry.origin = entry.origin.min(origin);
        let mut fresh: Vec<Multiaddr> = addrs
            .into_iter()
            .filter_map(|a| without_peer_id(a, &peer))
            .collect();
        fresh.dedup();
        if !fresh.is_empty() {
            let before = entry.addrs.clone();
            // The first address stays first when it is the one that worked, or when it is
            // configured or published on chain and this insert is only learnt: what a peer
            // advertises about itself (identify, the DHT) never pushes it out.
            let anchored = usize::from(
                !entry.addrs.is_empty()
                    && (entry.verified || (entry.origin.pinned() && origin == Origin::Learnt)),
            );
            let mut addrs: Vec<Multiaddr> = entry.addrs[..anchored].to_vec();
            fresh.retain(|a| !addrs.contains(a));
            entry
                .addrs
                .retain(|a| !fresh.contains(a) && !addrs.contains(a));
            addrs.append(&mut fresh);
            addrs.append(&mut entry.addrs);
            addrs.truncate(MAX_ADDRS);
            entry.addrs = addrs;
            self.dirty |= entry.last_connected.is_some() && entry.addrs != before;
        }
    }

    /// A connection to a known `peer` was established at `now` (unix seconds); `dialled` is
    /// the address we dialled (`None` for an inbound connection, whose remote port is
    /// ephemeral). An unknown peer gets an entry only once it identifies as an AVS node.
    pub(super) fn on_connected(&mut self, peer: PeerId, dialled: Option<Multiaddr>, now: u64) {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return;
        };
        entry.last_connected = Some(now);
        entry.dialling = false;
        if let Some(addr) = dialled.and_then(|a| without_peer_id(a, &peer)) {
            // The address that worked goes first: it is tried first next time.
            entry.verified = true;
            entry.addrs.retain(|a| *a != addr);
            entry.addrs.insert(0, addr);
            entry.addrs.truncate(MAX_ADDRS);
        }
        self.dirty = true;
    }

    /// `peer` identified itself as an AVS node over a connection: its back-off and strikes
    /// start over.
    pub(super) fn on_healthy(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.attempts = 0;
            entry.strikes = 0;
            entry.retry_at = None;
            entry.dialling = false;
        }
    }

    /// Refreshes the last-connected time of the peers connected now, so the table ranks
    /// stable peers as recent.
    pub(super) fn touch<'a>(&mut self, connected: impl IntoIterator<Item = &'a PeerId>, now: u64) {
        for peer in connected {
            if let Some(entry) = self.peers.get_mut(peer) {
                entry.last_connected = Some(now);
                self.dirty = true;
            }
        }
    }

    /// A dial of `peer` failed. If it was ours ([`KnownPeers::due`]) and the node had other
    /// peers (`isolated` false), it counts as a strike, and a learnt peer with
    /// [`FORGET_AFTER`] strikes is forgotten. Returns whether it was.
    pub(super) fn on_dial_failed(&mut self, peer: &PeerId, isolated: bool) -> bool {
        let Some(entry) = self.peers.get_mut(peer).filter(|e| e.dialling) else {
            return false;
        };
        entry.dialling = false;
        if isolated {
            return false;
        }
        entry.strikes = entry.strikes.saturating_add(1);
        if entry.strikes >= FORGET_AFTER && !entry.origin.pinned() {
            self.peers.remove(peer);
            self.dirty = true;
            return true;
        }
        false
    }

    /// A dial of ours was refused before it started (e.g. already dialling): nothing to wait
    /// for.
    pub(super) fn dial_not_started(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.dialling = false;
        }
    }

    /// `peer` is no longer an operator's published address (the operator moved, or left the
    /// set): it stays known as a learnt peer, and is forgotten if it stops answering.
    pub(super) fn unpin(&mut self, peer: &PeerId) {
        if let Some(entry) = self
            .peers
            .get_mut(peer)
            .filter(|e| e.origin == Origin::Chain)
        {
            entry.origin = Origin::Learnt;
        }
    }

    /// Forgets `peer` (e.g. banned), unless it is pinned.
    pub(super) fn remove(&mut self, peer: &PeerId) {
        if self.peers.get(peer).is_some_and(|e| !e.origin.pinned()) {
            self.peers.remove(peer);
            self.dirty = true;
        }
    }

    /// Up to `limit` peers to dial at `now`, with their addresses: known addresses, not
    /// `skip`ped (connected, banned, ourselves) and not backing off; the fewest attempts first,
    /// then bootnodes, operators' sockets, verified before unverified, the most recently
    /// connected first. Each one returned is backed off for its next attempt.
    pub(super) fn due(
        &mut self,
        now: Instant,
        limit: usize,
        skip: impl Fn(&PeerId) -> bool,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut due: Vec<(&PeerId, &Known)> = self
            .peers
            .iter()
            .filter(|(peer, known)| {
                !known.addrs.is_empty() && known.retry_at.is_none_or(|at| at <= now) && !skip(peer)
            })
            .collect();
        // Fewest attempts first, so dead pinned peers (a flood of stale sockets) cannot take
        // every dial slot; among equals, bootnodes, then operators' sockets.
        due.sort_by_key(|(peer, known)| {
            (
                known.attempts,
                known.origin,
                !known.verified,
                std::cmp::Reverse(known.last_connected),
                **peer,
            )
        });
        let chosen: Vec<(PeerId, Vec<Multiaddr>)> = due
            .into_iter()
            .take(limit)
            .map(|(peer, known)| (*peer, known.addrs.clone()))
            .collect();
        for (peer, _) in &chosen {
            let entry = self.peers.get_mut(peer).expect("chosen from the map");
            entry.attempts = entry.attempts.saturating_add(1);
            entry.retry_at = Some(now + backoff(entry.attempts));
            entry.dialling = true;
        }
        chosen
    }

    /// Every peer with its addresses.
    pub(super) fn addresses(&self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.peers
            .iter()
            .map(|(peer, known)| (*peer, known.addrs.clone()))
            .collect()
    }

    /// Whether `peer` is known.
    #[cfg(test)]
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Number of known peers.
    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    /// The known peers with an address to dial.
    pub(super) fn dialable(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, k)| !k.addrs.is_empty())
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// The peers to persist: those this node was connected to, verified first, then the most
    /// recently connected, at most [`MAX_STORED`].
    pub(super) fn to_stored(&self) -> Vec<StoredPeer> {
        let mut stored: Vec<StoredPeer> = self
            .peers
            .iter()
            .filter_map(|(peer, known)| {
                Some(StoredPeer {
                    peer_id: *peer,
                    addrs: known.addrs.clone(),
                    last_connected: known.last_connected?,
                    verified: known.verified,
                })
            })
            .filter(|p| !p.addrs.is_empty())
            .collect();
        stored.sort_by_key(|p| (!p.verified, std::cmp::Reverse(p.last_connected), p.peer_id));
        stored.truncate(MAX_STORED);
        stored
    }

    /// Whether the persisted state changed since the last call; resets the flag.
    pub(super) fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Marks the persisted state changed (a save failed: try again).
    pub(super) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Removes the least useful peer that is not pinned: unverified before verified, then
    /// the one connected longest ago (never connected first). `false` if every peer is pinned.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .peers
            .iter()
            .filter(|(_, k)| !k.origin.pinned())
            .min_by_key(|(peer, k)| (k.verified, k.last_connected, **peer))
            .map(|(peer, _)| *peer);
        if let Some(peer) = victim {
            self.peers.remove(&peer);
            self.dirty = true;
        }
        victim.is_some()
    }
}

/// Back-off after `attempts` dials since the peer was last healthy.
pub(super) fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP)
}

/// `addr` without a trailing `/p2p/<peer>`; `None` if it names another peer.
fn without_peer_id(mut addr: Multiaddr, peer: &PeerId) -> Option<Multiaddr> {
    match addr.iter().last() {
        Some(Protocol::P2p(id)) if id == *peer => {
            addr.pop();
            Some(addr)
        }
        Some(Protocol::P2p(_)) => None,
        _ => Some(addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    fn peer() -> PeerId {
        PeerId::random()
    }

    /// Reports a dial of ours of `p` failed, the node not isolated.
    fn failed_dial(known: &mut KnownPeers, p: &PeerId) -> bool {
        known.peers.get_mut(p).expect("known").dialling = true;
        known.on_dial_failed(p, false)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(7), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn each_attempt_backs_off_longer_until_the_peer_is_healthy() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(p, vec![addr(1)], Origin::Learnt);
        let t0 = Instant::now();
        let before = |d: Duration| t0 + d - Duration::from_millis(1);
        assert_eq!(known.due(t0, 8, |_| false), vec![(p, vec![addr(1)])]);
        assert!(known.due(before(backoff(1)), 8, |_| false).is_empty());
        // A connection that is dropped before identify (a full peer) proves nothing.
        known.on_connected(p, Some(addr(1)), 5);
        let t1 = t0 + backoff(1);
        assert_eq!(known.due(t1, 8, |_| false).len(), 1, "second attempt");
        assert!(
            known
                .due(t1 + backoff(2) - Duration::from_millis(1), 8, |_| false)
                .is_empty()
        );
        known.on_healthy(&p);
        assert_eq!(known.due(t1, 8, |_| false).len(), 1, "healthy: no back-off");
    }

    #[test]
    fn only_our_own_dials_count_and_not_while_the_node_is_isolated() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(p, vec![addr(1)], Origin::Learnt);
        // A Kademlia query dialled it, many times: no strike.
        for _ in 0..FORGET_AFTER * 2 {
            assert!(!known.on_dial_failed(&p, false));
        }
        // Our own dials while the node has no peer at all: its own outage, no strike.
        for _ in 0..FORGET_AFTER * 2 {
            known.peers.get_mut(&p).unwrap().dialling = true;
            assert!(!known.on_dial_failed(&p, true));
        }
        assert!(known.contains(&p));
        assert_eq!(known.peers[&p].strikes, 0);
    }

    #[test]
    fn dead_peers_are_forgotten_but_pinned_ones_never() {
        let mut known = KnownPeers::default();
        let (learnt, boot, operator) = (peer(), peer(), peer());
        known.insert(learnt, vec![addr(1)], Origin::Learnt);
        known.insert(boot, vec![addr(2)], Origin::Bootnode);
        known.insert(operator, vec![addr(3)], Origin::Chain);
        for n in 1..FORGET_AFTER {
            assert!(!failed_dial(&mut known, &learnt), "forgotten after {n}");
        }
        assert!(failed_dial(&mut known, &learnt));
        assert!(!known.contains(&learnt));
        for pinned in [boot, operator] {
            for _ in 0..FORGET_AFTER * 2 {
                assert!(!failed_dial(&mut known, &pinned));
            }
            known.remove(&pinned);
            assert!(known.contains(&pinned), "pinned peers stay known");
        }
        // An operator that moved: its old address is an ordinary peer again.
        known.unpin(&operator);
        known.unpin(&boot);
        assert!(failed_dial(&mut known, &operator), "strikes count again");
        known.remove(&boot);
        assert!(
            known.contains(&boot),
            "a bootnode is not an operator's socket"
        );
    }

    #[test]
    fn due_ranks_bootnodes_operators_then_the_healthiest_and_skips_what_it_is_told() {
        let mut known = KnownPeers::default();
        let (boot, operator, recent, old, unverified, connected) =
            (peer(), peer(), peer(), peer(), peer(), peer());
        for (p, port) in [(recent, 2), (old, 3), (unverified, 4), (connected, 5)] {
            known.insert(p, vec![addr(port)], Origin::Learnt);
        }
        known.insert(operator, vec![addr(6)], Origin::Learnt);
        known.insert(operator, vec![addr(6)], Origin::Chain);
        known.insert(operator, vec![addr(6)], Origin::Learnt);
        known.insert(boot, vec![addr(1)], Origin::Bootnode);
        known.on_connected(recent, Some(addr(2)), 200);
        known.on_connected(old, Some(addr(3)), 100);
        known.on_connected(unverified, None, 300);
        let order: Vec<PeerId> = known
            .due(Instant::now(), 8, |p| *p == connected)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(order, vec![boot, operator, recent, old, unverified]);
        // One attempt each now; a peer that proved healthy again goes before them all.
        known.on_healthy(&old);
        let later = Instant::now() + BACKOFF_CAP;
        let order: Vec<PeerId> = known
            .due(later, 8, |p| *p == connected)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(order, vec![old, boot, operator, recent, unverified]);
    }

    #[test]
    fn new_addresses_go_first_and_the_working_one_before_them() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(
            p,
            (1..=MAX_ADDRS as u16).map(addr).collect(),
            Origin::Learnt,
        );
        known.insert(p, vec![addr(100)], Origin::Learnt);
        let addrs = &known.peers[&p].addrs;
        assert_eq!(addrs.len(), MAX_ADDRS);
        assert_eq!(
            addrs[0],
            addr(100),
            "the newest is kept, the oldest dropped"
        );
        assert!(!addrs.contains(&addr(MAX_ADDRS as u16)));
        known.on_connected(p, Some(addr(3).with(Protocol::P2p(p))), 7);
        assert_eq!(known.peers[&p].addrs[0], addr(3));
        assert_eq!(known.peers[&p].addrs.len(), MAX_ADDRS);
    }

    #[test]
    fn what_a_peer_advertises_never_pushes_out_the_address_that_worked_or_the_published_one() {
        let mut known = KnownPeers::default();
        let (dialled, operator) = (peer(), peer());
        known.insert(dialled, vec![addr(1)], Origin::Learnt);
        known.on_connected(dialled, Some(addr(1)), 5);
        known.insert(operator, vec![addr(50)], Origin::Chain);
        for p in [dialled, operator] {
            // Identify and the DHT report many addresses, again and again.
            for round in 0..3u16 {
                let advertised = (0..MAX_ADDRS as u16 + 2).map(|i| addr(100 + 20 * round + i));
                known.insert(p, advertised.collect(), Origin::Learnt);
            }
        }
        assert_eq!(known.peers[&dialled].addrs[0], addr(1));
        assert_eq!(known.peers[&operator].addrs[0], addr(50));
        assert_eq!(known.peers[&operator].addrs.len(), MAX_ADDRS);
    }

    #[test]
    fn only_known_peers_are_marked_connected_and_foreign_addresses_are_dropped() {
        let mut known = KnownPeers::default();
        let (met, stranger, other) = (peer(), peer(), peer());
        known.on_connected(stranger, None, 5);
        assert!(
            !known.contains(&stranger),
            "a bare inbound connection adds nothing"
        );
        known.insert(
            met,
            vec![addr(2).with(Protocol::P2p(other))],
            Origin::Learnt,
        );
        assert_eq!(
            known.dialable(),
            vec![],
            "an address of another peer is not kept"
        );
        known.insert(met, vec![addr(3)], Origin::Learnt);
        known.on_connected(met, Some(addr(3)), 7);
        let stored = known.to_stored();
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].peer_id, stored[0].verified), (met, true));
        assert_eq!(stored[0].addrs, vec![addr(3)]);
        assert!(known.take_dirty());
        assert!(!known.take_dirty());
    }

    #[test]
    fn a_flood_of_claimed_peers_evicts_unverified_ones_first_and_never_pinned_ones() {
        let mut known = KnownPeers::default();
        let (verified, boot) = (peer(), peer());
        known.insert(verified, vec![addr(1)], Origin::Learnt);
        known.on_connected(verified, Some(addr(1)), 1);
        known.insert(boot, vec![addr(2)], Origin::Bootnode);
        // Throwaway identities that connected recently, each claiming an address.
        for i in 0..MAX_PEERS + 10 {
            let p = peer();
            known.insert(p, vec![addr(3 + i as u16)], Origin::Learnt);
            known.on_connected(p, None, 1_000 + i as u64);
        }
        assert_eq!(known.len(), MAX_PEERS);
        assert!(known.contains(&verified), "the verified peer survives");
        assert!(known.contains(&boot));
        let stored = known.to_stored();
        assert_eq!(stored.len(), MAX_STORED);
        assert_eq!(
            stored[0].peer_id, verified,
            "verified peers are stored first"
        );
    }

    #[test]
    fn stored_peers_are_loaded_with_their_last_connection() {
        let p = peer();
        let mut known = KnownPeers::from_stored(vec![StoredPeer {
            peer_id: p,
            addrs: vec![addr(9)],
            last_connected: 42,
            verified: true,
        }]);
        assert!(!known.take_dirty(), "loading is not a change");
        assert_eq!(known.to_stored()[0].last_connected, 42);
        assert_eq!(
            known.due(Instant::now(), 1, |_| false),
            vec![(p, vec![addr(9)])]
        );
    }
}
