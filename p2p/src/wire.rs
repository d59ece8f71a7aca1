//! The gossip wire messages: one operator's BLS signature over one task response
//! ([`SignatureMessage`]), and a signing group's partial aggregate ([`GroupAggregate`]). The
//! first byte names the layout: [`WIRE_VERSION`] (2) a signature, [`GROUP_AGGREGATE_LAYOUT`]
//! (3) a group aggregate; [`GossipMessage::decode`] reads either.
//!
//! Signature layout (fixed, big-endian, [`SIGNATURE_MESSAGE_LEN`] = 201 bytes):
//!
//! | offset | size | field                                   |
//! |-------:|-----:|-----------------------------------------|
//! |      0 |    1 | version (= [`WIRE_VERSION`])            |
//! |      1 |    4 | task index (`uint32`)                   |
//! |      5 |    4 | response `referenceTaskIndex` (`uint32`)|
//! |      9 |   32 | response `blockHash`                    |
//! |     41 |   32 | response `stateRoot`                    |
//! |     73 |   32 | response `receiptsRoot`                 |
//! |    105 |   32 | signature (compressed BN254 G1 point)   |
//! |    137 |   32 | operator id                             |
//! |    169 |   32 | task hash (the task's EIP-712 struct hash) |
//!
//! The signature is over the task's attestation digest, so it only verifies against the task it
//! names: the task hash lets a node that holds another task at the same index (a settlement
//! reorg re-created the index, and the two nodes have not seen the same branch yet) set the
//! message aside instead of rejecting an honest signature as forged. Version 1 (signatures over
//! the response alone) is not spoken any more.
//!
//! Group aggregate layout (big-endian, 173 to [`GROUP_AGGREGATE_MAX_LEN`] bytes):
//!
//! | offset | size | field                                   |
//! |-------:|-----:|-----------------------------------------|
//! |      0 |    1 | layout (= [`GROUP_AGGREGATE_LAYOUT`])   |
//! |      1 |  104 | task index and response, as above       |
//! |    105 |   32 | task hash                               |
//! |    137 |    1 | group bits ([`GroupId::bits`])          |
//! |    138 |    2 | group prefix ([`GroupId::prefix`])      |
//! |    140 |   32 | aggregate signature (compressed G1)     |
//! |    172 |  1.. | signer bitmap over the group's members  |
//!
//! Bit `i` of the bitmap (`bitmap[i / 8] >> (i % 8) & 1`) stands for the group's `i`-th member
//! in ascending operator-id order ([`crate::TaskInfo::group_members`]); the aggregate is the
//! sum of the signers' signatures, each counted once per task quorum the signer is registered
//! in, as the contract's aggregate key counts it. Whether the bitmap has exactly the group's
//! length is the validator's check, since only the task knows the group.
//!
//! Fixed layouts keep the decoders trivially total: the length is checked against the cap
//! *before* anything else is read, then every field is a fixed slice. Signature bytes are
//! carried opaquely here; turning them into a curve point (and rejecting bad points) is the
//! validator's job, because it costs a square root and belongs to the same step as verifying.

use crate::groups::GroupId;
use alloy::primitives::B256;
use avs_contracts::avs::IAvsTaskManager;

/// The signature layout this build speaks. Bump it when the layout changes; peers reject
/// versions they do not know instead of guessing.
pub const WIRE_VERSION: u8 = 2;

/// First byte of a [`GroupAggregate`].
pub const GROUP_AGGREGATE_LAYOUT: u8 = 3;

/// Bytes of a [`GroupAggregate`] before its bitmap.
const GROUP_AGGREGATE_HEADER: usize = 172;

/// Most bitmap bytes of a [`GroupAggregate`]: groups of up to 1,024 members, far above
/// [`crate::groups::GROUP_SIZE`].
pub const MAX_GROUP_BITMAP: usize = 128;

/// Longest encoded [`GroupAggregate`].
pub const GROUP_AGGREGATE_MAX_LEN: usize = GROUP_AGGREGATE_HEADER + MAX_GROUP_BITMAP;

/// Exact encoded length of a version-2 [`SignatureMessage`].
pub const SIGNATURE_MESSAGE_LEN: usize = 1 + 4 + RESPONSE_LEN + 32 + 32 + 32;

/// Hard cap on an inbound payload, checked before decoding. Larger than either layout so a
/// future, slightly longer version can still be recognised (and refused with
/// [`WireError::UnsupportedVersion`]) rather than looking like garbage.
pub const MAX_MESSAGE_SIZE: usize = 512;

const RESPONSE_LEN: usize = 4 + 3 * 32;

