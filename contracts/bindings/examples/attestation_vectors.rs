//! Writes the cross-language vectors of the signed message that the Solidity tests read:
//!
//! ```text
//! cargo run -p avs-contracts --example attestation_vectors > contracts/test/vectors/attestation.json
//! ```
//!
//! Each vector is a deployment (settlement chain id, task manager), a task and a response, with
//! the task's EIP-712 struct hash and the attestation digest as [`attestation_digest`] computes
//! them. Deterministic (fixed labels hashed with keccak256); a test of this crate recomputes every
//! hash of the committed file from its fields, and the forge tests recompute them from the type
//! strings (and the task hash with the contract).

// Printing the vectors is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::primitives::{Address, B256, Bytes, keccak256};
use avs_contracts::avs::{IAvsTaskManager, attestation_digest, signing_domain};
use serde_json::{Value, json};

fn label(text: &str) -> B256 {
    keccak256(text)
}

fn vector(
    chain_id: u64,
    task_manager: Address,
    task: &IAvsTaskManager::Task,
    response: &IAvsTaskManager::TaskResponse,
) -> Value {
    json!({
        "chainId": chain_id,
        "taskManager": task_manager.to_string(),
        "task": {
            "chainId": task.chainId,
            "blockNumber": task.blockNumber,
            "taskCreatedBlock": task.taskCreatedBlock,
            "taskCreatedParentHash": task.taskCreatedParentHash.to_string(),
            "quorumThresholdPercentage": task.quorumThresholdPercentage,
            "responseWindowBlocks": task.responseWindowBlocks,
            "challengeWindowBlocks": task.challengeWindowBlocks,
            "quorumNumbers": task.quorumNumbers.to_string(),
        },
        "response": {
            "referenceTaskIndex": response.referenceTaskIndex,
            "blockHash": response.blockHash.to_string(),
            "stateRoot": response.stateRoot.to_string(),
            "receiptsRoot": response.receiptsRoot.to_string(),
        },
        "taskHash": task.hash().to_string(),
        "digest": attestation_digest(&signing_domain(chain_id, task_manager), task, response).to_string(),
    })
}

/// The vectors: the same task and response under two deployments and two chains, and tasks that
/// differ in one field each (fork, window, quorums).
fn vectors() -> Value {
    let task = IAvsTaskManager::Task {
        chainId: 31337,
        blockNumber: 100,
        taskCreatedBlock: 103,
        taskCreatedParentHash: label("parent of 103"),
        quorumThresholdPercentage: 67,
        responseWindowBlocks: 100,
        challengeWindowBlocks: 100,
        quorumNumbers: Bytes::from_static(&[0]),
    };
    let response = IAvsTaskManager::TaskResponse {
        referenceTaskIndex: 4,
        blockHash: label("block 100"),
        stateRoot: label("state 100"),
        receiptsRoot: label("receipts 100"),
    };
    let manager = Address::from_word(label("task manager"));
    let other_manager = Address::from_word(label("another task manager"));
    let other_fork = IAvsTaskManager::Task {
        taskCreatedParentHash: label("another parent of 103"),
        ..task.clone()
    };
    let two_chains = IAvsTaskManager::Task {
        chainId: 10,
        blockNumber: 123_456_780,
        quorumNumbers: Bytes::from_static(&[0, 1]),
        challengeWindowBlocks: 7_200,
        responseWindowBlocks: 600,
        ..task
    };
    json!({
        "attestations": [
            vector(31337, manager, &task, &response),
            vector(31337, other_manager, &task, &response),
            vector(1, manager, &task, &response),
            vector(31337, manager, &other_fork, &response),
            vector(17000, manager, &two_chains, &response),
        ]
    })
}

fn main() {
    let text = serde_json::to_string_pretty(&vectors()).expect("vectors serialize");
    println!("{text}");
}
