//! Keyed GCRA rate limiting with several levels checked at once (resilience.md §3).
//!
//! Each key stores one value, its theoretical arrival time (TAT). With emission
//! interval `T = per / rate` and tolerance `τ = burst · T`, a call of cost `n`
//! computes `new_tat = max(TAT, now) + n·T` and is admitted iff
//! `new_tat − τ <= now`; otherwise it may retry after exactly
//! `new_tat − τ − now`. From an idle key exactly `burst` unit calls pass at once,
//! then one per `T`. Arithmetic is in `Duration` (nanoseconds), never seconds.
//!
//! The caller builds the keys (`global`, `tenant:acme`, `tool:acme:text.upper`)
//! and lists every level that applies; [`RateLimiter::check`] admits only if all
//! of them do, and then charges all of them.

use super::clock::{Clock, ceil_millis, serde_ms};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// `rate` events per `per`, at most `burst` at once.
///
/// Serialized as `{ rate = 10, per_ms = 1000, burst = 5 }`. A valid quota has
/// `rate >= 1`, `per > 0` and `burst >= 1` (see [`Quota::validate`]); an
/// unvalidated quota with `rate == 0` or `burst == 0` refuses every call with
/// cost ≥ 1 as impossible, and one with `per == 0` admits everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Events allowed per `per`.
    pub rate: u32,
    /// The period `rate` refers to (`per_ms`, milliseconds).
    #[serde(rename = "per_ms", with = "serde_ms")]
    pub per: Duration,
    /// How many unit-cost events may pass at once from an idle key (≥ 1); also
    /// the largest cost a single call can ever have.
    pub burst: u32,
}

impl Quota {
    /// This quota as one process's share of it while a shared limiter is
    /// unreachable: rate and burst scaled by `share`, rounded down (so N
    /// processes with share 1/N never exceed the whole), at least 1.
    pub fn share(&self, share: f64) -> Quota {
        let scale = |n: u32| ((f64::from(n) * share).floor() as u32).max(1);
        Quota { rate: scale(self.rate), per: self.per, burst: scale(self.burst) }
    }

    /// Emission interval `T = per / rate`, rounded *up* to the nanosecond so
    /// the long-run rate never exceeds `rate / per`. `Duration::MAX` if `rate == 0`.
    pub fn emission_interval(&self) -> Duration {
        if self.rate == 0 {
            return Duration::MAX;
        }
        let nanos = self.per.as_nanos().div_ceil(u128::from(self.rate));
        // nanos <= per.as_nanos(), so the seconds fit in u64.
        Duration::new((nanos / 1_000_000_000) as u64, (nanos % 1_000_000_000) as u32)
    }

    /// Tolerance `τ = burst · T` (saturating).
    pub fn tolerance(&self) -> Duration {
        self.emission_interval().saturating_mul(self.burst)
    }

    /// Checks `rate >= 1`, `per > 0` and `burst >= 1`.
    pub fn validate(&self) -> Result<(), String> {
        let mut p = toolhost_core::check::Problems::default();
        self.check("rate limit quota", &mut p);
        p.into_string_result()
    }

    /// [`validate`](Self::validate), each problem named at `path` (`rate_limits.global.rate must be ≥ 1`).
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        p.at_least_one(u64::from(self.rate), join(path, "rate"));
        p.require(!self.per.is_zero(), join(path, "per_ms"), "must be ≥ 1");
        p.at_least_one(u64::from(self.burst), join(path, "burst"));
    }
}

/// The verdict of [`gcra`] for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; store `new_tat` as the key's TAT.
    Allow {
        /// The key's new theoretical arrival time.
        new_tat: Instant,
    },
    /// Refused now; the same call is admitted at exactly `now + retry_after`
    /// (if nothing else is charged to the key meanwhile) and refused before.
    Deny {
        /// Exact wait until the call would be admitted.
        retry_after: Duration,
    },
    /// `cost · T > τ`: the call can never pass, however long it waits.
    Impossible,
}

/// One GCRA step (pure): `tat` is the key's stored TAT (`None` = idle key),
/// `t` the emission interval, `tau` the tolerance, `cost` the call's weight.
///
/// A cost of 0 is always admitted and changes nothing observable.
pub fn gcra(tat: Option<Instant>, now: Instant, t: Duration, tau: Duration, cost: u32) -> Decision {
    let Some(increment) = t.checked_mul(cost).filter(|inc| *inc <= tau) else {
        return Decision::Impossible;
    };
    let base = tat.map_or(now, |tat| tat.max(now));
    let Some(new_tat) = base.checked_add(increment) else {
        // Only reachable with absurd quotas (e.g. rate 0): treat as never passing.
        return Decision::Impossible;
    };
    let ahead = new_tat - now;
    if ahead <= tau { Decision::Allow { new_tat } } else { Decision::Deny { retry_after: ahead - tau } }
}

