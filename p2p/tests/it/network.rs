//! The bare network layer: QUIC transport, the inbound queue, identity persistence, shutdown.

use crate::support::*;
use avs_p2p::{
    Channel, Network, NetworkError, Verdict,
    fixtures::{Committee, response},
    load_or_create_identity,
};
use libp2p::multiaddr::Protocol;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_only_nodes_gossip_and_shutdown_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("node.key");
    let key = load_or_create_identity(&key_path).unwrap();
    let (a, mut b) = pair_on("/ip4/127.0.0.1/udp/0/quic-v1", key).await;
    let addr = a.handle.listen_addrs()[0].clone();
    assert!(addr.iter().any(|p| matches!(p, Protocol::QuicV1)), "{addr}");
    let a_id = a.handle.peer_id();

    let committee = Committee::new(1, 3, |_| 1);
    let msg = committee.sign(0, response(4, 0));
    // Publishing the same bytes twice is a no-op the second time (content-addressed ids), not
    // an error.
    a.handle
        .publish(Channel::Deployment, msg.into())
        .await
        .unwrap();
    let got = gossip_one(&a, &mut b, msg).await;
    assert_eq!(got.id.source, a.handle.peer_id());
    b.handle.report(got.id, Verdict::Accept).await.unwrap();
    // Exactly one copy reaches the application.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.inbound.recv())
            .await
            .is_err(),
        "duplicate delivered"
    );

    // Shutdown ends the task; the handle then reports a stopped network.
    a.handle.shutdown().await;
    tokio::time::timeout(WAIT, a.task)
        .await
        .expect("task ends")
        .unwrap();
    assert!(matches!(
        a.handle.publish(Channel::Deployment, msg.into()).await,
        Err(NetworkError::Stopped)
    ));
    b.handle.shutdown().await;

    // The identity persisted: the same key file gives the same PeerId.
    let again = load_or_create_identity(&key_path).unwrap();
    assert_eq!(again.public().to_peer_id(), a_id);
}

#[tokio::test]
async fn invalid_config_is_refused_before_binding() {
    let mut c = config(vec![]);
    c.inbound_queue = 0;
    let err = Network::start(libp2p::identity::Keypair::generate_ed25519(), c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("inbound_queue"), "{err}");
}

/// A port in use is one clear error naming the address and the OS reason (libp2p's own message
/// for it is just "Other").
#[tokio::test]
async fn a_port_in_use_names_the_os_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut c = config(vec![]);
    c.listen_addrs = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    let err = Network::start(libp2p::identity::Keypair::generate_ed25519(), c)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("/ip4/127.0.0.1/tcp/{port}")), "{err}");
    assert!(
        err.to_lowercase().contains("address already in use"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A node whose bootnode is not listening yet at start-up (nodes started together, or a
/// bootnode restarting) keeps redialling and joins once the bootnode is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_a_bootnode_that_starts_after_it() {
    let boot_key = libp2p::identity::Keypair::generate_ed25519();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let boot_addr: libp2p::Multiaddr = format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
        boot_key.public().to_peer_id()
    )
    .parse()
    .unwrap();
    let early = Network::start(
        libp2p::identity::Keypair::generate_ed25519(),
        config(vec![boot_addr]),
    )
    .await
    .unwrap();
    let mut late_config = config(vec![]);
    late_config.listen_addrs = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    let boot = Network::start(boot_key, late_config).await.unwrap();

    let nets = [early.handle.clone(), boot.handle.clone()];
    all_status("the early node reaches the late bootnode", &nets, |s| {
        s.connected.len() == 1 && s.subscribed.len() == 1
    })
    .await;
    early.handle.shutdown().await;
    boot.handle.shutdown().await;
}

/// A node whose outbound connections are full refuses a further dial before it starts,
/// with the reason, and nothing reaches the peer it would have dialled. libp2p's connection
/// limits alone let the dial run its whole handshake with the remote and refused it only
/// then: Kademlia walks at the limit turned into about ten such handshakes a second per node
/// in the network simulation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_over_the_outbound_limit_is_refused_before_it_reaches_the_peer() {
    let b = network(vec![]).await;
    let c = network(vec![]).await;
    let mut one_out = config(vec![tcp_addr(&b.handle)]);
    one_out.max_outbound = 1;
    let a = Network::start(libp2p::identity::Keypair::generate_ed25519(), one_out)
        .await
        .unwrap();
    all_status(
        "a connected to its bootnode",
        &[a.handle.clone(), b.handle.clone()],
        |s| s.connected.len() == 1,
    )
    .await;
    let c_before = c.handle.traffic().await.unwrap();

    let refused = a.handle.dial(tcp_addr(&c.handle)).await;
    let Err(NetworkError::Dial { reason, .. }) = refused else {
        panic!("a dial over the outbound limit must be refused, got {refused:?}");
    };
    assert!(
        reason.contains("refused by this node: outbound connections full (1 established)"),
        "{reason}"
    );
    let c_status = c.handle.status().await.unwrap();
    assert!(c_status.connected.is_empty(), "{c_status:?}");
    assert_eq!(
        c.handle.traffic().await.unwrap().since(&c_before).bytes_in,
        0,
        "no handshake reached c"
    );
    // The limit counts connections, not dials ever made: with b gone, a dials again.
    b.handle.shutdown().await;
    eventually("a's connection to b closed", || async {
        a.handle
            .status()
            .await
            .unwrap()
            .connected
            .is_empty()
            .then_some(())
    })
    .await;
    // Its redials of b may be under way meanwhile; they do not hold the slot.
    a.handle.dial(tcp_addr(&c.handle)).await.unwrap();
    all_status(
        "a connected to c once a slot was free",
        &[a.handle.clone(), c.handle.clone()],
        |s| s.connected.len() == 1,
    )
    .await;
    for n in [&a.handle, &c.handle] {
        n.shutdown().await;
    }
}

