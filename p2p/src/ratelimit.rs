//! Per-peer token buckets: a peer may forward `rate` messages per second sustained, plus a
//! burst of `burst`. Pure (time is passed in), so it is tested without a clock.

use std::{collections::HashMap, hash::Hash, time::Instant};

/// One token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by peer, created full on a peer's first message.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate_per_sec: f64,
    burst: f64,
    buckets: HashMap<K, Bucket>,
}

impl<K: Eq + Hash> RateLimiter<K> {
    /// A limiter allowing `rate_per_sec` sustained and `burst` at once per key.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate_per_sec: f64::from(rate_per_sec),
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key` at `now`; `false` means the key is over its limit.
    pub fn try_acquire(&mut self, key: K, now: Instant) -> bool {
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate_per_sec).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets `key` (e.g. on disconnect), bounding memory by the number of connected peers.
    pub fn remove(&mut self, key: &K) {
        self.buckets.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 5);
        assert_eq!((0..8).filter(|_| rl.try_acquire("a", t0)).count(), 5);
        // Another key has its own bucket.
        assert!(rl.try_acquire("b", t0));
        // 300 ms at 10/s refills 3 tokens.
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!((0..8).filter(|_| rl.try_acquire("a", t1)).count(), 3);
        // Refill never exceeds the burst.
        let t2 = t1 + Duration::from_secs(100);
        assert_eq!((0..20).filter(|_| rl.try_acquire("a", t2)).count(), 5);
    }
}
