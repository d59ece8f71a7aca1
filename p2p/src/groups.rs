//! Signing groups: how a large operator set is split so that signatures travel as partial
//! aggregates instead of one by one.
//!
//! Up to [`ONE_BY_ONE_MAX`] members every node gossips and verifies every signature on the
//! deployment's signature topic: at that size it is the fastest path. Above it, the members of
//! a task are split into `2^bits` groups by the leading `bits` bits of their operator ids (ids
//! are keccak hashes, so the groups are even, and an operator keeps its group while others
//! register or leave, unless the group count changes). `bits` is the smallest that brings the
//! mean group to at most [`GROUP_SIZE`]. A node gossips its own signature on its group's topic
//! only; group members publish their group's signatures as one [`crate::wire::GroupAggregate`]
//! (a signer bitmap and the summed signature) on the deployment topic. So a node receives its
//! group's signatures and a few aggregates per group, instead of every signature.
//!
//! Every node computes the same groups from the same operator set (the task's, at its
//! reference block): the split is part of the protocol, not a setting.

use crate::{network::Channel, operators::TaskInfo, wire::OperatorId};

/// Largest member count whose signatures are gossiped one by one (no groups).
pub const ONE_BY_ONE_MAX: usize = 64;

/// Mean group size the split aims at (at most).
pub const GROUP_SIZE: usize = 32;

/// Most group bits: 2^12 groups is far above any operator set the registries allow.
pub const MAX_GROUP_BITS: u8 = 12;

/// One signing group of a task: the members whose ids start with `prefix` (`bits` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId {
    /// Leading id bits that define the group (1..=[`MAX_GROUP_BITS`]).
    pub bits: u8,
    /// Their value.
    pub prefix: u16,
}

impl GroupId {
    /// The group of `operator` when the set is split by `bits` bits.
    pub fn of(operator: &OperatorId, bits: u8) -> Self {
        let lead = u16::from_be_bytes([operator.0[0], operator.0[1]]);
        Self {
            bits,
            prefix: lead >> (16 - u32::from(bits)),
        }
    }

    /// Whether `operator` belongs to this group.
    pub fn contains(&self, operator: &OperatorId) -> bool {
        Self::of(operator, self.bits) == *self
    }

    /// Whether the fields name a group at all (bits in range, prefix within them).
    pub fn is_valid(&self) -> bool {
        (1..=MAX_GROUP_BITS).contains(&self.bits) && u32::from(self.prefix) < 1 << self.bits
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.bits, self.prefix)
    }
}

/// Group bits for a task of `members` members: `None` (one by one) up to
/// [`ONE_BY_ONE_MAX`], else the fewest bits whose mean group is at most [`GROUP_SIZE`].
pub fn group_bits(members: usize) -> Option<u8> {
    if members <= ONE_BY_ONE_MAX {
        return None;
    }
    let groups = members.div_ceil(GROUP_SIZE).next_power_of_two();
    Some((groups.trailing_zeros() as u8).min(MAX_GROUP_BITS))
}

/// Where `operator`'s signature is gossiped for a task split by `bits` (`None`: one by one):
/// its group's topic, or the deployment topic.
pub fn signature_channel(bits: Option<u8>, operator: &OperatorId) -> Channel {
    match bits {
        Some(bits) => Channel::Group(GroupId::of(operator, bits)),
        None => Channel::Deployment,
    }
}

impl TaskInfo {
    /// The task's group split (`None`: one by one).
    pub fn group_bits(&self) -> Option<u8> {
        group_bits(self.members().count())
    }

    /// Where `operator`'s signature for this task is gossiped: its group's topic, or the
    /// deployment topic for a task signed one by one.
    pub fn signature_channel(&self, operator: &OperatorId) -> Channel {
        signature_channel(self.group_bits(), operator)
    }

    /// The members of `group`, ascending by id: the order of a group aggregate's bitmap.
    pub fn group_members(&self, group: GroupId) -> impl Iterator<Item = &OperatorId> {
        self.members()
            .map(|(id, _)| id)
            .filter(move |id| group.contains(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::B256;

    fn id(lead: u16) -> OperatorId {
        let mut b = [0u8; 32];
        b[..2].copy_from_slice(&lead.to_be_bytes());
        OperatorId(B256::from(b))
    }

    #[test]
    fn small_sets_go_one_by_one_and_large_ones_split_to_at_most_32_on_average() {
        assert_eq!(group_bits(0), None);
        assert_eq!(group_bits(ONE_BY_ONE_MAX), None);
        assert_eq!(group_bits(65), Some(2), "65 → 3 groups of 32 → 4");
        assert_eq!(group_bits(128), Some(2));
        assert_eq!(group_bits(129), Some(3));
        assert_eq!(group_bits(256), Some(3));
        assert_eq!(group_bits(1_000), Some(5), "1,000 → 32 groups of 31.25");
        assert_eq!(group_bits(1_025), Some(6));
        assert_eq!(group_bits(usize::MAX / 2), Some(MAX_GROUP_BITS));
        for members in ONE_BY_ONE_MAX + 1..5_000 {
            let groups = 1usize << group_bits(members).unwrap();
            assert!(members <= groups * GROUP_SIZE, "{members}");
            assert!(members > groups / 2 * GROUP_SIZE, "{members}: fewest bits");
        }
    }

    #[test]
    fn the_group_is_the_leading_id_bits() {
        assert_eq!(GroupId::of(&id(0x0000), 5).prefix, 0);
        assert_eq!(GroupId::of(&id(0xffff), 5).prefix, 31);
        assert_eq!(GroupId::of(&id(0b1010_1000_0000_0000), 3).prefix, 0b101);
        assert_eq!(
            GroupId::of(&id(0b1010_1000_0000_0000), 12).prefix,
            0b1010_1000_0000
        );
        let g = GroupId::of(&id(0x8000), 1);
        assert!(g.contains(&id(0xffff)) && !g.contains(&id(0x7fff)));
        assert!(g.is_valid());
        assert!(!GroupId { bits: 0, prefix: 0 }.is_valid());
        assert!(
            !GroupId {
                bits: 13,
                prefix: 0
            }
            .is_valid()
        );
        assert!(!GroupId { bits: 2, prefix: 4 }.is_valid());
    }
}
