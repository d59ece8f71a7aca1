//! Gossip topics: one per (settlement chain, task manager), so deployments never mix.

use alloy::primitives::Address;
use libp2p::gossipsub::IdentTopic;

/// Version segment of the topic name. Changes together with incompatible protocol changes so
/// old and new nodes do not share a mesh (even where a deployment would keep its addresses).
/// 2: signatures are over the EIP-712 attestation digest.
pub const TOPIC_PROTOCOL_VERSION: u32 = 2;

/// The signature topic of a deployment:
/// `/avs-exex/2/<settlement chain id>/<task manager address, lowercase 0x-hex>/signatures`.
///
/// Lowercase hex (not the EIP-55 checksum form) keeps the name a pure function of the bytes.
pub fn signature_topic(settlement_chain_id: u64, task_manager: Address) -> IdentTopic {
    IdentTopic::new(format!(
        "/avs-exex/{TOPIC_PROTOCOL_VERSION}/{settlement_chain_id}/0x{}/signatures",
        alloy::hex::encode(task_manager.as_slice())
    ))
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
            "/avs-exex/2/17000/0x00000000000000000000000000000000000000ab/signatures"
        );
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
