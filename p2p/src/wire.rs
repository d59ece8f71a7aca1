//! The gossip wire message: one operator's BLS signature over one task response.
//!
//! Layout of version 2 (fixed, big-endian, [`SIGNATURE_MESSAGE_LEN`] = 201 bytes):
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
//! A fixed layout keeps the decoder trivially total: the length is checked against the cap
//! *before* anything else is read, then every field is a fixed slice. The signature bytes are
//! carried opaquely here; turning them into a curve point (and rejecting bad points) is the
//! validator's job, because it costs a square root and belongs to the same step as verifying.

use alloy::primitives::B256;
use avs_contracts::avs::IAvsTaskManager;

/// The only wire version this build speaks. Bump it when the layout changes; peers reject
/// versions they do not know instead of guessing.
pub const WIRE_VERSION: u8 = 2;

/// Exact encoded length of a version-2 [`SignatureMessage`].
pub const SIGNATURE_MESSAGE_LEN: usize = 1 + 4 + RESPONSE_LEN + 32 + 32 + 32;

/// Hard cap on an inbound payload, checked before decoding. Larger than
/// [`SIGNATURE_MESSAGE_LEN`] so a future, slightly longer version can still be recognised
/// (and refused with [`WireError::UnsupportedVersion`]) rather than looking like garbage.
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
        out[1..5].copy_from_slice(&self.task_index.to_be_bytes());
        out[5..9].copy_from_slice(&self.response.reference_task_index.to_be_bytes());
        out[9..41].copy_from_slice(self.response.block_hash.as_slice());
        out[41..73].copy_from_slice(self.response.state_root.as_slice());
        out[73..105].copy_from_slice(self.response.receipts_root.as_slice());
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
        let task_index = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        let reference = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        if task_index != reference {
            return Err(WireError::TaskIndexMismatch {
                task_index,
                reference,
            });
        }
        let mut signature = [0u8; 32];
        signature.copy_from_slice(&b[105..137]);
        Ok(Self {
            task_index,
            response: TaskResponse {
                reference_task_index: reference,
                block_hash: B256::from_slice(&b[9..41]),
                state_root: B256::from_slice(&b[41..73]),
                receipts_root: B256::from_slice(&b[73..105]),
            },
            signature,
            operator_id: OperatorId(B256::from_slice(&b[137..169])),
            task_hash: B256::from_slice(&b[169..201]),
        })
    }
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
