//! [`AvsEvent`]: the typed boundary between the AVS ExEx and the p2p layer.
//!
//! The ExEx sends these on a bounded `tokio::sync::mpsc` channel that the binary hands to the
//! gossip/aggregation layer. Invariant: a [`AvsEvent::Signed`] is only sent after its record is
//! durably in the slashing-protection store, and every `Signed` for a task index carries the
//! same response and signature (a re-send after a restart or a reorg that left the target block
//! unchanged is byte-identical).

use alloy::primitives::B256;
use avs_bls::{OperatorId, Signature};
use avs_contracts::avs::IAvsTaskManager::{Task, TaskResponse, TaskResponseMetadata};

/// What the AVS ExEx tells the p2p layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvsEvent {
    /// A `NewTaskCreated` log became canonical on the settlement chain.
    TaskCreated {
        /// The task's index in the task manager.
        task_index: u32,
        /// The task as emitted (its abi-encoding hash is what `respondToTask` checks).
        task: Task,
    },
    /// A `TaskResponded` log became canonical: the task is answered, stop aggregating it.
    TaskResponded {
        /// The answered task.
        task_index: u32,
        /// The settlement block holding the response (finality latency is measured to it).
        block_number: u64,
        /// This node tracks the task (and has not refused it) and this is its first
        /// `TaskResponded`: finality is counted once, though a reorg can make a task respond
        /// twice.
        first: bool,
    },
    /// The task is closed for good: its creation is settled, and so is its response or the end
    /// of its response window. No reorg the host absorbs brings it back: drop its signatures.
    TaskClosed {
        /// The closed task.
        task_index: u32,
        /// Whether it was answered on-chain (else it expired unanswered).
        answered: bool,
    },
    /// A canonical `TaskResponded` disagrees with this node's own view of the attested block
    /// at the attestation depth: the response is wrong (or this node's view is), and a
    /// challenge of a settlement-chain checkpoint would prove which.
    ResponseDisputed(Box<DisputedResponse>),
    /// The `TaskResponded` of a task left the canonical chain: the task is open again and needs
    /// its aggregate submitted again (the signatures gathered for it still hold).
    ResponseReverted {
        /// The task answered no more.
        task_index: u32,
    },
    /// The task's creation was reorged out or reverted: drop it (and any signatures for it).
    TaskReverted {
        /// The dropped task.
        task_index: u32,
    },
    /// This operator signed a response (or re-sends the one it signed before).
    Signed(SignedResponse),
    /// The target block of this operator's signed response is no longer canonical: do not
    /// aggregate or submit that signature.
    ResponseWithdrawn {
        /// The task whose response is withdrawn.
        task_index: u32,
    },
}

/// An on-chain response that differs from the node's own view, with what a challenge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputedResponse {
    /// The task answered.
    pub task_index: u32,
    /// The task as created.
    pub task: Task,
    /// The response on-chain.
    pub response: TaskResponse,
    /// Its metadata (`taskRespondedBlock`, `hashOfNonSigners`).
    pub metadata: TaskResponseMetadata,
    /// The transaction that submitted it (its calldata names the non-signers).
    pub transaction_hash: B256,
    /// What this node's view holds for the checkpoint block.
    pub expected: TaskResponse,
}

/// A response signed by this operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse {
    /// The task answered (equals `response.referenceTaskIndex`).
    pub task_index: u32,
    /// The signed response.
    pub response: TaskResponse,
    /// The EIP-712 struct hash of the task answered.
    pub task_hash: B256,
    /// The signed message: `attestation_digest` of the task and `response` under the
    /// deployment's EIP-712 domain.
    pub digest: B256,
    /// BLS signature over `digest`.
    pub signature: Signature,
    /// The signer's operator id (keccak of its G1 public key).
    pub operator_id: OperatorId,
}
