//! The p2p layer's one table of tasks: everything validation and aggregation keep about a task
//! lives in its single [`TaskTable`] entry.
//!
//! The task lifecycle itself belongs to the node's AVS ExEx (`avs-checkpoint`'s `TaskBook`);
//! the service applies its transitions here, in the order the ExEx reports them (and closes a
//! task the ExEx reports answered but does not track, e.g. one answered before it started):
//!
//! ```text
//! add_task ──▶ Collecting ──(due)──▶ Emitted ──▶ (next signature after a failed build) Collecting
//!                  │  ▲                 │
//!    mark_answered │  └──── reopen ─────┤ (the response was reorged out)
//!                  ▼                    ▼
//!               Answered ◀──────────────┘
//!
//! close_task (closed for good): the entry is dropped and its index remembered (bounded), so
//! later signatures for it are stale. forget_task (creation reverted): dropped and not
//! remembered, so the index can be added again for the task a reorg re-created there.
//! ```
//!
//! Per entry: the task as created, its EIP-712 struct hash, each response digest's signers and
//! signed stake per quorum, and the operators caught equivocating. An operator's accepted
//! signature is stored once, in its digest's signers: "at most one response per operator" is
//! checked against that same record ([`TaskTable::decide`]). Group aggregates are counted
//! only for the signers they add that are counted nowhere else ([`TaskTable::decide_aggregate`]),
//! so a task has at most one digest per member.

use crate::{
    aggregation::{DigestState, Piece},
    groups::GroupId,
    network::Channel,
    operators::{QuorumNumber, Stake, TaskInfo},
    validation::{
        Equivocation, IgnoreReason, Outcome, RejectReason, ResponseSignature, Verified,
        VerifiedAggregate,
    },
    wire::OperatorId,
};
use alloy::primitives::B256;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    time::{Duration, Instant},
};

/// Where an open task's aggregation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Collecting signatures; an at-quorum digest falls due after the aggregation window.
    Collecting,
    /// Its aggregate was yielded once (later ones are built on demand for resubmission).
    /// `build_failed`: that build failed, so the next signature makes the task due again
    /// (retrying without new input would fail the same way, every tick).
    Emitted { build_failed: bool },
    /// A response is on-chain: nothing falls due until [`TaskTable::reopen`] (its
    /// `TaskResponded` may still be reorged out, so the signatures are kept).
    Answered,
}

/// One open task.
pub(crate) struct OpenTask {
    pub(crate) info: TaskInfo,
    /// The task's EIP-712 struct hash, which messages for it must name.
    pub(crate) task_hash: B256,
    /// Total stake of each of the task's quorums at its reference block.
    pub(crate) totals: BTreeMap<QuorumNumber, Stake>,
    /// How many operators may sign it.
    pub(crate) members: usize,
    /// Its signing-group split ([`crate::groups`]; `None`: one by one).
    pub(crate) group_bits: Option<u8>,
    /// The members of each of its quorums, in the task's quorum order: what a signer's weight
    /// in an aggregate is counted from.
    pub(crate) quorum_members: Vec<Vec<B256>>,
    /// Each distinct response's signers, by digest.
    pub(crate) digests: HashMap<B256, DigestState>,
    /// Operators caught signing a second response (their evidence was returned once).
    pub(crate) equivocators: HashSet<OperatorId>,
    /// The signers of the response this node's aggregate was built for when its aggregation
    /// window closed (`None` until then): what later tasks' turns go by ([`crate::ranking`]).
    /// Taken then, not later, so that signatures straggling in after the answer, which only
    /// some nodes hear, do not make the nodes' views differ.
    pub(crate) quorum_signers: Option<BTreeSet<OperatorId>>,
    pub(crate) phase: Phase,
}

impl OpenTask {
    /// Where `operator`'s signature for this task is gossiped (as
    /// [`TaskInfo::signature_channel`], from the split computed once).
    pub(crate) fn signature_channel(&self, operator: &OperatorId) -> Channel {
        crate::groups::signature_channel(self.group_bits, operator)
    }

    /// Whether `operator` is counted for a response other than `digest`, individually or in a
    /// group's piece.
    pub(crate) fn counted_elsewhere(&self, operator: &OperatorId, digest: B256) -> bool {
        self.digests
            .iter()
            .any(|(other, d)| *other != digest && d.counts(operator))
    }

