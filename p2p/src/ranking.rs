//! Leaderless submitter choice.
//!
//! For each task every operator gets a priority
//! `keccak256(abi.encodePacked(uint32 taskIndex, bytes32 operatorId))` — 36 bytes: the task
//! index as 4 big-endian bytes, then the 32-byte operator id. Operators of the task's set are
//! ordered by ascending priority (as a 256-bit big-endian number; ties, which would need a
//! keccak collision, are broken by ascending operator id). A node's *rank* is its place in
//! that order among the members that hold a turn ([`turn_rank`]). Rank `k` submits the
//! aggregate only if the task is still unanswered `k × submit_slot` after its aggregate became
//! ready; seeing `TaskResponded` cancels it.
//!
//! Every member holds a turn except one that looks down: a member of the reference task (the
//! latest earlier task whose aggregate this node built when its aggregation window closed)
//! whose signature that aggregate lacks, unless it has signed this task
//! ([`crate::TaskTable::turn_holders`]); a node that holds none itself goes after every holder.
//! Otherwise each offline member ranked ahead of the first live node cost a slot: in a devnet
//! of 8 nodes among 1,000 members (`BENCHMARKS.md`) the first live node was typically a hundred
//! places down the order, a hundred 3 s slots, and most responses missed their 100-block
//! window. Counting only this task's signers instead would fail the other way: a node that
//! reaches quorum before a signer ranked ahead of it is heard would take rank 0 beside it, and
//! both would pay for a response.
//!
//! The order is public; who holds a turn is each node's view of the reference aggregate, which
//! nodes share in the normal case (they all build it from the same gossip, a window after
//! quorum, before stragglers). Views can differ: around an operator that skips a task and signs
//! the next one late, or, with signing groups, a group aggregate that reached some nodes after
//! their window closed. Then two nodes may submit at once: the later transaction reverts or is
//! dropped at its gas estimate, which costs gas, never safety. A node keeps the reference only
//! while it holds the task (until the response is `retention_blocks` deep, in `avs-node`); with
//! none, every member holds a turn. There is no election and one honest online operator is
//! enough; the order changes per task, so no operator is always first.

use crate::wire::OperatorId;
use alloy::primitives::{B256, keccak256};
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

/// `keccak256(abi.encodePacked(uint32 task_index, bytes32 operator_id))`.
pub fn submit_priority(task_index: u32, operator_id: OperatorId) -> B256 {
    let mut packed = [0u8; 36];
    packed[..4].copy_from_slice(&task_index.to_be_bytes());
    packed[4..].copy_from_slice(operator_id.0.as_slice());
    keccak256(packed)
}

/// The rank of `me` among `operators` for `task_index`, or `None` if `me` is not one of them.
/// Duplicate entries in `operators` count once.
pub fn submitter_rank(
    task_index: u32,
    me: OperatorId,
    operators: impl IntoIterator<Item = OperatorId>,
) -> Option<u32> {
    let mine = (submit_priority(task_index, me), me);
    let mut found = false;
    let mut ahead = 0u32;
    let mut seen = BTreeSet::new();
    for op in operators {
        if !seen.insert(op) {
            continue;
        }
        if op == me {
            found = true;
        } else if (submit_priority(task_index, op), op) < mine {
            ahead = ahead.saturating_add(1);
        }
    }
    found.then_some(ahead)
}

/// The rank of `me` among the `candidates` of a task (its members, or a group's), of which
/// `holders` hold a turn ([`crate::TaskTable::turn_holders`]): its place among the holders if
/// it is one; else after every holder, in its place among the others (a node that did not
/// sign the reference task's response and has not signed this one, e.g. because it could not
/// verify the block, goes after live members, and such nodes do not all take one turn).
pub fn turn_rank(
    task_index: u32,
    me: OperatorId,
    candidates: &[OperatorId],
    holders: &[OperatorId],
) -> u32 {
    if let Some(rank) = submitter_rank(task_index, me, holders.iter().copied()) {
        return rank;
    }
    let holding: BTreeSet<&OperatorId> = holders.iter().collect();
    let others = candidates
        .iter()
        .filter(|c| !holding.contains(c))
        .copied()
        .chain([me]);
    let behind = submitter_rank(task_index, me, others).unwrap_or(0);
    u32::try_from(holding.len())
        .unwrap_or(u32::MAX)
        .saturating_add(behind)
}

/// How long rank `rank` waits before submitting: `rank × slot`.
pub fn submit_delay(rank: u32, slot: Duration) -> Duration {
    slot.saturating_mul(rank)
}

/// Tracks when this node should submit each task and cancels tasks answered meanwhile.
/// Pure: the caller sleeps until [`SubmitScheduler::next_due`] and then calls
/// [`SubmitScheduler::take_due`].
#[derive(Debug)]
pub struct SubmitScheduler {
    slot: Duration,
    due: BTreeSet<(Instant, u32)>,
    by_task: HashMap<u32, Instant>,
}

impl SubmitScheduler {
    /// A scheduler with the given `submit_slot`.
    pub fn new(slot: Duration) -> Self {
        Self {
            slot,
            due: BTreeSet::new(),
            by_task: HashMap::new(),
        }
    }

