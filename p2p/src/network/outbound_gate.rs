//! Refuses an outbound dial before it starts when the node's outbound connections are full.
//!
//! libp2p's `connection_limits` checks the established-outbound limit only once a dial has
//! connected: after the transport, the noise handshake and the muxer, on both ends. The
//! remote has by then accepted the connection and set up its handlers, and is left with one
//! it sees closed at once. Kademlia dials whatever its queries need, whatever the node's
//! limits, so a node at its outbound limit turned every step of a random walk into such a
//! handshake: in the network simulation (`just sim 256`, signing groups keeping nodes near
//! the limit) about ten a second per node, the whole of an idle fleet's traffic and CPU.
//!
//! [`OutboundGate`] counts the node's outbound connections and refuses a new dial while the
//! established ones fill [`NetworkConfig::max_outbound`](crate::NetworkConfig): the dial
//! fails at once with [`OutboundFull`] (`Swarm::dial` returns the refusal; Kademlia's own
//! dials are dropped), and nothing reaches the remote. Dials still under way do not count
//! towards the refusal, so a dial of a dead address that takes the whole connection timeout
//! cannot hold the node's slots; a few dials started just below the limit can still overshoot
//! it and be refused by `connection_limits` after their handshake, a bounded waste where the
//! old one was endless. The node's own dials are also capped by [`OutboundGate::free`], which
//! counts those under way. `connection_limits` stays as it is, the authority on every limit.
//!
//! # Invariants
//!
//! - A dial is counted as under way from the moment it is allowed, and as established from
//!   its connection's establishment, until its dial fails (a refusal by another behaviour
//!   included) or its connection closes, so the counts never lag behind the swarm.
//! - Inbound connections are never touched.

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm, dummy,
    },
};
use std::{
    collections::HashSet,
    convert::Infallible,
    task::{Context, Poll},
};

/// Why a dial was refused: the node's outbound connections are full.
#[derive(Debug, thiserror::Error)]
#[error("outbound connections full ({max} established)")]
pub struct OutboundFull {
    /// The configured limit.
    pub max: usize,
}

/// Refuses dials while the node's established outbound connections are at the limit.
pub(super) struct OutboundGate {
    max: usize,
    /// Outbound dials allowed and not yet connected or failed.
    dialling: HashSet<ConnectionId>,
    /// Outbound connections established and not yet closed.
    established: HashSet<ConnectionId>,
}

impl OutboundGate {
    pub(super) fn new(max: u32) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            dialling: HashSet::new(),
            established: HashSet::new(),
        }
    }

    /// Dials the node may start now without any of them ending over the limit: the limit
    /// less the outbound connections established and under way.
    pub(super) fn free(&self) -> usize {
        self.max
            .saturating_sub(self.established.len() + self.dialling.len())
    }
}

impl NetworkBehaviour for OutboundGate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if self.established.len() >= self.max {
            return Err(ConnectionDenied::new(OutboundFull { max: self.max }));
        }
        self.dialling.insert(connection_id);
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.dialling.remove(&connection_id);
        self.established.insert(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        let id = match event {
            // A dial that failed, or that another behaviour refused, before or once connected.
            FromSwarm::DialFailure(failure) => failure.connection_id,
            FromSwarm::ConnectionClosed(closed) => closed.connection_id,
            _ => return,
        };
        self.dialling.remove(&id);
        self.established.remove(&id);
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
