//! Retrying a read for as long as its answer still matters.
//!
//! The bridge reads a new task's operator set from the registry at the task's creation block.
//! That read can fail for a moment although nothing is wrong: during a reorg the endpoint's
//! head is briefly below the block the node just saw ("block height is 87 but requested was
//! 91"), or a load-balanced endpoint answers from a backend a block behind. Failing the node
//! for that would stop an honest operator; retrying forever would hide a real outage.
//! [`RetrySchedule`] retries on a bounded schedule and stops as soon as the answer is no longer
//! wanted (the reorg took the task out).

use std::time::Duration;

/// Why a [`RetrySchedule`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum GaveUp<E> {
    /// The answer is no longer wanted (`current()` turned false after a failure).
    NotWanted(E),
    /// Every delay was spent; the last error.
    Exhausted(E),
}

/// A bounded schedule of retries for a read whose answer may stop mattering. The caller
/// loops: attempt, and on failure [`RetrySchedule::after_failure`] either waits for the next
/// attempt or says why to give up.
#[derive(Debug)]
pub struct RetrySchedule<I> {
    delays: I,
}

impl<I: Iterator<Item = Duration>> RetrySchedule<I> {
    /// Retries after each of `delays` in turn.
    pub fn new(delays: impl IntoIterator<IntoIter = I>) -> Self {
        Self {
            delays: delays.into_iter(),
        }
    }

    /// After an attempt failed with `err`: gives up if the answer is no longer `wanted` or no
    /// delay is left; otherwise reports the error and the delay to `on_retry`, waits, and
    /// returns `Ok` for another attempt.
    pub async fn after_failure<E>(
        &mut self,
        err: E,
        wanted: bool,
        on_retry: impl FnOnce(&E, Duration),
    ) -> Result<(), GaveUp<E>> {
        if !wanted {
            return Err(GaveUp::NotWanted(err));
        }
        let Some(delay) = self.delays.next() else {
            return Err(GaveUp::Exhausted(err));
        };
        on_retry(&err, delay);
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAYS: [Duration; 3] = [Duration::from_secs(1); 3];

    /// Attempts `fails` failing reads (errors 1, 2, …) then a success, while `wanted(n)` after
    /// failure n; the outcome, and the retries reported.
    async fn read(
        fails: u32,
        wanted: impl Fn(u32) -> bool,
    ) -> (Result<&'static str, GaveUp<u32>>, Vec<u32>) {
        let mut schedule = RetrySchedule::new(DELAYS);
        let mut retried = Vec::new();
        let mut calls = 0;
        loop {
            calls += 1;
            if calls > fails {
                return (Ok("set"), retried);
            }
            if let Err(gave_up) = schedule
                .after_failure(calls, wanted(calls), |err, _| retried.push(*err))
                .await
            {
                return (Err(gave_up), retried);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_recovers_is_answered() {
        assert_eq!(read(2, |_| true).await, (Ok("set"), vec![1, 2]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_no_longer_wanted_stops_at_once() {
        assert_eq!(
            read(5, |n| n < 2).await,
            (Err(GaveUp::NotWanted(2)), vec![1])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_keeps_failing_gives_up_after_the_last_delay() {
        let start = tokio::time::Instant::now();
        assert_eq!(
            read(10, |_| true).await,
            (Err(GaveUp::Exhausted(4)), vec![1, 2, 3])
        );
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