/// B holds A's message for 1.5 s before accepting it, as a node does with a signature whose
/// task it has not seen yet (after a restart, or a block behind). C joins B meanwhile, after
/// A's own gossip of the message is over, so only B can give it to C. Gossipsub keeps the
/// message for the validation timeout, so B still forwards it; with a cache shorter than the
/// wait (the old 5 heartbeats) B could not ("Message not in cache") and C never saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_accepted_late_is_still_forwarded() {
    assert!(
        forwarded_after_a_late_accept(None).await,
        "the default validation timeout keeps the message"
    );
    assert!(
        !forwarded_after_a_late_accept(Some(Duration::from_millis(300))).await,
        "control: a cache shorter than the wait drops it"
    );
}

/// Runs [`a_message_accepted_late_is_still_forwarded`] with B's validation timeout (`None`:
/// the default); whether C received the message.
async fn forwarded_after_a_late_accept(timeout: Option<Duration>) -> bool {
    let a = network(vec![]).await;
    let mut b_config = config(vec![tcp_addr(&a.handle)]);
    if let Some(timeout) = timeout {
        b_config.validation_timeout = timeout;
    }
    let mut b = Network::start(libp2p::identity::Keypair::generate_ed25519(), b_config)
        .await
        .unwrap();
    let a_id = a.handle.peer_id();
    all_status("B meshed with A", std::slice::from_ref(&b.handle), |s| {
        s.mesh.contains(&a_id)
    })
    .await;

    let committee = Committee::new(1, 3, |_| 1);
    let msg = committee.sign(0, response(4, 0));
    a.handle
        .publish(Channel::Deployment, msg.into())
        .await
        .unwrap();
    let held = next_inbound("B receives A's message", &mut b.inbound).await;
    let received = tokio::time::Instant::now();
    // A gossips its message ids for 3 heartbeats (300 ms here): C joins after that.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut c = network(vec![tcp_addr(&b.handle)]).await;
    let c_id = c.handle.peer_id();
    all_status("B meshed with C", std::slice::from_ref(&b.handle), |s| {
        s.mesh.contains(&c_id)
    })
    .await;
    // The verdict's delay under test.
    tokio::time::sleep_until(received + Duration::from_millis(1500)).await;
    b.handle.report(held.id, Verdict::Accept).await.unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(3), c.inbound.recv())
        .await
        .is_ok_and(|m| m.is_some_and(|m| m.message == msg.into()));
    for node in [a, b, c] {
        node.handle.shutdown().await;
    }
    delivered
}

