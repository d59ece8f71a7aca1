//! A node restarted on its signature journal resumes its partial signature set: the
//! signatures it had accepted before the restart count again once the task is re-added, and
//! one new signature completes the quorum.

use crate::support::*;
use avs_p2p::{
    Network, OperatorId, ServiceConfig, ServiceEvent, SignatureJournal, SignatureService,
    fixtures::{Committee, response},
    journal::DEFAULT_MAX_RECORDS,
};
use libp2p::{Multiaddr, identity::Keypair};
use std::{collections::BTreeSet, path::Path, time::Duration};

/// Starts a node with a journal at `path`, bootstrapping from `bootnodes`.
async fn journaled(
    path: &Path,
    bootnodes: Vec<Multiaddr>,
    operator: OperatorId,
) -> SignatureService {
    journaled_with_queue(
        path,
        bootnodes,
        operator,
        ServiceConfig::default().event_queue,
    )
    .await
}

/// [`journaled`] with an event queue of `event_queue`.
async fn journaled_with_queue(
    path: &Path,
    bootnodes: Vec<Multiaddr>,
    operator: OperatorId,
    event_queue: usize,
) -> SignatureService {
    let network = Network::start(Keypair::generate_ed25519(), config(bootnodes))
        .await
        .expect("network starts");
    let journal = SignatureJournal::open(path, DEFAULT_MAX_RECORDS)
        .await
        .expect("journal opens");
    SignatureService::spawn_with_journal(
        network,
        ServiceConfig {
            aggregation_window: Duration::ZERO,
            local_operator: Some(operator),
            event_queue,
            ..ServiceConfig::default()
        },
        journal,
    )
}

/// Waits until `node` and `peer` see each other subscribed to the signature topic.
async fn connected(what: &str, node: &SignatureService, peer: &SignatureService) {
    let (a, b) = (node.handle.network(), peer.handle.network());
    eventually(&format!("{what}: mutual topic subscription"), || async {
        let a_sees_b = a.status().await.ok()?.subscribed.contains(&b.peer_id());
        let b_sees_a = b.status().await.ok()?.subscribed.contains(&a.peer_id());
        (a_sees_b && b_sees_a).then_some(())
    })
    .await;
}

