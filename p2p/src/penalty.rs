//! Application-level penalties: counts rejected messages per peer over a sliding window and
//! decides when a peer is banned and when its ban ends. Pure (time is passed in); the swarm
//! task acts on its decisions (disconnect, block, unblock).

use std::{
    collections::{HashMap, VecDeque},
    hash::Hash,
    time::{Duration, Instant},
};

/// What a penalty did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyOutcome {
    /// Counted; the peer is still below the ban threshold.
    Counted {
        /// Rejects of this peer inside the window, this one included.
        rejects: u32,
    },
    /// This reject crossed the threshold: ban the peer until the given instant.
    Ban {
        /// End of the ban.
        until: Instant,
    },
    /// The peer is already banned; nothing more to do.
    AlreadyBanned,
}

/// Sliding-window reject counter with timed bans.
#[derive(Debug)]
pub struct PenaltyBox<K> {
    threshold: u32,
    window: Duration,
    ban: Duration,
    rejects: HashMap<K, VecDeque<Instant>>,
    banned: HashMap<K, Instant>,
}

impl<K: Eq + Hash + Clone> PenaltyBox<K> {
    /// Bans a peer for `ban` once it has `threshold` rejects within `window`.
    pub fn new(threshold: u32, window: Duration, ban: Duration) -> Self {
        Self {
            threshold,
            window,
            ban,
            rejects: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// Records one rejected message from `peer` at `now`.
    pub fn penalise(&mut self, peer: &K, now: Instant) -> PenaltyOutcome {
        if self.banned.contains_key(peer) {
            return PenaltyOutcome::AlreadyBanned;
        }
        let times = self.rejects.entry(peer.clone()).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        times.push_back(now);
        let rejects = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if rejects >= self.threshold {
            self.rejects.remove(peer);
            let until = now + self.ban;
            self.banned.insert(peer.clone(), until);
            PenaltyOutcome::Ban { until }
        } else {
            PenaltyOutcome::Counted { rejects }
        }
    }

    /// Whether `peer` is currently banned.
    pub fn is_banned(&self, peer: &K) -> bool {
        self.banned.contains_key(peer)
    }

    /// Ends the bans that expired by `now` and returns those peers (to unblock them). Also
    /// forgets the reject history of peers with no reject inside the window any more, so the
    /// map holds only recent offenders (histories are kept across disconnects: reconnecting
    /// must not reset a count).
    pub fn expire(&mut self, now: Instant) -> Vec<K> {
        let window = self.window;
        self.rejects.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
        let expired: Vec<K> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.banned.remove(k);
        }
        expired
    }

    /// The earliest end of a current ban, to schedule the next [`Self::expire`].
    pub fn next_expiry(&self) -> Option<Instant> {
        self.banned.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_after_threshold_within_window_and_expires() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut pb = PenaltyBox::new(3, 10 * s, 60 * s);
        assert_eq!(
            pb.penalise(&"p", t0),
            PenaltyOutcome::Counted { rejects: 1 }
        );
        // Old rejects slide out of the window.
        assert_eq!(
            pb.penalise(&"p", t0 + 11 * s),
            PenaltyOutcome::Counted { rejects: 1 }
        );
        assert_eq!(
            pb.penalise(&"p", t0 + 12 * s),
            PenaltyOutcome::Counted { rejects: 2 }
        );
        let until = t0 + 13 * s + 60 * s;
        assert_eq!(
            pb.penalise(&"p", t0 + 13 * s),
            PenaltyOutcome::Ban { until }
        );
        assert!(pb.is_banned(&"p"));
        assert_eq!(
            pb.penalise(&"p", t0 + 14 * s),
            PenaltyOutcome::AlreadyBanned
        );
        assert_eq!(pb.next_expiry(), Some(until));
        assert!(pb.expire(until - s).is_empty());
        assert_eq!(pb.expire(until), vec!["p"]);
        assert!(!pb.is_banned(&"p"));
        // Histories older than the window are forgotten on expiry.
        assert!(pb.rejects.is_empty(), "the ban cleared the history");
        // Back to a clean slate.
        assert_eq!(
            pb.penalise(&"p", until),
            PenaltyOutcome::Counted { rejects: 1 }
        );
    }

    #[test]
    fn stale_reject_histories_are_forgotten() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut pb = PenaltyBox::new(3, 10 * s, 60 * s);
        pb.penalise(&"a", t0);
        pb.penalise(&"b", t0 + 5 * s);
        assert!(pb.expire(t0 + 9 * s).is_empty());
        assert_eq!(pb.rejects.len(), 2, "both inside the window");
        pb.expire(t0 + 10 * s);
        assert_eq!(pb.rejects.keys().copied().collect::<Vec<_>>(), vec!["b"]);
        pb.expire(t0 + 15 * s);
        assert!(pb.rejects.is_empty());
    }
}
