//! The peers a node knows how to reach, and which of them to dial next.
//!
//! [`KnownPeers`] is plain state, driven by the swarm's events and clock: bootnodes and stored
//! peers go in at start, peers learnt from identify, Kademlia and mDNS while running. Every
//! maintenance tick, while fewer than the target number of peers are connected, the driver
//! dials [`KnownPeers::due`]: peers not connected, not banned and not backing off.
//!
//! # Invariants
//!
//! - A failed dial backs the peer off exponentially ([`BACKOFF_BASE`] doubling up to
//!   [`BACKOFF_CAP`]); a connection resets it. A peer is never dialled again before its
//!   back-off ends, so an unreachable peer costs one dial per back-off period.
//! - Bootnodes are never forgotten. Any other peer is forgotten after [`FORGET_AFTER`]
//!   consecutive failed dials (dead addresses do not accumulate).
//! - Only peers this node was connected to are persisted ([`KnownPeers::to_stored`]), so
//!   addresses a peer merely advertised cannot fill the store.
//! - Bounded: at most [`MAX_PEERS`] peers and [`MAX_ADDRS`] addresses per peer; when full, a
//!   peer never connected (or connected longest ago) makes room.

use super::peer_store::StoredPeer;
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Back-off after the first failed dial; doubles with each further failure.
pub(super) const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest back-off between dials of one peer.
pub(super) const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Consecutive failed dials after which a peer that is not a bootnode is forgotten (with the
/// capped back-off, about ten minutes of failures).
pub(super) const FORGET_AFTER: u32 = 16;
/// Most peers kept.
pub(super) const MAX_PEERS: usize = 2048;
/// Most addresses kept per peer (newest first).
pub(super) const MAX_ADDRS: usize = 8;

/// Where a peer was learnt; bootnodes are pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// Configured bootnode: never forgotten.
    Bootnode,
    /// Learnt from the peer store, identify, Kademlia or mDNS.
    Learnt,
}

