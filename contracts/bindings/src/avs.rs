//! Bindings of the AVS contracts (`contracts/src`), generated from the committed artifacts.
//!
//! `AvsTaskManager` inherits our `BLSSignatureChecker`, so its binding also carries
//! `checkSignatures` and the `NonSignerStakesAndSignature` / `QuorumStakeTotals` types with
//! EigenLayer's ABI. All shared Solidity types live once in this module: [`BN254`] points,
//! [`IBLSSignatureChecker`] parameters and the [`IAvsTaskManager`] protocol structs, so the
//! same Rust type is used for every call that takes them.
//!
//! Protocol hashes, exactly as the contracts compute them:
//! - [`IAvsTaskManager::TaskResponse::digest`]: `keccak256(abi.encode(response))`, the message
//!   operators BLS-sign;
//! - [`IAvsTaskManager::Task::hash`]: `keccak256(abi.encode(task))`, stored per task index;
//! - [`response_hash`]: `keccak256(abi.encode(response, metadata))`, what
//!   `allTaskResponses(taskIndex)` returns;
//! - [`hash_of_non_signers`]: `keccak256(abi.encodePacked(taskCreatedBlock, operatorIds))`;
//! - [`header_rlp`]: a checkpoint block's header RLP, the evidence of a challenge.
//!
//! G1/G2 points convert to and from plain tuples (`sol!` derives `From` both ways for every
//! struct) in EigenLayer's coordinate order (`G2Point.X[0]` is the imaginary part c1, `X[1]`
//! the real part c0), the order the BLS crate uses too:
//!
//! ```
//! use alloy::primitives::{U256, B256};
//! use avs_contracts::avs::{BN254, IAvsTaskManager};
//!
//! let p: BN254::G1Point = (U256::from(1), U256::from(2)).into();
//! assert_eq!(<(U256, U256)>::from(p), (U256::from(1), U256::from(2)));
//!
//! let response = IAvsTaskManager::TaskResponse {
//!     referenceTaskIndex: 0,
//!     blockHash: B256::repeat_byte(1),
//!     stateRoot: B256::repeat_byte(2),
//!     receiptsRoot: B256::repeat_byte(3),
//! };
//! let _message: B256 = response.digest();
//! ```

#![allow(missing_docs)]

use alloy::{
    primitives::{B256, Bytes, keccak256},
    providers::Provider,
    rlp::Encodable,
    sol,
    sol_types::SolValue,
    transports::{RpcError, TransportErrorKind},
};

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    AvsTaskManager,
    "artifacts/AvsTaskManager.json"
);
sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    AvsServiceManager,
    "artifacts/AvsServiceManager.json"
);

impl IAvsTaskManager::TaskResponse {
    /// `keccak256(abi.encode(response))`: the message operators BLS-sign and the task manager
    /// checks the aggregate signature against.
    pub fn digest(&self) -> B256 {
        keccak256(self.abi_encode())
    }
}

impl IAvsTaskManager::Task {
    /// `keccak256(abi.encode(task))`: what `allTaskHashes(taskIndex)` holds.
    pub fn hash(&self) -> B256 {
        keccak256(self.abi_encode())
    }
}

/// `keccak256(abi.encode(response, metadata))`: what `allTaskResponses(taskIndex)` returns once
/// the task is answered, and what a challenge must reproduce.
pub fn response_hash(
    response: &IAvsTaskManager::TaskResponse,
    metadata: &IAvsTaskManager::TaskResponseMetadata,
) -> B256 {
    keccak256((response.clone(), metadata.clone()).abi_encode_params())
}

/// `keccak256(abi.encodePacked(taskCreatedBlock, nonSignerOperatorIds))`: the
/// `hashOfNonSigners` of a response (EigenLayer's signatory record hash). The ids must be in
/// the order the response listed them (ascending).
pub fn hash_of_non_signers(task_created_block: u32, non_signer_ids: &[B256]) -> B256 {
    let mut packed = Vec::with_capacity(4 + 32 * non_signer_ids.len());
    packed.extend_from_slice(&task_created_block.to_be_bytes());
    for id in non_signer_ids {
        packed.extend_from_slice(id.as_slice());
    }
    keccak256(packed)
}

