//! Discovery from the chain: the p2p addresses operators publish in EigenLayer's registry
//! (their sockets) become peers the network keeps dialling, so bootnodes are only a
//! convenience. For each new task, the sockets of its operators that are new or changed since
//! the last task are parsed and handed to the network, and the peer an operator published
//! before is retired (an ordinary peer again). An unusable socket is logged once per value
//! (the operator's node stays reachable through gossip, only not dialled directly).
//!
//! Any registered operator can publish any string, so a socket is refused when it names a
//! peer id another operator published first, or, outside devnets, a loopback, private or
//! link-local address: every node would dial it.
//!
//! For a task whose operator set is split into signing groups, the peers of the local
//! operator's group mates are handed over too ([`OperatorPeers::group_mates`]): the network
//! keeps them connected whatever its peer count, since the group's signatures travel only
//! among its members.
//!
//! The node's own operator's socket is checked too, once per value: missing, undialable, not
//! public, or naming another peer id than this node's (a new identity after the socket was
//! published) is a warning that tells the operator to run `avs-node operator set-socket`.
use avs_p2p::{Channel, OperatorId, TaskInfo, parse_socket};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use std::collections::HashMap;

/// What changed among the operators' published peers since the last task.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PeerChanges {
    /// New or moved operators' peers, to dial.
    pub added: Vec<(PeerId, Multiaddr)>,
    /// Peers operators published before and replaced.
    pub retired: Vec<PeerId>,
}

/// The sockets already handed to the network (or found unusable), by operator.
#[derive(Debug)]
pub struct OperatorPeers {
    local: OperatorId,
    /// This node's libp2p identity, which the local operator's socket must name.
    local_peer: PeerId,
    /// The local operator's socket as last checked (`Some(None)`: none published).
    own_socket: Option<Option<String>>,
    /// Loopback and private addresses accepted (devnets).
    allow_local: bool,
    seen: HashMap<OperatorId, String>,
    /// The peer and address of each operator's handed socket.
    handed: HashMap<OperatorId, (PeerId, Multiaddr)>,
    /// The group mates' peers last handed over.
    mates: Vec<(PeerId, Multiaddr)>,
}

impl OperatorPeers {
    /// Discovery for the node of operator `local` with identity `local_peer` (its own socket
    /// is checked, not dialled); `allow_local` accepts loopback and private addresses, for
    /// devnets.
    pub fn new(local: OperatorId, local_peer: PeerId, allow_local: bool) -> Self {
        Self {
            local,
            local_peer,
            own_socket: None,
            allow_local,
            seen: HashMap::new(),
            handed: HashMap::new(),
            mates: Vec::new(),
        }
    }

    /// The dialable sockets of `task`'s members that are new or changed, from `socket_of`
    /// (the registry's last published socket of an operator), and the peers they replace.
    pub fn changed<'a>(
        &mut self,
        task: &TaskInfo,
        socket_of: impl Fn(&OperatorId) -> Option<&'a str>,
    ) -> PeerChanges {
        let mut changes = PeerChanges::default();
        for (id, _) in task.members() {
            if *id == self.local {
                self.check_own(socket_of(id));
                continue;
            }
            let Some(socket) = socket_of(id) else {
                continue;
            };
            if self.seen.get(id).is_some_and(|s| s == socket) {
                continue;
            }
            self.seen.insert(*id, socket.to_owned());
            let parsed =
                parse_socket(socket)
                    .map_err(|e| e.to_string())
                    .and_then(|(peer, addr)| {
                        if !self.allow_local && !is_public(&addr) {
                            return Err(format!("{addr} is not a public address"));
                        }
                        match self
                            .handed
                            .iter()
                            .find(|(other, (p, _))| *p == peer && *other != id)
                        {
                            Some((other, _)) => {
                                Err(format!("peer id {peer} is operator {other}'s"))
                            }
                            None => Ok((peer, addr)),
                        }
                    });
            match parsed {
                Ok((peer, addr)) => {
                    if let Some((old, _)) = self
                        .handed
                        .insert(*id, (peer, addr.clone()))
                        .filter(|(old, _)| *old != peer)
                    {
                        changes.retired.push(old);
                    }
                    changes.added.push((peer, addr));
                }
                Err(err) => tracing::warn!(
                    operator = %id,
                    %err,
                    "an operator's published socket cannot be dialled; it is reached through gossip only"
                ),
            }
        }
        changes
    }

    /// The handed peers of the local operator's group mates in `task` (call it after
    /// [`Self::changed`] for the same task), if they differ from the last ones handed over:
    /// empty when the task is not split into groups or the operator is not a member.
    pub fn group_mates(&mut self, task: &TaskInfo) -> Option<Vec<(PeerId, Multiaddr)>> {
        let mates: Vec<(PeerId, Multiaddr)> = match task.signature_channel(&self.local) {
            Channel::Group(group) if task.is_member(&self.local) => task
                .group_members(group)
                .filter(|id| **id != self.local)
                .filter_map(|id| self.handed.get(id).cloned())
                .collect(),
            _ => Vec::new(),
        };
        if mates == self.mates {
            return None;
        }
        self.mates.clone_from(&mates);
        Some(mates)
    }
}

