//! Bindings of the AVS contracts (`contracts/src`), generated from the committed artifacts.
//!
//! `AvsTaskManager` inherits our `BLSSignatureChecker`, so its binding also carries
//! `checkSignatures` and the `NonSignerStakesAndSignature` / `QuorumStakeTotals` types with
//! EigenLayer's ABI. All shared Solidity types live once in this module: [`BN254`] points,
//! [`IBLSSignatureChecker`] parameters and the [`IAvsTaskManager`] protocol structs, so the
//! same Rust type is used for every call that takes them.
//!
//! Protocol hashes, exactly as the contracts compute them:
//! - [`attestation_digest`]: the message operators BLS-sign, the EIP-712 hash of
//!   [`Attestation`]`(task, response)` under the deployment's [`signing_domain`] (name
//!   "avs-exex", version "1", settlement chain id, task manager address); the contract's
//!   `attestationDigest(task, response)`. [`TaskAttestation`] keeps a task with its domain;
//! - [`IAvsTaskManager::Task::hash`]: the task's EIP-712 struct hash, stored per task index;
//! - [`response_hash`]: `keccak256(abi.encode(response, metadata))`, what
//!   `allTaskResponses(taskIndex)` returns;
//! - [`hash_of_non_signers`]: `keccak256(abi.encodePacked(taskCreatedBlock, operatorIds))`;
//! - [`header_rlp`]: a checkpoint block's header RLP, the evidence of a challenge.
//!
//! A signature therefore commits to the whole task (checkpoint, reference block, the settlement
//! fork through `taskCreatedParentHash`, threshold, quorums, windows) and to the deployment: it
//! verifies for no other task, chain or task manager.
//!
//! G1/G2 points convert to and from plain tuples (`sol!` derives `From` both ways for every
//! struct) in EigenLayer's coordinate order (`G2Point.X[0]` is the imaginary part c1, `X[1]`
//! the real part c0), the order the BLS crate uses too:
//!
//! ```
//! use alloy::primitives::{Address, B256, Bytes, U256};
//! use avs_contracts::avs::{BN254, IAvsTaskManager, attestation_digest, signing_domain};
//!
//! let p: BN254::G1Point = (U256::from(1), U256::from(2)).into();
//! assert_eq!(<(U256, U256)>::from(p), (U256::from(1), U256::from(2)));
//!
//! let task = IAvsTaskManager::Task {
//!     chainId: 31337,
//!     blockNumber: 100,
//!     taskCreatedBlock: 103,
//!     taskCreatedParentHash: B256::repeat_byte(9),
//!     quorumThresholdPercentage: 67,
//!     responseWindowBlocks: 100,
//!     challengeWindowBlocks: 100,
//!     quorumNumbers: Bytes::from_static(&[0]),
//! };
//! let response = IAvsTaskManager::TaskResponse {
//!     referenceTaskIndex: 0,
//!     blockHash: B256::repeat_byte(1),
//!     stateRoot: B256::repeat_byte(2),
//!     receiptsRoot: B256::repeat_byte(3),
//! };
//! let domain = signing_domain(31337, Address::repeat_byte(0xAA));
//! let _message: B256 = attestation_digest(&domain, &task, &response);
//! ```

#![allow(missing_docs)]

use alloy::{
    primitives::{Address, B256, Bytes, keccak256},
    providers::Provider,
    rlp::Encodable,
    sol,
    sol_types::{Eip712Domain, SolStruct, SolValue, eip712_domain},
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
sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    AvsSlasher,
    "artifacts/AvsSlasher.json"
);

/// The registry coordinator's binding, in a module of its own because its ABI declares
/// EigenLayer's `BN254` points again.
pub mod coordinator {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AvsRegistryCoordinator,
        "artifacts/AvsRegistryCoordinator.json"
    );
}
pub use coordinator::{AvsRegistryCoordinator, ISlashingStakeRegistry};

sol! {
    /// The struct operators BLS-sign (EIP-712): a task and the response to it. Signed under
    /// [`signing_domain`], so a signature holds for one task of one deployment on one chain.
    #[derive(Debug, PartialEq, Eq)]
    struct Attestation {
        IAvsTaskManager.Task task;
        IAvsTaskManager.TaskResponse response;
    }
}