pub use avs_bls::OperatorId;

/// The task response an operator signs (the contract's `TaskResponse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskResponse {
    /// Index of the task this response answers.
    pub reference_task_index: u32,
    /// Hash of the attested block.
    pub block_hash: B256,
    /// State root of the attested block.
    pub state_root: B256,
    /// Receipts root of the attested block.
    pub receipts_root: B256,
}

impl From<&IAvsTaskManager::TaskResponse> for TaskResponse {
    fn from(response: &IAvsTaskManager::TaskResponse) -> Self {
        Self {
            reference_task_index: response.referenceTaskIndex,
            block_hash: response.blockHash,
            state_root: response.stateRoot,
            receipts_root: response.receiptsRoot,
        }
    }
}

impl From<TaskResponse> for IAvsTaskManager::TaskResponse {
    fn from(response: TaskResponse) -> Self {
        Self {
            referenceTaskIndex: response.reference_task_index,
            blockHash: response.block_hash,
            stateRoot: response.state_root,
            receiptsRoot: response.receipts_root,
        }
    }
}

/// One operator's signature over a task response, as gossiped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignatureMessage {
    /// Index of the task being answered; always equal to `response.reference_task_index`.
    pub task_index: u32,
    /// The signed response.
    pub response: TaskResponse,
    /// Compressed BN254 G1 signature over the task's attestation digest of `response`
    /// ([`crate::TaskInfo::digest`]).
    pub signature: [u8; 32],
    /// The signing operator.
    pub operator_id: OperatorId,
    /// The EIP-712 struct hash of the task signed for.
    pub task_hash: B256,
}

/// A signing group's partial aggregate of one response, as gossiped on the deployment topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupAggregate {
    /// Index of the task being answered; always equal to `response.reference_task_index`.
    pub task_index: u32,
    /// The signed response.
    pub response: TaskResponse,
    /// The EIP-712 struct hash of the task signed for.
    pub task_hash: B256,
    /// The group whose members signed.
    pub group: GroupId,
    /// Compressed BN254 G1 sum of the signers' signatures, each weighted by the number of task
    /// quorums its signer is registered in.
    pub signature: [u8; 32],
    /// Signer bitmap over the group's members in ascending id order (not empty).
    pub signers: Vec<u8>,
}

/// Either gossip message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipMessage {
    /// One operator's signature.
    Signature(SignatureMessage),
    /// A group's partial aggregate.
    GroupAggregate(GroupAggregate),
}

impl From<SignatureMessage> for GossipMessage {
    fn from(message: SignatureMessage) -> Self {
        Self::Signature(message)
    }
}

impl From<GroupAggregate> for GossipMessage {
    fn from(aggregate: GroupAggregate) -> Self {
        Self::GroupAggregate(aggregate)
    }
}

impl GossipMessage {
    /// The task the message is about.
    pub fn task_index(&self) -> u32 {
        match self {
            Self::Signature(m) => m.task_index,
            Self::GroupAggregate(a) => a.task_index,
        }
    }

    /// The task hash the message commits to.
    pub fn task_hash(&self) -> B256 {
        match self {
            Self::Signature(m) => m.task_hash,
            Self::GroupAggregate(a) => a.task_hash,
        }
    }

    /// The encoded payload.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Signature(m) => m.encode().to_vec(),
            Self::GroupAggregate(a) => a.encode(),
        }
    }

    /// Decodes a payload of either layout. Total: every input yields a message or a
    /// [`WireError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(WireError::Oversized {
                len: bytes.len(),
                max: MAX_MESSAGE_SIZE,
            });
        }
        match bytes.first() {
            None => Err(WireError::Empty),
            Some(&GROUP_AGGREGATE_LAYOUT) => {
                GroupAggregate::decode(bytes).map(Self::GroupAggregate)
            }
            Some(_) => SignatureMessage::decode(bytes).map(Self::Signature),
        }
    }
}

