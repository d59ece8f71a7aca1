//! When this node publishes its signing group's partial aggregate (see [`crate::groups`]).
//!
//! Every member of a group can publish the group's aggregate; they take turns so that few do.
//! Members are ranked per task as submitters are ([`crate::turn_rank`]: members silent in the
//! last task at quorum go last, see [`crate::ranking`]), and a member's turn comes `rank ×
//! slot` after the group's signatures have settled: `window` after the member signed (after
//! its own last publication, a wait that doubles with each one, up to 4 windows), and `settle`
//! after the last signature of the group it counted. At its turn a member publishes only if it
//! holds signers that neither the best aggregate it counted for its group nor its own last
//! publication has. A member that already held everything rank 0 published ignores
//! that aggregate unverified, so it may publish the same set at its turn: the same signers
//! give the same bytes, which gossipsub drops as a duplicate of rank 0's message. If rank 0
//! is offline or publishes less, the next rank fills in one slot later (after the same
//! backed-off wait as rank 0's, once they have published); a late signature starts the turns
//! again.
//!
//! Pure: the caller passes the time and does the publishing.

use crate::groups::GroupId;
use alloy::primitives::B256;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Most aggregates one node publishes for one task: a bound against a group whose signatures
/// trickle in one by one, each of which would otherwise be worth one more publication.
pub const MAX_PUBLICATIONS: u32 = 8;

/// Doublings of the wait between one node's publications for a task, at most: every online
/// member of a group backs off together (a member holding what rank 0 published publishes
/// the same set at its turn, and counts it), so the cap bounds how late a needed signature
/// that arrives after a few publications can go out.
const MAX_BACKOFF_DOUBLINGS: u32 = 2;

/// The part of the wait from this node's signature (`publications` 0) or its last
/// publication to its next turn that the publications set (the settle time and the rank's
/// slots come on top): `window`, doubling with each publication up to 4 windows (1 s by
/// default). Where a group's signatures trickle in over seconds (a saturated machine, slow
/// signers), each quiet gap would otherwise be worth one more publication, which every node
/// in the network verifies (about a dozen per group and task in the network simulation at
/// 1,000 operators, `BENCHMARKS.md`). The first turn, the one that matters where signatures
/// arrive together, is as soon as before.
fn republish_wait(window: Duration, publications: u32) -> Duration {
    window.saturating_mul(1 << publications.min(MAX_BACKOFF_DOUBLINGS))
}

/// Timing of the turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupTiming {
    /// From this node's own signature to the first turn: the time the group's signatures take
    /// to reach its members. Also the base of the wait after each of its publications (see
    /// `republish_wait`).
    pub window: Duration,
    /// Quiet time after the last group signature counted before a turn comes.
    pub settle: Duration,
    /// Between consecutive ranks' turns.
    pub slot: Duration,
}

impl Default for GroupTiming {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(250),
            settle: Duration::from_millis(100),
            slot: Duration::from_millis(250),
        }
    }
}

/// This node's publishing duty for one task.
#[derive(Debug)]
struct Duty {
    group: GroupId,
    /// The response this node signed: the one whose aggregate it publishes.
    digest: B256,
    rank: u32,
    signed_at: Instant,
    last_growth: Instant,
    /// Something was counted since the last turn was taken.
    pending: bool,
    /// Signers of the last aggregate published (0: none yet).
    published: usize,
    publications: u32,
    /// When this node last published one.
    published_at: Option<Instant>,
}

/// The duties of every open task this node signed.
#[derive(Debug, Default)]
pub struct GroupDuties {
    timing: GroupTiming,
    duties: HashMap<u32, Duty>,
}

/// A duty whose turn has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    /// The task.
    pub task_index: u32,
    /// This node's group in it.
    pub group: GroupId,
    /// The response this node signed.
    pub digest: B256,
    /// Signers of this node's last publication for the task (0: none yet).
    pub published: usize,
}

impl GroupDuties {
    /// No duties yet.
    pub fn new(timing: GroupTiming) -> Self {
        Self {
            timing,
            duties: HashMap::new(),
        }
    }

    /// This node signed `digest` for a task it is a member of `group` in, at `rank` among
    /// the group's members ([`crate::turn_rank`]).
    pub fn start(
        &mut self,
        task_index: u32,
        group: GroupId,
        digest: B256,
        rank: u32,
        now: Instant,
    ) {
        self.duties.insert(
            task_index,
            Duty {
                group,
                digest,
                rank,
                signed_at: now,
                last_growth: now,
                pending: true,
                published: 0,
                publications: 0,
                published_at: None,
            },
        );
    }

    /// A signature of `group` (individual or in a received aggregate) was counted for the
    /// task: the turns start again after it settles.
    pub fn grew(&mut self, task_index: u32, group: GroupId, now: Instant) {
        if let Some(d) = self.duties.get_mut(&task_index)
            && d.group == group
        {
            d.last_growth = now;
            d.pending = true;
        }
    }

    /// The task is answered or gone: nothing more to publish for it.
    pub fn stop(&mut self, task_index: u32) {
        self.duties.remove(&task_index);
    }

    fn due_at(&self, d: &Duty) -> Instant {
        let t = self.timing;
        let after_own = d.published_at.map_or(d.signed_at, |at| at.max(d.signed_at));
        (after_own + republish_wait(t.window, d.publications)).max(d.last_growth + t.settle)
            + t.slot * d.rank
    }