#[derive(Clone, Debug)]
struct Known {
    /// Newest first, without a trailing `/p2p`.
    addrs: Vec<Multiaddr>,
    origin: Origin,
    /// Unix seconds of the last established connection.
    last_connected: Option<u64>,
    /// Consecutive failed dials.
    failures: u32,
    /// Not dialled before this instant.
    retry_at: Option<Instant>,
    /// A dial [`KnownPeers::due`] handed out has not reported back yet. Only those dials
    /// count as failures: Kademlia's queries dial peers too, and a peer that is down for a
    /// while must not be forgotten for every query that tried it.
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
            }
        }
        known.dirty = false;
        known
    }

    /// Adds `peer` with `addrs` (any trailing `/p2p` of its own id removed), merged into what
    /// is known. An address naming another peer id is ignored.
    pub(super) fn insert(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, origin: Origin) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            self.evict_one();
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Known {
            addrs: Vec::new(),
            origin,
            last_connected: None,
            failures: 0,
            retry_at: None,
            dialling: false,
        });
        if origin == Origin::Bootnode {
            entry.origin = Origin::Bootnode;
        }
        for addr in addrs.into_iter().filter_map(|a| without_peer_id(a, &peer)) {
            if !entry.addrs.contains(&addr) {
                entry.addrs.push(addr);
                entry.addrs.truncate(MAX_ADDRS);
                self.dirty |= entry.last_connected.is_some();
            }
        }
    }

    /// A connection to `peer` was established; `dialled` is the address we dialled (`None`
    /// for an inbound connection, whose remote port is ephemeral and not worth keeping).
    pub(super) fn on_connected(&mut self, peer: PeerId, dialled: Option<Multiaddr>, now: u64) {
        self.insert(peer, dialled.clone().into_iter().collect(), Origin::Learnt);
        let entry = self.peers.get_mut(&peer).expect("inserted above");
        entry.failures = 0;
        entry.retry_at = None;
        entry.dialling = false;
        entry.last_connected = Some(now);
        if let Some(addr) = dialled.and_then(|a| without_peer_id(a, &peer)) {
            // The address that worked goes first: it is tried first next time.
            entry.addrs.retain(|a| *a != addr);
            entry.addrs.insert(0, addr);
        }
        self.dirty = true;
    }

    /// A dial of `peer` failed at `now`. If it was ours ([`KnownPeers::due`]), back the peer
    /// off, or forget it after [`FORGET_AFTER`] failures unless it is a bootnode. Returns
    /// whether it was forgotten.
    pub(super) fn on_dial_failed(&mut self, peer: &PeerId, now: Instant) -> bool {
        let Some(entry) = self.peers.get_mut(peer).filter(|e| e.dialling) else {
            return false;
        };
        entry.dialling = false;
        entry.failures = entry.failures.saturating_add(1);
        entry.retry_at = Some(now + backoff(entry.failures));
        if entry.failures >= FORGET_AFTER && entry.origin != Origin::Bootnode {
            self.peers.remove(peer);
            self.dirty = true;
            return true;
        }
        false
    }

    /// Forgets `peer` (e.g. banned), unless it is a bootnode.
    pub(super) fn remove(&mut self, peer: &PeerId) {
        if self
            .peers
            .get(peer)
            .is_some_and(|e| e.origin != Origin::Bootnode)
        {
            self.peers.remove(peer);
            self.dirty = true;
        }
    }

    /// Up to `limit` peers to dial at `now`, with their addresses: known addresses, not
    /// `skip`ped (connected, banned, ourselves) and not backing off; bootnodes first, then the
    /// fewest failures, then the most recently connected. Each one returned is backed off as if
    /// its dial had failed, so a dial that never reports back is not repeated at once.
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
        due.sort_by_key(|(peer, known)| {
            (
                known.origin != Origin::Bootnode,
                known.failures,
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
            entry.retry_at = Some(now + backoff(entry.failures + 1));
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

    /// Number of known peers with an address to dial.
    pub(super) fn dialable(&self) -> usize {
        self.peers.values().filter(|k| !k.addrs.is_empty()).count()
    }

    /// The peers to persist, most recently connected first: those this node was connected to.
    pub(super) fn to_stored(&self) -> Vec<StoredPeer> {
        let mut stored: Vec<StoredPeer> = self
            .peers
            .iter()
            .filter_map(|(peer, known)| {
                Some(StoredPeer {
                    peer_id: *peer,
                    addrs: known.addrs.clone(),
                    last_connected: known.last_connected?,
                })
            })
            .filter(|p| !p.addrs.is_empty())
            .collect();
        stored.sort_by_key(|p| (std::cmp::Reverse(p.last_connected), p.peer_id));
        stored
    }

    /// Whether the persisted state changed since the last call; resets the flag.
    pub(super) fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Removes the least useful peer that is not a bootnode: never connected first, then the
    /// one connected longest ago.
    fn evict_one(&mut self) {
        let victim = self
            .peers
            .iter()
            .filter(|(_, k)| k.origin != Origin::Bootnode)
            .min_by_key(|(peer, k)| (k.last_connected, std::cmp::Reverse(k.failures), **peer))
            .map(|(peer, _)| *peer);
        if let Some(peer) = victim {
            self.peers.remove(&peer);
            self.dirty = true;
        }
    }
}

/// Back-off after `failures` consecutive failed dials.
pub(super) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
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

    /// One of our dials of `p` failed at `now`.
    fn failed_dial(known: &mut KnownPeers, p: &PeerId, now: Instant) -> bool {
        known.peers.get_mut(p).expect("known").dialling = true;
        known.on_dial_failed(p, now)
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
    fn a_failed_peer_is_not_dialled_again_before_its_backoff_ends() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(p, vec![addr(1)], Origin::Learnt);
        let t0 = Instant::now();
        assert_eq!(known.due(t0, 8, |_| false), vec![(p, vec![addr(1)])]);
        // Chosen: not again until a dial result or the back-off.
        assert!(known.due(t0, 8, |_| false).is_empty());
        known.on_dial_failed(&p, t0);
        let before = |d: Duration| t0 + d - Duration::from_millis(1);
        assert!(known.due(before(backoff(1)), 8, |_| false).is_empty());
        assert_eq!(known.due(t0 + backoff(1), 8, |_| false).len(), 1);
        known.on_dial_failed(&p, t0);
        assert!(known.due(before(backoff(2)), 8, |_| false).is_empty());
        assert_eq!(known.due(t0 + backoff(2), 8, |_| false).len(), 1);
    }

    #[test]
    fn only_our_own_dials_count_as_failures() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(p, vec![addr(1)], Origin::Learnt);
        let t0 = Instant::now();
        // A Kademlia query dialled it, many times: no back-off, never forgotten.
        for _ in 0..FORGET_AFTER * 2 {
            assert!(!known.on_dial_failed(&p, t0));
        }
        assert_eq!(known.due(t0, 8, |_| false).len(), 1, "still due at once");
    }

    #[test]
    fn a_connection_resets_the_backoff_and_puts_the_working_address_first() {
        let mut known = KnownPeers::default();
        let p = peer();
        known.insert(p, vec![addr(1), addr(2)], Origin::Learnt);
        let t0 = Instant::now();
        for _ in 0..5 {
            failed_dial(&mut known, &p, t0);
        }
        known.on_connected(p, Some(addr(2).with(Protocol::P2p(p))), 100);
        assert_eq!(
            known.due(t0, 8, |_| false),
            vec![(p, vec![addr(2), addr(1)])]
        );
        let stored = known.to_stored();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].last_connected, 100);
        assert_eq!(stored[0].addrs, vec![addr(2), addr(1)]);
    }

    #[test]
    fn dead_peers_are_forgotten_but_bootnodes_never() {
        let mut known = KnownPeers::default();
        let (learnt, boot) = (peer(), peer());
        known.insert(learnt, vec![addr(1)], Origin::Learnt);
        known.insert(boot, vec![addr(2)], Origin::Bootnode);
        let t0 = Instant::now();
        for n in 1..FORGET_AFTER {
            assert!(!failed_dial(&mut known, &learnt, t0), "forgotten after {n}");
        }
        assert!(failed_dial(&mut known, &learnt, t0));
        assert!(!known.contains(&learnt));
        for _ in 0..FORGET_AFTER * 2 {
            assert!(!failed_dial(&mut known, &boot, t0));
        }
        known.remove(&boot);
        assert!(known.contains(&boot), "a bootnode stays known");
    }

    #[test]
    fn due_prefers_bootnodes_then_healthy_then_recent_and_skips_what_it_is_told() {
        let mut known = KnownPeers::default();
        let (boot, recent, old, failing, connected) = (peer(), peer(), peer(), peer(), peer());
        known.insert(boot, vec![addr(1)], Origin::Bootnode);
        for (p, port, at) in [(recent, 2, 200), (old, 3, 100), (connected, 5, 300)] {
            known.on_connected(p, Some(addr(port)), at);
        }
        known.insert(failing, vec![addr(4)], Origin::Learnt);
        let t0 = Instant::now();
        failed_dial(&mut known, &failing, t0 - BACKOFF_CAP);
        let order: Vec<PeerId> = known
            .due(t0, 8, |p| *p == connected)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(order, vec![boot, recent, old, failing]);
    }

    #[test]
    fn only_peers_once_connected_are_stored_and_foreign_addresses_are_dropped() {
        let mut known = KnownPeers::default();
        let (met, heard_of, other) = (peer(), peer(), peer());
        known.insert(heard_of, vec![addr(1)], Origin::Learnt);
        known.insert(
            met,
            vec![addr(2).with(Protocol::P2p(other))],
            Origin::Learnt,
        );
        assert!(
            known
                .due(Instant::now(), 8, |_| false)
                .iter()
                .all(|(p, _)| *p != met)
        );
        known.on_connected(met, Some(addr(3)), 7);
        let stored = known.to_stored();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].peer_id, met);
        assert_eq!(stored[0].addrs, vec![addr(3)]);
        assert!(known.take_dirty());
        assert!(!known.take_dirty());
    }

    #[test]
    fn the_table_is_bounded_and_evicts_never_connected_peers_first() {
        let mut known = KnownPeers::default();
        let keeper = peer();
        known.on_connected(keeper, Some(addr(1)), 1);
        for i in 0..MAX_PEERS + 10 {
            known.insert(peer(), vec![addr(2 + i as u16)], Origin::Learnt);
        }
        assert_eq!(known.len(), MAX_PEERS);
        assert!(known.contains(&keeper));
        let p = peer();
        known.insert(
            p,
            (0..MAX_ADDRS as u16 + 4).map(addr).collect(),
            Origin::Learnt,
        );
        assert_eq!(
            known.due(Instant::now(), MAX_PEERS, |q| *q != p)[0].1.len(),
            MAX_ADDRS
        );
    }

    #[test]
    fn stored_peers_are_loaded_with_their_last_connection() {
        let p = peer();
        let mut known = KnownPeers::from_stored(vec![StoredPeer {
            peer_id: p,
            addrs: vec![addr(9)],
            last_connected: 42,
        }]);
        assert!(!known.take_dirty(), "loading is not a change");
        assert_eq!(known.to_stored()[0].last_connected, 42);
        assert_eq!(
            known.due(Instant::now(), 1, |_| false),
            vec![(p, vec![addr(9)])]
        );
    }
}