/// Why an inbound payload is not a valid wire message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The payload is empty.
    #[error("empty signature message")]
    Empty,
    /// The payload exceeds [`MAX_MESSAGE_SIZE`]; it was not decoded.
    #[error("signature message of {len} bytes exceeds the {max}-byte cap")]
    Oversized {
        /// Received length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The version byte names a layout this build does not speak.
    #[error(
        "unsupported signature message version {found} (this node speaks version {WIRE_VERSION})"
    )]
    UnsupportedVersion {
        /// The version byte received.
        found: u8,
    },
    /// The payload's length does not match the layout of its version.
    #[error("signature message has {len} bytes, version {WIRE_VERSION} needs exactly {expected}")]
    BadLength {
        /// Received length.
        len: usize,
        /// Length the version requires.
        expected: usize,
    },
    /// A group aggregate's length is outside its layout's bounds.
    #[error(
        "group aggregate has {len} bytes, the layout needs {} to {GROUP_AGGREGATE_MAX_LEN}",
        GROUP_AGGREGATE_HEADER + 1
    )]
    BadAggregateLength {
        /// Received length.
        len: usize,
    },
    /// A group aggregate names no group: bits outside 1..=12 or a prefix beyond them.
    #[error("group aggregate names no group: {bits} bits, prefix {prefix}")]
    BadGroup {
        /// The group bits.
        bits: u8,
        /// The prefix.
        prefix: u16,
    },
    /// The task index and the response's `referenceTaskIndex` disagree.
    #[error("task index {task_index} differs from response.referenceTaskIndex {reference}")]
    TaskIndexMismatch {
        /// The message's task index.
        task_index: u32,
        /// The response's `referenceTaskIndex`.
        reference: u32,
    },
}

impl SignatureMessage {
    /// Encodes the message in the version-2 layout.
    pub fn encode(&self) -> [u8; SIGNATURE_MESSAGE_LEN] {
        let mut out = [0u8; SIGNATURE_MESSAGE_LEN];
        out[0] = WIRE_VERSION;
        encode_task_response(self.task_index, &self.response, &mut out[1..105]);
        out[105..137].copy_from_slice(&self.signature);
        out[137..169].copy_from_slice(self.operator_id.0.as_slice());
        out[169..201].copy_from_slice(self.task_hash.as_slice());
        out
    }

    /// Decodes a payload. Total: every input yields a message or a [`WireError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(WireError::Oversized {
                len: bytes.len(),
                max: MAX_MESSAGE_SIZE,
            });
        }
        let Some(&version) = bytes.first() else {
            return Err(WireError::Empty);
        };
        if version != WIRE_VERSION {
            return Err(WireError::UnsupportedVersion { found: version });
        }
        let Ok(b): Result<&[u8; SIGNATURE_MESSAGE_LEN], _> = bytes.try_into() else {
            return Err(WireError::BadLength {
                len: bytes.len(),
                expected: SIGNATURE_MESSAGE_LEN,
            });
        };
        let (task_index, response) = decode_task_response(&b[1..105])?;
        let mut signature = [0u8; 32];
        signature.copy_from_slice(&b[105..137]);
        Ok(Self {
            task_index,
            response,
            signature,
            operator_id: OperatorId(B256::from_slice(&b[137..169])),
            task_hash: B256::from_slice(&b[169..201]),
        })
    }
}

impl GroupAggregate {
    /// Encodes the aggregate in its layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; GROUP_AGGREGATE_HEADER];
        out[0] = GROUP_AGGREGATE_LAYOUT;
        encode_task_response(self.task_index, &self.response, &mut out[1..105]);
        out[105..137].copy_from_slice(self.task_hash.as_slice());
        out[137] = self.group.bits;
        out[138..140].copy_from_slice(&self.group.prefix.to_be_bytes());
        out[140..172].copy_from_slice(&self.signature);
        out.extend_from_slice(&self.signers);
        out
    }

    /// Decodes a payload. Total: every input yields an aggregate or a [`WireError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let Some(&layout) = bytes.first() else {
            return Err(WireError::Empty);
        };
        if layout != GROUP_AGGREGATE_LAYOUT {
            return Err(WireError::UnsupportedVersion { found: layout });
        }
        if !(GROUP_AGGREGATE_HEADER + 1..=GROUP_AGGREGATE_MAX_LEN).contains(&bytes.len()) {
            return Err(WireError::BadAggregateLength { len: bytes.len() });
        }
        let (task_index, response) = decode_task_response(&bytes[1..105])?;
        let group = GroupId {
            bits: bytes[137],
            prefix: u16::from_be_bytes([bytes[138], bytes[139]]),
        };
        if !group.is_valid() {
            return Err(WireError::BadGroup {
                bits: group.bits,
                prefix: group.prefix,
            });
        }
        let mut signature = [0u8; 32];
        signature.copy_from_slice(&bytes[140..172]);
        Ok(Self {
            task_index,
            response,
            task_hash: B256::from_slice(&bytes[105..137]),
            group,
            signature,
            signers: bytes[GROUP_AGGREGATE_HEADER..].to_vec(),
        })
    }

    /// Positions of the set bits, ascending.
    pub fn signer_positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.signers.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8)
                .filter(move |b| bits >> b & 1 == 1)
                .map(move |b| byte * 8 + b)
        })
    }

    /// The bitmap of `positions` (ascending or not) in a group of `members`.
    pub fn bitmap(members: usize, positions: impl IntoIterator<Item = usize>) -> Vec<u8> {
        let mut bitmap = vec![0u8; members.div_ceil(8)];
        for i in positions {
            bitmap[i / 8] |= 1 << (i % 8);
        }
        bitmap
    }
}

