//! The validation pipeline for inbound signatures and group aggregates, independent of the
//! swarm.
//!
//! For every message it decides [`Outcome::Accept`] (forward and aggregate),
//! [`Outcome::Reject`] (invalid: penalise the forwarder), [`Outcome::Ignore`] (stale or
//! duplicate: drop quietly) or [`Outcome::Deferred`] (task not known yet: buffered). Checks, in
//! order of cost:
//!
//! 1. the task is known, and it is the task the message names (its task hash) — if not, and it
//!    is not a closed task, the message is buffered (bounded per forwarding peer and in total,
//!    for at most `pending_ttl`) and replayed by [`Validator::add_task`] once the task is added to the [`TaskTable`]; this closes the seeds'
//!    "task not initialized" race where a fast operator's signature arrives before a slow node
//!    has seen the task, and keeps a node that still holds another task at the index (a
//!    settlement reorg re-created it, [`TaskTable::forget_task`]) from rejecting an honest
//!    signature for the new one as forged;
//! 2. the task is not closed for good (settled, and answered or past its window) — else
//!    ignore;
//! 3. the operator is registered in one of the task's quorums at `taskCreatedBlock`;
//! 4. the signature bytes are a valid G1 point;
//! 5. no signature of this operator over this response was accepted before (duplicate), and
//!    the operator is not already caught equivocating on this task;
//! 6. the signature verifies against the operator's G2 key. A burst is checked with one
//!    [`avs_bls::batch_verify`]; if the batch fails, it is bisected to find the culprits, so a
//!    single forgery costs `O(log n)` extra batch checks rather than `n` single verifications.
//!
//! # Equivocation
//!
//! At most one response per operator per task is accepted. A second, *validly signed* response
//! of the same operator for the same task is [`Outcome::Equivocation`]: not forwarded, not
//! aggregated, and both signatures returned as [`Equivocation`] evidence. Honest operators never produce one: their slashing-protection
//! store refuses a second digest for a task, and a task re-created by a reorg is another task
//! (another task hash). Once an operator is caught on a task, its further responses to it are
//! ignored unverified, so per-task state is bounded by the task's members (one accepted
//! signature and at most one piece of evidence each) and an equivocator costs at most two
//! pairings per task.
//!
//! # Group aggregates
//!
//! For a task split into signing groups ([`crate::groups`]) a [`GroupAggregate`] is checked
//! before any pairing: it must come on the deployment topic, name one of the task's groups,
//! carry a bitmap exactly as long as the group with at least one signer, name no operator
//! caught equivocating or counted for another response (so a task still has at most one digest
//! per member, and an operator signing many responses in one-signer aggregates costs nothing
//! after its first), and add to what the node holds of the group without dropping any of it
//! ([`Outcome::Ignore`] otherwise, [`IgnoreReason::NoNewSigners`]). Only then is it verified,
//! against the sum of its signers' keys, in the same batch as the signatures. The refusal of
//! signers counted elsewhere looks only at the signers an aggregate adds, so one operator that
//! signs two responses cannot keep its group's honest aggregates out. Likewise a signature
//! of an operator counted for another response inside an aggregate is ignored before its
//! pairing. Aggregates are not used as equivocation evidence: that comes from two individual
//! signatures, which a group's members see.
//!
//! The checks before the pairing use the state before the burst: two aggregates of one group in
//! the same burst are both verified even if the first makes the second useless (it is then
//! ignored). A burst is at most `max_burst` messages.
//!
//! The forwarder is not penalised: in anonymous gossip it may be an honest relay that saw the
//! other response first, and penalising relays would let a few equivocating operators get
//! honest peers banned. The evidence is what punishes the operator (slashing).
//!
//! The validator is pure state plus [`Instant`]s passed in by the caller.

use crate::{
    aggregation::PieceGain,
    groups::GroupId,
    network::{Channel, InboundId, InboundMessage},
    operators::{OperatorSet, TaskInfo},
    tasks::TaskTable,
    wire::{GossipMessage, GroupAggregate, OperatorId, SignatureMessage, TaskResponse},
};
use alloy::primitives::B256;
use avs_bls::{BatchItem, PublicKeyG2, Signature, aggregate_public_keys_g2, batch_verify};
use avs_contracts::aggregation::quorum_weight;
use libp2p::PeerId;
use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

/// Limits of the [`Validator`]'s buffers.
#[derive(Clone, Copy, Debug)]
pub struct ValidatorConfig {
    /// How long a signature for an unknown task is kept waiting for the task. Keep it above
    /// the network's `NetworkConfig::validation_timeout` (see there).
    pub pending_ttl: Duration,
    /// Buffered signatures per forwarding peer, at least. The validator raises it to
    /// [`PENDING_TASKS_AHEAD`] × the largest operator set it has validated for, since a peer
    /// forwards at most one signature per operator per task (fewer for a set split into
    /// groups) and a large set's whole burst can arrive before the task does.
    pub pending_per_peer: usize,
    /// Buffered signatures in total, at least. Raised with the per-peer bound, to
    /// [`PENDING_PEER_SHARES`] times what the largest set raises that to, so one peer's junk
    /// fills at most that share of it.
    pub pending_total: usize,
    /// Closed (answered or expired) task indices remembered, to recognise stale signatures.
    pub closed_history: usize,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            // Long enough to cover a node that is a couple of blocks behind on the settlement
            // chain; short enough that junk for tasks that never appear does not linger.
            pending_ttl: Duration::from_secs(30),
            pending_per_peer: 256,
            pending_total: 4096,
            closed_history: 1024,
        }
    }
}

/// Tasks whose signatures the pending buffer must be able to hold at once, however large the
/// operator set: the one a lagging node has not seen yet and the next one, created while the
/// first is still gathering. Below this, a burst from a large set overflows the buffer, and a
/// message ignored there is lost for good (gossipsub never delivers the same message again).
pub const PENDING_TASKS_AHEAD: usize = 2;

/// The total pending buffer holds at least this many peers' full shares.
pub const PENDING_PEER_SHARES: usize = 4;

/// A signature that passed every check.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The task.
    pub task_index: u32,
    /// Its EIP-712 struct hash.
    pub task_hash: B256,
    /// The signer.
    pub operator_id: OperatorId,
    /// The signed response.
    pub response: TaskResponse,
    /// The signed message ([`TaskInfo::digest`] of the response).
    pub digest: B256,
    /// The decoded signature.
    pub signature: Signature,
}

