//! Real swarms on 127.0.0.1: discovery via a bootnode, every signature reaching every peer
//! (including a node that learns of the task late), stake-weighted quorum on every node and
//! the leaderless submitter order.

use crate::support::*;
use avs_p2p::{
    ServiceEvent,
    fixtures::{Committee, response},
};
use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

const NODES: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signature_reaches_every_peer_and_ranks_take_turns() {
    let committee = Committee::new(NODES, 42, |i| 10 + i as u128);
    let slot = Duration::from_millis(1500);
    let (mut nodes, _) = committee_services(&committee, NODES, slot).await;
    let nets: Vec<_> = nodes.iter().map(|n| n.handle.network().clone()).collect();

    // Kademlia discovery through the bootnode connects everyone to everyone.
    all_status("full connectivity and topic subscriptions", &nets, |s| {
        s.connected.len() == NODES - 1 && s.subscribed.len() == NODES - 1
    })
    .await;

    // The last node learns of the task only after every signature was gossiped: its copies
    // wait in the pending buffer and are replayed when the task arrives.
    let task = committee.task(1, 100);
    for n in &nodes[..NODES - 1] {
        n.handle.add_task(task.clone()).await.unwrap();
    }
    for (i, n) in nodes.iter().enumerate() {
        if i < NODES - 1 {
            n.handle
                .publish_own(committee.sign(i, response(1, 0)))
                .await
                .unwrap();
        }
    }
    // Wait until the early signatures have spread (each early node counted all five), so the
    // late node's copies are sitting in its pending buffer.
    for (i, n) in nodes[..NODES - 1].iter_mut().enumerate() {
        let mut seen = BTreeSet::new();
        next_matching(
            &format!("early signatures on node {i}"),
            &mut n.events,
            WAIT,
            |ev| {
                if let ServiceEvent::Accepted {
                    task_index: 1,
                    operator_id,
                } = ev
                {
                    seen.insert(operator_id);
                }
                (seen.len() == NODES - 1).then_some(())
            },
        )
        .await;
    }
    // Every quorum (100 %) needs the late node's signature, so all happen after this instant.
    let before_quorum = Instant::now();
    let late = &nodes[NODES - 1];
    late.handle.add_task(task.clone()).await.unwrap();
    late.handle
        .publish_own(committee.sign(NODES - 1, response(1, 0)))
        .await
        .unwrap();

    let all: BTreeSet<_> = committee.operators.iter().map(|o| o.id).collect();
    let mut ranks = Vec::new();
    for (i, n) in nodes.iter_mut().enumerate() {
        let (aggregate, rank) = next_matching(
            &format!("quorum on node {i}"),
            &mut n.events,
            WAIT,
            |ev| match ev {
                ServiceEvent::QuorumReached { aggregate, rank } => Some((aggregate, rank)),
                _ => None,
            },
        )
        .await;
        // 100 % threshold: quorum means every signature arrived at this node.
        assert_eq!(
            aggregate.signers.iter().copied().collect::<BTreeSet<_>>(),
            all,
            "node {i}"
        );
        assert!(aggregate.signed.non_signers.is_empty());
        assert_eq!(aggregate.stakes[0].signed, aggregate.stakes[0].total);
        let keys: Vec<_> = committee
            .operators
            .iter()
            .map(|o| o.secret.public_key_g2())
            .collect();
        assert!(avs_bls::verify_aggregate(
            &keys,
            aggregate.digest,
            &aggregate.signed.sigma
        ));
        ranks.push(rank.expect("every node runs a member operator"));
    }
    let mut sorted = ranks.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..NODES as u32).collect::<Vec<_>>(),
        "ranks are a permutation"
    );

    // Rank 0 is due at once; pretend it fails to submit. Rank 1 becomes due one slot later.
    let rank_of = |r: u32| ranks.iter().position(|x| *x == r).unwrap();
    let (r0, r1) = (rank_of(0), rank_of(1));
    let due0 = submit_due("rank 0 submit", &mut nodes[r0].events).await;
    assert_eq!(due0.task_index, 1);
    let due1 = submit_due("rank 1 submit", &mut nodes[r1].events).await;
    assert_eq!(due1.task_index, 1);
    let waited = before_quorum.elapsed();
    assert!(
        waited >= slot,
        "rank 1 was due after {waited:?}, before one slot ({slot:?})"
    );
    assert!(waited < slot + WAIT, "rank 1 was due only after {waited:?}");
    // Rank 1 submitted: TaskResponded reaches every node, nobody else submits.
    for n in &nodes {
        n.handle.task_responded(1).await.unwrap();
    }
    // Absence of a submission can only be observed over time: wait past rank 2's slot.
    tokio::time::sleep(slot * 2).await;
    for (i, n) in nodes.iter_mut().enumerate() {
        while let Ok(ev) = n.events.try_recv() {
            assert!(
                !matches!(ev, ServiceEvent::SubmitDue(_)),
                "node {i} (rank {}) submitted after the task was answered",
                ranks[i]
            );
        }
    }
    // Defect 1 of issue 15: a reorg takes the response out. The task is due again, from the
    // signatures already gathered (gossipsub would drop re-sent copies as already seen).
    for n in &nodes {
        n.handle.response_reverted(1).await.unwrap();
    }
    let again = submit_due(
        "rank 0 submits again after the response was reverted",
        &mut nodes[r0].events,
    )
    .await;
    assert_eq!(again.task_index, 1);
    assert_eq!(again.signers.len(), NODES, "every signature was kept");
    for n in &nodes {
        n.handle.task_closed(1).await.unwrap();
    }
    for n in &nets {
        n.shutdown().await;
    }
}

/// The next `SubmitDue` aggregate on `events`.
async fn submit_due(
    what: &str,
    events: &mut tokio::sync::mpsc::Receiver<ServiceEvent>,
) -> Box<avs_p2p::Aggregate> {
    next_matching(what, events, WAIT, |ev| match ev {
        ServiceEvent::SubmitDue(a) => Some(a),
        _ => None,
    })
    .await
}