    /// The earliest pending turn, for the caller's timer.
    pub fn next_due(&self) -> Option<Instant> {
        self.duties
            .values()
            .filter(|d| d.pending && d.publications < MAX_PUBLICATIONS)
            .map(|d| self.due_at(d))
            .min()
    }

    /// The turns that have come at `now`; each is taken once until the group grows again.
    pub fn take_due(&mut self, now: Instant) -> Vec<Turn> {
        let due: Vec<u32> = self
            .duties
            .iter()
            .filter(|(_, d)| {
                d.pending && d.publications < MAX_PUBLICATIONS && self.due_at(d) <= now
            })
            .map(|(task, _)| *task)
            .collect();
        due.into_iter()
            .filter_map(|task_index| {
                let d = self.duties.get_mut(&task_index)?;
                d.pending = false;
                Some(Turn {
                    task_index,
                    group: d.group,
                    digest: d.digest,
                    published: d.published,
                })
            })
            .collect()
    }

    /// This node published an aggregate of `signers` signers for the task at `now`.
    pub fn published(&mut self, task_index: u32, signers: usize, now: Instant) {
        if let Some(d) = self.duties.get_mut(&task_index) {
            d.published = signers;
            d.publications += 1;
            d.published_at = Some(now);
        }
    }

    /// Whether the task has a duty (tests and logs).
    pub fn contains(&self, task_index: u32) -> bool {
        self.duties.contains_key(&task_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const GROUP: GroupId = GroupId { bits: 2, prefix: 1 };

    fn duties() -> GroupDuties {
        GroupDuties::new(GroupTiming {
            window: 100 * MS,
            settle: 10 * MS,
            slot: 50 * MS,
        })
    }

    #[test]
    fn a_turn_comes_after_the_window_and_a_quiet_settle_shifted_by_rank() {
        let t0 = Instant::now();
        let mut d = duties();
        d.start(1, GROUP, B256::ZERO, 0, t0);
        d.start(2, GROUP, B256::ZERO, 2, t0);
        assert_eq!(d.next_due(), Some(t0 + 100 * MS));
        assert!(d.take_due(t0 + 99 * MS).is_empty());
        let turns = d.take_due(t0 + 100 * MS);
        assert_eq!(turns.len(), 1);
        assert_eq!(turns[0].task_index, 1);
        assert_eq!(turns[0].published, 0);
        // Rank 2: two slots later.
        assert_eq!(d.next_due(), Some(t0 + 200 * MS));
        // A signature of the group late in the window moves the turn past its settle time.
        d.grew(2, GROUP, t0 + 195 * MS);
        assert_eq!(d.next_due(), Some(t0 + 305 * MS));
        // Another group's signature does not.
        d.grew(2, GroupId { bits: 2, prefix: 0 }, t0 + 300 * MS);
        assert_eq!(d.next_due(), Some(t0 + 305 * MS));
    }

    #[test]
    fn the_backed_off_wait_adds_to_the_rank_slots_and_a_late_signature_still_settles() {
        let t0 = Instant::now();
        let mut d = duties();
        d.start(1, GROUP, B256::ZERO, 2, t0);
        // Rank 2: the window, then two slots.
        assert_eq!(d.take_due(t0 + 200 * MS).len(), 1);
        d.published(1, 3, t0 + 200 * MS);
        // After one publication the wait is two windows, and the slots come on top.
        d.grew(1, GROUP, t0 + 250 * MS);
        assert_eq!(d.next_due(), Some(t0 + 500 * MS));
        // A signature after the backed-off wait: its settle time decides.
        d.grew(1, GROUP, t0 + 700 * MS);
        assert_eq!(d.next_due(), Some(t0 + 810 * MS));
    }

    #[test]
    fn a_turn_is_taken_once_until_the_group_grows_and_publications_are_bounded() {
        let t0 = Instant::now();
        let mut d = duties();
        d.start(1, GROUP, B256::ZERO, 0, t0);
        assert_eq!(d.take_due(t0 + 100 * MS).len(), 1);
        d.published(1, 5, t0 + 100 * MS);
        assert_eq!(d.next_due(), None, "nothing new: no turn");
        assert!(d.take_due(t0 + 1_000 * MS).is_empty());
        // A signature right after a publication waits two windows from it (the wait doubles
        // with each publication), not just the settle.
        d.grew(1, GROUP, t0 + 110 * MS);
        assert_eq!(d.next_due(), Some(t0 + 300 * MS));
        let mut published_at = t0 + 100 * MS;
        // The wait after publication n: 2, then 4 windows, and no longer.
        let waits = [200, 400, 400, 400, 400, 400, 400];
        assert_eq!(waits.len() + 1, MAX_PUBLICATIONS as usize);
        for (n, wait) in (1..).zip(waits) {
            // A signature half-way: the turn comes the whole wait after the last
            // publication.
            let wait = wait * MS;
            d.grew(1, GROUP, published_at + wait / 2);
            assert_eq!(d.next_due(), Some(published_at + wait), "turn {n}");
            assert!(d.take_due(published_at + wait - MS).is_empty());
            let turns = d.take_due(published_at + wait);
            assert_eq!(turns.len(), 1, "turn {n}");
            assert_eq!(turns[0].published, 4 + n as usize);
            published_at += wait;
            d.published(1, 5 + n as usize, published_at);
        }
        let at = published_at + 10_000 * MS;
        d.grew(1, GROUP, at);
        assert_eq!(
            d.next_due(),
            None,
            "{MAX_PUBLICATIONS} publications at most"
        );
        d.stop(1);
        assert!(!d.contains(1));
    }
}
