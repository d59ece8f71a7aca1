//! Names per deployment: the gossip topic and the DHT protocol are each one per (settlement
//! chain, task manager), so deployments never mix, not even in each other's routing tables
//! and peer stores.

use crate::groups::GroupId;
use alloy::primitives::Address;
use libp2p::{StreamProtocol, gossipsub::IdentTopic};

/// Version segment of the topic name. Changes together with incompatible protocol changes so
/// old and new nodes do not share a mesh (even where a deployment would keep its addresses).
/// 2: signatures are over the EIP-712 attestation digest. 3: large operator sets sign in
/// groups ([`group_topic`]) and group aggregates share the deployment topic.
pub const TOPIC_PROTOCOL_VERSION: u32 = 3;

/// The signature topic of a deployment:
/// `/avs-exex/3/<settlement chain id>/<task manager address, lowercase 0x-hex>/signatures`.
///
/// Lowercase hex (not the EIP-55 checksum form) keeps the name a pure function of the bytes.
pub fn signature_topic(settlement_chain_id: u64, task_manager: Address) -> IdentTopic {
    IdentTopic::new(format!(
        "{}/signatures",
        deployment_prefix(settlement_chain_id, task_manager)
    ))
}

/// The topic of one signing group of a deployment (see [`crate::groups`]):
/// `/avs-exex/3/<settlement chain id>/<task manager>/signatures/group/<bits>/<prefix>`. Only
/// the group's members subscribe; each gossips its own signature there.
pub fn group_topic(settlement_chain_id: u64, task_manager: Address, group: GroupId) -> IdentTopic {
    IdentTopic::new(format!(
        "{}/signatures/group/{}/{}",
        deployment_prefix(settlement_chain_id, task_manager),
        group.bits,
        group.prefix
    ))
}

/// The Kademlia protocol of a deployment:
/// `/avs-exex/3/<settlement chain id>/<task manager address, lowercase 0x-hex>/kad`. A node
/// takes a peer into its DHT and peer store only when the peer speaks this protocol, so a node
/// of another deployment (a testnet node of the same operator, say) that connects is never
/// learnt or handed on as a peer.
pub fn dht_protocol(settlement_chain_id: u64, task_manager: Address) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!(
        "{}/kad",
        deployment_prefix(settlement_chain_id, task_manager)
    ))
    .expect("the name starts with a slash")
}

fn deployment_prefix(settlement_chain_id: u64, task_manager: Address) -> String {
    format!(
        "/avs-exex/{TOPIC_PROTOCOL_VERSION}/{settlement_chain_id}/0x{}",
        alloy::hex::encode(task_manager.as_slice())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn topic_name_is_stable() {
        let t = signature_topic(
            17000,
            address!("0x00000000000000000000000000000000000000Ab"),
        );
        assert_eq!(
            t.to_string(),
            "/avs-exex/3/17000/0x00000000000000000000000000000000000000ab/signatures"
        );
    }

    #[test]
    fn dht_protocol_name_is_stable_and_per_deployment() {
        let a = address!("0x00000000000000000000000000000000000000Ab");
        assert_eq!(
            dht_protocol(17000, a).as_ref(),
            "/avs-exex/3/17000/0x00000000000000000000000000000000000000ab/kad"
        );
        assert_ne!(dht_protocol(17000, a), dht_protocol(1, a));
        assert_ne!(dht_protocol(1, a), dht_protocol(1, Address::repeat_byte(2)));
    }

    #[test]
    fn group_topics_are_named_by_their_bits_and_prefix() {
        let a = address!("0x00000000000000000000000000000000000000Ab");
        let g = GroupId {
            bits: 5,
            prefix: 17,
        };
        assert_eq!(
            group_topic(17000, a, g).to_string(),
            "/avs-exex/3/17000/0x00000000000000000000000000000000000000ab/signatures/group/5/17"
        );
        assert_ne!(
            group_topic(1, a, g).hash(),
            group_topic(
                1,
                a,
                GroupId {
                    bits: 6,
                    prefix: 17
                }
            )
            .hash()
        );
        assert_ne!(group_topic(1, a, g).hash(), signature_topic(1, a).hash());
    }

    #[test]
    fn deployments_get_distinct_topics() {
        let a = Address::repeat_byte(1);
        assert_ne!(signature_topic(1, a).hash(), signature_topic(2, a).hash());
        assert_ne!(
            signature_topic(1, a).hash(),
            signature_topic(1, Address::repeat_byte(2)).hash()
        );
    }
}