/// The task manager's bounds on its windows (its `MIN_RESPONSE_WINDOW_BLOCKS`,
/// `MAX_RESPONSE_WINDOW_BLOCKS` and `MIN_CHALLENGE_WINDOW_BLOCKS`): a deployment is checked
/// against them before anything is sent.
pub const MIN_RESPONSE_WINDOW_BLOCKS: u32 = 10;
/// See [`MIN_RESPONSE_WINDOW_BLOCKS`].
pub const MAX_RESPONSE_WINDOW_BLOCKS: u32 = (1 << 24) - 1;
/// See [`MIN_RESPONSE_WINDOW_BLOCKS`].
pub const MIN_CHALLENGE_WINDOW_BLOCKS: u32 = 10;

/// The EIP-712 domain name of every avs-exex signature (`SIGNING_DOMAIN_NAME` in the contract).
pub const SIGNING_DOMAIN_NAME: &str = "avs-exex";
/// The EIP-712 domain version (`SIGNING_DOMAIN_VERSION`); changes with what a signature means.
pub const SIGNING_DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of a deployment: name, version, the settlement chain's id and the task
/// manager (proxy) address, as the contract's `eip712Domain()` reports it.
pub fn signing_domain(settlement_chain_id: u64, task_manager: Address) -> Eip712Domain {
    eip712_domain! {
        name: SIGNING_DOMAIN_NAME,
        version: SIGNING_DOMAIN_VERSION,
        chain_id: settlement_chain_id,
        verifying_contract: task_manager,
    }
}

/// The message operators BLS-sign for `response` to `task`: the EIP-712 signing hash of
/// [`Attestation`] under `domain`, what the contract's `attestationDigest(task, response)`
/// returns. The one place the signed message is defined: operators, the p2p validator and
/// aggregator, challenges and tests all call it.
pub fn attestation_digest(
    domain: &Eip712Domain,
    task: &IAvsTaskManager::Task,
    response: &IAvsTaskManager::TaskResponse,
) -> B256 {
    Attestation {
        task: task.clone(),
        response: response.clone(),
    }
    .eip712_signing_hash(domain)
}

/// A task of one deployment: everything a response's signed message depends on besides the
/// response itself (what a validator of many responses to one task keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAttestation {
    /// The deployment's [`signing_domain`].
    pub domain: Eip712Domain,
    /// The task, as `NewTaskCreated` logged it.
    pub task: IAvsTaskManager::Task,
}

impl TaskAttestation {
    /// The message operators sign for `response`: [`attestation_digest`].
    pub fn digest(&self, response: &IAvsTaskManager::TaskResponse) -> B256 {
        attestation_digest(&self.domain, &self.task, response)
    }
}

impl IAvsTaskManager::Task {
    /// The task's EIP-712 struct hash: what `allTaskHashes(taskIndex)` holds.
    pub fn hash(&self) -> B256 {
        self.eip712_hash_struct()
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
    use alloy::primitives::{Bytes, U256};

    fn response() -> IAvsTaskManager::TaskResponse {
        IAvsTaskManager::TaskResponse {
            referenceTaskIndex: 7,
            blockHash: B256::repeat_byte(0x11),
            stateRoot: B256::repeat_byte(0x22),
            receiptsRoot: B256::repeat_byte(0x33),
        }
    }

    fn task() -> IAvsTaskManager::Task {
        IAvsTaskManager::Task {
            chainId: 17000,
            blockNumber: 1230,
            taskCreatedBlock: 99,
            taskCreatedParentHash: B256::repeat_byte(0x55),
            quorumThresholdPercentage: 67,
            responseWindowBlocks: 100,
            challengeWindowBlocks: 120,
            quorumNumbers: Bytes::from_static(&[0, 1]),
        }
    }

    const TASK_TYPE: &str = "Task(uint64 chainId,uint64 blockNumber,uint32 taskCreatedBlock,\
        bytes32 taskCreatedParentHash,uint32 quorumThresholdPercentage,uint32 responseWindowBlocks,\
        uint32 challengeWindowBlocks,bytes quorumNumbers)";
    const RESPONSE_TYPE: &str = "TaskResponse(uint32 referenceTaskIndex,bytes32 blockHash,bytes32 stateRoot,bytes32 receiptsRoot)";

    fn word(value: u64) -> [u8; 32] {
        U256::from(value).to_be_bytes()
    }

    /// The task's EIP-712 struct hash written out by hand from its type string.
    fn task_hash_by_hand(t: &IAvsTaskManager::Task) -> B256 {
        keccak256(
            [
                keccak256(TASK_TYPE).0,
                word(t.chainId),
                word(t.blockNumber),
                word(t.taskCreatedBlock.into()),
                t.taskCreatedParentHash.0,
                word(t.quorumThresholdPercentage.into()),
                word(t.responseWindowBlocks.into()),
                word(t.challengeWindowBlocks.into()),
                keccak256(&t.quorumNumbers).0,
            ]
            .concat(),
        )
    }

    /// EIP-712 written out by hand from the type strings (what the contract does), to check the
    /// `sol!`-derived hashing against.
    fn by_hand(domain_chain: u64, contract: Address) -> B256 {
        let task_hash = task_hash_by_hand(&task());
        let r = response();
        let response_hash = keccak256(
            [
                keccak256(RESPONSE_TYPE).0,
                word(r.referenceTaskIndex.into()),
                r.blockHash.0,
                r.stateRoot.0,
                r.receiptsRoot.0,
            ]
            .concat(),
        );
        let attestation_type =
            format!("Attestation(Task task,TaskResponse response){TASK_TYPE}{RESPONSE_TYPE}");
        let struct_hash =
            keccak256([keccak256(attestation_type).0, task_hash.0, response_hash.0].concat());
        let mut contract_word = [0u8; 32];
        contract_word[12..].copy_from_slice(contract.as_slice());
        let separator = keccak256(
            [
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
                )
                .0,
                keccak256("avs-exex").0,
                keccak256("1").0,
                word(domain_chain),
                contract_word,
            ]
            .concat(),
        );
        keccak256([&[0x19, 0x01][..], &separator.0, &struct_hash.0].concat())
    }

