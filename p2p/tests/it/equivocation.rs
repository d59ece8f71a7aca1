//! An operator signs two different responses to one task and gossips both, over real swarms:
//! every honest node keeps the pair as evidence (both signatures verify against the operator's
//! key), counts the operator in one response only and never aggregates the second response. The
//! peer that sent it is not penalised: it may be an honest relay.

use crate::support::*;
use avs_p2p::{
    Channel, ServiceEvent,
    fixtures::{Committee, response},
};
use std::{collections::HashSet, time::Duration};

const HONEST: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocation_is_kept_as_evidence_and_never_aggregated() {
    // Operators 0..3 run services; operator 3's key belongs to the equivocator's bare swarm.
    let committee = Committee::new(HONEST + 1, 11, |_| 100);
    let equivocator = HONEST;
    let slot = Duration::from_secs(60);
    let (mut honest, bootnode) = committee_services(&committee, HONEST, slot).await;
    let rogue = network(vec![bootnode.clone()]).await;
    let rogue_peer = rogue.handle.peer_id();
    let nets: Vec<_> = honest.iter().map(|n| n.handle.network().clone()).collect();
    all_status("everyone connected and subscribed", &nets, |s| {
        s.connected.contains(&rogue_peer) && s.subscribed.len() == HONEST
    })
    .await;
    let task = committee.task(1, 100);
    for n in &honest {
        n.handle.add_task(task.clone()).await.unwrap();
    }

    let (good, bad) = (response(1, 0), response(1, 7));
    rogue
        .handle
        .publish(
            Channel::Deployment,
            committee.sign(equivocator, good).into(),
        )
        .await
        .unwrap();
    // Every node counts the first response before the second is sent: with two connections to
    // the rogue the two could otherwise arrive in either order, and a node that counted the
    // second first would rightly never see the first reach 100 %.
    let equivocator_id = committee.operators[equivocator].id;
    for (i, n) in honest.iter_mut().enumerate() {
        next_matching(
            &format!("the first response on node {i}"),
            &mut n.events,
            WAIT,
            |event| {
                matches!(event, ServiceEvent::Accepted { operator_id, .. } if operator_id == equivocator_id)
                    .then_some(())
            },
        )
        .await;
    }
    rogue
        .handle
        .publish(Channel::Deployment, committee.sign(equivocator, bad).into())
        .await
        .unwrap();
    for (i, n) in honest.iter().enumerate() {
        n.handle.publish_own(committee.sign(i, good)).await.unwrap();
    }

    let key = committee.operators[equivocator].secret.public_key_g2();
    for (i, n) in honest.iter_mut().enumerate() {
        let mut quorum = None;
        let mut evidence = None;
        while quorum.is_none() || evidence.is_none() {
            match next_matching(
                &format!("quorum and evidence on node {i}"),
                &mut n.events,
                WAIT,
                Some,
            )
            .await
            {
                ServiceEvent::QuorumReached { aggregate, .. } => quorum = Some(aggregate),
                ServiceEvent::Equivocation(e) => evidence = Some(e),
                _ => {}
            }
        }
        let (quorum, evidence) = (quorum.unwrap(), evidence.unwrap());
        assert_eq!(evidence.operator_id, committee.operators[equivocator].id);
        assert_eq!(evidence.task_hash, task.attestation.task.hash());
        let responses: HashSet<_> = [evidence.first.response, evidence.second.response].into();
        assert_eq!(
            responses,
            [good, bad].into(),
            "node {i}: both responses kept"
        );
        for signed in [evidence.first, evidence.second] {
            assert!(
                key.verify(signed.digest, &signed.signature),
                "node {i}: the evidence verifies on its own"
            );
        }
        // The honest response reaches quorum; the equivocator counts at most once in it.
        assert_eq!(quorum.response, good, "node {i}");
        let signers: HashSet<_> = quorum.signers.iter().copied().collect();
        assert_eq!(signers.len(), quorum.signers.len());
        for honest_op in &committee.operators[..HONEST] {
            assert!(
                signers.contains(&honest_op.id),
                "node {i}: honest signer missing"
            );
        }
    }
    // Nobody is penalised for relaying it (an honest relay cannot know which response came
    // first elsewhere): the equivocator's peer keeps a non-negative score everywhere.
    for net in &nets {
        let status = net.status().await.unwrap();
        assert!(
            status.score(&rogue_peer).unwrap_or(0.0) >= 0.0,
            "relaying an equivocation was penalised"
        );
        assert!(!status.banned.contains(&rogue_peer));
    }
    rogue.handle.shutdown().await;
    for n in &nets {
        n.shutdown().await;
    }
}