/// The traffic counters see what crosses the wire: a publisher's bytes out, a receiver's bytes
/// in, and a forwarded copy of a message the receiver already had as a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_counts_bytes_messages_and_duplicates() {
    use avs_p2p::wire::SIGNATURE_MESSAGE_LEN;
    let a = network(vec![]).await;
    let boot = tcp_addr(&a.handle);
    let mut b = network(vec![boot.clone()]).await;
    let mut c = network(vec![boot]).await;
    let nets = [a.handle.clone(), b.handle.clone(), c.handle.clone()];
    all_status("a triangle of meshed peers", &nets, |s| s.mesh.len() == 2).await;
    let before: Vec<_> = {
        let mut v = Vec::new();
        for n in &nets {
            v.push(n.traffic().await.unwrap());
        }
        v
    };

    let committee = Committee::new(1, 5, |_| 1);
    let msg = committee.sign(0, response(7, 0));
    a.handle
        .publish(Channel::Deployment, msg.into())
        .await
        .unwrap();
    // b and c both accept, so each forwards to the other unless the other's copy came first:
    // at least one of them receives a second copy.
    for node in [&mut b, &mut c] {
        let got = next_inbound("message within the timeout", &mut node.inbound).await;
        node.handle.report(got.id, Verdict::Accept).await.unwrap();
    }
    eventually("the forwarded copies counted", || async {
        let b_t = b.handle.traffic().await.unwrap().since(&before[1]);
        let c_t = c.handle.traffic().await.unwrap().since(&before[2]);
        (b_t.duplicates_in() + c_t.duplicates_in() >= 1).then_some(())
    })
    .await;
    let after_a = a.handle.traffic().await.unwrap().since(&before[0]);
    assert!(
        after_a.bytes_out >= 2 * SIGNATURE_MESSAGE_LEN as u64,
        "the publisher sent the message to both peers: {after_a:?}"
    );
    for (name, handle, earlier) in [("b", &b.handle, &before[1]), ("c", &c.handle, &before[2])] {
        let t = handle.traffic().await.unwrap().since(earlier);
        assert_eq!(t.unique_messages_in, 1, "{name}: one message: {t:?}");
        assert!(t.messages_in >= 1, "{name}: {t:?}");
        assert!(
            t.bytes_in >= SIGNATURE_MESSAGE_LEN as u64,
            "{name} received at least the message's bytes: {t:?}"
        );
    }
}

/// Nodes on libp2p's in-process memory transport (what `just sim` runs a thousand of) connect
/// through a bootnode and gossip, with noise and yamux as over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_transport_nodes_gossip() {
    let (a, mut b) = pair_on("/memory/0", libp2p::identity::Keypair::generate_ed25519()).await;
    let addr = a.handle.listen_addrs()[0].clone();
    assert!(
        addr.iter().any(|p| matches!(p, Protocol::Memory(_))),
        "{addr}"
    );
    gossip_one(
        &a,
        &mut b,
        Committee::new(1, 9, |_| 1).sign(0, response(3, 0)),
    )
    .await;
}

/// Publishes `msg` from `a` on the deployment topic and returns it as `b` receives it,
/// checking it arrives unchanged.
async fn gossip_one(
    a: &Network,
    b: &mut Network,
    msg: avs_p2p::SignatureMessage,
) -> avs_p2p::InboundMessage {
    a.handle
        .publish(Channel::Deployment, msg.into())
        .await
        .unwrap();
    let got = next_inbound("message within the timeout", &mut b.inbound).await;
    assert_eq!(got.message, msg.into());
    got
}

/// Two nodes listening only on `listen` (`a` with the given key), `b` bootstrapping from `a`,
/// connected and subscribed to each other.
async fn pair_on(listen: &str, key_a: libp2p::identity::Keypair) -> (Network, Network) {
    let only = |bootnodes| {
        let mut c = config(bootnodes);
        c.listen_addrs = vec![listen.parse().unwrap()];
        c
    };
    let a = Network::start(key_a, only(vec![])).await.unwrap();
    let boot = a.handle.listen_addrs()[0].clone();
    let b = Network::start(
        libp2p::identity::Keypair::generate_ed25519(),
        only(vec![boot]),
    )
    .await
    .unwrap();
    all_status(
        &format!("connection and subscription over {listen}"),
        &[a.handle.clone(), b.handle.clone()],
        |s| s.connected.len() == 1 && s.subscribed.len() == 1,
    )
    .await;
    (a, b)
}