/// A call refused by [`RateLimiter::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit '{key}' exceeded; {}", advice(*.impossible, *.retry_after))]
pub struct RateLimited {
    /// The refusing key (the one with the largest `retry_after`, or the first
    /// key that can never admit the cost).
    pub key: String,
    /// Exact wait after which the same check passes (absent other traffic);
    /// zero when `impossible`.
    pub retry_after: Duration,
    /// The cost exceeds the key's burst: waiting never helps.
    pub impossible: bool,
}

fn advice(impossible: bool, retry_after: Duration) -> String {
    if impossible {
        "the call's cost exceeds the burst and can never pass".to_owned()
    } else {
        format!("retry after {} ms", ceil_millis(retry_after))
    }
}

/// Keyed GCRA limiter: one TAT per key, all keys behind one mutex (a check
/// is a few comparisons, so contention is short; O(1) per key per call).
#[derive(Debug)]
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    tats: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// An empty limiter reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        RateLimiter { clock, tats: Mutex::new(HashMap::new()) }
    }

    /// Charges `cost` to every listed `(key, quota)` atomically: either every
    /// key admits and all their TATs are committed, or nothing is committed and
    /// the error names the refusing key with the largest exact `retry_after`
    /// (an impossible key wins at once). A key listed twice is charged twice.
    pub fn check(&self, checks: &[(&str, &Quota)], cost: u32) -> Result<(), RateLimited> {
        let mut tats = self.lock();
        let now = self.clock.now();
        // Would-be TATs of this check, in order, so a repeated key sees its earlier charge.
        let mut pending: Vec<(&str, Instant)> = Vec::with_capacity(checks.len());
        let mut refused: Option<RateLimited> = None;
        for &(key, quota) in checks {
            let tat = pending
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|&(_, tat)| tat)
                .or_else(|| tats.get(key).copied());
            let tau = quota.tolerance();
            match gcra(tat, now, quota.emission_interval(), tau, cost) {
                Decision::Allow { new_tat } => pending.push((key, new_tat)),
                Decision::Deny { retry_after } => {
                    // new_tat = now + τ + retry_after; cannot overflow (gcra computed it).
                    pending.push((key, now + tau + retry_after));
                    if refused.as_ref().is_none_or(|r| retry_after > r.retry_after) {
                        refused = Some(RateLimited { key: key.to_owned(), retry_after, impossible: false });
                    }
                }
                Decision::Impossible => {
                    tracing::debug!(key, cost, "rate limit: cost can never pass");
                    return Err(RateLimited {
                        key: key.to_owned(),
                        retry_after: Duration::ZERO,
                        impossible: true,
                    });
                }
            }
        }
        if let Some(r) = refused {
            tracing::debug!(key = %r.key, retry_after_ms = ceil_millis(r.retry_after), "rate limited");
            return Err(r);
        }
        for (key, new_tat) in pending {
            match tats.get_mut(key) {
                Some(tat) => *tat = new_tat,
                None => {
                    tats.insert(key.to_owned(), new_tat);
                }
            }
        }
        Ok(())
    }

    /// Evicts idle keys (TAT ≤ now); an evicted key behaves exactly like a
    /// key never seen. Call it periodically to bound memory.
    pub fn retain_recent(&self) {
        let mut tats = self.lock();
        let now = self.clock.now();
        tats.retain(|_, tat| *tat > now);
    }

    /// Number of keys currently stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// `true` if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        // The map is never left half-updated, so a poisoned lock is still consistent.
        self.tats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;
    use proptest::prelude::*;

    const NS: Duration = Duration::from_nanos(1);

    fn quota(rate: u32, per_ms: u64, burst: u32) -> Quota {
        Quota { rate, per: Duration::from_millis(per_ms), burst }
    }

    fn limiter() -> (ManualClock, RateLimiter) {
        let clock = ManualClock::new();
        (clock.clone(), RateLimiter::new(Arc::new(clock)))
    }

    #[test]
    fn interval_and_tolerance_keep_nanoseconds() {
        // 10 per 100 ms: T = 10 ms, not 0 s.
        let q = quota(10, 100, 3);
        assert_eq!(q.emission_interval(), Duration::from_millis(10));
        assert_eq!(q.tolerance(), Duration::from_millis(30));
        // 3 per second: T is rounded up, never down.
        assert_eq!(quota(3, 1000, 1).emission_interval(), Duration::from_nanos(333_333_334));
        assert_eq!(quota(0, 1000, 1).emission_interval(), Duration::MAX);
    }

    #[test]
    fn burst_then_steady_rate() {
        let (clock, rl) = limiter();
        let q = quota(10, 1000, 3); // T = 100 ms
        for _ in 0..3 {
            rl.check(&[("k", &q)], 1).unwrap();
        }
        let err = rl.check(&[("k", &q)], 1).unwrap_err();
        assert_eq!(err.retry_after, Duration::from_millis(100));
        for _ in 0..5 {
            clock.advance(Duration::from_millis(100));
            rl.check(&[("k", &q)], 1).unwrap();
            assert!(rl.check(&[("k", &q)], 1).is_err(), "one per T after the burst");
        }
        // Idle for τ: the full burst is back.
        clock.advance(Duration::from_millis(300));
        for _ in 0..3 {
            rl.check(&[("k", &q)], 1).unwrap();
        }
        assert!(rl.check(&[("k", &q)], 1).is_err());
    }

    #[test]
    fn retry_after_is_exact() {
        let (clock, rl) = limiter();
        let q = quota(3, 1000, 2); // T = 333_333_334 ns
        rl.check(&[("k", &q)], 2).unwrap();
        clock.advance(Duration::from_millis(50));
        let err = rl.check(&[("k", &q)], 1).unwrap_err();
        assert_eq!(err.retry_after, q.emission_interval() - Duration::from_millis(50));
        clock.advance(err.retry_after - NS);
        let again = rl.check(&[("k", &q)], 1).unwrap_err();
        assert_eq!(again.retry_after, NS);
        clock.advance(NS);
        rl.check(&[("k", &q)], 1).unwrap();
    }

    #[test]
    fn weighted_cost() {
        let (clock, rl) = limiter();
        let q = quota(10, 1000, 5);
        rl.check(&[("k", &q)], 4).unwrap();
        let err = rl.check(&[("k", &q)], 2).unwrap_err();
        assert_eq!(err.retry_after, Duration::from_millis(100));
        rl.check(&[("k", &q)], 1).unwrap();
        clock.advance(Duration::from_millis(200));
        rl.check(&[("k", &q)], 2).unwrap();
        assert!(rl.check(&[("k", &q)], 0).is_ok(), "cost 0 always passes");
    }

    #[test]
    fn impossible_cost_is_not_a_wait() {
        let (_clock, rl) = limiter();
        let q = quota(10, 1000, 3);
        let err = rl.check(&[("k", &q)], 4).unwrap_err();
        assert!(err.impossible);
        assert_eq!(err.retry_after, Duration::ZERO);
        assert_eq!(
            err.to_string(),
            "rate limit 'k' exceeded; the call's cost exceeds the burst and can never pass"
        );
        assert_eq!(rl.len(), 0, "nothing committed");
        let t = q.emission_interval();
        assert_eq!(gcra(None, Instant::now(), t, q.tolerance(), 4), Decision::Impossible);
        assert_eq!(gcra(None, Instant::now(), Duration::MAX, Duration::MAX, 1), Decision::Impossible);
        assert!(quota(0, 1000, 1).validate().is_err());
        assert!(quota(1, 0, 1).validate().is_err());
        assert!(quota(1, 1000, 0).validate().is_err());
        assert!(quota(1, 1000, 1).validate().is_ok());
    }

    #[test]
    fn multi_key_check_is_atomic() {
        let (clock, rl) = limiter();
        let tenant = quota(100, 1000, 10);
        let tool = quota(1, 1000, 1);
        rl.check(&[("tenant:a", &tenant), ("tool:a:x", &tool)], 1).unwrap();
        // The tool key refuses; the tenant key must not be charged.
        for _ in 0..20 {
            let err = rl.check(&[("tenant:a", &tenant), ("tool:a:x", &tool)], 1).unwrap_err();
            assert_eq!(err.key, "tool:a:x");
            assert_eq!(
                err.to_string(),
                format!("rate limit 'tool:a:x' exceeded; retry after {} ms", ceil_millis(err.retry_after))
            );
        }
        // The tenant still has 9 of its burst of 10 (only the first call was charged).
        for i in 0..9 {
            rl.check(&[("tenant:a", &tenant), (&format!("tool:a:{i}"), &tool)], 1).unwrap();
        }
        assert_eq!(rl.check(&[("tenant:a", &tenant)], 1).unwrap_err().key, "tenant:a");
        clock.advance(Duration::from_secs(1));
        rl.check(&[("tenant:a", &tenant), ("tool:a:x", &tool)], 1).unwrap();
    }

    #[test]
    fn largest_retry_after_wins() {
        let (clock, rl) = limiter();
        let fast = quota(10, 1000, 1); // T = 100 ms
        let slow = quota(2, 1000, 1); // T = 500 ms
        rl.check(&[("fast", &fast), ("slow", &slow)], 1).unwrap();
        let err = rl.check(&[("fast", &fast), ("slow", &slow)], 1).unwrap_err();
        assert_eq!((err.key.as_str(), err.retry_after), ("slow", Duration::from_millis(500)));
        let err = rl.check(&[("slow", &slow), ("fast", &fast)], 1).unwrap_err();
        assert_eq!(err.key, "slow", "independent of order");
        clock.advance(err.retry_after);
        rl.check(&[("fast", &fast), ("slow", &slow)], 1).unwrap();
    }

    #[test]
    fn repeated_key_is_charged_for_each_listing() {
        let (_clock, rl) = limiter();
        let q = quota(10, 1000, 3);
        rl.check(&[("k", &q), ("k", &q)], 1).unwrap();
        let err = rl.check(&[("k", &q), ("k", &q)], 1).unwrap_err();
        assert_eq!(err.retry_after, Duration::from_millis(100), "charged 2 of 3, needs 1 more T");
        rl.check(&[("k", &q)], 1).unwrap();
    }

    #[test]
    fn retain_recent_evicts_idle_keys() {
        let (clock, rl) = limiter();
        let q = quota(10, 1000, 2);
        rl.check(&[("a", &q)], 1).unwrap();
        clock.advance(Duration::from_millis(50));
        rl.check(&[("b", &q)], 2).unwrap();
        assert_eq!(rl.len(), 2);
        clock.advance(Duration::from_millis(50)); // a: TAT = now
        rl.retain_recent();
        assert_eq!(rl.len(), 1, "a is idle");
        clock.advance(Duration::from_millis(150)); // b: TAT = t0 + 250 ms = now
        rl.retain_recent();
        assert!(rl.is_empty());
        // Evicted keys behave as new: the full burst is available.
        rl.check(&[("a", &q)], 2).unwrap();
    }

    /// One step of the property tests: advance the clock, then try a call.
    fn steps() -> impl Strategy<Value = (Quota, Vec<(u64, u32)>)> {
        (1u32..10, 1_000_000u64..2_000_000_000, 1u32..6).prop_flat_map(|(rate, per_ns, burst)| {
            let q = Quota { rate, per: Duration::from_nanos(per_ns), burst };
            let t = q.emission_interval().as_nanos() as u64;
            let step = (prop_oneof![Just(0), Just(t), 0..t / 2 + 1, 0..3 * t], 0..=burst + 1);
            (Just(q), proptest::collection::vec(step, 1..120))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Derivation of the bound: for admitted calls i..=j at times t_i <= t_j,
        /// TAT after call i is >= t_i + n_i·T and each later admission raises it by
        /// n_k·T, so TAT_j >= t_i + (Σn)·T; admission means TAT_j <= t_j + τ =
        /// t_j + burst·T. Hence (Σn − burst)·T <= t_j − t_i, and with T >= per/rate
        /// (rounded up), Σn <= burst + floor(rate·(t_j − t_i)/per). No +1 needed.
        #[test]
        fn admitted_never_exceeds_burst_plus_rate((q, ops) in steps()) {
            let (clock, rl) = limiter();
            let t0 = clock.now();
            let mut admitted: Vec<(u128, u64)> = Vec::new();
            for (dt, cost) in ops {
                clock.advance(Duration::from_nanos(dt));
                if rl.check(&[("k", &q)], cost).is_ok() {
                    admitted.push(((clock.now() - t0).as_nanos(), u64::from(cost)));
                }
            }
            let (rate, per) = (u128::from(q.rate), q.per.as_nanos());
            for i in 0..admitted.len() {
                let mut total = 0u128;
                for j in i..admitted.len() {
                    total += u128::from(admitted[j].1);
                    let bound = u128::from(q.burst) + rate * (admitted[j].0 - admitted[i].0) / per;
                    prop_assert!(total <= bound, "window {i}..={j}: {total} > {bound}");
                }
            }
        }

        /// Every Deny's retry_after is exact, checked on a copy of the state.
        #[test]
        fn retry_after_is_exact_everywhere((q, ops) in steps()) {
            let (t, tau) = (q.emission_interval(), q.tolerance());
            let mut now = Instant::now();
            let mut tat: Option<Instant> = None;
            for (dt, cost) in ops {
                now += Duration::from_nanos(dt);
                match gcra(tat, now, t, tau, cost) {
                    Decision::Allow { new_tat } => tat = Some(new_tat),
                    Decision::Deny { retry_after } => {
                        prop_assert!(retry_after > Duration::ZERO);
                        let at = now + retry_after;
                        let admitted = matches!(gcra(tat, at, t, tau, cost), Decision::Allow { .. });
                        prop_assert!(admitted, "refused at now + retry_after");
                        prop_assert_eq!(gcra(tat, at - NS, t, tau, cost), Decision::Deny { retry_after: NS });
                    }
                    Decision::Impossible => prop_assert!(cost > q.burst),
                }
            }
        }
    }
}