    #[test]
    fn attestation_digest_is_eip712_of_task_and_response() {
        let contract = Address::repeat_byte(0xAA);
        let domain = signing_domain(31337, contract);
        assert_eq!(
            attestation_digest(&domain, &task(), &response()),
            by_hand(31337, contract)
        );
        let attestation = TaskAttestation {
            domain,
            task: task(),
        };
        assert_eq!(attestation.digest(&response()), by_hand(31337, contract));
        // Another chain or another task manager is another message.
        assert_ne!(
            attestation_digest(&signing_domain(1, contract), &task(), &response()),
            by_hand(31337, contract)
        );
        assert_ne!(
            attestation_digest(&signing_domain(31337, Address::ZERO), &task(), &response()),
            by_hand(31337, contract)
        );
    }

    /// The committed cross-language vectors (which the forge tests check from the type strings)
    /// are what this crate computes.
    #[test]
    fn committed_attestation_vectors_match() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test/vectors/attestation.json"
        );
        let text = std::fs::read_to_string(path).expect("the committed vectors");
        let vectors: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let field =
            |v: &serde_json::Value, key: &str| v[key].to_string().trim_matches('"').to_owned();
        let number = |v: &serde_json::Value, key: &str| v[key].as_u64().expect("a number");
        let list = vectors["attestations"].as_array().expect("a list");
        assert_eq!(list.len(), 5);
        for v in list {
            let (t, r) = (&v["task"], &v["response"]);
            let task = IAvsTaskManager::Task {
                chainId: number(t, "chainId"),
                blockNumber: number(t, "blockNumber"),
                taskCreatedBlock: u32::try_from(number(t, "taskCreatedBlock")).expect("u32"),
                taskCreatedParentHash: field(t, "taskCreatedParentHash").parse().expect("hash"),
                quorumThresholdPercentage: u32::try_from(number(t, "quorumThresholdPercentage"))
                    .expect("u32"),
                responseWindowBlocks: u32::try_from(number(t, "responseWindowBlocks"))
                    .expect("u32"),
                challengeWindowBlocks: u32::try_from(number(t, "challengeWindowBlocks"))
                    .expect("u32"),
                quorumNumbers: field(t, "quorumNumbers").parse().expect("bytes"),
            };
            let response = IAvsTaskManager::TaskResponse {
                referenceTaskIndex: u32::try_from(number(r, "referenceTaskIndex")).expect("u32"),
                blockHash: field(r, "blockHash").parse().expect("hash"),
                stateRoot: field(r, "stateRoot").parse().expect("hash"),
                receiptsRoot: field(r, "receiptsRoot").parse().expect("hash"),
            };
            let domain = signing_domain(
                number(v, "chainId"),
                field(v, "taskManager").parse().expect("address"),
            );
            assert_eq!(task.hash().to_string(), field(v, "taskHash"), "{v}");
            assert_eq!(
                attestation_digest(&domain, &task, &response).to_string(),
                field(v, "digest"),
                "{v}: regenerate with `cargo run -p avs-contracts --example attestation_vectors`"
            );
        }
    }

    #[test]
    fn task_hash_is_its_eip712_struct_hash() {
        assert_eq!(task().hash(), task_hash_by_hand(&task()));
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
            "NewTaskCreated(uint32,(uint64,uint64,uint32,bytes32,uint32,uint32,uint32,bytes))"
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
