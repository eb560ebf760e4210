//! Time sources for the resilience policies (resilience.md §9.1).
//!
//! Every policy reads time through [`Clock`], never through `Instant::now()` or
//! `SystemTime`, so tests can drive it with a [`ManualClock`]. Also holds the
//! millisecond conventions the policies share: durations in configuration and
//! snapshots are whole milliseconds (`*_ms` fields), and a `retry_after` is
//! rounded *up* to the millisecond so a caller never retries too early.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Time source for every policy; injectable so tests control time.
///
/// Implementations must be monotonic (never go backwards); the policies tolerate
/// a clock that stands still.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// Real monotonic time (`Instant::now()`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock tests move by hand.
///
/// Clones are handles to the same time: give one clone to the policy (as
/// `Arc<dyn Clock>`) and keep another to call [`advance`](Self::advance).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

impl ManualClock {
    /// A clock standing at the real `Instant::now()` until moved.
    pub fn new() -> Self {
        ManualClock { now: Arc::new(Mutex::new(Instant::now())) }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += d;
    }

    /// Sets the clock to `t` (tests only; real clocks never go backwards).
    pub fn set(&self, t: Instant) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `d` in whole milliseconds, rounded up (so `retry_after_ms` is never early),
/// saturating at `u64::MAX`.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Serde adapter for `#[serde(with = "serde_ms")]`: a `Duration` as whole
/// milliseconds (`u64`, see [`ceil_millis`]).
pub(crate) mod serde_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::ceil_millis(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }

    /// `Option<Duration>` as optional milliseconds (serialize only).
    pub(crate) fn serialize_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::ceil_millis(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_handles_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        let t0 = a.now();
        b.advance(Duration::from_millis(1500));
        assert_eq!(a.now() - t0, Duration::from_millis(1500));
        a.set(t0);
        assert_eq!(b.now(), t0);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock;
        let t0 = c.now();
        assert!(c.now() >= t0);
    }

    #[test]
    fn ceil_millis_rounds_up() {
        assert_eq!(ceil_millis(Duration::ZERO), 0);
        assert_eq!(ceil_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(120)), 120);
        assert_eq!(ceil_millis(Duration::from_nanos(120_000_001)), 121);
        assert_eq!(ceil_millis(Duration::MAX), u64::MAX);
    }
}

/// Clock following tokio's (pausable) time, the default for every policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
