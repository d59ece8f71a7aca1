//! Gossipsub peer scoring: which behaviour lowers a peer's score, and the thresholds below
//! which it is no longer gossiped to, published to, or listened to.

use libp2p::gossipsub::{self, TopicHash};
use std::time::Duration;

/// Peer scoring tuned for a low-volume topic: the one strong signal is invalid messages (P₄),
/// which push a peer below the graylist threshold after a handful; mesh-delivery quotas (P₃)
/// are off because a quiet network would otherwise punish honest peers, and so is IP
/// colocation (P₆): operators may share an address.
pub(super) fn score_params(topic: TopicHash) -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams::default();
    params.topics.insert(topic, topic_params());
    // Operators legitimately share addresses (a devnet, a NAT, one provider's egress), and a
    // peer cannot forge a registered operator's signature, so peer count per IP says nothing
    // here. With the default penalty a node with more than ~14 peers on one IP scored them all
    // below the publish threshold and could not publish at all.
    params.ip_colocation_factor_weight = 0.0;
    params
}

/// The parameters of each of our topics (the deployment's and the signing groups').
pub(super) fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    }
}

pub(super) fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -50.0,
        publish_threshold: -100.0,
        graylist_threshold: -200.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}
