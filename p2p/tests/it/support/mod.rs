//! Shared helpers for the swarm tests: nodes on 127.0.0.1 with fast heartbeats, and bounded
//! waits that fail with a message naming what was awaited.

#![allow(dead_code, unreachable_pub)]

use avs_p2p::{
    InboundMessage, InboundMessages, Network, NetworkConfig, NetworkHandle, NetworkStatus,
    OperatorId, ServiceConfig, ServiceEvent, SignatureService,
};
use libp2p::{Multiaddr, identity::Keypair, multiaddr::Protocol};
use std::{future::Future, time::Duration};
use tokio::sync::mpsc;

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

/// A config listening on loopback TCP and QUIC (ephemeral ports), with a fast heartbeat.
pub fn config(bootnodes: Vec<Multiaddr>) -> NetworkConfig {
    let mut c = NetworkConfig::new(31337, alloy::primitives::Address::repeat_byte(0xaa));
    c.listen_addrs = vec![
        "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap(),
    ];
    c.bootnodes = bootnodes;
    c.heartbeat_interval = Duration::from_millis(100);
    c.rejects_before_ban = 5;
    c
}

/// The node's TCP listen address (with `/p2p`).
pub fn tcp_addr(handle: &NetworkHandle) -> Multiaddr {
    handle
        .listen_addrs()
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .cloned()
        .expect("node listens on TCP")
}

/// The next message of `inbound`, within [`WAIT`]; `what` names it in the failure.
pub async fn next_inbound(what: &str, inbound: &mut InboundMessages) -> InboundMessage {
    tokio::time::timeout(WAIT, inbound.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing received within {WAIT:?}"))
        .expect("network running")
}

/// Starts a bare network.
pub async fn network(bootnodes: Vec<Multiaddr>) -> Network {
    Network::start(Keypair::generate_ed25519(), config(bootnodes))
        .await
        .expect("network starts")
}

/// Starts a network plus signature service for `operator`.
pub async fn service(
    bootnodes: Vec<Multiaddr>,
    operator: Option<OperatorId>,
    submit_slot: Duration,
) -> SignatureService {
    let net = network(bootnodes).await;
    SignatureService::spawn(
        net,
        ServiceConfig {
            aggregation_window: Duration::ZERO,
            submit_slot,
            local_operator: operator,
            ..ServiceConfig::default()
        },
    )
}

/// Services for the first `n` operators of `committee`, the first one the others' bootnode,
/// and that bootnode's address.
pub async fn committee_services(
    committee: &avs_p2p::fixtures::Committee,
    n: usize,
    submit_slot: Duration,
) -> (Vec<SignatureService>, Multiaddr) {
    let boot = service(vec![], Some(committee.operators[0].id), submit_slot).await;
    let bootnode = tcp_addr(boot.handle.network());
    let mut nodes = vec![boot];
    for operator in &committee.operators[1..n] {
        nodes.push(service(vec![bootnode.clone()], Some(operator.id), submit_slot).await);
    }
    (nodes, bootnode)
}

/// Polls `f` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        // Status polling, not synchronisation: the swarm has no event for "mesh complete".
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every handle's status satisfies `pred`.
pub async fn all_status(
    what: &str,
    handles: &[NetworkHandle],
    pred: impl Fn(&NetworkStatus) -> bool,
) {
    eventually(what, || async {
        for h in handles {
            if !pred(&h.status().await.expect("network running")) {
                return None;
            }
        }
        Some(())
    })
    .await
}

/// Receives events until `pick` returns `Some`, for at most `timeout`.
pub async fn next_matching<T>(
    what: &str,
    events: &mut mpsc::Receiver<ServiceEvent>,
    timeout: Duration,
    mut pick: impl FnMut(ServiceEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(timeout, async {
        loop {
            let ev = events
                .recv()
                .await
                .unwrap_or_else(|| panic!("service stopped while waiting for {what}"));
            if let Some(v) = pick(ev) {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for {what}"))
}