/// Stops a service after it processed every request sent so far: dropping the last handle
/// closes its request queue, which it drains before ending.
async fn stop(service: SignatureService) {
    let SignatureService {
        handle,
        events,
        task,
    } = service;
    let network = handle.network().clone();
    drop(handle);
    tokio::time::timeout(WAIT, task)
        .await
        .expect("service stops in time")
        .expect("service task did not panic");
    drop(events);
    network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reaches_quorum_with_its_journaled_signatures_plus_one() {
    // Four equal stakes, 75 %: three signatures are a quorum, two are not.
    let committee = Committee::new(4, 7, |_| 10);
    let task = committee.task(1, 75);
    let ids: Vec<OperatorId> = committee.operators.iter().map(|o| o.id).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p2p/signatures.journal");

    // Before the restart: signatures of operators 0 and 1 accepted (and journaled), with a
    // witness peer that goes away with the first run, so that after the restart nobody
    // has them in a gossip cache: only the journal can bring them back.
    let witness = service(vec![], Some(ids[3]), Duration::from_secs(60)).await;
    witness.handle.add_task(task.clone()).await.unwrap();
    let first = journaled(&path, vec![tcp_addr(witness.handle.network())], ids[0]).await;
    connected("first run", &first, &witness).await;
    first.handle.add_task(task.clone()).await.unwrap();
    for i in 0..2 {
        first
            .handle
            .publish_own(committee.sign(i, response(1, 0)))
            .await
            .unwrap();
    }
    stop(first).await;
    stop(witness).await;
    let reopened = SignatureJournal::open(&path, DEFAULT_MAX_RECORDS)
        .await
        .unwrap();
    assert_eq!(
        reopened
            .records()
            .iter()
            .map(|m| m.operator_id)
            .collect::<Vec<_>>(),
        ids[..2]
    );
    drop(reopened);

    // The restart: a fresh swarm and validator on the same journal, and a fresh peer.
    let peer = service(vec![], Some(ids[3]), Duration::from_secs(60)).await;
    peer.handle.add_task(task.clone()).await.unwrap();
    let mut second = journaled(&path, vec![tcp_addr(peer.handle.network())], ids[0]).await;
    connected("second run", &second, &peer).await;
    second.handle.add_task(task.clone()).await.unwrap();
    let mut restored = BTreeSet::new();
    next_matching(
        "journaled signatures counted",
        &mut second.events,
        WAIT,
        |ev| {
            match ev {
                ServiceEvent::Accepted {
                    task_index: 1,
                    operator_id,
                } => {
                    restored.insert(operator_id);
                }
                ServiceEvent::QuorumReached { .. } => panic!("quorum with only two signatures"),
                _ => {}
            }
            (restored.len() == 2).then_some(())
        },
    )
    .await;
    assert_eq!(restored, ids[..2].iter().copied().collect());

    // One new signature, gossiped by the peer, completes the quorum.
    peer.handle
        .publish_own(committee.sign(2, response(1, 0)))
        .await
        .unwrap();
    let aggregate =
        next_matching(
            "quorum after the restart",
            &mut second.events,
            WAIT,
            |ev| match ev {
                ServiceEvent::QuorumReached { aggregate, .. } => Some(aggregate),
                _ => None,
            },
        )
        .await;
    assert_eq!(aggregate.task_index, 1);
    assert_eq!(
        aggregate.signers.iter().copied().collect::<BTreeSet<_>>(),
        ids[..3].iter().copied().collect()
    );
    assert_eq!(aggregate.signed.non_signers, vec![ids[3].0]);
    assert_eq!(aggregate.stakes[0].signed, 30);

    // Closing the task prunes its records.
    second.handle.task_closed(1).await.unwrap();
    stop(second).await;
    let pruned = SignatureJournal::open(&path, DEFAULT_MAX_RECORDS)
        .await
        .unwrap();
    assert!(pruned.records().is_empty());
    stop(peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_tasks_closed_while_down_are_pruned_when_a_later_task_is_added() {
    let committee = Committee::new(4, 7, |_| 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p2p/signatures.journal");
    // Before the restart the node held signatures of tasks 1 and 2; task 1 was answered
    // while the node was down, so after the restart the ExEx re-derives only task 2.
    let mut journal = SignatureJournal::open(&path, DEFAULT_MAX_RECORDS)
        .await
        .unwrap();
    journal
        .append(&[
            committee.sign(0, response(1, 0)),
            committee.sign(1, response(1, 0)),
            committee.sign(0, response(2, 0)),
        ])
        .await
        .unwrap();
    drop(journal);

    let node = journaled(&path, vec![], committee.operators[0].id).await;
    node.handle.add_task(committee.task(2, 75)).await.unwrap();
    stop(node).await;

    let left = SignatureJournal::open(&path, DEFAULT_MAX_RECORDS)
        .await
        .unwrap();
    assert_eq!(
        left.records()
            .iter()
            .map(|m| (m.task_index, m.operator_id))
            .collect::<Vec<_>>(),
        vec![(2, committee.operators[0].id)],
        "task 1's records are pruned, task 2's stay"
    );
}

/// The application waits for the service (`publish_own`) and is also the one that takes its
/// events. A service that blocked on a full event queue never answered, and both stalled for
/// good: in a 16-node churn run, restarted nodes restored 16 tasks × 16 journaled signatures
/// into the 256-event queue while publishing their signature for the next task, and never
/// counted another signature (6 of 16 operators lost; checkpoints stalled for 87 blocks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_more_signatures_than_the_event_queue_holds_does_not_stall_the_service() {
    // Six equal stakes and a 100 % threshold: no quorum event, only acceptances.
    let committee = Committee::new(6, 7, |_| 10);
    let task = committee.task(1, 100);
    let ids: Vec<OperatorId> = committee.operators.iter().map(|o| o.id).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p2p/signatures.journal");
    let mut journal = SignatureJournal::open(&path, DEFAULT_MAX_RECORDS)
        .await
        .unwrap();
    let journaled_signers = 1..5;
    let records: Vec<_> = journaled_signers
        .clone()
        .map(|i| committee.sign(i, response(1, 0)))
        .collect();
    journal.append(&records).await.unwrap();
    drop(journal);

    // A peer, so that publishing has somewhere to go.
    let peer = service(vec![], Some(ids[5]), Duration::from_secs(60)).await;
    peer.handle.add_task(task.clone()).await.unwrap();
    let mut node =
        journaled_with_queue(&path, vec![tcp_addr(peer.handle.network())], ids[0], 1).await;
    connected("restarted node", &node, &peer).await;
    // Four restored signatures for a queue of one, and nobody reading it yet.
    node.handle.add_task(task.clone()).await.unwrap();
    tokio::time::timeout(
        WAIT,
        node.handle.publish_own(committee.sign(0, response(1, 0))),
    )
    .await
    .expect("publish_own answered while the application is not reading events")
    .expect("own signature published");

    let mut accepted = BTreeSet::new();
    next_matching("every acceptance delivered", &mut node.events, WAIT, |ev| {
        if let ServiceEvent::Accepted {
            task_index: 1,
            operator_id,
        } = ev
        {
            accepted.insert(operator_id);
        }
        (accepted.len() == 5).then_some(())
    })
    .await;
    assert_eq!(accepted, ids[..5].iter().copied().collect());
    stop(node).await;
    stop(peer).await;
}
