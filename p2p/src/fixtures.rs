//! Deterministic committees with real BLS keys, for tests and benchmarks (feature
//! `test-fixtures`). Nothing here is faked: keys are real BN254 keys from a seeded RNG and
//! signatures are real signatures; only the registry read is replaced by building the
//! [`OperatorSet`] directly. Task `i` of a committee is [`attestation`]`(i)`: its signed
//! message does not depend on the threshold a test aggregates it with.

use crate::{
    aggregation::Aggregate,
    network::{InboundId, InboundMessage},
    operators::{OperatorInfo, OperatorSet, QuorumNumber, Stake, TaskInfo},
    tasks::TaskTable,
    validation::Verified,
    wire::{GossipMessage, GroupAggregate, OperatorId, SignatureMessage, TaskResponse},
};
use alloy::primitives::{Address, B256, Bytes};
use avs_bls::SecretKey;
use avs_contracts::avs::{IAvsTaskManager, TaskAttestation, signing_domain};
use libp2p::{PeerId, gossipsub::MessageId};
use rand::{SeedableRng, rngs::StdRng};
use std::{collections::BTreeMap, sync::Arc};

/// One operator of a [`Committee`].
#[derive(Debug)]
pub struct TestOperator {
    /// Its BLS secret key.
    pub secret: SecretKey,
    /// Its operator id (hash of the G1 key).
    pub id: OperatorId,
}

/// A set of operators with keys, all registered in quorum 0.
#[derive(Debug)]
pub struct Committee {
    /// The operators, in creation order.
    pub operators: Vec<TestOperator>,
    /// The snapshot as a registry reader would build it.
    pub set: Arc<OperatorSet>,
}

impl Committee {
    /// `n` operators from `seed`; operator `i` has stake `stake(i)` in quorum 0.
    pub fn new(n: usize, seed: u64, stake: impl Fn(usize) -> Stake) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut operators = Vec::with_capacity(n);
        let mut set = OperatorSet {
            reference_block: 1,
            operators: BTreeMap::new(),
        };
        for i in 0..n {
            let secret = SecretKey::random(&mut rng);
            let pubkey_g1 = secret.public_key();
            let id = pubkey_g1.operator_id();
            set.operators.insert(
                id,
                OperatorInfo {
                    pubkey_g1,
                    pubkey_g2: secret.public_key_g2(),
                    stakes: BTreeMap::from([(0, stake(i))]),
                },
            );
            operators.push(TestOperator { secret, id });
        }
        Self {
            operators,
            set: Arc::new(set),
        }
    }

    /// A task over quorum 0 with the given threshold percentage.
    pub fn task(&self, task_index: u32, threshold_pct: u8) -> TaskInfo {
        TaskInfo {
            task_index,
            attestation: Arc::new(attestation(task_index)),
            task_created_block: 1,
            quorum_numbers: vec![QuorumNumber::default()],
            quorum_threshold_percentage: threshold_pct,
            operators: self.set.clone(),
        }
    }

    /// Operator `i`'s signed message over `response`.
    pub fn sign(&self, i: usize, response: TaskResponse) -> SignatureMessage {
        let op = &self.operators[i];
        SignatureMessage {
            task_index: response.reference_task_index,
            response,
            signature: op.secret.sign(digest(response)).to_bytes(),
            operator_id: op.id,
            task_hash: attestation(response.reference_task_index).task.hash(),
        }
    }

    /// Operator `i`'s signature over `response` as received from `peer` on the topic it
    /// belongs on (its signing group's, for a committee large enough to be split).
    pub fn inbound(&self, i: usize, response: TaskResponse, peer: PeerId) -> InboundMessage {
        let message = self.sign(i, response);
        inbound(
            message,
            self.task(response.reference_task_index, 50)
                .signature_channel(&message.operator_id),
            peer,
        )
    }
}

