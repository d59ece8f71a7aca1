//! Peer maintenance with real swarms on 127.0.0.1: a node that loses a peer dials it again
//! although it still has others, and a restarted node rejoins through the peers it stored, not
//! only through bootnodes. Before issue 16 a node redialled only its bootnodes and only with no
//! peer at all: both tests below left a node alone for good.

use crate::support::*;
use avs_p2p::{Network, NetworkConfig, NetworkHandle};
use libp2p::{Multiaddr, PeerId, identity::Keypair};
use std::path::Path;

/// How long a node stays down in these tests.
const DOWN_TIME: std::time::Duration = std::time::Duration::from_secs(4);

/// A config with a peer store at `store`.
fn stored_config(bootnodes: Vec<Multiaddr>, store: &Path) -> NetworkConfig {
    let mut c = config(bootnodes);
    c.peer_store = Some(store.to_owned());
    c
}

/// A TCP listen address on a port that is free now.
fn free_tcp_listen() -> Multiaddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

fn connected_to(status: &avs_p2p::NetworkStatus, peers: &[PeerId]) -> bool {
    peers.iter().all(|p| status.connected.contains(p))
}

async fn wait_connected(what: &str, node: &NetworkHandle, peers: &[PeerId]) {
    all_status(what, std::slice::from_ref(node), |s| connected_to(s, peers)).await;
}

/// Node C restarts on the same address with no bootnode and no peer store. A and B, which
/// still have each other, dial it again (they are below their target), so C is back in the
/// network. Before, a node with any peer never redialled, and C stayed alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_lost_a_node_dial_it_again_when_it_restarts() {
    let a = network(vec![]).await;
    let boot = tcp_addr(&a.handle);
    let b = network(vec![boot.clone()]).await;
    let c_key = Keypair::generate_ed25519();
    let c_listen = free_tcp_listen();
    let mut c_config = config(vec![boot]);
    c_config.listen_addrs = vec![c_listen.clone()];
    let c = Network::start(c_key.clone(), c_config).await.unwrap();
    let (a_id, b_id, c_id) = (a.handle.peer_id(), b.handle.peer_id(), c.handle.peer_id());
    for (node, others) in [(&a, [b_id, c_id]), (&b, [a_id, c_id]), (&c, [a_id, b_id])] {
        wait_connected("a full mesh of three", &node.handle, &others).await;
    }

    c.handle.shutdown().await;
    all_status("C gone", &[a.handle.clone(), b.handle.clone()], |s| {
        !s.connected.contains(&c_id)
    })
    .await;
    // The scenario: C stays down a few seconds, as a killed node does while it restarts, so no
    // dial or DHT query that was under way when it went is still running when it is back.
    tokio::time::sleep(DOWN_TIME).await;
    let mut alone = config(vec![]);
    alone.listen_addrs = vec![c_listen];
    let c = Network::start(c_key, alone).await.unwrap();
    wait_connected("the restarted node reached by A", &a.handle, &[c_id]).await;
    wait_connected("the restarted node reached by B", &b.handle, &[c_id]).await;
    for node in [a, b, c] {
        node.handle.shutdown().await;
    }
}

/// The bootnode restarts on another port, with no bootnode of its own: it dials the peers of
/// its peer store and is back in the network (the others could not have found it at its new
/// address). Its store lists the peers it was connected to, with the addresses they listen on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bootnode_rejoins_through_its_peer_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("p2p/peers.json");
    let boot_key = Keypair::generate_ed25519();
    let boot = Network::start(boot_key.clone(), stored_config(vec![], &store))
        .await
        .unwrap();
    let bootnode = tcp_addr(&boot.handle);
    let a = network(vec![bootnode.clone()]).await;
    let b = network(vec![bootnode.clone()]).await;
    let (a_id, b_id) = (a.handle.peer_id(), b.handle.peer_id());
    wait_connected("the bootnode's peers", &boot.handle, &[a_id, b_id]).await;
    // Identify tells the bootnode where its (inbound) peers listen.
    all_status(
        "the peers' listen addresses known",
        std::slice::from_ref(&boot.handle),
        |s| s.known.contains(&a_id) && s.known.contains(&b_id),
    )
    .await;
    boot.handle.shutdown().await;
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&store).expect("peer store written"))
            .expect("peer store is JSON");
    let listed: Vec<&str> = stored["peers"]
        .as_array()
        .expect("a list of peers")
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&a_id.to_string().as_str()) && listed.contains(&b_id.to_string().as_str()),
        "{stored}"
    );
    assert_eq!(stored["version"], 1, "{stored}");
    let a_listen = tcp_addr(&a.handle).to_string();
    let a_entry = stored["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == a_id.to_string())
        .unwrap();
    assert!(
        a_entry["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|addr| a_listen.starts_with(addr.as_str().unwrap())),
        "A's listen address {a_listen} is stored: {a_entry}"
    );

    let boot = Network::start(boot_key, stored_config(vec![], &store))
        .await
        .unwrap();
    assert_ne!(
        tcp_addr(&boot.handle),
        bootnode,
        "the restarted bootnode listens elsewhere: A and B cannot redial it"
    );
    wait_connected(
        "the restarted bootnode back with A and B",
        &boot.handle,
        &[a_id, b_id],
    )
    .await;
    for node in [a, b, boot] {
        node.handle.shutdown().await;
    }
}

/// A peer store that cannot be read is set aside and the node starts from its bootnodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_peer_store_does_not_stop_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("peers.json");
    std::fs::write(&store, "{ not json").unwrap();
    let boot = network(vec![]).await;
    let node = Network::start(
        Keypair::generate_ed25519(),
        stored_config(vec![tcp_addr(&boot.handle)], &store),
    )
    .await
    .expect("an unreadable store is not fatal");
    wait_connected("the bootnode", &node.handle, &[boot.handle.peer_id()]).await;
    assert!(dir.path().join("peers.json.unreadable").exists());
    node.handle.shutdown().await;
    let saved = std::fs::read_to_string(&store).expect("a fresh store written on shutdown");
    assert!(
        saved.contains(&boot.handle.peer_id().to_string()),
        "{saved}"
    );
    boot.handle.shutdown().await;
}

