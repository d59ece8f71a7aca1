//! Reachable stake: how much of the operator set this node hears from.
//!
//! Every operator signs every task, so a valid signature of an operator for one of the last
//! [`Reachability::window`] tasks proves a path from it to this node right now, directly or
//! through the mesh. [`Reachability::ratio`] is the reachable share of the latest task's stake,
//! the lowest over its quorums (each quorum must reach the threshold on its own). Below a
//! task's threshold, no aggregate of that task can reach quorum at this node: the node is
//! partitioned, or too much stake is offline, and says so before a checkpoint is missed.
//!
//! The node's own operator counts as reachable. An operator that stops signing drops out once
//! `window` newer tasks have been added without its signature; one that comes back counts as
//! soon as one of its signatures arrives. After a start the node replays tasks (some already
//! closed, whose signatures never come) and needs time to join the mesh, so the tracker judges
//! ([`Reachability::judged`]) only once a warm-up has passed and a second task was added: a
//! node does not call itself partitioned at every start.

use crate::{
    operators::{QuorumNumber, Stake, TaskInfo},
    wire::OperatorId,
};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Tasks an operator's last signature counts for, by default: the latest and the one before
/// (so the ratio does not drop each time a new task starts, before its signatures arrive).
pub const DEFAULT_WINDOW: u32 = 2;

/// Time after the start before the tracker judges, by default: the validator's pending
/// timeout, by which signatures that arrived before their task have been counted.
pub const DEFAULT_WARM_UP: Duration = Duration::from_secs(30);

/// The operators this node heard from recently, against the latest task's operator set.
#[derive(Debug)]
pub struct Reachability {
    window: u32,
    local: Option<OperatorId>,
    warm_up: Duration,
    /// Not judged before this instant: the warm-up after the first task.
    judged_from: Option<Instant>,
    latest: Option<TaskInfo>,
    /// The index of the first task added.
    first: Option<u32>,
    /// The highest task index each operator's signature was seen for.
    heard: HashMap<OperatorId, u32>,
}

impl Reachability {
    /// A tracker counting signatures of the last `window` tasks (at least 1), with this node's
    /// own operator, if any, always reachable, judging from `warm_up` after the first task
    /// (the node has caught up to the chain by then, and replays tasks in a burst).
    pub fn new(window: u32, local: Option<OperatorId>, warm_up: Duration) -> Self {
        Self {
            window: window.max(1),
            local,
            warm_up,
            judged_from: None,
            latest: None,
            first: None,
            heard: HashMap::new(),
        }
    }

    /// How many tasks a signature counts for.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// A task was added: the newest one's operator set and quorums are what is measured.
    pub fn task_added(&mut self, task: &TaskInfo) {
        self.first.get_or_insert(task.task_index);
        self.judged_from
            .get_or_insert_with(|| Instant::now() + self.warm_up);
        if self
            .latest
            .as_ref()
            .is_none_or(|latest| task.task_index >= latest.task_index)
        {
            self.latest = Some(task.clone());
        }
        // Forget operators not heard from within the window of the newest task.
        let newest = self.newest();
        let window = self.window;
        self.heard
            .retain(|_, &mut index| newest.saturating_sub(index) < window);
    }

    /// A valid signature of `operator` for task `task_index` was accepted.
    pub fn signed(&mut self, task_index: u32, operator: OperatorId) {
        let entry = self.heard.entry(operator).or_insert(task_index);
        *entry = (*entry).max(task_index);
    }

    /// The latest task's threshold percentage, if a task was added.
    pub fn threshold_percentage(&self) -> Option<u8> {
        self.latest.as_ref().map(|t| t.quorum_threshold_percentage)
    }

    /// The reachable share (0–1) of the latest task's stake, the lowest over its quorums;
    /// `None` before any task. A quorum without stake counts as fully reachable (nothing can
    /// be missing from it).
    pub fn ratio(&self) -> Option<f64> {
        let task = self.latest.as_ref()?;
        let ratio = task
            .quorums()
            .into_iter()
            .map(|quorum| {
                let (reachable, total) = self.stake_in(task, quorum);
                if total == 0 {
                    1.0
                } else {
                    reachable as f64 / total as f64
                }
            })
            .fold(1.0, f64::min);
        Some(ratio)
    }

    /// Whether [`Reachability::below_threshold`] means something at `now`: the warm-up after
    /// the first task has passed and a task was added after the first one (signatures had a task's time to
    /// arrive).
    pub fn judged(&self, now: Instant) -> bool {
        self.judged_from.is_some_and(|from| now >= from)
            && self.first.is_some_and(|first| self.newest() > first)
    }

    /// Whether the reachable stake is below the latest task's threshold in any quorum: the
    /// task cannot reach quorum with what this node hears. `false` before any task.
    pub fn below_threshold(&self) -> bool {
        let Some(task) = self.latest.as_ref() else {
            return false;
        };
        task.quorums().into_iter().any(|quorum| {
            let (reachable, total) = self.stake_in(task, quorum);
            reachable * 100 < total * Stake::from(task.quorum_threshold_percentage)
        })
    }