/// A group aggregate that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedAggregate {
    /// The task.
    pub task_index: u32,
    /// Its EIP-712 struct hash.
    pub task_hash: B256,
    /// The signing group.
    pub group: GroupId,
    /// The signed response.
    pub response: TaskResponse,
    /// The signed message ([`TaskInfo::digest`] of the response).
    pub digest: B256,
    /// The signers, from the bitmap.
    pub signers: BTreeSet<OperatorId>,
    /// The decoded aggregate signature.
    pub signature: Signature,
    /// The signers this node had no signature of before (filled in when it is counted).
    pub newly_covered: Vec<OperatorId>,
}

impl Verified {
    /// The wire message this signature arrived as (for persisting it).
    pub fn message(&self) -> crate::wire::SignatureMessage {
        crate::wire::SignatureMessage {
            task_index: self.task_index,
            task_hash: self.task_hash,
            response: self.response,
            signature: self.signature.to_bytes(),
            operator_id: self.operator_id,
        }
    }
}

/// Why a message is invalid (the forwarder is penalised).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The operator is not registered in any of the task's quorums at `taskCreatedBlock`.
    #[error("operator is not registered in the task's quorums")]
    NotInQuorum,
    /// The signature bytes are not a valid compressed G1 point.
    #[error("signature is not a valid G1 point")]
    MalformedSignature,
    /// The signature does not verify against the operator's G2 key (for a group aggregate:
    /// against the sum of its signers' keys).
    #[error("signature does not verify against the signer's key (or the sum of the signers')")]
    BadSignature,
    /// A group aggregate names a group split the task does not have (its operator set is split
    /// into another number of groups, or not at all).
    #[error("the task is not split into groups of that size")]
    NotATaskGroup,
    /// A group aggregate's bitmap is not exactly as long as its group, sets a bit beyond the
    /// group, or sets none.
    #[error("signer bitmap does not fit the group")]
    BadBitmap,
    /// Buffered for a task that never appeared within `pending_ttl` (at most one such reject
    /// per peer per `pending_ttl`, see [`Validator::expire_pending`]).
    #[error("named a task that never appeared")]
    UnknownTask,
}

/// Why a message is dropped without penalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    /// The task was already answered or has expired.
    #[error("task already answered or expired")]
    Stale,
    /// This operator's signature over this response was already accepted.
    #[error("duplicate signature")]
    Duplicate,
    /// The operator was already caught signing two responses to this task.
    #[error("operator already caught equivocating on this task")]
    KnownEquivocator,
    /// The task is unknown and the buffer (for this peer or in total) is full.
    #[error("unknown task and pending buffer full")]
    PendingFull,
    /// The task stayed unknown for `pending_ttl`.
    #[error("task still unknown after the pending timeout")]
    PendingExpired,
    /// Not on the topic it belongs on: a signature of a grouped task outside its group's
    /// topic, one of an ungrouped task outside the deployment topic, or an aggregate outside
    /// the deployment topic.
    #[error("message on the wrong topic")]
    WrongChannel,
    /// A group aggregate that covers no signer this node lacks, or would drop one it holds.
    #[error("group aggregate adds no signer")]
    NoNewSigners,
    /// The operator is counted for another response to the task inside a group's aggregate
    /// (for a signature), or a signer of a group aggregate is (for the aggregate).
    #[error("signer already counted for another response")]
    ConflictsWithAggregate,
}

/// One operator's signature over one response of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseSignature {
    /// The response.
    pub response: TaskResponse,
    /// The signed message ([`TaskInfo::digest`] of the response).
    pub digest: B256,
    /// The operator's BLS signature over `digest`.
    pub signature: Signature,
}

/// Evidence that an operator signed two different responses to one task: both signatures
/// verify against the operator's registered key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The task.
    pub task_index: u32,
    /// Its EIP-712 struct hash (both signatures commit to it).
    pub task_hash: B256,
    /// The equivocating operator.
    pub operator_id: OperatorId,
    /// The response accepted first.
    pub first: ResponseSignature,
    /// The different response signed afterwards.
    pub second: ResponseSignature,
}

/// The decision about one message.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Valid: forward and aggregate.
    Accept(Box<Verified>),
    /// A valid group aggregate that added signers: forward it.
    AcceptAggregate(Box<VerifiedAggregate>),
    /// Invalid: drop and penalise the forwarder.
    Reject(RejectReason),
    /// A validly signed second response of an operator to a task: dropped (not forwarded, not
    /// penalised) and kept as evidence.
    Equivocation(Box<Equivocation>),
    /// Drop quietly.
    Ignore(IgnoreReason),
    /// Buffered until its task is known; a later call returns its final outcome.
    Deferred,
}

impl Outcome {
    /// The gossip verdict, or `None` while deferred.
    pub fn verdict(&self) -> Option<crate::Verdict> {
        match self {
            Self::Accept(_) | Self::AcceptAggregate(_) => Some(crate::Verdict::Accept),
            Self::Reject(_) => Some(crate::Verdict::Reject),
            // Not forwarded, but not penalised either: the peer that sent it may be an honest
            // relay that saw this response first (the equivocator's own peer is not knowable
            // in anonymous gossip), and penalising relays would let equivocators get honest
            // peers banned. The evidence, not the score, is what punishes the operator.
            Self::Equivocation(_) => Some(crate::Verdict::Ignore),
            Self::Ignore(_) => Some(crate::Verdict::Ignore),
            Self::Deferred => None,
        }
    }
}

struct Pending {
    received: Instant,
    message: InboundMessage,
}

/// A message past the cheap checks, waiting for signature verification. Holds the snapshot
/// (an `Arc`) or the summed key rather than a borrowed key, so the validator stays mutable
/// meanwhile.
struct Candidate {
    slot: usize,
    checked: Checked,
}

enum Checked {
    Signature {
        operators: Arc<OperatorSet>,
        verified: Verified,
    },
    Aggregate {
        /// Σ of the signers' G2 keys, each counted as its signature is.
        key: PublicKeyG2,
        verified: VerifiedAggregate,
    },
}

impl Candidate {
    fn public_key(&self) -> Option<&PublicKeyG2> {
        match &self.checked {
            Checked::Signature {
                operators,
                verified,
            } => operators
                .operators
                .get(&verified.operator_id)
                .map(|o| &o.pubkey_g2),
            Checked::Aggregate { key, .. } => Some(key),
        }
    }

