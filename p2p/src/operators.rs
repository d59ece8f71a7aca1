//! Plain-data snapshots of what the registries say about a task: who may sign, with which
//! keys and how much stake. Built by the registry reader (outside this crate) at the task's
//! `taskCreatedBlock`; here they are only read.

use crate::wire::{OperatorId, TaskResponse};
use alloy::primitives::B256;
use avs_bls::{PublicKey, PublicKeyG2};
use avs_contracts::aggregation::MemberKeys;
use avs_contracts::avs::{IAvsTaskManager, TaskAttestation};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

/// A quorum number, as in EigenLayer's `RegistryCoordinator` (one byte).
pub type QuorumNumber = u8;

/// Stake amounts. The registries use `uint96`; `u128` holds that and any sum of them, and
/// `stake × 100` never overflows.
pub type Stake = u128;

/// One registered operator at the snapshot's block.
#[derive(Clone, Debug)]
pub struct OperatorInfo {
    /// G1 public key (its hash is the operator id; summed into the quorum APKs).
    pub pubkey_g1: PublicKey,
    /// G2 public key, against which the operator's signatures verify.
    pub pubkey_g2: PublicKeyG2,
    /// Stake in each quorum the operator is registered in.
    pub stakes: BTreeMap<QuorumNumber, Stake>,
}

/// All operators registered at one reference block.
#[derive(Clone, Debug, Default)]
pub struct OperatorSet {
    /// The block the snapshot describes (`taskCreatedBlock` for a task).
    pub reference_block: u64,
    /// Operators by id.
    pub operators: BTreeMap<OperatorId, OperatorInfo>,
}

impl MemberKeys for OperatorSet {
    fn keys_of(&self, id: &B256) -> Option<(&PublicKey, &PublicKeyG2)> {
        self.operators
            .get(&OperatorId(*id))
            .map(|o| (&o.pubkey_g1, &o.pubkey_g2))
    }
}

impl OperatorSet {
    /// Total stake registered in `quorum` (the sum of its operators' stakes at the block).
    pub fn total_stake(&self, quorum: QuorumNumber) -> Stake {
        self.operators
            .values()
            .filter_map(|o| o.stakes.get(&quorum))
            .sum()
    }
}

/// What the AVS knows about a task when it starts validating and aggregating for it.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// The task's index in the task manager.
    pub task_index: u32,
    /// The task and the deployment's signing domain: what a response's signed message is.
    pub attestation: Arc<TaskAttestation>,
    /// Block of the settlement chain at which the task was created (stake reference block).
    pub task_created_block: u32,
    /// Quorums that must sign.
    pub quorum_numbers: Vec<QuorumNumber>,
    /// Percentage (0–100) of each quorum's stake that must sign.
    pub quorum_threshold_percentage: u8,
    /// Operators at `task_created_block`; shared between tasks of the same block.
    pub operators: Arc<OperatorSet>,
}

impl TaskInfo {
    /// The message an operator signs for `response` to this task.
    pub fn digest(&self, response: &TaskResponse) -> B256 {
        self.attestation
            .digest(&IAvsTaskManager::TaskResponse::from(*response))
    }
    /// Whether `operator` is registered in at least one of the task's quorums.
    pub fn is_member(&self, operator: &OperatorId) -> bool {
        self.operators
            .operators
            .get(operator)
            .is_some_and(|o| self.quorum_numbers.iter().any(|q| o.stakes.contains_key(q)))
    }

    /// Operators registered in at least one of the task's quorums, ascending by id.
    pub fn members(&self) -> impl Iterator<Item = (&OperatorId, &OperatorInfo)> {
        self.operators
            .operators
            .iter()
            .filter(|(_, o)| self.quorum_numbers.iter().any(|q| o.stakes.contains_key(q)))
    }

    /// The task's quorums without repeats, ascending.
    pub fn quorums(&self) -> BTreeSet<QuorumNumber> {
        self.quorum_numbers.iter().copied().collect()
    }
}