    /// Members of the latest task not heard from within the window, most stake first.
    pub fn missing(&self) -> Vec<(OperatorId, Stake)> {
        let Some(task) = self.latest.as_ref() else {
            return Vec::new();
        };
        let mut missing: Vec<(OperatorId, Stake)> = task
            .members()
            .filter(|(id, _)| !self.reachable(id))
            .map(|(id, info)| (*id, info.stakes.values().sum()))
            .collect();
        missing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        missing
    }

    fn newest(&self) -> u32 {
        self.latest.as_ref().map_or(0, |t| t.task_index)
    }

    fn reachable(&self, operator: &OperatorId) -> bool {
        Some(*operator) == self.local
            || self
                .heard
                .get(operator)
                .is_some_and(|&index| self.newest().saturating_sub(index) < self.window)
    }

    /// Reachable and total stake of `quorum` in `task`'s operator set.
    fn stake_in(&self, task: &TaskInfo, quorum: QuorumNumber) -> (Stake, Stake) {
        task.operators
            .operators
            .iter()
            .filter_map(|(id, info)| Some((id, *info.stakes.get(&quorum)?)))
            .fold((0, 0), |(reachable, total), (id, stake)| {
                let heard = if self.reachable(id) { stake } else { 0 };
                (reachable + heard, total + stake)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Committee;

    /// A task over quorum 0 with a 67 % threshold.
    fn task(committee: &Committee, index: u32) -> TaskInfo {
        committee.task(index, 67)
    }

    /// Operators 0..4 with stakes 10, 20, 30, 40 in quorum 0.
    fn committee() -> Committee {
        Committee::new(4, 1, |i| 10 * (i as u128 + 1))
    }

    #[test]
    fn nothing_is_measured_before_a_task_nor_judged_before_the_second_and_the_warm_up() {
        let c = committee();
        let warm_up = Duration::from_secs(30);
        let start = Instant::now();
        let mut r = Reachability::new(DEFAULT_WINDOW, None, warm_up);
        assert_eq!(r.ratio(), None);
        assert!(!r.below_threshold());
        assert!(r.missing().is_empty());
        r.task_added(&task(&c, 4));
        assert_eq!(r.ratio(), Some(0.0));
        let later = start + warm_up + Duration::from_secs(1);
        assert!(!r.judged(later), "one task: no time to hear anyone yet");
        // A replay burst after a restart: tasks added at once, during the warm-up.
        r.task_added(&task(&c, 5));
        assert!(r.below_threshold());
        assert!(!r.judged(start), "still warming up");
        assert!(
            r.judged(later),
            "a whole task without a signature, after the warm-up"
        );
    }

    #[test]
    fn the_ratio_is_the_stake_heard_from_with_the_local_operator_included() {
        let c = committee();
        let id = |i: usize| c.operators[i].id;
        let mut r = Reachability::new(DEFAULT_WINDOW, Some(id(0)), Duration::ZERO);
        r.task_added(&task(&c, 4));
        r.task_added(&task(&c, 5));
        assert_eq!(r.ratio(), Some(0.1), "only ourselves");
        assert!(r.below_threshold());
        assert_eq!(r.missing(), vec![(id(3), 40), (id(2), 30), (id(1), 20)]);
        r.signed(5, id(3));
        r.signed(5, id(2));
        assert_eq!(r.ratio(), Some(0.8));
        assert!(!r.below_threshold(), "80 % ≥ 67 %");
        r.signed(5, id(1));
        assert_eq!(r.ratio(), Some(1.0));
        assert!(r.missing().is_empty());
    }

    #[test]
    fn an_operator_drops_out_after_the_window_and_returns_with_one_signature() {
        let c = committee();
        let id = |i: usize| c.operators[i].id;
        let mut r = Reachability::new(2, None, Duration::ZERO);
        r.task_added(&task(&c, 1));
        for i in 0..4 {
            r.signed(1, id(i));
        }
        r.task_added(&task(&c, 2));
        assert_eq!(
            r.ratio(),
            Some(1.0),
            "task 1's signatures still count for task 2"
        );
        for i in 0..3 {
            r.signed(2, id(i));
        }
        r.task_added(&task(&c, 3));
        assert_eq!(
            r.ratio(),
            Some(0.6),
            "operator 3 signed neither task 2 nor 3"
        );
        assert_eq!(r.missing(), vec![(id(3), 40)]);
        r.signed(3, id(3));
        assert_eq!(r.ratio(), Some(1.0), "back with one signature");
    }

    #[test]
    fn an_older_task_added_late_does_not_replace_the_latest() {
        let c = committee();
        let mut r = Reachability::new(2, None, Duration::ZERO);
        r.task_added(&task(&c, 9));
        r.signed(9, c.operators[0].id);
        r.task_added(&task(&c, 3));
        assert_eq!(
            r.ratio(),
            Some(0.1),
            "measured against task 9, signature kept"
        );
    }
}