    fn digest(&self) -> B256 {
        match &self.checked {
            Checked::Signature { verified, .. } => verified.digest,
            Checked::Aggregate { verified, .. } => verified.digest,
        }
    }

    fn signature(&self) -> &Signature {
        match &self.checked {
            Checked::Signature { verified, .. } => &verified.signature,
            Checked::Aggregate { verified, .. } => &verified.signature,
        }
    }
}

/// Validation state: the pending buffer. The tasks it validates against are the service's one
/// [`TaskTable`], passed in.
pub struct Validator {
    config: ValidatorConfig,
    pending: VecDeque<Pending>,
    pending_by_peer: HashMap<PeerId, usize>,
    /// When each peer was last penalised for a buffered message whose task never appeared.
    junk_penalised: HashMap<PeerId, Instant>,
    /// Members of the largest operator set a task was added with: what the buffer bounds
    /// scale with.
    largest_set: usize,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Validator {
    /// An empty validator.
    pub fn new(config: ValidatorConfig) -> Self {
        Self {
            config,
            pending: VecDeque::new(),
            pending_by_peer: HashMap::new(),
            junk_penalised: HashMap::new(),
            largest_set: 0,
        }
    }

    /// Adds `info` to `tasks` and returns the buffered messages that were waiting for it, to
    /// be passed to [`Self::validate_burst`] again; nothing if the task was open or closed
    /// already.
    pub fn add_task(&mut self, tasks: &mut TaskTable, info: TaskInfo) -> Vec<InboundMessage> {
        let index = info.task_index;
        if !tasks.add_task(info) {
            return Vec::new();
        }
        let members = tasks.get(index).map_or(0, |t| t.members);
        self.largest_set = self.largest_set.max(members);
        self.take_waiting(index)
    }

    /// The buffered messages that were waiting for task `task_index`.
    fn take_waiting(&mut self, task_index: u32) -> Vec<InboundMessage> {
        let (ready, keep): (VecDeque<_>, VecDeque<_>) = self
            .pending
            .drain(..)
            .partition(|p| p.message.message.task_index() == task_index);
        self.pending = keep;
        for p in &ready {
            self.unbuffer(&p.message.id.source);
        }
        ready.into_iter().map(|p| p.message).collect()
    }

    /// Number of buffered messages.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Drops buffered messages older than `pending_ttl`, with their outcomes: a message whose
    /// task never appeared cannot be proven junk (the task may exist on a fork this node never
    /// saw), so the first one of a peer in each `pending_ttl` is
    /// [`RejectReason::UnknownTask`] and the rest are ignored. A peer that keeps naming tasks
    /// that never come keeps losing score; an honest peer that was on a short-lived fork takes
    /// at most two such rejects per minute, far below a ban.
    pub fn expire_pending(&mut self, now: Instant) -> Vec<(InboundId, Outcome)> {
        let ttl = self.config.pending_ttl;
        self.junk_penalised
            .retain(|_, at| now.saturating_duration_since(*at) < ttl);
        let mut expired = Vec::new();
        while let Some(p) = self.pending.front() {
            if now.saturating_duration_since(p.received) < ttl {
                break;
            }
            if let Some(p) = self.pending.pop_front() {
                let peer = p.message.id.source;
                self.unbuffer(&peer);
                let outcome = match self.junk_penalised.entry(peer) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        Outcome::Ignore(IgnoreReason::PendingExpired)
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(now);
                        Outcome::Reject(RejectReason::UnknownTask)
                    }
                };
                expired.push((p.message.id, outcome));
            }
        }
        expired
    }

    /// Validates one message (a burst of one).
    pub fn validate(
        &mut self,
        tasks: &mut TaskTable,
        message: InboundMessage,
        now: Instant,
    ) -> Outcome {
        self.validate_burst(tasks, vec![message], now)
            .pop()
            .map_or(Outcome::Deferred, |(_, o)| o)
    }

    /// Validates a burst of messages, verifying all their signatures in one batch. Returns
    /// one outcome per message, in input order.
    /// An accepted signature is recorded in `tasks` at once (see [`TaskTable::decide`]).
    pub fn validate_burst(
        &mut self,
        tasks: &mut TaskTable,
        messages: Vec<InboundMessage>,
        now: Instant,
    ) -> Vec<(InboundId, Outcome)> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
        let mut candidates = Vec::new();
        let mut ids = Vec::with_capacity(messages.len());
        for (slot, inbound) in messages.into_iter().enumerate() {
            ids.push(inbound.id.clone());
            let outcome = self.precheck(tasks, inbound, slot, now, &mut candidates);
            outcomes.push(outcome);
        }
        let valid = verify_bisecting(&candidates);
        // Decide in input order, only among valid signatures: the first valid signature of an
        // operator is accepted, so a forged copy earlier in the burst shadows neither a genuine
        // one nor, by claiming another response, frames the operator as an equivocator.
        for (candidate, ok) in candidates.into_iter().zip(valid) {
            let outcome = match candidate.checked {
                _ if !ok => Outcome::Reject(RejectReason::BadSignature),
                Checked::Signature { verified, .. } => tasks.decide(Box::new(verified), now),
                Checked::Aggregate { verified, .. } => {
                    tasks.decide_aggregate(Box::new(verified), now)
                }
            };
            outcomes[candidate.slot] = Some(outcome);
        }
        ids.into_iter()
            .zip(outcomes)
            // Every slot is filled by `precheck` or by the verification results.
            .map(|(id, o)| (id, o.unwrap_or(Outcome::Ignore(IgnoreReason::Duplicate))))
            .collect()
    }

    /// The cheap checks. Returns the outcome, or `None` after pushing a verification candidate.
    fn precheck(
        &mut self,
        tasks: &TaskTable,
        inbound: InboundMessage,
        slot: usize,
        now: Instant,
        candidates: &mut Vec<Candidate>,
    ) -> Option<Outcome> {
        let task_index = inbound.message.task_index();
        if tasks.is_closed(task_index) {
            return Some(Outcome::Ignore(IgnoreReason::Stale));
        }
        let Some(task) = tasks.get(task_index) else {
            return Some(self.buffer(inbound, now));
        };
        if task.task_hash != inbound.message.task_hash() {
            // Another task at this index (the views differ across a reorg): not a forgery.
            return Some(self.buffer(inbound, now));
        }
        let checked = match &inbound.message {
            GossipMessage::Signature(msg) => precheck_signature(task, inbound.channel, msg),
            GossipMessage::GroupAggregate(agg) => precheck_aggregate(task, inbound.channel, agg),
        };
        match checked {
            Ok(checked) => {
                candidates.push(Candidate { slot, checked });
                None
            }
            Err(outcome) => Some(outcome),
        }
    }

    fn buffer(&mut self, inbound: InboundMessage, now: Instant) -> Outcome {
        let peer = inbound.id.source;
        let for_peer = self.pending_by_peer.get(&peer).copied().unwrap_or(0);
        let burst = PENDING_TASKS_AHEAD * self.largest_set;
        let per_peer = self.config.pending_per_peer.max(burst);
        let total = self.config.pending_total.max(PENDING_PEER_SHARES * burst);
        if for_peer >= per_peer || self.pending.len() >= total {
            return Outcome::Ignore(IgnoreReason::PendingFull);
        }
        *self.pending_by_peer.entry(peer).or_default() += 1;
        self.pending.push_back(Pending {
            received: now,
            message: inbound,
        });
        Outcome::Deferred
    }

    fn unbuffer(&mut self, peer: &PeerId) {
        if let Some(n) = self.pending_by_peer.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.pending_by_peer.remove(peer);
            }
        }
    }
}

