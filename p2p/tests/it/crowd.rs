//! Many operator nodes behind one IP address (a devnet, a data centre NAT, a cloud provider's
//! egress): a node connected to fifteen peers on 127.0.0.1 still publishes its signature and
//! every peer receives it. Gossipsub's default IP-colocation penalty would score all fifteen
//! below the publish threshold; here Sybil resistance comes from the stake registry, so that
//! penalty is off.

use crate::support::*;
use avs_p2p::{
    Channel,
    fixtures::{Committee, response},
};

const PEERS: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_fifteen_peers_on_one_ip_publishes_to_all_of_them() {
    let hub = network(vec![]).await;
    let bootnode = tcp_addr(&hub.handle);
    let mut spokes = Vec::with_capacity(PEERS);
    for _ in 0..PEERS {
        spokes.push(network(vec![bootnode.clone()]).await);
    }
    all_status(
        "the hub connected to every spoke, all subscribed",
        std::slice::from_ref(&hub.handle),
        |s| s.connected.len() == PEERS && s.subscribed.len() == PEERS,
    )
    .await;

    let message = Committee::new(1, 3, |_| 1).sign(0, response(1, 0));
    hub.handle
        .publish(Channel::Deployment, message.into())
        .await
        .expect("publishing with fifteen colocated peers");
    for (i, spoke) in spokes.iter_mut().enumerate() {
        let received = next_inbound(
            &format!("spoke {i} receiving the hub's signature"),
            &mut spoke.inbound,
        )
        .await;
        assert_eq!(received.message, message.into(), "spoke {i}");
    }
    for node in spokes.iter().chain(std::iter::once(&hub)) {
        node.handle.shutdown().await;
    }
}