    /// Whether `operator` is counted for any response, individually or in a group's piece.
    pub(crate) fn has_signed(&self, operator: &OperatorId) -> bool {
        self.digests.values().any(|d| d.counts(operator))
    }

    /// Why an individual signature of `operator` over `digest` cannot be counted, if it
    /// cannot: the operator has no signature of its own here but is counted for another
    /// response inside a group's aggregate (a second response, with no first signature to
    /// make evidence of). Checked before the pairing and again when deciding.
    pub(crate) fn signature_conflict(&self, operator: &OperatorId, digest: B256) -> bool {
        self.response_of(operator).is_none() && self.counted_elsewhere(operator, digest)
    }

    /// Why an aggregate of `signers` of `group` over `digest` cannot be counted, if it cannot:
    /// every signer it would add to what the digest holds of the group was caught equivocating
    /// or is counted for another response. Judged on the added signers only, so an operator
    /// that signs two responses cannot keep its group's honest aggregates out (they always add
    /// others); and each aggregate counted adds an operator counted nowhere before, so a task
    /// gets at most one digest per member.
    pub(crate) fn aggregate_conflict(
        &self,
        digest: B256,
        group: GroupId,
        signers: &BTreeSet<OperatorId>,
    ) -> Option<IgnoreReason> {
        let held = self
            .digests
            .get(&digest)
            .map(|d| d.group_coverage(group))
            .unwrap_or_default();
        let mut added = signers.difference(&held).peekable();
        added.peek()?;
        let mut equivocators = 0;
        for s in added {
            if self.equivocators.contains(s) {
                equivocators += 1;
            } else if !self.counted_elsewhere(s, digest) {
                return None;
            }
        }
        Some(if equivocators > 0 {
            IgnoreReason::KnownEquivocator
        } else {
            IgnoreReason::ConflictsWithAggregate
        })
    }

    /// The response `operator` signed, if one of its signatures was accepted.
    pub(crate) fn response_of(&self, operator: &OperatorId) -> Option<ResponseSignature> {
        self.digests.iter().find_map(|(digest, d)| {
            d.signatures
                .get(operator)
                .map(|signature| ResponseSignature {
                    response: d.response,
                    digest: *digest,
                    signature: *signature,
                })
        })
    }
}

/// Every open task of the p2p layer, and the recently closed indices.
pub struct TaskTable {
    window: Duration,
    closed_history: usize,
    open: HashMap<u32, OpenTask>,
    closed: BTreeSet<u32>,
}

impl std::fmt::Debug for TaskTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskTable")
            .field("window", &self.window)
            .field("open", &self.open.len())
            .field("closed", &self.closed.len())
            .finish()
    }
}

impl TaskTable {
    /// An empty table that keeps collecting for `aggregation_window` after quorum and
    /// remembers the last `closed_history` closed indices.
    pub fn new(aggregation_window: Duration, closed_history: usize) -> Self {
        Self {
            window: aggregation_window,
            closed_history,
            open: HashMap::new(),
            closed: BTreeSet::new(),
        }
    }

    /// The aggregation window.
    pub(crate) const fn window(&self) -> Duration {
        self.window
    }

    /// Opens a task. `false` (and nothing changes) if it is open or closed already.
    pub fn add_task(&mut self, info: TaskInfo) -> bool {
        let index = info.task_index;
        if self.open.contains_key(&index) || self.closed.contains(&index) {
            return false;
        }
        let totals = info
            .quorums()
            .into_iter()
            .map(|q| (q, info.operators.total_stake(q)))
            .collect();
        let members = info.members().count();
        let group_bits = crate::groups::group_bits(members);
        let quorum_members = info
            .quorum_numbers
            .iter()
            .map(|q| {
                info.operators
                    .operators
                    .iter()
                    .filter(|(_, o)| o.stakes.contains_key(q))
                    .map(|(id, _)| id.0)
                    .collect()
            })
            .collect();
        self.open.insert(
            index,
            OpenTask {
                task_hash: info.attestation.task.hash(),
                info,
                totals,
                members,
                group_bits,
                quorum_members,
                digests: HashMap::new(),
                equivocators: HashSet::new(),
                quorum_signers: None,
                phase: Phase::Collecting,
            },
        );
        true
    }