/// The cheap checks of one operator's signature for an open task.
fn precheck_signature(
    task: &crate::tasks::OpenTask,
    channel: Channel,
    msg: &SignatureMessage,
) -> Result<Checked, Outcome> {
    if !task.info.is_member(&msg.operator_id) {
        return Err(Outcome::Reject(RejectReason::NotInQuorum));
    }
    if channel != task.signature_channel(&msg.operator_id) {
        return Err(Outcome::Ignore(IgnoreReason::WrongChannel));
    }
    if task.equivocators.contains(&msg.operator_id) {
        return Err(Outcome::Ignore(IgnoreReason::KnownEquivocator));
    }
    let Ok(signature) = Signature::from_bytes(&msg.signature) else {
        return Err(Outcome::Reject(RejectReason::MalformedSignature));
    };
    let digest = task.info.digest(&msg.response);
    if task
        .response_of(&msg.operator_id)
        .is_some_and(|first| first.digest == digest)
    {
        return Err(Outcome::Ignore(IgnoreReason::Duplicate));
    }
    if task.signature_conflict(&msg.operator_id, digest) {
        return Err(Outcome::Ignore(IgnoreReason::ConflictsWithAggregate));
    }
    Ok(Checked::Signature {
        operators: task.info.operators.clone(),
        verified: Verified {
            task_index: msg.task_index,
            task_hash: msg.task_hash,
            operator_id: msg.operator_id,
            response: msg.response,
            digest,
            signature,
        },
    })
}

/// The cheap checks of a group aggregate for an open task: its group is one of the task's,
/// its bitmap fits the group exactly, it covers a signer this node lacks, and its signature is
/// a point. Sums the signers' keys for the verification.
fn precheck_aggregate(
    task: &crate::tasks::OpenTask,
    channel: Channel,
    agg: &GroupAggregate,
) -> Result<Checked, Outcome> {
    if channel != Channel::Deployment {
        return Err(Outcome::Ignore(IgnoreReason::WrongChannel));
    }
    if task.group_bits != Some(agg.group.bits) {
        return Err(Outcome::Reject(RejectReason::NotATaskGroup));
    }
    let members: Vec<&OperatorId> = task.info.group_members(agg.group).collect();
    let positions: Vec<usize> = agg.signer_positions().collect();
    if agg.signers.len() != members.len().div_ceil(8)
        || positions.is_empty()
        || positions.iter().any(|&i| i >= members.len())
    {
        return Err(Outcome::Reject(RejectReason::BadBitmap));
    }
    let signers: BTreeSet<OperatorId> = positions.iter().map(|&i| *members[i]).collect();
    let digest = task.info.digest(&agg.response);
    if let Some(reason) = task.aggregate_conflict(digest, agg.group, &signers) {
        return Err(Outcome::Ignore(reason));
    }
    let gain = task
        .digests
        .get(&digest)
        .map_or(PieceGain::Replace, |d| d.piece_gain(agg.group, &signers));
    if gain == PieceGain::None {
        return Err(Outcome::Ignore(IgnoreReason::NoNewSigners));
    }
    let Ok(signature) = Signature::from_bytes(&agg.signature) else {
        return Err(Outcome::Reject(RejectReason::MalformedSignature));
    };
    let operators = &task.info.operators.operators;
    let mut keys = Vec::new();
    for id in &signers {
        // Counted as the aggregate the contract checks counts it (the signature sum likewise).
        let times = quorum_weight(&task.quorum_members, &id.0)
            .map_err(|_| Outcome::Reject(RejectReason::NotInQuorum))?;
        keys.extend(std::iter::repeat_n(&operators[id].pubkey_g2, times));
    }
    let key =
        aggregate_public_keys_g2(keys).map_err(|_| Outcome::Reject(RejectReason::BadSignature))?;
    Ok(Checked::Aggregate {
        key,
        verified: VerifiedAggregate {
            task_index: agg.task_index,
            task_hash: agg.task_hash,
            group: agg.group,
            response: agg.response,
            digest,
            signers,
            signature,
            newly_covered: Vec::new(),
        },
    })
}