/// The RLP of block `number`'s header as the node serves it: the `headerRlp` a challenge
/// proves a checkpoint's true state and receipts roots with. `None` if the node lacks the block.
pub async fn header_rlp<P: Provider>(
    provider: &P,
    number: u64,
) -> Result<Option<Bytes>, RpcError<TransportErrorKind>> {
    let Some(block) = provider.get_block_by_number(number.into()).await? else {
        return Ok(None);
    };
    let mut rlp = Vec::new();
    block.header.inner.encode(&mut rlp);
    Ok(Some(rlp.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, U256, b256};

    fn response() -> IAvsTaskManager::TaskResponse {
        IAvsTaskManager::TaskResponse {
            referenceTaskIndex: 7,
            blockHash: B256::repeat_byte(0x11),
            stateRoot: B256::repeat_byte(0x22),
            receiptsRoot: B256::repeat_byte(0x33),
        }
    }

    // Expected values computed independently with
    // `cast keccak $(cast abi-encode "f((uint32,bytes32,bytes32,bytes32))" "(7,0x11..,0x22..,0x33..)")`
    // and `cast keccak $(cast abi-encode "f((uint64,uint64,uint32,uint32,bytes))" "(17000,1230,99,67,0x0001)")`.
    #[test]
    fn response_digest_is_keccak_of_abi_encoding() {
        assert_eq!(
            response().digest(),
            b256!("0x4f647fcb3022c659b2cdd5c86dd05662e0e14ea8ff394f036c92dd6242f63d4e")
        );
    }

    #[test]
    fn task_hash_is_keccak_of_abi_encoding_with_offset() {
        let task = IAvsTaskManager::Task {
            chainId: 17000,
            blockNumber: 1230,
            taskCreatedBlock: 99,
            quorumThresholdPercentage: 67,
            quorumNumbers: Bytes::from_static(&[0, 1]),
        };
        assert_eq!(
            task.hash(),
            b256!("0xeb63926c03873dd14cd93f5e1f31b78453abfff380b8bbd67a9e533d4c732f3c")
        );
    }

    #[test]
    fn response_hash_encodes_both_structs_as_parameters() {
        let metadata = IAvsTaskManager::TaskResponseMetadata {
            taskRespondedBlock: 5,
            hashOfNonSigners: B256::repeat_byte(0x44),
        };
        // abi.encode of two static structs is their fields back to back.
        let mut encoded = response().abi_encode();
        encoded.extend_from_slice(&U256::from(5).to_be_bytes::<32>());
        encoded.extend_from_slice(B256::repeat_byte(0x44).as_slice());
        assert_eq!(response_hash(&response(), &metadata), keccak256(encoded));
    }

    #[test]
    fn hash_of_non_signers_packs_block_then_ids() {
        let ids = [B256::repeat_byte(1), B256::repeat_byte(2)];
        let mut packed = vec![0, 0, 0, 99];
        packed.extend_from_slice(&[1; 32]);
        packed.extend_from_slice(&[2; 32]);
        assert_eq!(hash_of_non_signers(99, &ids), keccak256(packed));
        assert_eq!(hash_of_non_signers(99, &[]), keccak256([0, 0, 0, 99]));
    }

    #[test]
    fn protocol_events_have_the_agreed_signatures() {
        use alloy::sol_types::SolEvent;
        assert_eq!(
            AvsTaskManager::NewTaskCreated::SIGNATURE,
            "NewTaskCreated(uint32,(uint64,uint64,uint32,uint32,bytes))"
        );
        assert_eq!(
            AvsTaskManager::TaskResponded::SIGNATURE,
            "TaskResponded(uint32,(uint32,bytes32,bytes32,bytes32),(uint32,bytes32))"
        );
    }

    #[test]
    fn point_conversions_round_trip() {
        let g1 = (U256::from(3), U256::from(4));
        assert_eq!(<(U256, U256)>::from(BN254::G1Point::from(g1)), g1);
        let g2 = (
            [U256::from(1), U256::from(2)],
            [U256::from(3), U256::from(4)],
        );
        let point = BN254::G2Point::from(g2);
        assert_eq!(
            point.X[0],
            U256::from(1),
            "X[0] stays the first (c1) coefficient"
        );
        assert_eq!(<([U256; 2], [U256; 2])>::from(point), g2);
    }
}