impl Committee {
    /// The group aggregate of operators `signers` (committee indices, all in `group`) over
    /// `response`, as a group member publishes it (every operator is in quorum 0 only, so each
    /// signature counts once).
    ///
    /// # Panics
    /// If `signers` is empty or names an operator outside `group`.
    pub fn group_aggregate(
        &self,
        group: crate::groups::GroupId,
        signers: &[usize],
        response: TaskResponse,
    ) -> GroupAggregate {
        let task = self.task(response.reference_task_index, 50);
        let ids: Vec<OperatorId> = signers.iter().map(|&i| self.operators[i].id).collect();
        assert!(
            ids.iter().all(|id| group.contains(id)),
            "signers outside the group"
        );
        let members: Vec<&OperatorId> = task.group_members(group).collect();
        let positions = ids
            .iter()
            .map(|id| members.iter().position(|m| *m == id).expect("a member"));
        let signatures: Vec<avs_bls::Signature> = signers
            .iter()
            .map(|&i| self.operators[i].secret.sign(digest(response)))
            .collect();
        GroupAggregate {
            task_index: response.reference_task_index,
            response,
            task_hash: task.attestation.task.hash(),
            group,
            signature: avs_bls::aggregate_signatures(&signatures)
                .expect("signers given")
                .to_bytes(),
            signers: GroupAggregate::bitmap(members.len(), positions),
        }
    }

    /// Indices of the committee's operators in `group`.
    pub fn group_indices(&self, group: crate::groups::GroupId) -> Vec<usize> {
        (0..self.operators.len())
            .filter(|&i| group.contains(&self.operators[i].id))
            .collect()
    }
}

/// `message` as received from `peer` on `channel`.
pub fn inbound(
    message: impl Into<GossipMessage>,
    channel: crate::network::Channel,
    peer: PeerId,
) -> InboundMessage {
    let message = message.into();
    InboundMessage {
        id: InboundId {
            message_id: MessageId::new(&message.encode()),
            source: peer,
        },
        channel,
        message,
    }
}

/// The fixtures' task `task_index` (checkpoint `10 × (index + 1)` of chain 31337, created at
/// block 1) in a made-up deployment.
pub fn attestation(task_index: u32) -> TaskAttestation {
    TaskAttestation {
        domain: signing_domain(31337, Address::repeat_byte(0xAA)),
        task: IAvsTaskManager::Task {
            chainId: 31337,
            blockNumber: 10 * (u64::from(task_index) + 1),
            taskCreatedBlock: 1,
            taskCreatedParentHash: B256::repeat_byte(0xEE),
            quorumThresholdPercentage: 67,
            responseWindowBlocks: 100,
            challengeWindowBlocks: 100,
            quorumNumbers: Bytes::from_static(&[0]),
        },
    }
}

/// The message an operator signs for `response` to the fixtures' task of its index.
pub fn digest(response: TaskResponse) -> B256 {
    attestation(response.reference_task_index).digest(&response.into())
}

/// A response for `task_index` whose roots are derived from `variant` (different variants
/// model operators that disagree).
pub fn response(task_index: u32, variant: u8) -> TaskResponse {
    TaskResponse {
        reference_task_index: task_index,
        block_hash: B256::repeat_byte(variant),
        state_root: B256::repeat_byte(variant.wrapping_add(1)),
        receipts_root: B256::repeat_byte(variant.wrapping_add(2)),
    }
}

/// Operator `i`'s signature over `response(task, variant)`, as validation passes it on.
///
/// # Panics
/// Never: a committee's signatures are valid G1 points.
pub fn verified(c: &Committee, i: usize, task: u32, variant: u8) -> Verified {
    let m = c.sign(i, response(task, variant));
    Verified {
        task_index: task,
        task_hash: m.task_hash,
        operator_id: m.operator_id,
        response: m.response,
        digest: digest(m.response),
        signature: avs_bls::Signature::from_bytes(&m.signature).expect("a G1 point"),
    }
}

/// The aggregate the p2p [`TaskTable`] builds (aggregation window 0) from the signatures of
/// `signers` (operator id and BLS key) over `response` to the task `info`, as a node hands it
/// to its submitter; `None` while they are no quorum.
///
/// # Panics
/// If the aggregate cannot be built from signatures that reached quorum (a bug).
pub fn aggregate_of(
    info: TaskInfo,
    response: TaskResponse,
    signers: &[(OperatorId, &SecretKey)],
) -> Option<Aggregate> {
    let task_index = info.task_index;
    let digest = info.digest(&response);
    let task_hash = info.attestation.task.hash();
    let mut tasks = TaskTable::new(std::time::Duration::ZERO, 1);
    tasks.add_task(info);
    let now = std::time::Instant::now();
    for (operator_id, secret) in signers {
        let verified = Verified {
            task_index,
            task_hash,
            operator_id: *operator_id,
            response,
            digest,
            signature: secret.sign(digest),
        };
        tasks.decide(Box::new(verified), now);
    }
    tasks
        .aggregate(task_index)
        .map(|built| built.expect("an aggregate of valid signatures builds"))
}
