//! The simulated operators' nodes: started on libp2p's memory transport from a few random
//! bootnodes each,
//! waited for until every one has a gossip mesh, their service events turned into the
//! per-task milestones the measurement needs, and stopped.

use crate::{Args, Role};
use avs_p2p::{
    InboundMessages, Network, NetworkConfig, NetworkHandle, OperatorId, ServiceConfig,
    ServiceEvent, ServiceHandle, SignatureService, Traffic, fixtures::Committee, groups::GroupId,
};
use libp2p::{Multiaddr, PeerId, identity::Keypair};
use rand::{rngs::StdRng, seq::IndexedRandom};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, mpsc};

/// Bootnodes each node starts from: random nodes started before it.
const BOOTNODES: usize = 3;
/// Bound on the wait for every node to have a mesh.
const MESH_WAIT: Duration = Duration::from_secs(300);
/// Mesh peers every node must have before the first task (gossipsub's lower mesh bound is 5;
/// smaller networks need fewer).
const MESH_READY: usize = 4;
/// Bytes in per node and second below which the fleet counts as quiet (an idle fleet is
/// at 0–1 KB/s).
const QUIET_BYTES_PER_SEC: f64 = 2_000.0;
/// The node's default peer target.
const NODE_PEERS: usize = avs_p2p::config::DEFAULT_TARGET_PEERS;

/// An operator's node running the real stack.
pub(crate) struct HonestNode {
    /// Index of its operator in the committee.
    pub(crate) operator: usize,
    pub(crate) service: ServiceHandle,
}

/// A rogue operator's node: a bare swarm with no service, so it forwards nothing.
pub(crate) struct RogueNode {
    pub(crate) operator: usize,
    pub(crate) network: NetworkHandle,
    /// Never read: what reaches it is never validated, hence never forwarded.
    _inbound: InboundMessages,
}

/// A milestone of one honest node for one task.
#[derive(Debug)]
pub(crate) enum Milestone {
    /// It holds a quorum aggregate of this many signers.
    Quorum { signers: usize },
    /// It has every honest online operator's signature.
    AllSignatures,
    /// Its submitter turn came (with this rank).
    SubmitDue { rank: Option<u32> },
    /// It detected an operator signing two responses.
    Equivocation,
}

/// A milestone of some honest node, and when.
#[derive(Debug)]
pub(crate) struct Report {
    /// Index into [`Fleet::honest`].
    pub(crate) node: usize,
    pub(crate) task: u32,
    pub(crate) at: Instant,
    pub(crate) what: Milestone,
}

pub(crate) struct Fleet {
    pub(crate) honest: Vec<HonestNode>,
    pub(crate) rogue: Vec<RogueNode>,
    pub(crate) reports: Mutex<mpsc::UnboundedReceiver<Report>>,
    /// Peers each node keeps.
    pub(crate) peers: usize,
    /// Resident memory of the whole process once every node has its mesh, in bytes.
    pub(crate) rss_ready: u64,
    /// Time from the first node's start to every node having its mesh.
    pub(crate) mesh_formed: Duration,
}