    /// Closes a task for good (answered and settled, or expired): its state is dropped and
    /// later signatures for it are stale.
    pub fn close_task(&mut self, task_index: u32) {
        self.open.remove(&task_index);
        self.closed.insert(task_index);
        while self.closed.len() > self.closed_history {
            self.closed.pop_first();
        }
    }

    /// Forgets a task whose creation left the canonical chain: unlike a closed task, its index
    /// may be added again (for another task).
    pub fn forget_task(&mut self, task_index: u32) {
        self.open.remove(&task_index);
        self.closed.remove(&task_index);
    }

    /// A response to the task is on-chain: nothing of it falls due any more, but its signatures
    /// are kept in case the response is reorged out ([`Self::reopen`]).
    pub fn mark_answered(&mut self, task_index: u32) {
        if let Some(task) = self.open.get_mut(&task_index) {
            task.phase = Phase::Answered;
        }
    }

    /// The task's response left the canonical chain: its best at-quorum aggregate falls due
    /// again (at once if its aggregation window has passed). `false` if the task is unknown.
    pub fn reopen(&mut self, task_index: u32) -> bool {
        let Some(task) = self.open.get_mut(&task_index) else {
            return false;
        };
        task.phase = Phase::Collecting;
        true
    }

    /// Whether `task_index` is open.
    pub fn is_open(&self, task_index: u32) -> bool {
        self.open.contains_key(&task_index)
    }

    /// Whether `task_index` was closed for good (and is still remembered).
    pub fn is_closed(&self, task_index: u32) -> bool {
        self.closed.contains(&task_index)
    }

    /// The open task `task_index`, as added.
    pub fn task(&self, task_index: u32) -> Option<&TaskInfo> {
        self.open.get(&task_index).map(|t| &t.info)
    }

    /// The open task `task_index`'s entry.
    pub(crate) fn get(&self, task_index: u32) -> Option<&OpenTask> {
        self.open.get(&task_index)
    }

    /// The operators among `candidates` that hold a turn in the task (a submitter slot, a
    /// turn to publish the group's aggregate; [`crate::ranking`]): all of them, except members
    /// of the reference task that did not sign its quorum response, unless they have signed
    /// this task. The reference is the latest earlier task held whose aggregate this node
    /// built when the task's aggregation window closed, with the signers it had then (a task
    /// re-derived after a restart, with no signatures, is none). With no reference (a node
    /// just started), every candidate holds a turn.
    pub fn turn_holders(
        &self,
        task_index: u32,
        candidates: impl IntoIterator<Item = OperatorId>,
    ) -> Vec<OperatorId> {
        let reference = self
            .open
            .values()
            .filter(|t| t.info.task_index < task_index)
            .filter_map(|t| Some((t.info.task_index, &t.info, t.quorum_signers.as_ref()?)))
            .max_by_key(|(index, _, _)| *index);
        let current = self.open.get(&task_index);
        candidates
            .into_iter()
            .filter(|op| {
                reference
                    .is_none_or(|(_, info, signers)| signers.contains(op) || !info.is_member(op))
                    || current.is_some_and(|t| t.has_signed(op))
            })
            .collect()
    }

    /// Every open task's entry, to aggregate.
    pub(crate) fn open_mut(&mut self) -> impl Iterator<Item = &mut OpenTask> {
        self.open.values_mut()
    }

    /// Every open task's entry.
    pub(crate) fn open(&self) -> impl Iterator<Item = &OpenTask> {
        self.open.values()
    }

    /// Records a signature that passed every check: accepted and counted toward its digest if
    /// it is the operator's first response to the task, a duplicate if it repeats it, evidence
    /// if it contradicts it (once per operator; later ones are ignored).
    pub fn decide(&mut self, v: Box<Verified>, now: Instant) -> Outcome {
        let Some(task) = self.open.get_mut(&v.task_index) else {
            return Outcome::Ignore(IgnoreReason::Stale);
        };
        if task.signature_conflict(&v.operator_id, v.digest) {
            return Outcome::Ignore(IgnoreReason::ConflictsWithAggregate);
        }
        if let Some(first) = task.response_of(&v.operator_id) {
            return if first.digest == v.digest {
                Outcome::Ignore(IgnoreReason::Duplicate)
            } else if task.equivocators.insert(v.operator_id) {
                Outcome::Equivocation(Box::new(Equivocation {
                    task_index: v.task_index,
                    task_hash: v.task_hash,
                    operator_id: v.operator_id,
                    first,
                    second: ResponseSignature {
                        response: v.response,
                        digest: v.digest,
                        signature: v.signature,
                    },
                }))
            } else {
                Outcome::Ignore(IgnoreReason::KnownEquivocator)
            };
        }
        if !task.count(&v, now) {
            return Outcome::Reject(RejectReason::NotInQuorum);
        }
        Outcome::Accept(v)
    }