/// Verifies all candidates, one batch if they are all valid, bisecting otherwise.
fn verify_bisecting(candidates: &[Candidate]) -> Vec<bool> {
    let mut valid = vec![false; candidates.len()];
    let mut stack = Vec::new();
    stack.push(0..candidates.len());
    while let Some(range) = stack.pop() {
        if range.is_empty() {
            continue;
        }
        let slice = &candidates[range.clone()];
        let ok = if let [one] = slice {
            one.public_key()
                .is_some_and(|pk| pk.verify(one.digest(), one.signature()))
        } else {
            let items: Option<Vec<BatchItem<'_>>> = slice
                .iter()
                .map(|c| {
                    Some(BatchItem {
                        public_key: c.public_key()?,
                        digest: c.digest(),
                        signature: c.signature(),
                    })
                })
                .collect();
            items.is_some_and(|items| batch_verify(&items))
        };
        if ok {
            valid[range].iter_mut().for_each(|v| *v = true);
        } else if range.len() > 1 {
            let mid = range.start + range.len() / 2;
            stack.push(range.start..mid);
            stack.push(mid..range.end);
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        fixtures::{Committee, response},
        wire::SignatureMessage,
    };
    use libp2p::gossipsub::MessageId;

    /// A validator and the task table it validates against, as the service holds them.
    struct Harness {
        validator: Validator,
        tasks: TaskTable,
    }

    impl Harness {
        fn new(config: ValidatorConfig) -> Self {
            Self {
                validator: Validator::new(config),
                tasks: TaskTable::new(Duration::ZERO, config.closed_history),
            }
        }

        /// Adds a task and returns the signatures that waited for it.
        fn add_task(&mut self, info: TaskInfo) -> Vec<InboundMessage> {
            self.validator.add_task(&mut self.tasks, info)
        }

        fn close_task(&mut self, index: u32) {
            self.tasks.close_task(index);
        }

        fn forget_task(&mut self, index: u32) {
            self.tasks.forget_task(index);
        }

        fn is_open(&self, index: u32) -> bool {
            self.tasks.is_open(index)
        }

        fn validate(&mut self, message: InboundMessage, now: Instant) -> Outcome {
            self.validator.validate(&mut self.tasks, message, now)
        }

        fn validate_burst(
            &mut self,
            messages: Vec<InboundMessage>,
            now: Instant,
        ) -> Vec<(InboundId, Outcome)> {
            self.validator
                .validate_burst(&mut self.tasks, messages, now)
        }

        fn expire_pending(&mut self, now: Instant) -> Vec<(InboundId, Outcome)> {
            self.validator.expire_pending(now)
        }

        fn pending_len(&self) -> usize {
            self.validator.pending_len()
        }
    }

    fn inbound(msg: impl Into<GossipMessage>, peer: PeerId) -> InboundMessage {
        crate::fixtures::inbound(msg, Channel::Deployment, peer)
    }

    fn small() -> ValidatorConfig {
        ValidatorConfig {
            pending_ttl: Duration::from_secs(5),
            pending_per_peer: 2,
            pending_total: 3,
            closed_history: 2,
        }
    }

    fn accepted(o: &Outcome) -> bool {
        matches!(o, Outcome::Accept(_))
    }

    #[test]
    fn accepts_valid_and_rejects_forged_outsider_and_malformed() {
        let c = Committee::new(4, 1, |_| 10);
        let outsider = Committee::new(1, 2, |_| 10);
        let mut v = Harness::new(small());
        let now = Instant::now();
        assert!(v.add_task(c.task(1, 50)).is_empty());
        let peer = PeerId::random();

        let good = c.sign(0, response(1, 0));
        match v.validate(inbound(good, peer), now) {
            Outcome::Accept(ok) => {
                assert_eq!(ok.operator_id, c.operators[0].id);
                assert_eq!(ok.digest, crate::fixtures::digest(response(1, 0)));
            }
            other => panic!("expected accept, got {other:?}"),
        }
        // Same operator, same response again: duplicate.
        assert!(matches!(
            v.validate(inbound(good, peer), now),
            Outcome::Ignore(IgnoreReason::Duplicate)
        ));
        // Operator 1's id with operator 2's signature: forged.
        let mut forged = c.sign(2, response(1, 0));
        forged.operator_id = c.operators[1].id;
        assert!(matches!(
            v.validate(inbound(forged, peer), now),
            Outcome::Reject(RejectReason::BadSignature)
        ));
        // Not a member of the task's quorums.
        let mut foreign = outsider.sign(0, response(1, 0));
        foreign.task_index = 1;
        assert!(matches!(
            v.validate(inbound(foreign, peer), now),
            Outcome::Reject(RejectReason::NotInQuorum)
        ));
        // Not a curve point.
        let mut garbage = c.sign(3, response(1, 0));
        garbage.signature = [0xff; 32];
        assert!(matches!(
            v.validate(inbound(garbage, peer), now),
            Outcome::Reject(RejectReason::MalformedSignature)
        ));
    }

    /// Defect 4 of issue 15: every distinct response of one operator used to be accepted,
    /// forwarded and aggregated. Now the second is evidence, once; the third is not verified.
    #[test]
    fn a_second_response_of_an_operator_is_evidence_not_a_signature() {
        let c = Committee::new(2, 3, |_| 1);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 100));
        let peer = PeerId::random();
        let now = Instant::now();
        let first = c.sign(0, response(1, 0));
        assert!(accepted(&v.validate(inbound(first, peer), now)));
        let second = c.sign(0, response(1, 9));
        let evidence = match v.validate(inbound(second, peer), now) {
            Outcome::Equivocation(e) => e,
            other => panic!("expected equivocation evidence, got {other:?}"),
        };
        assert_eq!(evidence.operator_id, c.operators[0].id);
        assert_eq!(evidence.task_hash, c.task(1, 100).attestation.task.hash());
        assert_eq!(evidence.first.response, response(1, 0));
        assert_eq!(evidence.second.response, response(1, 9));
        // The evidence stands on its own: both signatures verify against the operator's key.
        let key = c.operators[0].secret.public_key_g2();
        for signed in [evidence.first, evidence.second] {
            assert!(key.verify(signed.digest, &signed.signature));
        }
        assert_ne!(evidence.first.digest, evidence.second.digest);
        assert_eq!(
            v.validate(inbound(second, peer), now).verdict(),
            Some(crate::Verdict::Ignore),
            "evidence is kept once"
        );
        // A third response is not even verified (an equivocator costs at most two pairings).
        let mut third = c.sign(0, response(1, 5));
        third.signature = [0xff; 32];
        assert!(matches!(
            v.validate(inbound(third, peer), now),
            Outcome::Ignore(IgnoreReason::KnownEquivocator)
        ));
        // The other operator is unaffected; the equivocator's first response, already counted,
        // is ignored like everything else it sends for the task.
        assert!(accepted(
            &v.validate(inbound(c.sign(1, response(1, 9)), peer), now)
        ));
        assert!(matches!(
            v.validate(inbound(first, peer), now),
            Outcome::Ignore(IgnoreReason::KnownEquivocator)
        ));
    }

    /// Two responses of one operator in one burst: the first in input order is accepted, the
    /// second is evidence; a forged "second response" frames nobody.
    #[test]
    fn equivocation_inside_a_burst_and_forged_framing() {
        let c = Committee::new(2, 3, |_| 1);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 100));
        let peer = PeerId::random();
        let mut framed = c.sign(1, response(1, 7));
        framed.signature = c.sign(0, response(1, 7)).signature;
        let burst = vec![
            inbound(framed, peer),
            inbound(c.sign(1, response(1, 0)), peer),
            inbound(c.sign(0, response(1, 0)), peer),
            inbound(c.sign(0, response(1, 1)), peer),
        ];
        let out = v.validate_burst(burst, Instant::now());
        assert!(matches!(
            out[0].1,
            Outcome::Reject(RejectReason::BadSignature)
        ));
        assert!(
            accepted(&out[1].1),
            "operator 1 is not framed: {:?}",
            out[1].1
        );
        assert!(accepted(&out[2].1));
        assert!(
            matches!(&out[3].1, Outcome::Equivocation(e) if e.operator_id == c.operators[0].id)
        );
    }

    /// Junk for tasks that never appear costs its forwarder one reject per `pending_ttl`:
    /// enough to lower its score, never enough to ban an honest peer that was on a fork.
    #[test]
    fn expired_junk_is_penalised_once_per_peer_per_ttl() {
        let c = Committee::new(3, 7, |_| 1);
        let mut v = Harness::new(ValidatorConfig {
            pending_total: 16,
            pending_per_peer: 8,
            ..small()
        });
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        for i in 0..3 {
            v.validate(inbound(c.sign(i, response(40 + i as u32, 0)), a), t0);
        }
        v.validate(inbound(c.sign(0, response(50, 0)), b), t0);
        let ttl = small().pending_ttl;
        let expired = v.expire_pending(t0 + ttl);
        let rejects = |out: &[(InboundId, Outcome)], peer: PeerId| {
            out.iter()
                .filter(|(id, o)| {
                    id.source == peer && matches!(o, Outcome::Reject(RejectReason::UnknownTask))
                })
                .count()
        };
        assert_eq!(expired.len(), 4);
        assert_eq!(rejects(&expired, a), 1, "{expired:?}");
        assert_eq!(rejects(&expired, b), 1);
        // More junk from a within the same ttl: ignored; after it, penalised again.
        v.validate(inbound(c.sign(0, response(60, 0)), a), t0 + ttl);
        let again = v.expire_pending(t0 + ttl * 2 - Duration::from_millis(1));
        assert!(again.is_empty());
        let again = v.expire_pending(t0 + ttl * 2);
        assert_eq!(rejects(&again, a), 1, "{again:?}");
    }

    #[test]
    fn burst_finds_the_forgeries_and_keeps_the_rest() {
        let c = Committee::new(16, 4, |_| 1);
        let mut v = Harness::new(small());
        v.add_task(c.task(7, 67));
        let peer = PeerId::random();
        let mut msgs: Vec<_> = (0..16)
            .map(|i| inbound(c.sign(i, response(7, 0)), peer))
            .collect();
        // Forge two entries: signatures of other operators under these ids.
        for bad in [3usize, 11] {
            let mut forged = c.sign(bad, response(7, 0));
            forged.signature = c.sign((bad + 1) % 16, response(7, 0)).signature;
            msgs[bad] = inbound(forged, peer);
        }
        // And a forged copy of operator 5's signature *before* its genuine one.
        let mut shadow = c.sign(5, response(7, 0));
        shadow.signature = c.sign(6, response(7, 0)).signature;
        let mut shadow = inbound(shadow, peer);
        shadow.id.message_id = MessageId::new(b"shadow");
        msgs.insert(0, shadow);

        let out = v.validate_burst(msgs, Instant::now());
        assert_eq!(out.len(), 17);
        let verdicts: Vec<bool> = out.iter().map(|(_, o)| accepted(o)).collect();
        let rejected: Vec<usize> = verdicts
            .iter()
            .enumerate()
            .filter(|(_, a)| !**a)
            .map(|(i, _)| i)
            .collect();
        // Input index 0 is the shadow; the forgeries moved to 4 and 12.
        assert_eq!(rejected, vec![0, 4, 12]);
        assert!(
            verdicts[6],
            "genuine signature of operator 5 must not be shadowed"
        );
    }

    #[test]
    fn duplicate_inside_a_burst_is_accepted_once() {
        let c = Committee::new(1, 5, |_| 1);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 100));
        let m = inbound(c.sign(0, response(1, 0)), PeerId::random());
        let out = v.validate_burst(vec![m.clone(), m], Instant::now());
        assert!(accepted(&out[0].1));
        assert!(matches!(out[1].1, Outcome::Ignore(IgnoreReason::Duplicate)));
    }

    #[test]
    fn unknown_task_is_buffered_bounded_and_replayed() {
        let c = Committee::new(4, 6, |_| 1);
        let mut v = Harness::new(small());
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let m = |i| c.sign(i, response(9, 0));
        assert!(matches!(
            v.validate(inbound(m(0), a), t0),
            Outcome::Deferred
        ));
        assert!(matches!(
            v.validate(inbound(m(1), a), t0),
            Outcome::Deferred
        ));
        // Per-peer bound (2).
        assert!(matches!(
            v.validate(inbound(m(2), a), t0),
            Outcome::Ignore(IgnoreReason::PendingFull)
        ));
        assert!(matches!(
            v.validate(inbound(m(2), b), t0),
            Outcome::Deferred
        ));
        // Global bound (3).
        assert!(matches!(
            v.validate(inbound(m(3), b), t0),
            Outcome::Ignore(IgnoreReason::PendingFull)
        ));
        assert_eq!(v.pending_len(), 3);

        let replay = v.add_task(c.task(9, 50));
        assert_eq!(replay.len(), 3);
        assert_eq!(v.pending_len(), 0);
        let out = v.validate_burst(replay, t0);
        assert!(out.iter().all(|(_, o)| accepted(o)), "{out:?}");
        // Buffer space is free again.
        assert!(matches!(
            v.validate(inbound(c.sign(0, response(10, 0)), a), t0),
            Outcome::Deferred
        ));
    }

    /// A committee of 70 is split into four groups (two id bits).
    fn grouped() -> (Committee, GroupId) {
        let c = Committee::new(70, 31, |_| 1);
        assert_eq!(c.task(1, 67).group_bits(), Some(2));
        let group = GroupId::of(&c.operators[0].id, 2);
        (c, group)
    }

    #[test]
    fn a_valid_group_aggregate_is_accepted_once_and_counts_its_signers() {
        let (c, group) = grouped();
        let members = c.group_indices(group);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 67));
        let (peer, now) = (PeerId::random(), Instant::now());
        let agg = c.group_aggregate(group, &members[..3], response(1, 0));
        match v.validate(inbound(agg.clone(), peer), now) {
            Outcome::AcceptAggregate(a) => {
                assert_eq!(a.group, group);
                assert_eq!(a.signers.len(), 3);
                assert_eq!(a.newly_covered.len(), 3);
            }
            other => panic!("expected an accepted aggregate, got {other:?}"),
        }
        // Again, or a subset of it, or one of its signers alone: nothing new.
        assert!(matches!(
            v.validate(inbound(agg, peer), now),
            Outcome::Ignore(IgnoreReason::NoNewSigners)
        ));
        let subset = c.group_aggregate(group, &members[1..3], response(1, 0));
        assert!(matches!(
            v.validate(inbound(subset, peer), now),
            Outcome::Ignore(IgnoreReason::NoNewSigners)
        ));
        // A larger one that overlaps: accepted for the one signer it adds.
        let larger = c.group_aggregate(group, &members[..4], response(1, 0));
        match v.validate(inbound(larger, peer), now) {
            Outcome::AcceptAggregate(a) => {
                assert_eq!(a.newly_covered, vec![c.operators[members[3]].id]);
            }
            other => panic!("expected an accepted aggregate, got {other:?}"),
        }
        let signers =
            v.tasks.get(1).unwrap().digests[&crate::fixtures::digest(response(1, 0))].signers();
        assert_eq!(signers.len(), 4);
    }

    #[test]
    fn forged_misfitting_and_misplaced_group_aggregates_are_refused() {
        let (c, group) = grouped();
        let members = c.group_indices(group);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 67));
        let (peer, now) = (PeerId::random(), Instant::now());
        let good = c.group_aggregate(group, &members[..3], response(1, 0));

        // The signature of two signers under a bitmap of three.
        let mut forged = good.clone();
        forged.signature = c
            .group_aggregate(group, &members[..2], response(1, 0))
            .signature;
        assert!(matches!(
            v.validate(inbound(forged, peer), now),
            Outcome::Reject(RejectReason::BadSignature)
        ));
        // Bitmaps: a byte short, a bit past the group, no bit at all.
        let member_count = members.len();
        assert_ne!(
            member_count % 8,
            0,
            "a bit past the group needs a partly used byte"
        );
        let mut short = good.clone();
        short.signers.pop();
        let mut past = good.clone();
        past.signers = GroupAggregate::bitmap(member_count + 1, [0, member_count]);
        let mut empty = good.clone();
        empty.signers = vec![0; member_count.div_ceil(8)];
        for (what, bad) in [("short", short), ("past", past), ("empty", empty)] {
            let out = v.validate(inbound(bad, peer), now);
            assert!(
                matches!(out, Outcome::Reject(RejectReason::BadBitmap)),
                "{what}: {out:?}"
            );
        }
        // Another split than the task's.
        let mut other_split = good.clone();
        other_split.group = GroupId { bits: 3, prefix: 0 };
        assert!(matches!(
            v.validate(inbound(other_split, peer), now),
            Outcome::Reject(RejectReason::NotATaskGroup)
        ));
        // On a group's topic instead of the deployment's.
        let misplaced = crate::fixtures::inbound(good.clone(), Channel::Group(group), peer);
        assert!(matches!(
            v.validate(misplaced, now),
            Outcome::Ignore(IgnoreReason::WrongChannel)
        ));
        // None of those was counted; the genuine one still is.
        assert!(matches!(
            v.validate(inbound(good, peer), now),
            Outcome::AcceptAggregate(_)
        ));
    }

    #[test]
    fn aggregates_that_would_drop_a_signer_or_name_one_counted_elsewhere_cost_no_pairing() {
        let (c, group) = grouped();
        let m = c.group_indices(group);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 67));
        let (peer, now) = (PeerId::random(), Instant::now());
        let forge = |mut agg: GroupAggregate| {
            // A valid point that verifies for nothing: were it verified, the outcome would be
            // a reject.
            agg.signature = c.sign(m[0], response(1, 7)).signature;
            agg
        };
        assert!(matches!(
            v.validate(
                inbound(c.group_aggregate(group, &m[..3], response(1, 0)), peer),
                now
            ),
            Outcome::AcceptAggregate(_)
        ));
        // Larger, but without signer 0, which this node holds only through the piece.
        let drops = forge(c.group_aggregate(group, &m[1..5], response(1, 0)));
        assert!(matches!(
            v.validate(inbound(drops, peer), now),
            Outcome::Ignore(IgnoreReason::NoNewSigners)
        ));
        // Signer 2 is counted for response 0: an aggregate that adds only it over response 1,
        // and its individual signature over response 1, are neither counted nor verified.
        let elsewhere = forge(c.group_aggregate(group, &m[2..3], response(1, 1)));
        assert!(matches!(
            v.validate(inbound(elsewhere, peer), now),
            Outcome::Ignore(IgnoreReason::ConflictsWithAggregate)
        ));
        let mut single = c.sign(m[2], response(1, 1));
        single.signature = c.sign(m[0], response(1, 7)).signature;
        let single = crate::fixtures::inbound(single, Channel::Group(group), peer);
        assert!(matches!(
            v.validate(single, now),
            Outcome::Ignore(IgnoreReason::ConflictsWithAggregate)
        ));
        // One operator signing many responses in one-signer aggregates: only the first counts.
        let lone = m[5];
        assert!(matches!(
            v.validate(
                inbound(c.group_aggregate(group, &[lone], response(1, 2)), peer),
                now
            ),
            Outcome::AcceptAggregate(_)
        ));
        for variant in 3..6 {
            let again = forge(c.group_aggregate(group, &[lone], response(1, variant)));
            assert!(matches!(
                v.validate(inbound(again, peer), now),
                Outcome::Ignore(IgnoreReason::ConflictsWithAggregate)
            ));
        }
        assert_eq!(v.tasks.get(1).unwrap().digests.len(), 2);
        // That operator cannot keep its group's honest aggregate out: it adds others too.
        let honest = c.group_aggregate(group, &[m[0], m[1], m[2], lone, m[6]], response(1, 0));
        match v.validate(inbound(honest, peer), now) {
            Outcome::AcceptAggregate(a) => assert_eq!(
                a.newly_covered.len(),
                2,
                "the lone signer and signer 6, each once"
            ),
            other => panic!("expected the honest aggregate, got {other:?}"),
        }
    }

    #[test]
    fn a_grouped_tasks_signatures_belong_on_their_groups_topic() {
        let (c, group) = grouped();
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 67));
        let (peer, now) = (PeerId::random(), Instant::now());
        let other = GroupId {
            prefix: (group.prefix + 1) % 4,
            ..group
        };
        for channel in [Channel::Deployment, Channel::Group(other)] {
            let m = crate::fixtures::inbound(c.sign(0, response(1, 0)), channel, peer);
            assert!(
                matches!(
                    v.validate(m, now),
                    Outcome::Ignore(IgnoreReason::WrongChannel)
                ),
                "{channel:?}"
            );
        }
        assert!(accepted(
            &v.validate(c.inbound(0, response(1, 0), peer), now)
        ));
    }

    /// A node that knows a set of 40 from an earlier task buffers the whole burst of the next
    /// task from one peer (the configured bounds are 2 per peer, 3 in total) and replays it:
    /// ignored there, the signatures would be lost, since gossipsub delivers a message once.
    #[test]
    fn pending_bounds_grow_with_the_largest_operator_set() {
        let c = Committee::new(40, 11, |_| 1);
        let mut v = Harness::new(small());
        let (peer, t0) = (PeerId::random(), Instant::now());
        assert!(v.add_task(c.task(1, 50)).is_empty());
        for i in 0..40 {
            let out = v.validate(inbound(c.sign(i, response(2, 0)), peer), t0);
            assert!(matches!(out, Outcome::Deferred), "signer {i}: {out:?}");
        }
        // The next task's burst too, then the bound: PENDING_TASKS_AHEAD × 40.
        for i in 0..40 {
            let out = v.validate(inbound(c.sign(i, response(3, 0)), peer), t0);
            assert!(matches!(out, Outcome::Deferred), "signer {i}: {out:?}");
        }
        let over = v.validate(inbound(c.sign(0, response(4, 0)), peer), t0);
        assert!(matches!(over, Outcome::Ignore(IgnoreReason::PendingFull)));
        assert_eq!(v.pending_len(), PENDING_TASKS_AHEAD * 40);

        let replay = v.add_task(c.task(2, 50));
        let out = v.validate_burst(replay, t0);
        assert_eq!(out.len(), 40);
        assert!(out.iter().all(|(_, o)| accepted(o)), "{out:?}");
    }

    #[test]
    fn pending_expires_after_ttl() {
        let c = Committee::new(1, 7, |_| 1);
        let mut v = Harness::new(small());
        let t0 = Instant::now();
        let m = inbound(c.sign(0, response(3, 0)), PeerId::random());
        let id = m.id.clone();
        assert!(matches!(v.validate(m, t0), Outcome::Deferred));
        assert!(v.expire_pending(t0 + Duration::from_secs(4)).is_empty());
        let expired = v.expire_pending(t0 + Duration::from_secs(5));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0, id);
        assert!(v.add_task(c.task(3, 50)).is_empty());
    }

    #[test]
    fn closed_tasks_are_stale_and_history_is_bounded() {
        let c = Committee::new(1, 8, |_| 1);
        let mut v = Harness::new(small());
        v.add_task(c.task(1, 50));
        v.close_task(1);
        assert!(!v.is_open(1));
        let now = Instant::now();
        let peer = PeerId::random();
        assert!(matches!(
            v.validate(inbound(c.sign(0, response(1, 0)), peer), now),
            Outcome::Ignore(IgnoreReason::Stale)
        ));
        // A closed task cannot be reopened by a late TaskCreated replay.
        assert!(v.add_task(c.task(1, 50)).is_empty());
        assert!(!v.is_open(1));
        v.close_task(2);
        v.close_task(3);
        // History of 2: task 1 is forgotten, so its signatures are buffered again.
        assert!(matches!(
            v.validate(inbound(c.sign(0, response(1, 0)), peer), now),
            Outcome::Deferred
        ));
    }

    /// A settlement reorg re-created task index 1 for another task. A node that has not seen the
    /// new branch yet sets the honest signatures for the new task aside (no penalty), and once
    /// the old task is forgotten and the new one added, they are replayed and accepted.
    #[test]
    fn a_signature_for_another_task_at_the_index_waits_for_it() {
        let c = Committee::new(2, 9, |_| 1);
        let mut v = Harness::new(ValidatorConfig::default());
        v.add_task(c.task(1, 50));
        let old = c.task(1, 50);
        let mut recreated = old.attestation.task.clone();
        recreated.taskCreatedParentHash = B256::repeat_byte(0x0F);
        let new = TaskInfo {
            attestation: Arc::new(avs_contracts::avs::TaskAttestation {
                domain: old.attestation.domain.clone(),
                task: recreated,
            }),
            ..old
        };
        let r = response(1, 0);
        let message = SignatureMessage {
            task_index: 1,
            response: r,
            signature: c.operators[0].secret.sign(new.digest(&r)).to_bytes(),
            operator_id: c.operators[0].id,
            task_hash: new.attestation.task.hash(),
        };
        let now = Instant::now();
        let peer = PeerId::random();
        assert!(
            matches!(v.validate(inbound(message, peer), now), Outcome::Deferred),
            "not rejected as forged: it names another task"
        );
        // The reorg reaches this node: the old task is forgotten (not closed), the new one added.
        v.forget_task(1);
        let replay = v.add_task(new);
        assert_eq!(replay.len(), 1, "the buffered signature is replayed");
        let outcome = v.validate(replay.into_iter().next().expect("one"), now);
        assert!(accepted(&outcome), "{outcome:?}");
        // The same signature claiming the new task but signed over the old one is a forgery.
        let forged = SignatureMessage {
            signature: c.operators[1]
                .secret
                .sign(c.task(1, 50).digest(&r))
                .to_bytes(),
            operator_id: c.operators[1].id,
            ..message
        };
        assert!(matches!(
            v.validate(inbound(forged, peer), now),
            Outcome::Reject(RejectReason::BadSignature)
        ));
    }
}