impl Fleet {
    pub(crate) async fn start(
        args: &Args,
        committee: &Committee,
        roles: &[Role],
        rng: &mut StdRng,
    ) -> eyre::Result<Self> {
        let live = roles.iter().filter(|r| **r != Role::Offline).count();
        let peers = args.peers.unwrap_or(NODE_PEERS);
        let honest_ids: Arc<HashSet<OperatorId>> = Arc::new(
            roles
                .iter()
                .enumerate()
                .filter(|(_, r)| **r == Role::Honest)
                .map(|(i, _)| committee.operators[i].id)
                .collect(),
        );
        let (report_tx, reports) = mpsc::unbounded_channel();
        let started = Instant::now();
        let mut addrs: Vec<Multiaddr> = Vec::with_capacity(live);
        let mut honest = Vec::new();
        let mut rogue = Vec::new();
        let mut live_nodes: Vec<(usize, NetworkHandle)> = Vec::with_capacity(live);
        for (operator, role) in roles.iter().enumerate() {
            if *role == Role::Offline {
                continue;
            }
            let bootnodes = addrs.choose_multiple(rng, BOOTNODES).cloned().collect();
            let network = Network::start(Keypair::generate_ed25519(), config(bootnodes, peers))
                .await
                .map_err(|e| eyre::eyre!("starting node of operator {operator}: {e}"))?;
            addrs.push(network.handle.listen_addrs()[0].clone());
            live_nodes.push((operator, network.handle.clone()));
            match role {
                Role::Honest => {
                    let network = if args.latency_ms == 0 {
                        network
                    } else {
                        Network {
                            inbound: network
                                .inbound
                                .delayed(Duration::from_millis(args.latency_ms)),
                            ..network
                        }
                    };
                    let SignatureService { handle, events, .. } = SignatureService::spawn(
                        network,
                        ServiceConfig {
                            local_operator: Some(committee.operators[operator].id),
                            aggregation_window: Duration::from_millis(args.aggregation_window_ms),
                            submit_slot: Duration::from_millis(args.submit_slot_ms),
                            ..ServiceConfig::default()
                        },
                    );
                    tokio::spawn(read_events(
                        honest.len(),
                        events,
                        honest_ids.clone(),
                        report_tx.clone(),
                    ));
                    honest.push(HonestNode {
                        operator,
                        service: handle,
                    });
                }
                Role::Rogue => rogue.push(RogueNode {
                    operator,
                    network: network.handle,
                    _inbound: network.inbound,
                }),
                Role::Offline => unreachable!("skipped above"),
            }
        }
        introduce_group_mates(committee, args.threshold, &live_nodes).await?;
        eprintln!(
            "sim: {} honest and {} rogue nodes started in {:.1} s, {peers} peers each; waiting for their meshes",
            honest.len(),
            rogue.len(),
            started.elapsed().as_secs_f64()
        );
        let fleet = Self {
            honest,
            rogue,
            reports: Mutex::new(reports),
            peers,
            rss_ready: 0,
            mesh_formed: Duration::ZERO,
        };
        fleet.wait_for_meshes(live).await?;
        Ok(Self {
            rss_ready: rss_bytes()?,
            mesh_formed: started.elapsed(),
            ..fleet
        })
    }

    fn networks(&self) -> impl Iterator<Item = &NetworkHandle> {
        self.honest
            .iter()
            .map(|n| n.service.network())
            .chain(self.rogue.iter().map(|n| &n.network))
    }