impl OperatorPeers {
    /// Warns, once per published value, when the local operator's socket does not lead other
    /// nodes here.
    fn check_own(&mut self, socket: Option<&str>) {
        if self
            .own_socket
            .as_ref()
            .is_some_and(|seen| seen.as_deref() == socket)
        {
            return;
        }
        self.own_socket = Some(socket.map(str::to_owned));
        if let Some(problem) = own_socket_problem(socket, self.local_peer, self.allow_local) {
            tracing::warn!(
                socket = socket.unwrap_or_default(),
                "{problem}: other nodes cannot dial this one from the chain (only through bootnodes and gossip); publish this node's address with `avs-node operator set-socket`"
            );
        }
    }
}

/// What is wrong with the local operator's published `socket` for a node with identity
/// `local_peer`, if anything.
fn own_socket_problem(
    socket: Option<&str>,
    local_peer: PeerId,
    allow_local: bool,
) -> Option<String> {
    let Some(socket) = socket else {
        return Some("this operator has published no socket".to_owned());
    };
    match parse_socket(socket) {
        Err(err) => Some(format!(
            "this operator's published socket cannot be dialled ({err})"
        )),
        Ok((_, addr)) if !allow_local && !is_public(&addr) => Some(format!(
            "this operator's published socket names {addr}, not a public address (other operators refuse it)"
        )),
        Ok((peer, _)) if peer != local_peer => Some(format!(
            "this operator's published socket names peer {peer}, but this node is {local_peer} (a new p2p/node.key since it was published, or another node's socket)"
        )),
        Ok(_) => None,
    }
}

