//! Discovery from the chain: the p2p addresses operators publish in EigenLayer's registry
//! (their sockets) become peers the network keeps dialling, so bootnodes are only a
//! convenience. For each new task, the sockets of its operators that are new or changed since
//! the last task are parsed and handed to the network; an unusable socket is logged once per
//! value (the operator's node stays reachable through gossip, only not dialled directly).

use avs_p2p::{OperatorId, TaskInfo, parse_socket};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;

/// The sockets already handed to the network (or found unusable), by operator.
#[derive(Debug)]
pub struct OperatorPeers {
    local: OperatorId,
    seen: HashMap<OperatorId, String>,
}

impl OperatorPeers {
    /// Discovery for the node of operator `local` (its own socket is skipped).
    pub fn new(local: OperatorId) -> Self {
        Self {
            local,
            seen: HashMap::new(),
        }
    }

    /// The dialable sockets of `task`'s members that are new or changed, from `socket_of`
    /// (the registry's last published socket of an operator).
    pub fn changed<'a>(
        &mut self,
        task: &TaskInfo,
        socket_of: impl Fn(&OperatorId) -> Option<&'a str>,
    ) -> Vec<(PeerId, Multiaddr)> {
        let mut peers = Vec::new();
        for (id, _) in task.members() {
            if *id == self.local {
                continue;
            }
            let Some(socket) = socket_of(id) else {
                continue;
            };
            if self.seen.get(id).is_some_and(|s| s == socket) {
                continue;
            }
            self.seen.insert(*id, socket.to_owned());
            match parse_socket(socket) {
                Ok(peer) => peers.push(peer),
                Err(err) => tracing::warn!(
                    operator = %id,
                    %err,
                    "an operator's published socket cannot be dialled; it is reached through gossip only"
                ),
            }
        }
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avs_p2p::fixtures::Committee;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn new_and_changed_sockets_are_handed_over_once_and_bad_ones_skipped() {
        let committee = Committee::new(3, 7, |_| 10);
        let ids: Vec<OperatorId> = committee.operators.iter().map(|o| o.id).collect();
        let task = committee.task(1, 66);
        let mut sockets: HashMap<OperatorId, String> = HashMap::new();
        sockets.insert(ids[0], format!("/ip4/10.0.0.1/tcp/9777/p2p/{PEER}"));
        sockets.insert(ids[1], format!("/ip4/10.0.0.2/tcp/9777/p2p/{PEER}"));
        sockets.insert(ids[2], "10.0.0.3:9777".to_owned());
        let mut discovery = OperatorPeers::new(ids[0]);
        let first = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(
            first.iter().map(|(_, a)| a.to_string()).collect::<Vec<_>>(),
            vec![format!("/ip4/10.0.0.2/tcp/9777/p2p/{PEER}")],
            "our own socket and the unusable one are skipped"
        );
        assert!(
            discovery
                .changed(&task, |id| sockets.get(id).map(String::as_str))
                .is_empty(),
            "unchanged"
        );
        sockets.insert(ids[1], format!("/ip4/10.0.0.9/tcp/9777/p2p/{PEER}"));
        let moved = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(moved.len(), 1);
        assert_eq!(
            moved[0].1.to_string(),
            format!("/ip4/10.0.0.9/tcp/9777/p2p/{PEER}")
        );
    }
}