    /// Schedules `task_index`, whose aggregate became ready at `ready_at`, for a node of rank
    /// `rank`. Returns when it will be due. Scheduling a task again keeps the earlier time.
    pub fn schedule(&mut self, task_index: u32, ready_at: Instant, rank: u32) -> Instant {
        let at = ready_at + submit_delay(rank, self.slot);
        match self.by_task.get(&task_index) {
            Some(&existing) if existing <= at => existing,
            existing => {
                if let Some(old) = existing {
                    self.due.remove(&(*old, task_index));
                }
                self.due.insert((at, task_index));
                self.by_task.insert(task_index, at);
                at
            }
        }
    }

    /// The task was answered on-chain (by anyone): never submit it. Returns whether it was
    /// still scheduled.
    pub fn mark_answered(&mut self, task_index: u32) -> bool {
        match self.by_task.remove(&task_index) {
            Some(at) => self.due.remove(&(at, task_index)),
            None => false,
        }
    }

    /// When the next task falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Removes and returns the tasks due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(&(at, task)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            self.by_task.remove(&task);
            out.push(task);
        }
        out
    }

    /// Number of scheduled tasks.
    pub fn len(&self) -> usize {
        self.by_task.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.by_task.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(i: u8) -> OperatorId {
        OperatorId(B256::repeat_byte(i))
    }

    #[test]
    fn priority_is_keccak_of_packed_task_and_operator() {
        // abi.encodePacked(uint32(5), bytes32(0x0101..01)) = 00000005 || 01*32.
        let mut packed = vec![0, 0, 0, 5];
        packed.extend_from_slice(&[1; 32]);
        assert_eq!(submit_priority(5, op(1)), keccak256(&packed));
    }

    #[test]
    fn ranks_follow_ascending_priority() {
        let ops: Vec<_> = (1..=10).map(op).collect();
        let mut sorted = ops.clone();
        sorted.sort_by_key(|o| submit_priority(42, *o));
        for (k, o) in sorted.iter().enumerate() {
            assert_eq!(submitter_rank(42, *o, ops.iter().copied()), Some(k as u32));
        }
        assert_eq!(submitter_rank(42, op(99), ops.iter().copied()), None);
    }

    #[test]
    fn order_changes_between_tasks() {
        let ops: Vec<_> = (1..=16).map(op).collect();
        let first = |task| {
            ops.iter()
                .copied()
                .find(|o| submitter_rank(task, *o, ops.iter().copied()) == Some(0))
        };
        let leaders: BTreeSet<_> = (0..32).filter_map(first).collect();
        assert!(
            leaders.len() > 4,
            "rank 0 rotates across tasks, got {leaders:?}"
        );
    }

    #[test]
    fn a_node_that_holds_no_turn_goes_after_every_holder() {
        let mut sorted: Vec<_> = (1..=6).map(op).collect();
        sorted.sort_by_key(|o| submit_priority(9, *o));
        // Holders: the order's 2nd, 4th and 6th. The 6th is third among them.
        let holders = [sorted[5], sorted[1], sorted[3]];
        assert_eq!(turn_rank(9, sorted[5], &sorted, &holders), 2);
        assert_eq!(turn_rank(9, sorted[1], &sorted, &holders), 0);
        // The order's 1st, 3rd and 5th hold none: they go after all three holders, not
        // ahead of them, and one after the other.
        assert_eq!(turn_rank(9, sorted[0], &sorted, &holders), 3);
        assert_eq!(turn_rank(9, sorted[2], &sorted, &holders), 4);
        assert_eq!(turn_rank(9, sorted[4], &sorted, &holders), 5);
        assert_eq!(turn_rank(9, sorted[0], &sorted, &[]), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn ranks_are_a_permutation(task in any::<u32>(), ids in proptest::collection::btree_set(any::<[u8; 32]>(), 1..40)) {
            let ops: Vec<OperatorId> = ids.into_iter().map(|b| OperatorId(B256::from(b))).collect();
            let mut ranks: Vec<u32> = ops.iter().map(|o| submitter_rank(task, *o, ops.iter().copied()).unwrap()).collect();
            ranks.sort_unstable();
            prop_assert_eq!(ranks, (0..ops.len() as u32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn scheduler_waits_rank_slots_and_cancels_answered() {
        let t0 = Instant::now();
        let slot = Duration::from_secs(4);
        let mut s = SubmitScheduler::new(slot);
        assert_eq!(s.schedule(1, t0, 0), t0);
        assert_eq!(s.schedule(2, t0, 2), t0 + 2 * slot);
        assert_eq!(s.schedule(3, t0, 1), t0 + slot);
        assert_eq!(s.next_due(), Some(t0));
        assert_eq!(s.take_due(t0), vec![1]);
        assert!(s.mark_answered(3));
        assert!(!s.mark_answered(3));
        assert_eq!(s.take_due(t0 + slot), Vec::<u32>::new());
        assert_eq!(s.next_due(), Some(t0 + 2 * slot));
        assert_eq!(s.take_due(t0 + 10 * slot), vec![2]);
        assert!(s.is_empty());
    }

    #[test]
    fn rescheduling_keeps_the_earlier_time() {
        let t0 = Instant::now();
        let mut s = SubmitScheduler::new(Duration::from_secs(1));
        let first = s.schedule(7, t0, 3);
        assert_eq!(s.schedule(7, t0 + Duration::from_secs(1), 3), first);
        assert_eq!(s.schedule(7, t0, 1), t0 + Duration::from_secs(1));
        assert_eq!(s.len(), 1);
        assert_eq!(s.take_due(t0 + Duration::from_secs(1)), vec![7]);
    }
}
