//! Operator sockets: the p2p address an operator publishes in EigenLayer's registry
//! (`registerOperator`'s `socket`, `updateSocket`) so every node can dial it without a
//! bootnode. The socket is a libp2p multiaddress ending in the node's peer id, e.g.
//! `/ip4/203.0.113.7/tcp/9777/p2p/12D3KooW…` or `/dns4/op.example.org/udp/9777/quic-v1/p2p/…`.
//!
//! The peer id makes the address authenticated: the noise handshake proves the dialled peer
//! holds that key, so a wrong or stale socket only costs a failed dial. It does not make the
//! peer that operator: what a peer relays is still checked against BLS keys.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// Why a published socket cannot be dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// Nothing published.
    #[error("no socket published")]
    Empty,
    /// Not a multiaddress at all (e.g. the `host:port` some AVSs publish).
    #[error("{socket:?} is not a multiaddress: {reason}")]
    NotMultiaddr {
        /// The socket.
        socket: String,
        /// The parser's complaint.
        reason: String,
    },
    /// No `/p2p/<peer id>` at the end: the dialled peer could not be authenticated.
    #[error("{0} does not end in /p2p/<peer id>")]
    NoPeerId(Multiaddr),
    /// No TCP port or QUIC address to dial.
    #[error("{0} has no /tcp/<port> or /udp/<port>/quic-v1 to dial")]
    NoTransport(Multiaddr),
    /// An unspecified IP (`0.0.0.0`, `::`): a listen address, not one to dial.
    #[error("{0} names an unspecified IP (a listen address): publish a reachable one")]
    Unspecified(Multiaddr),
}

/// The peer id and address of a published socket.
pub fn parse_socket(socket: &str) -> Result<(PeerId, Multiaddr), SocketError> {
    if socket.trim().is_empty() {
        return Err(SocketError::Empty);
    }
    let addr: Multiaddr =
        socket
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| SocketError::NotMultiaddr {
                socket: socket.to_owned(),
                reason: e.to_string(),
            })?;
    let Some(Protocol::P2p(peer)) = addr.iter().last() else {
        return Err(SocketError::NoPeerId(addr));
    };
    let protocols: Vec<Protocol<'_>> = addr.iter().collect();
    let dialable = protocols.iter().any(|p| matches!(p, Protocol::Tcp(_)))
        || protocols.iter().any(|p| matches!(p, Protocol::QuicV1));
    if !dialable {
        return Err(SocketError::NoTransport(addr));
    }
    let unspecified = protocols.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    });
    if unspecified {
        return Err(SocketError::Unspecified(addr));
    }
    Ok((peer, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn a_published_multiaddress_with_a_peer_id_is_dialable() {
        for socket in [
            format!("/ip4/203.0.113.7/tcp/9777/p2p/{PEER}"),
            format!("/dns4/op.example.org/udp/9777/quic-v1/p2p/{PEER}"),
            format!("/ip6/2001:db8::1/tcp/9777/p2p/{PEER}"),
        ] {
            let (peer, addr) = parse_socket(&socket).unwrap();
            assert_eq!(peer.to_string(), PEER);
            assert_eq!(addr.to_string(), socket);
        }
    }

    #[test]
    fn unusable_sockets_say_why() {
        let cases = [
            ("203.0.113.7:9777".to_owned(), "is not a multiaddress"),
            ("".to_owned(), "no socket published"),
            (
                "/ip4/203.0.113.7/tcp/9777".to_owned(),
                "does not end in /p2p/",
            ),
            (format!("/ip4/203.0.113.7/p2p/{PEER}"), "has no /tcp/"),
            (
                format!("/ip4/0.0.0.0/tcp/9777/p2p/{PEER}"),
                "unspecified IP",
            ),
        ];
        for (socket, expected) in cases {
            let err = parse_socket(&socket).unwrap_err().to_string();
            assert!(err.contains(expected), "{socket}: {err}");
        }
    }
}