    /// Waits until every node (rogues too: they take mesh slots) has enough mesh peers.
    async fn wait_for_meshes(&self, live: usize) -> eyre::Result<()> {
        let want = MESH_READY.min(live - 1);
        let deadline = Instant::now() + MESH_WAIT;
        let mut last_print = Instant::now();
        loop {
            let mut ready = 0;
            for status in self.statuses().await? {
                if status.mesh.len() >= want {
                    ready += 1;
                }
            }
            if ready == live {
                return Ok(());
            }
            eyre::ensure!(
                Instant::now() < deadline,
                "after {MESH_WAIT:?} only {ready} of {live} nodes have {want} mesh peers"
            );
            if last_print.elapsed() >= Duration::from_secs(5) {
                eprintln!("sim: {ready} of {live} nodes have {want} mesh peers");
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the fleet is quiet: its connection count changed by less than 1 % and its
    /// nodes received less than [`QUIET_BYTES_PER_SEC`] each over the last two seconds (peer
    /// discovery done: Kademlia's start-up lookups take tens of seconds in a large fleet), for
    /// at most [`MESH_WAIT`].
    pub(crate) async fn wait_until_quiet(&self) -> eyre::Result<()> {
        const PERIOD: Duration = Duration::from_secs(2);
        let deadline = Instant::now() + MESH_WAIT;
        let mut last: Option<(usize, Vec<Traffic>)> = None;
        loop {
            let connections: usize = self
                .statuses()
                .await?
                .iter()
                .map(|s| s.connected.len())
                .sum();
            let traffic = self.traffic().await?;
            if let Some((last_connections, last_traffic)) = &last {
                let bytes: u64 = traffic
                    .iter()
                    .zip(last_traffic)
                    .map(|(now, then)| now.since(then).bytes_in)
                    .sum();
                let per_node_per_sec =
                    bytes as f64 / traffic.len().max(1) as f64 / PERIOD.as_secs_f64();
                if last_connections.abs_diff(connections) * 100 <= connections
                    && per_node_per_sec < QUIET_BYTES_PER_SEC
                {
                    return Ok(());
                }
                eyre::ensure!(
                    Instant::now() < deadline,
                    "fleet still busy after {MESH_WAIT:?}: {connections} connections, {:.1} KB/s in per node",
                    per_node_per_sec / 1e3
                );
            }
            last = Some((connections, traffic));
            tokio::time::sleep(PERIOD).await;
        }
    }

    /// Every node's status, asked of all at once (one at a time, a thousand busy swarms take
    /// minutes to answer).
    async fn statuses(&self) -> eyre::Result<Vec<avs_p2p::NetworkStatus>> {
        let asks = self.networks().map(NetworkHandle::status);
        Ok(futures::future::try_join_all(asks).await?)
    }

    /// Every honest node's traffic counters, in [`Fleet::honest`] order, asked of all at once.
    pub(crate) async fn traffic(&self) -> eyre::Result<Vec<Traffic>> {
        let asks = self.honest.iter().map(|n| n.service.network().traffic());
        Ok(futures::future::try_join_all(asks).await?)
    }

    pub(crate) async fn shutdown(self) {
        let stops = self.networks().map(NetworkHandle::shutdown);
        futures::future::join_all(stops).await;
    }
}

/// For an operator set split into signing groups, hands every node the addresses of its group
/// mates' nodes, as a node learns them from the operators' published sockets.
async fn introduce_group_mates(
    committee: &Committee,
    threshold: u8,
    live_nodes: &[(usize, NetworkHandle)],
) -> eyre::Result<()> {
    let Some(bits) = committee.task(0, threshold).group_bits() else {
        return Ok(());
    };
    let group_of = |operator: usize| GroupId::of(&committee.operators[operator].id, bits);
    let mut groups: HashMap<GroupId, Vec<(PeerId, Multiaddr)>> = HashMap::new();
    for (operator, handle) in live_nodes {
        groups
            .entry(group_of(*operator))
            .or_default()
            .push((handle.peer_id(), handle.listen_addrs()[0].clone()));
    }
    for (operator, handle) in live_nodes {
        let mates = groups[&group_of(*operator)]
            .iter()
            .filter(|(peer, _)| *peer != handle.peer_id())
            .cloned()
            .collect();
        handle.set_group_peers(mates).await?;
    }
    eprintln!("sim: {} signing groups ({bits} id bits)", groups.len());
    Ok(())
}

/// libp2p's in-process memory transport (noise and yamux as over TCP, without a socket per
/// connection: a thousand nodes' connections would not fit one process's descriptors), the
/// given bootnodes and peer target; everything else is the node's default.
fn config(bootnodes: Vec<Multiaddr>, peers: usize) -> NetworkConfig {
    let mut c = NetworkConfig::new(31337, alloy::primitives::Address::repeat_byte(0xAA));
    c.listen_addrs = vec!["/memory/0".parse().expect("static multiaddr")];
    c.bootnodes = bootnodes;
    c.target_peers = peers;
    c.min_peers = c.min_peers.min(peers);
    c
}

/// Resident memory of this process, from `/proc/self/status`.
pub(crate) fn rss_bytes() -> eyre::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| eyre::eyre!("no VmRSS in /proc/self/status"))?;
    Ok(kib * 1024)
}

/// Turns one honest node's service events into [`Report`]s: its first quorum, its submission
/// turn, its equivocation evidence, and the moment it holds every honest signature.
async fn read_events(
    node: usize,
    mut events: mpsc::Receiver<ServiceEvent>,
    honest: Arc<HashSet<OperatorId>>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut accepted: HashMap<u32, usize> = HashMap::new();
    let mut ranks: HashMap<u32, Option<u32>> = HashMap::new();
    while let Some(event) = events.recv().await {
        let at = Instant::now();
        let (task, what) = match event {
            ServiceEvent::Accepted {
                task_index,
                operator_id,
            } => {
                if !honest.contains(&operator_id) {
                    continue;
                }
                let n = accepted.entry(task_index).or_default();
                *n += 1;
                if *n != honest.len() {
                    continue;
                }
                (task_index, Milestone::AllSignatures)
            }
            ServiceEvent::QuorumReached { aggregate, rank } => {
                ranks.insert(aggregate.task_index, rank);
                (
                    aggregate.task_index,
                    Milestone::Quorum {
                        signers: aggregate.signers.len(),
                    },
                )
            }
            ServiceEvent::SubmitDue(aggregate) => (
                aggregate.task_index,
                Milestone::SubmitDue {
                    rank: ranks.get(&aggregate.task_index).copied().flatten(),
                },
            ),
            ServiceEvent::Equivocation(evidence) => (evidence.task_index, Milestone::Equivocation),
            ServiceEvent::AggregationFailed(e) => {
                eprintln!("sim: node {node}: aggregation failed: {e}");
                continue;
            }
        };
        if reports
            .send(Report {
                node,
                task,
                at,
                what,
            })
            .is_err()
        {
            return;
        }
    }
}
