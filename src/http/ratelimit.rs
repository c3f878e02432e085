//! Per-key token buckets for the hub (governor's keyed GCRA limiter):
//! one for client IP addresses, one for agents.
//!
//! A refused request is answered 429 with `Retry-After` in whole seconds
//! (RFC 6585 §4, RFC 9110 §10.2.3), at least 1. Keys that have been idle
//! long enough to have a full bucket again are dropped every
//! [`SWEEP_EVERY`] checks, so a stream of one-off addresses does not grow
//! memory without bound.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Rate;

/// How many checks pass between two sweeps of idle keys.
pub const SWEEP_EVERY: u64 = 4096;

/// A keyed limiter, or none (unlimited).
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.inner.is_some())
            .field("keys", &self.inner.as_ref().map_or(0, |l| l.len()))
            .finish()
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter with `rate` per key; `None` lets everything through.
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            inner: rate.map(|r| RateLimiter::keyed(Quota::per_second(r.per_second).allow_burst(r.burst))),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s bucket. `Err(wait)` when it is
    /// empty: how long until the request would pass.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |l| l.len())
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let rate = Rate {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        };
        let l = Limiter::new(Some(rate));
        assert!(l.check(&"a").is_ok());
        assert!(l.check(&"a").is_ok());
        let wait = l.check(&"a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        // Another key has its own bucket.
        assert!(l.check(&"b").is_ok());
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn no_rate_means_no_limit() {
        let l = Limiter::<u8>::new(None);
        for _ in 0..10_000 {
            assert!(l.check(&1).is_ok());
        }
        assert!(l.is_empty());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