/// Writes the task index and the response (104 bytes).
fn encode_task_response(task_index: u32, response: &TaskResponse, out: &mut [u8]) {
    out[0..4].copy_from_slice(&task_index.to_be_bytes());
    out[4..8].copy_from_slice(&response.reference_task_index.to_be_bytes());
    out[8..40].copy_from_slice(response.block_hash.as_slice());
    out[40..72].copy_from_slice(response.state_root.as_slice());
    out[72..104].copy_from_slice(response.receipts_root.as_slice());
}

/// Reads what [`encode_task_response`] wrote; the two indices must agree.
fn decode_task_response(b: &[u8]) -> Result<(u32, TaskResponse), WireError> {
    let task_index = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let reference = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    if task_index != reference {
        return Err(WireError::TaskIndexMismatch {
            task_index,
            reference,
        });
    }
    Ok((
        task_index,
        TaskResponse {
            reference_task_index: reference,
            block_hash: B256::from_slice(&b[8..40]),
            state_root: B256::from_slice(&b[40..72]),
            receipts_root: B256::from_slice(&b[72..104]),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn message() -> impl Strategy<Value = SignatureMessage> {
        (
            any::<u32>(),
            b256(),
            b256(),
            b256(),
            any::<[u8; 32]>(),
            b256(),
            b256(),
        )
            .prop_map(
                |(
                    task_index,
                    block_hash,
                    state_root,
                    receipts_root,
                    signature,
                    operator_id,
                    task_hash,
                )| {
                    SignatureMessage {
                        task_index,
                        response: TaskResponse {
                            reference_task_index: task_index,
                            block_hash,
                            state_root,
                            receipts_root,
                        },
                        signature,
                        operator_id: OperatorId(operator_id),
                        task_hash,
                    }
                },
            )
    }

    fn aggregate() -> impl Strategy<Value = GroupAggregate> {
        (
            message(),
            1u8..=crate::groups::MAX_GROUP_BITS,
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 1..=MAX_GROUP_BITMAP),
        )
            .prop_map(|(m, bits, prefix, signers)| GroupAggregate {
                task_index: m.task_index,
                response: m.response,
                task_hash: m.task_hash,
                group: GroupId {
                    bits,
                    prefix: prefix % (1 << bits),
                },
                signature: m.signature,
                signers,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn roundtrip(msg in message()) {
            let bytes = msg.encode();
            prop_assert_eq!(SignatureMessage::decode(&bytes), Ok(msg));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let decoded = SignatureMessage::decode(&bytes);
            // Whatever decodes must re-encode to exactly the input: no lossy acceptance.
            if let Ok(msg) = decoded {
                prop_assert_eq!(msg.encode().to_vec(), bytes);
            }
        }

        #[test]
        fn aggregate_roundtrip(agg in aggregate()) {
            let bytes = agg.encode();
            prop_assert_eq!(
                GossipMessage::decode(&bytes),
                Ok(GossipMessage::GroupAggregate(agg))
            );
        }

        #[test]
        fn arbitrary_gossip_never_panics(
            layout in prop_oneof![Just(WIRE_VERSION), Just(GROUP_AGGREGATE_LAYOUT), any::<u8>()],
            rest in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let bytes: Vec<u8> = std::iter::once(layout).chain(rest).collect();
            // Whatever decodes must re-encode to exactly the input: no lossy acceptance.
            if let Ok(msg) = GossipMessage::decode(&bytes) {
                prop_assert_eq!(msg.encode(), bytes);
            }
        }

        #[test]
        fn every_truncated_aggregate_is_rejected(agg in aggregate(), cut in 1usize..=GROUP_AGGREGATE_HEADER) {
            let bytes = agg.encode();
            prop_assert_eq!(
                GroupAggregate::decode(&bytes[..cut]),
                Err(WireError::BadAggregateLength { len: cut })
            );
        }

        #[test]
        fn every_truncation_is_rejected(msg in message(), cut in 1usize..SIGNATURE_MESSAGE_LEN) {
            let bytes = msg.encode();
            prop_assert_eq!(
                SignatureMessage::decode(&bytes[..cut]),
                Err(WireError::BadLength { len: cut, expected: SIGNATURE_MESSAGE_LEN })
            );
        }
    }

    fn sample() -> SignatureMessage {
        SignatureMessage {
            task_index: 7,
            response: TaskResponse {
                reference_task_index: 7,
                block_hash: B256::repeat_byte(1),
                state_root: B256::repeat_byte(2),
                receipts_root: B256::repeat_byte(3),
            },
            signature: [4; 32],
            operator_id: OperatorId(B256::repeat_byte(5)),
            task_hash: B256::repeat_byte(6),
        }
    }

    #[test]
    fn layout_is_fixed() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), 201);
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[1..5], &[0, 0, 0, 7]);
        assert_eq!(&bytes[5..9], &[0, 0, 0, 7]);
        assert_eq!(bytes[9], 1);
        assert_eq!(bytes[41], 2);
        assert_eq!(bytes[73], 3);
        assert_eq!(bytes[105], 4);
        assert_eq!(bytes[168], 5);
        assert_eq!(bytes[169], 6);
        assert_eq!(bytes[200], 6);
    }

    #[test]
    fn rejects_empty_oversized_bad_version_trailing_and_mismatch() {
        assert_eq!(SignatureMessage::decode(&[]), Err(WireError::Empty));
        assert_eq!(
            SignatureMessage::decode(&[1u8; MAX_MESSAGE_SIZE + 1]),
            Err(WireError::Oversized {
                len: MAX_MESSAGE_SIZE + 1,
                max: MAX_MESSAGE_SIZE
            })
        );
        let mut bytes = sample().encode().to_vec();
        // Version 1 (signatures over the response alone) is refused by name.
        bytes[0] = 1;
        assert_eq!(
            SignatureMessage::decode(&bytes),
            Err(WireError::UnsupportedVersion { found: 1 })
        );
        bytes[0] = 2;
        bytes.push(0);
        assert_eq!(
            SignatureMessage::decode(&bytes),
            Err(WireError::BadLength {
                len: 202,
                expected: 201
            })
        );
        bytes.pop();
        bytes[4] = 8;
        assert_eq!(
            SignatureMessage::decode(&bytes),
            Err(WireError::TaskIndexMismatch {
                task_index: 8,
                reference: 7
            })
        );
    }

    #[test]
    fn aggregate_layout_and_its_errors() {
        let m = sample();
        let agg = GroupAggregate {
            task_index: 7,
            response: m.response,
            task_hash: m.task_hash,
            group: GroupId {
                bits: 5,
                prefix: 0x1f,
            },
            signature: [9; 32],
            signers: GroupAggregate::bitmap(10, [0, 3, 9]),
        };
        let bytes = agg.encode();
        assert_eq!(bytes.len(), 174);
        assert_eq!(bytes[0], 3);
        assert_eq!(
            &bytes[1..105],
            &m.encode()[1..105],
            "task and response as in a signature"
        );
        assert_eq!(bytes[105], 6);
        assert_eq!(&bytes[137..140], &[5, 0, 0x1f]);
        assert_eq!(bytes[140], 9);
        assert_eq!(&bytes[172..], &[0b0000_1001, 0b0000_0010]);
        assert_eq!(agg.signer_positions().collect::<Vec<_>>(), vec![0, 3, 9]);

        let mut bad = bytes.clone();
        bad[137] = 0;
        assert_eq!(
            GossipMessage::decode(&bad),
            Err(WireError::BadGroup {
                bits: 0,
                prefix: 0x1f
            })
        );
        bad[137] = 4;
        assert_eq!(
            GossipMessage::decode(&bad),
            Err(WireError::BadGroup {
                bits: 4,
                prefix: 0x1f
            }),
            "prefix beyond its bits"
        );
        let mut long = bytes.clone();
        long.resize(GROUP_AGGREGATE_MAX_LEN + 1, 0);
        assert_eq!(
            GossipMessage::decode(&long),
            Err(WireError::BadAggregateLength {
                len: GROUP_AGGREGATE_MAX_LEN + 1
            })
        );
        let mut mismatch = bytes;
        mismatch[4] = 8;
        assert_eq!(
            GossipMessage::decode(&mismatch),
            Err(WireError::TaskIndexMismatch {
                task_index: 8,
                reference: 7
            })
        );
        assert_eq!(
            GossipMessage::decode(&m.encode()),
            Ok(GossipMessage::Signature(m)),
            "a signature still decodes as one"
        );
    }

    #[test]
    fn response_converts_to_the_contract_type_and_back() {
        let r = sample().response;
        let contract = IAvsTaskManager::TaskResponse::from(r);
        assert_eq!(
            TaskResponse::from(&contract),
            r,
            "the conversions round-trip"
        );
    }
}