    /// Records a verified group aggregate: accepted (with the signers it newly covers) if it
    /// makes its digest cover more of its group, ignored if it adds nothing or names a signer
    /// counted for another response or caught equivocating.
    pub fn decide_aggregate(&mut self, mut a: Box<VerifiedAggregate>, now: Instant) -> Outcome {
        let Some(task) = self.open.get_mut(&a.task_index) else {
            return Outcome::Ignore(IgnoreReason::Stale);
        };
        if let Some(reason) = task.aggregate_conflict(a.digest, a.group, &a.signers) {
            return Outcome::Ignore(reason);
        }
        let piece = Piece {
            signers: a.signers.clone(),
            sigma: a.signature,
        };
        a.newly_covered = task.add_piece(a.digest, a.response, a.group, piece, now);
        if a.newly_covered.is_empty() {
            Outcome::Ignore(IgnoreReason::NoNewSigners)
        } else {
            Outcome::AcceptAggregate(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, Committee, digest, response};

    fn verified(c: &Committee, i: usize, task: u32, variant: u8) -> Box<Verified> {
        Box::new(fixtures::verified(c, i, task, variant))
    }

    #[test]
    fn closed_tasks_stay_closed_and_reverted_ones_can_be_added_again() {
        let c = Committee::new(2, 21, |_| 10);
        let mut tasks = TaskTable::new(Duration::ZERO, 2);
        assert!(tasks.add_task(c.task(1, 50)));
        assert!(!tasks.add_task(c.task(1, 50)), "open already");
        tasks.close_task(1);
        assert!(!tasks.is_open(1) && tasks.is_closed(1));
        assert!(
            !tasks.add_task(c.task(1, 50)),
            "a late replay cannot reopen it"
        );
        // The closed history is bounded: the oldest index is forgotten first.
        tasks.close_task(2);
        tasks.close_task(3);
        assert!(!tasks.is_closed(1) && tasks.is_closed(2) && tasks.is_closed(3));

        // A reverted creation is forgotten, not closed: the index takes the re-created task.
        assert!(tasks.add_task(c.task(4, 50)));
        tasks.forget_task(4);
        assert!(!tasks.is_open(4) && !tasks.is_closed(4));
        assert!(tasks.add_task(c.task(4, 50)));
        assert_eq!(tasks.task(4).map(|t| t.task_index), Some(4));
    }

    #[test]
    fn members_silent_in_the_last_task_at_quorum_hold_no_turn_until_they_sign() {
        // Equal stakes at a 50 % threshold: any two of the four are a quorum.
        let c = Committee::new(4, 23, |_| 10);
        let ids: Vec<OperatorId> = c.operators.iter().map(|o| o.id).collect();
        let all = || ids.iter().copied();
        let mut tasks = TaskTable::new(Duration::ZERO, 8);
        let now = Instant::now();
        // No earlier task at quorum (a node just started): every member holds a turn.
        assert!(tasks.add_task(c.task(1, 50)));
        tasks.decide(verified(&c, 0, 1, 0), now);
        assert_eq!(tasks.turn_holders(1, all()), ids);
        // Task 2 arrives while task 1 has one signer, no quorum: still no reference.
        assert!(tasks.add_task(c.task(2, 50)));
        assert_eq!(tasks.turn_holders(2, all()), ids);
        // Task 1 reaches quorum with operators 0 and 1, but is no reference until its
        // aggregate is built (its aggregation window closed).
        tasks.decide(verified(&c, 1, 1, 0), now);
        assert_eq!(tasks.turn_holders(2, all()), ids);
        assert_eq!(tasks.take_due(now).len(), 1);
        // Now 2 and 3 hold no turn in task 2 until they sign it.
        assert_eq!(tasks.turn_holders(2, all()), ids[..2]);
        tasks.decide(verified(&c, 3, 2, 0), now);
        assert_eq!(tasks.turn_holders(2, all()), [ids[0], ids[1], ids[3]]);
        // Task 2 at quorum (0 and 3) becomes task 3's reference: 1 and 2 are out there. A
        // signature straggling in after its aggregate was built changes nothing, as it would
        // reach some nodes and not others.
        tasks.decide(verified(&c, 0, 2, 0), now);
        assert_eq!(tasks.take_due(now).len(), 1);
        tasks.decide(verified(&c, 2, 2, 0), now);
        assert!(tasks.add_task(c.task(3, 50)));
        assert_eq!(tasks.turn_holders(3, all()), [ids[0], ids[3]]);
        // An operator the reference did not name (registered since) holds a turn.
        let newcomer = OperatorId(B256::repeat_byte(0xee));
        assert_eq!(
            tasks.turn_holders(3, [newcomer, ids[1]]),
            [newcomer],
            "a newcomer holds a turn, a silent member does not"
        );
        // A reference is only ever an earlier task: task 1 still rules task 2, so 1 (a
        // signer of task 1, not of task 2) holds a turn there.
        assert_eq!(tasks.turn_holders(2, [ids[1]]), [ids[1]]);
        // A reorg takes task 2's creation out: task 1 is task 3's reference again, and the
        // task re-created at index 2, with nothing signed yet, is none.
        tasks.forget_task(2);
        assert_eq!(tasks.turn_holders(3, all()), ids[..2]);
        assert!(tasks.add_task(c.task(2, 50)));
        assert_eq!(tasks.turn_holders(3, all()), ids[..2]);
        // Closed tasks are forgotten: with no reference left, everyone holds a turn again.
        tasks.close_task(1);
        tasks.close_task(2);
        assert_eq!(tasks.turn_holders(3, all()), ids);
    }

    #[test]
    fn one_response_per_operator_is_stored_once_and_a_second_is_evidence() {
        let c = Committee::new(3, 22, |_| 10);
        let mut tasks = TaskTable::new(Duration::ZERO, 8);
        let now = Instant::now();
        assert!(matches!(
            tasks.decide(verified(&c, 0, 1, 0), now),
            Outcome::Ignore(IgnoreReason::Stale)
        ));
        tasks.add_task(c.task(1, 50));
        assert!(matches!(
            tasks.decide(verified(&c, 0, 1, 0), now),
            Outcome::Accept(_)
        ));
        assert!(matches!(
            tasks.decide(verified(&c, 0, 1, 0), now),
            Outcome::Ignore(IgnoreReason::Duplicate)
        ));
        match tasks.decide(verified(&c, 0, 1, 1), now) {
            Outcome::Equivocation(evidence) => {
                assert_eq!(evidence.first.digest, digest(response(1, 0)));
                assert_eq!(evidence.second.digest, digest(response(1, 1)));
            }
            other => panic!("expected evidence, got {other:?}"),
        }
        assert!(matches!(
            tasks.decide(verified(&c, 0, 1, 2), now),
            Outcome::Ignore(IgnoreReason::KnownEquivocator)
        ));
        // The second response was not counted: only the first digest has a signer.
        let entry = tasks.get(1).expect("open");
        assert_eq!(entry.digests.len(), 1);
        assert_eq!(
            entry.response_of(&c.operators[0].id).map(|r| r.digest),
            Some(digest(response(1, 0)))
        );
    }

    #[test]
    fn an_answered_task_falls_due_again_only_once_reopened() {
        let c = Committee::new(2, 23, |_| 10);
        let mut tasks = TaskTable::new(Duration::ZERO, 8);
        tasks.add_task(c.task(1, 50));
        let now = Instant::now();
        tasks.decide(verified(&c, 0, 1, 0), now);
        tasks.mark_answered(1);
        assert_eq!(tasks.next_due(), None, "answered: nothing due");
        assert!(tasks.take_due(now).is_empty());
        assert!(tasks.reopen(1), "the response was reorged out");
        assert_eq!(tasks.next_due(), Some(now));
        assert_eq!(tasks.take_due(now).len(), 1);
        assert!(!tasks.reopen(9), "unknown task");
    }
}
