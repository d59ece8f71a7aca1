//! Real swarms on 127.0.0.1 signing a task of 70 operators, which is split into four signing
//! groups: the eight nodes that run (two members of each group, holding most of the stake)
//! gossip their signatures within their groups only, and every node still counts all eight and
//! reaches quorum, through the groups' aggregates.

use crate::support::*;
use avs_p2p::{
    Channel, ServiceEvent, SignatureService,
    fixtures::{Committee, response},
    groups::GroupId,
};
use std::collections::BTreeSet;

const OPERATORS: usize = 70;
const SEED: u64 = 51;

/// Two operators of each of the task's four groups, by committee index.
fn two_per_group() -> Vec<usize> {
    let keys = Committee::new(OPERATORS, SEED, |_| 1);
    let bits = keys
        .task(1, 67)
        .group_bits()
        .expect("70 operators are split");
    assert_eq!(bits, 2);
    (0..4)
        .flat_map(|prefix| {
            keys.group_indices(GroupId { bits, prefix })
                .into_iter()
                .take(2)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cross_groups_only_inside_group_aggregates() {
    let online = two_per_group();
    // The eight running operators hold 800 of 862 stake: quorum (67 %) needs six of them, so
    // no node gets there from its own group's signatures alone.
    let committee = Committee::new(
        OPERATORS,
        SEED,
        |i| if online.contains(&i) { 100 } else { 1 },
    );
    let task = committee.task(1, 67);

    let boot = service(vec![], Some(committee.operators[online[0]].id), WAIT).await;
    let bootnode = tcp_addr(boot.handle.network());
    let mut nodes: Vec<SignatureService> = vec![boot];
    for &i in &online[1..] {
        nodes.push(
            service(
                vec![bootnode.clone()],
                Some(committee.operators[i].id),
                WAIT,
            )
            .await,
        );
    }
    // Each node's group mates, as a node learns them from the operators' sockets.
    let group_of = |i: usize| task.signature_channel(&committee.operators[i].id);
    for (n, &i) in online.iter().enumerate() {
        let mates = online
            .iter()
            .enumerate()
            .filter(|&(m, &j)| m != n && group_of(j) == group_of(i))
            .map(|(m, _)| {
                let net = nodes[m].handle.network();
                (net.peer_id(), tcp_addr(net))
            })
            .collect();
        nodes[n]
            .handle
            .network()
            .set_group_peers(mates)
            .await
            .unwrap();
    }

    for node in &nodes {
        node.handle.add_task(task.clone()).await.unwrap();
    }
    // A group topic is joined with the task: until its mesh forms, publishing finds no peer
    // and is offered again, as the node does.
    for (n, &i) in online.iter().enumerate() {
        let message = committee.sign(i, response(1, 0));
        let handle = &nodes[n].handle;
        handle.publish_own(message).await.ok();
        eventually(&format!("node {n}'s signature gossiped"), || async {
            handle.republish_own(message).await.ok()
        })
        .await;
    }

    let everyone: BTreeSet<_> = online.iter().map(|&i| committee.operators[i].id).collect();
    for (n, node) in nodes.iter_mut().enumerate() {
        let mut counted = BTreeSet::new();
        let mut quorum = None;
        next_matching(
            &format!("all eight signers and quorum on node {n}"),
            &mut node.events,
            WAIT,
            |event| {
                match event {
                    ServiceEvent::Accepted {
                        task_index: 1,
                        operator_id,
                    } => {
                        counted.insert(operator_id);
                    }
                    ServiceEvent::QuorumReached { aggregate, .. } => quorum = Some(aggregate),
                    _ => {}
                }
                (counted == everyone && quorum.is_some()).then_some(())
            },
        )
        .await;
        let aggregate = quorum.expect("quorum reached");
        assert!(
            aggregate.signers.len() >= 6,
            "node {n}: {:?}",
            aggregate.signers
        );
        assert!(aggregate.signers.iter().all(|s| everyone.contains(s)));
        assert_eq!(
            aggregate.signed.non_signers.len(),
            OPERATORS - aggregate.signers.len()
        );
        // Six of the eight are in other groups, whose topics this node never joined: they
        // were counted from aggregates.
        let mine = task.signature_channel(&committee.operators[online[n]].id);
        assert!(matches!(mine, Channel::Group(_)));
        let elsewhere = everyone
            .iter()
            .filter(|id| task.signature_channel(id) != mine)
            .count();
        assert_eq!(elsewhere, 6, "node {n}");
    }
}
