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
//! [`OutboundGate`] counts the node's outbound connections, established and pending, and
//! denies a new dial while they fill [`NetworkConfig::max_outbound`](crate::NetworkConfig):
//! the dial fails at once with [`OutboundFull`], locally, and nothing reaches the remote.
//! `connection_limits` stays as it is, the authority on every other limit.
//!
//! # Invariants
//!
//! - A connection is counted from the moment a dial is allowed until its dial fails or the
//!   connection closes, so the count never lags behind the swarm.
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
#[error("outbound connections full ({max} established or dialling)")]
pub struct OutboundFull {
    /// The configured limit.
    pub max: usize,
}

/// Denies dials while the node's outbound connections are at the limit.
pub(super) struct OutboundGate {
    max: usize,
    /// Outbound connections allowed and not yet closed or failed.
    outbound: HashSet<ConnectionId>,
}

impl OutboundGate {
    pub(super) fn new(max: u32) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            outbound: HashSet::new(),
        }
    }

    /// Whether a dial now would be refused.
    pub(super) fn is_full(&self) -> bool {
        self.outbound.len() >= self.max
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
        if self.is_full() {
            return Err(ConnectionDenied::new(OutboundFull { max: self.max }));
        }
        self.outbound.insert(connection_id);
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
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
        match event {
            // A dial that failed, or that another behaviour denied once it connected.
            FromSwarm::DialFailure(failure) => {
                self.outbound.remove(&failure.connection_id);
            }
            FromSwarm::ConnectionClosed(closed) => {
                self.outbound.remove(&closed.connection_id);
            }
            _ => {}
        }
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