/// Whether `addr` names a public host: no loopback, private, link-local or unspecified IP,
/// and not `localhost`.
fn is_public(addr: &Multiaddr) -> bool {
    addr.iter().all(|p| match p {
        Protocol::Ip4(ip) => {
            !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified())
        }
        Protocol::Ip6(ip) => {
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_unique_local()
                || ip.is_unicast_link_local())
        }
        Protocol::Dns(host) | Protocol::Dns4(host) | Protocol::Dns6(host) => {
            !host.eq_ignore_ascii_case("localhost")
        }
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use avs_p2p::fixtures::Committee;

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    #[test]
    fn the_own_socket_must_be_published_dialable_public_and_name_this_node() {
        let me = peer();
        let public = format!("/ip4/203.0.113.1/tcp/9777/p2p/{me}");
        assert_eq!(own_socket_problem(Some(&public), me, false), None);
        assert!(
            own_socket_problem(None, me, false)
                .unwrap()
                .contains("no socket")
        );
        assert!(
            own_socket_problem(Some(""), me, false)
                .unwrap()
                .contains("cannot be dialled")
        );
        let other = own_socket_problem(Some(&public), peer(), false).unwrap();
        assert!(other.contains(&format!("names peer {me}")), "{other}");
        let private = format!("/ip4/127.0.0.1/tcp/9777/p2p/{me}");
        assert!(
            own_socket_problem(Some(&private), me, false)
                .unwrap()
                .contains("not a public address")
        );
        assert_eq!(
            own_socket_problem(Some(&private), me, true),
            None,
            "devnets accept local addresses"
        );
    }

    #[test]
    fn new_and_moved_sockets_are_handed_over_once_and_the_old_peer_retired() {
        let committee = Committee::new(3, 7, |_| 10);
        let ids: Vec<OperatorId> = committee.operators.iter().map(|o| o.id).collect();
        let task = committee.task(1, 66);
        let (p1, p2, p1_new) = (peer(), peer(), peer());
        let mut sockets: HashMap<OperatorId, String> = HashMap::new();
        sockets.insert(ids[0], format!("/ip4/203.0.113.1/tcp/9777/p2p/{}", peer()));
        sockets.insert(ids[1], format!("/ip4/203.0.113.2/tcp/9777/p2p/{p1}"));
        sockets.insert(ids[2], "203.0.113.3:9777".to_owned());
        let mut discovery = OperatorPeers::new(ids[0], peer(), false);
        let first = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(
            first.added,
            vec![(
                p1,
                format!("/ip4/203.0.113.2/tcp/9777/p2p/{p1}")
                    .parse()
                    .unwrap()
            )],
            "our own socket and the unusable one are skipped"
        );
        assert!(first.retired.is_empty());
        let again = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(again, PeerChanges::default(), "unchanged");
        // Operator 1 moves to a new node; operator 2 claims operator 1's old peer id.
        sockets.insert(
            ids[1],
            format!("/dns4/op1.example.org/tcp/9777/p2p/{p1_new}"),
        );
        let moved = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(moved.added.len(), 1);
        assert_eq!(moved.added[0].0, p1_new);
        assert_eq!(moved.retired, vec![p1]);
        sockets.insert(ids[2], format!("/ip4/203.0.113.3/tcp/9777/p2p/{p1_new}"));
        let stolen = discovery.changed(&task, |id| sockets.get(id).map(String::as_str));
        assert_eq!(
            stolen,
            PeerChanges::default(),
            "another operator's peer id is refused"
        );
        let _ = p2;
    }

    #[test]
    fn group_mates_are_the_handed_peers_of_the_local_operators_group() {
        let committee = Committee::new(70, 8, |_| 10);
        let task = committee.task(1, 66);
        let me = committee.operators[0].id;
        let Channel::Group(group) = task.signature_channel(&me) else {
            panic!("70 operators are split into groups");
        };
        let peers: HashMap<OperatorId, (PeerId, String)> = committee
            .operators
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let peer = peer();
                (
                    o.id,
                    (peer, format!("/ip4/203.0.113.{i}/tcp/9777/p2p/{peer}")),
                )
            })
            .collect();
        let mut discovery = OperatorPeers::new(me, peers[&me].0, false);
        discovery.changed(&task, |id| peers.get(id).map(|(_, s)| s.as_str()));
        let mates = discovery.group_mates(&task).expect("first time");
        let expected: Vec<PeerId> = task
            .group_members(group)
            .filter(|id| **id != me)
            .map(|id| peers[id].0)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(mates.iter().map(|(p, _)| *p).collect::<Vec<_>>(), expected);
        assert_eq!(discovery.group_mates(&task), None, "unchanged");
        // A task of a small set (one by one): no mates any more.
        let small = Committee::new(3, 9, |_| 10);
        let mut discovery = OperatorPeers::new(small.operators[0].id, peer(), false);
        assert_eq!(
            discovery.group_mates(&small.task(1, 66)),
            None,
            "none before either"
        );
    }

    #[test]
    fn local_addresses_only_on_devnets() {
        for addr in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/169.254.169.254/tcp/80",
            "/ip6/::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/dns4/localhost/tcp/1",
        ] {
            assert!(!is_public(&addr.parse().unwrap()), "{addr}");
        }
        for addr in [
            "/ip4/203.0.113.7/tcp/9777",
            "/dns4/op.example.org/udp/9777/quic-v1",
        ] {
            assert!(is_public(&addr.parse().unwrap()), "{addr}");
        }
        let committee = Committee::new(2, 7, |_| 10);
        let task = committee.task(1, 66);
        let local = format!("/ip4/127.0.0.1/tcp/9777/p2p/{}", peer());
        let socket_of =
            |id: &OperatorId| (*id == committee.operators[1].id).then_some(local.as_str());
        let me = committee.operators[0].id;
        assert!(
            OperatorPeers::new(me, peer(), false)
                .changed(&task, socket_of)
                .added
                .is_empty()
        );
        assert_eq!(
            OperatorPeers::new(me, peer(), true)
                .changed(&task, socket_of)
                .added
                .len(),
            1
        );
    }
}