/// A published socket names the key its node must prove: the Noise handshake checks the peer id
/// at the end of the address. A socket naming a key that does not listen there (an operator
/// publishing another node's address under its own peer id, or a stale socket after a key
/// change) never becomes a connection, however often it is redialled; the genuine socket for
/// the same address connects at once (the control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_naming_another_key_never_connects() {
    let a = network(vec![]).await;
    let b = network(vec![]).await;
    let b_id = b.handle.peer_id();
    let b_addr: Multiaddr = tcp_addr(&b.handle)
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    let impostor = Keypair::generate_ed25519().public().to_peer_id();
    a.handle
        .update_operator_peers(vec![(impostor, b_addr.clone())], vec![])
        .await
        .unwrap();
    // Negative property, so a fixed window: the first dial and at least two redials of the
    // pinned peer (maintenance ticks every 2 s) fit in it.
    let window = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < window {
        let status = a.handle.status().await.unwrap();
        assert!(
            status.connected.is_empty(),
            "a socket with a key that does not listen there connected: {:?}",
            status.connected
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    a.handle
        .update_operator_peers(vec![(b_id, b_addr)], vec![impostor])
        .await
        .unwrap();
    wait_connected("the genuine socket", &a.handle, &[b_id]).await;
    let status = a.handle.status().await.unwrap();
    assert_eq!(
        status.connected,
        vec![b_id],
        "only the key that listens there"
    );
    for node in [a, b] {
        node.handle.shutdown().await;
    }
}

/// A node of another deployment (another task manager: an operator's testnet node, say) is
/// not a peer: the DHT protocol is per deployment, and identify tells. One that connects is
/// never learnt, and one the peer store still lists (saved before the protocol was per
/// deployment) is forgotten once it identifies; a node of our deployment is learnt (the
/// control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_deployment_is_not_kept_as_a_peer() {
    let other_deployment = |bootnodes| {
        let mut c = config(bootnodes);
        c.task_manager = alloy::primitives::Address::repeat_byte(0xbb);
        c
    };
    let stored_stranger = Network::start(Keypair::generate_ed25519(), other_deployment(vec![]))
        .await
        .unwrap();
    let stored_id = stored_stranger.handle.peer_id();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("peers.json");
    let bare: Multiaddr = tcp_addr(&stored_stranger.handle)
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    std::fs::write(
        &store,
        serde_json::json!({
            "version": 1,
            "peers": [{
                "peer_id": stored_id.to_string(),
                "addrs": [bare.to_string()],
                "last_connected": 1,
                "verified": true,
            }],
        })
        .to_string(),
    )
    .unwrap();
    let a = Network::start(Keypair::generate_ed25519(), stored_config(vec![], &store))
        .await
        .unwrap();
    assert!(
        a.handle.status().await.unwrap().known.contains(&stored_id),
        "the stored stranger is loaded"
    );
    all_status(
        "the stored stranger forgotten once it identified",
        std::slice::from_ref(&a.handle),
        |s| !s.known.contains(&stored_id),
    )
    .await;

    let a_addr = tcp_addr(&a.handle);
    let stranger = Network::start(
        Keypair::generate_ed25519(),
        other_deployment(vec![a_addr.clone()]),
    )
    .await
    .unwrap();
    let fellow = network(vec![a_addr]).await;
    let fellow_id = fellow.handle.peer_id();
    all_status(
        "the fellow node learnt",
        std::slice::from_ref(&a.handle),
        |s| s.known.contains(&fellow_id) && s.connected.contains(&stranger.handle.peer_id()),
    )
    .await;
    let status = a.handle.status().await.unwrap();
    assert_eq!(
        status.known,
        vec![fellow_id],
        "only the node of this deployment is a known peer"
    );
    for node in [a, stored_stranger, stranger, fellow] {
        node.handle.shutdown().await;
    }
}
