//! Retries: whether to retry, how long to wait, and how many retries the system can afford.
//!
//! * [`RetryPolicy`] — attempts (the first call included), backoff base and cap, and the two
//!   opt-ins (timeouts, non-idempotent tools).
//! * [`backoff`] — full jitter, `U[0, min(cap, base·2ⁿ))`, in nanoseconds with saturation.
//! * [`plan_sleep`] — picks the actual sleep: a `Retry-After` hint replaces the computed
//!   backoff; a sleep that does not fit in the remaining deadline means giving up now.
//! * [`parse_retry_after`] — delay-seconds or an IMF-fixdate HTTP-date (RFC 9110 §10.2.3).
//! * [`RetryBudget`] — a tower `TpsBudget` / Finagle `RetryBudget`: retries may add at most a
//!   percentage of the traffic (plus a small floor), so retries cannot amplify an outage.
//!
//! Everything here takes time and randomness from the caller (`now`, `rng`), so tests use
//! virtual time and seeded generators.

use rand::Rng;
use serde::{Deserialize, Serialize, Serializer};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When and how often a failed call is tried again.
///
/// Serialized with millisecond fields; every field is optional on input (`#[serde(default)]`
/// semantics) and unknown fields are rejected:
///
/// ```toml
/// max_attempts = 3        # or: max_retries = 2 (chuk-tool-processor's name)
/// base_ms = 100
/// cap_ms = 5000
/// retry_timeouts = false
/// retry_non_idempotent = false
/// ```
///
/// Whatever the policy says, only outcomes of a retryable class are retried (transient tool
/// errors, upstream 5xx/429); the executor decides the class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyInput")]
pub struct RetryPolicy {
    /// Attempts in total, the first call included (resilience4j counting); at least 1, default 3.
    /// chuk-tool-processor's `max_retries` is `max_attempts − 1`; input may give `max_retries`
    /// instead (not both).
    pub max_attempts: u32,
    /// Backoff before the first retry is drawn from `[0, base)`; doubles per retry. Default 100 ms.
    #[serde(rename = "base_ms", serialize_with = "millis")]
    pub base: Duration,
    /// Upper bound of the backoff range. Default 5 s.
    #[serde(rename = "cap_ms", serialize_with = "millis")]
    pub cap: Duration,
    /// Retry attempts that timed out (a deterministic loop usually loops again). Default false.
    pub retry_timeouts: bool,
    /// Retry tools not declared idempotent (they may run twice). Default false.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            retry_timeouts: false,
            retry_non_idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// Retries after the first call: `max_attempts − 1` (chuk-tool-processor's `max_retries`).
    pub fn max_retries(&self) -> u32 {
        self.max_attempts.saturating_sub(1)
    }

    /// Whether another attempt may follow `attempts_made` attempts whose last outcome was of a
    /// retryable class: attempts are left, the tool is idempotent (or the policy allows
    /// non-idempotent retries), and a timeout is retried only when `retry_timeouts` is set.
    pub fn allows_retry(&self, attempts_made: u32, idempotent: bool, timed_out: bool) -> bool {
        attempts_made < self.max_attempts
            && (idempotent || self.retry_non_idempotent)
            && (!timed_out || self.retry_timeouts)
    }
}

impl RetryPolicy {
    /// Checks `max_attempts >= 1` (it counts the first call), naming it at `path`.
    /// Zero is read as written so that the check can name the key path.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        p.require(
            self.max_attempts >= 1,
            toolhost_core::check::join(path, "max_attempts"),
            "must be ≥ 1 (it counts the first call; max_retries = max_attempts − 1)",
        );
    }
}

/// What [`RetryPolicy`] reads: every field optional, `max_retries` as an alias.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PolicyInput {
    max_attempts: Option<u32>,
    max_retries: Option<u32>,
    base_ms: Option<u64>,
    cap_ms: Option<u64>,
    retry_timeouts: Option<bool>,
    retry_non_idempotent: Option<bool>,
}

impl TryFrom<PolicyInput> for RetryPolicy {
    type Error = String;

    fn try_from(input: PolicyInput) -> Result<Self, String> {
        let default = RetryPolicy::default();
        let max_attempts = match (input.max_attempts, input.max_retries) {
            (Some(_), Some(_)) => return Err("give max_attempts or max_retries, not both".into()),
            (Some(attempts), None) => attempts,
            (None, Some(retries)) => retries.checked_add(1).ok_or("max_retries is too large")?,
            (None, None) => default.max_attempts,
        };
        Ok(RetryPolicy {
            max_attempts,
            base: input.base_ms.map_or(default.base, Duration::from_millis),
            cap: input.cap_ms.map_or(default.cap, Duration::from_millis),
            retry_timeouts: input.retry_timeouts.unwrap_or(default.retry_timeouts),
            retry_non_idempotent: input.retry_non_idempotent.unwrap_or(default.retry_non_idempotent),
        })
    }
}

/// Writes a duration as whole milliseconds.
fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `min(cap, base·2ⁿ)`, saturating (never overflows, whatever `n`).
fn backoff_ceiling(policy: &RetryPolicy, retry_index: u32) -> Duration {
    let base = u128::from(nanos(policy.base));
    let grown = match retry_index {
        _ if base == 0 => 0,
        n if n < 64 => base << n, // base < 2⁶⁴, so this fits in u128
        _ => u128::MAX,
    };
    Duration::from_nanos(grown.min(u128::from(nanos(policy.cap))) as u64)
}

/// The full-jitter backoff before retry number `retry_index` (0 for the first retry): uniform in
/// `[0, min(cap, base·2ⁿ))`, or zero when that range is empty.
pub fn backoff(policy: &RetryPolicy, retry_index: u32, rng: &mut impl Rng) -> Duration {
    match nanos(backoff_ceiling(policy, retry_index)) {
        0 => Duration::ZERO,
        ceiling => Duration::from_nanos(rng.random_range(0..ceiling)),
    }
}

/// What to do before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepPlan {
    /// Sleep this long, then try again.
    Sleep(Duration),
    /// Do not retry: the sleep would not leave time for an attempt before the deadline.
    GiveUp {
        /// The upstream's `Retry-After` hint as received (not clamped), to pass on to the caller
        /// as `retry_after_ms`.
        hint: Option<Duration>,
    },
}

/// Chooses the sleep before the next attempt.
///
/// Without a hint the `computed` backoff is used (clamped to `max_interval`). A
/// `retry_after_hint` replaces it: the hint is clamped to `[0, max_interval]` and jittered up
/// to 1.5× (`U[h, 1.5·h]`, clamped to `max_interval`) so that clients told the same time do not
/// return together. When a deadline is set, the sleep must be *strictly* shorter than the
/// `remaining` time, so that some time is left for the attempt; otherwise the plan is
/// [`SleepPlan::GiveUp`] with the hint.
pub fn plan_sleep(
    computed: Duration,
    retry_after_hint: Option<Duration>,
    remaining: Option<Duration>,
    max_interval: Duration,
    rng: &mut impl Rng,
) -> SleepPlan {
    let sleep = match retry_after_hint {
        Some(hint) => {
            let low = hint.min(max_interval);
            let high = low.saturating_add(low / 2).min(max_interval);
            Duration::from_nanos(rng.random_range(nanos(low)..=nanos(high)))
        }
        None => computed.min(max_interval),
    };
    match remaining {
        Some(left) if sleep >= left => SleepPlan::GiveUp { hint: retry_after_hint },
        _ => SleepPlan::Sleep(sleep),
    }
}

/// Reads an HTTP `Retry-After` value (RFC 9110 §10.2.3), given the current wall-clock time.
///
/// * delay-seconds (`120`): that many seconds; a value too large for `u64` saturates (absurd
///   values are clamped by [`plan_sleep`], not here);
/// * an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, case-sensitive, the day name is not
///   cross-checked): the time until then, or zero for a date that has passed (the RFC's "retry
///   now");
/// * anything else — negative or fractional numbers, the obsolete RFC 850 and asctime date
///   forms, junk — is `None` (no hint).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim_matches([' ', '\t']);
    if !value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let unix = imf_fixdate(value)?;
    let offset = Duration::from_secs(unix.unsigned_abs());
    let at = if unix >= 0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    Some(at.map_or(Duration::ZERO, |at| at.duration_since(now).unwrap_or(Duration::ZERO)))
}

/// Seconds since the Unix epoch of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn imf_fixdate(s: &str) -> Option<i64> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    if s.len() != 29 || !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    let shape = DAYS.contains(&&s[0..3])
        && &s[3..5] == ", "
        && [7, 11, 16].iter().all(|&i| b[i] == b' ')
        && b[19] == b':'
        && b[22] == b':'
        && &s[25..] == " GMT";
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = &s[from..from + len];
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let month = MONTHS.iter().position(|m| *m == &s[8..11])? as i64 + 1;
    let (day, year, hour, minute, second) = (num(5, 2)?, num(12, 4)?, num(17, 2)?, num(20, 2)?, num(23, 2)?);
    let valid =
        shape && (1..=days_in_month(year, month)).contains(&day) && hour < 24 && minute < 60 && second <= 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Slots the budget's window is divided into.
const SLOTS: usize = 10;
/// One retry, in budget units (fixed point, so percentages are not rounded up).
const RETRY_COST: i64 = 1_000_000;

/// Limits retries to a share of the traffic (tower `TpsBudget`, Finagle `RetryBudget`).
///
/// Every first attempt [deposits](RetryBudget::deposit) `retry_percent` of a retry; every retry
/// [withdraws](RetryBudget::withdraw) one. On top, a reserve of `min_per_sec · ttl` retries is
/// always available, so low-traffic tools can still retry. Deposits and withdrawals count for
/// `ttl`, kept in 10 slots of `ttl / 10`; when a slot expires its deposits and withdrawals are
/// forgotten together. Over any stretch of `0.9 · ttl`, the retries admitted are at most
/// `min_per_sec · ttl + retry_percent · (deposits made in the ttl before the last of them)`.
///
/// Thread-safe (one short `Mutex` section per call). Time comes from the caller; the first call
/// starts the clock, and a `now` earlier than one already seen counts as that later time.
#[derive(Debug)]
pub struct RetryBudget {
    slot: Duration,
    reserve: i64,
    deposit_amount: i64,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    origin: Option<Instant>,
    generation: u64,
    /// `(generation, balance)` per slot, indexed by `generation % SLOTS`.
    slots: [(u64, i64); SLOTS],
}

impl Default for RetryBudget {
    /// `new(10 s, 10, 0.2)`: 100 retries in reserve plus 20 % of the calls.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 0.2)
    }
}

impl RetryBudget {
    /// A budget of `min_per_sec · ttl` retries plus `retry_percent` (0.2 = 20 %) of the first
    /// attempts made within `ttl`. As in tower, `ttl` is clamped to 1–60 s and `retry_percent`
    /// to 0–1000 (NaN counts as 0).
    pub fn new(ttl: Duration, min_per_sec: u32, retry_percent: f64) -> Self {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let percent = if retry_percent.is_nan() { 0.0 } else { retry_percent.clamp(0.0, 1000.0) };
        let reserve = u128::from(min_per_sec) * ttl.as_nanos() * RETRY_COST as u128 / 1_000_000_000;
        RetryBudget {
            slot: ttl / SLOTS as u32,
            reserve: i64::try_from(reserve).unwrap_or(i64::MAX),
            deposit_amount: (percent * RETRY_COST as f64).floor() as i64,
            state: Mutex::new(BudgetState::default()),
        }
    }

    /// Records a first attempt (not a retry) at `now`.
    pub fn deposit(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = state.current(now, self.slot);
        *slot = slot.saturating_add(self.deposit_amount);
    }

    /// Takes one retry from the budget at `now`; `false` (and nothing taken) when it is empty.
    pub fn withdraw(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.current(now, self.slot);
        let live = state.slots.iter().filter(|(g, _)| state.generation - g < SLOTS as u64);
        let balance = i128::from(self.reserve) + live.map(|&(_, v)| i128::from(v)).sum::<i128>();
        if balance < i128::from(RETRY_COST) {
            return false;
        }
        let slot = state.current(now, self.slot);
        *slot = slot.saturating_sub(RETRY_COST);
        true
    }
}

impl BudgetState {
    /// Advances to the generation of `now` and returns its slot's balance (reset if stale).
    fn current(&mut self, now: Instant, slot: Duration) -> &mut i64 {
        let origin = *self.origin.get_or_insert(now);
        let generation = now.saturating_duration_since(origin).as_nanos() / slot.as_nanos().max(1);
        self.generation = self.generation.max(u64::try_from(generation).unwrap_or(u64::MAX));
        let entry = &mut self.slots[(self.generation % SLOTS as u64) as usize];
        if entry.0 != self.generation {
            *entry = (self.generation, 0);
        }
        &mut entry.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::sync::Arc;

    const MS: Duration = Duration::from_millis(1);

    fn policy(base: Duration, cap: Duration) -> RetryPolicy {
        RetryPolicy { base, cap, ..RetryPolicy::default() }
    }

    #[test]
    fn policy_defaults_and_serde() {
        let p = RetryPolicy::default();
        assert_eq!((p.max_attempts, p.max_retries(), p.base, p.cap), (3, 2, 100 * MS, 5000 * MS));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"max_attempts":3,"base_ms":100,"cap_ms":5000,"retry_timeouts":false,"retry_non_idempotent":false}"#
        );
        assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), p);
        assert_eq!(serde_json::from_str::<RetryPolicy>("{}").unwrap(), p);
        let p: RetryPolicy = serde_json::from_str(r#"{"max_retries":3,"base_ms":1}"#).unwrap();
        assert_eq!((p.max_attempts, p.base, p.cap), (4, MS, 5000 * MS));
    }

    #[test]
    fn policy_input_errors() {
        for bad in [
            r#"{"max_attempts":3,"max_retries":2}"#,
            r#"{"max_retries":4294967295}"#,
            r#"{"max_attempt":3}"#,
            r#"{"base_ms":-1}"#,
        ] {
            assert!(serde_json::from_str::<RetryPolicy>(bad).is_err(), "{bad}");
        }
        // Zero attempts is read, then refused by the config check with its key path.
        let zero: RetryPolicy = serde_json::from_str(r#"{"max_attempts":0}"#).unwrap();
        let mut p = toolhost_core::check::Problems::default();
        zero.check("policy.retry", &mut p);
        assert!(p.into_string_result().unwrap_err().starts_with("policy.retry.max_attempts must be ≥ 1"));
    }

    #[test]
    fn allows_retry_rules() {
        let p = RetryPolicy::default();
        assert!(p.allows_retry(1, true, false));
        assert!(p.allows_retry(2, true, false));
        assert!(!p.allows_retry(3, true, false), "3 attempts made = max_attempts");
        assert!(!p.allows_retry(1, false, false), "not idempotent");
        assert!(!p.allows_retry(1, true, true), "timeouts are opt-in");
        let open = RetryPolicy { retry_timeouts: true, retry_non_idempotent: true, ..p };
        assert!(open.allows_retry(1, false, true));
    }

    #[test]
    fn backoff_ceiling_doubles_then_caps_and_saturates() {
        let p = RetryPolicy::default();
        let ceilings: Vec<_> = (0..8).map(|n| backoff_ceiling(&p, n)).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 3200, 5000, 5000].map(|m| m * MS));
        assert_eq!(backoff_ceiling(&p, u32::MAX), 5000 * MS);
        let huge = policy(Duration::MAX, Duration::MAX);
        assert_eq!(backoff_ceiling(&huge, 100), Duration::from_nanos(u64::MAX));
        assert_eq!(
            backoff(&policy(Duration::ZERO, Duration::MAX), 200, &mut StdRng::seed_from_u64(1)),
            Duration::ZERO
        );
        // Sub-second bases are kept (no whole-second truncation).
        assert_eq!(
            backoff_ceiling(&policy(Duration::from_nanos(3), Duration::MAX), 2),
            Duration::from_nanos(12)
        );
    }

    #[test]
    fn backoff_is_spread_over_the_range() {
        let p = policy(100 * MS, Duration::from_secs(5));
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<_> = (0..1000).map(|_| backoff(&p, 0, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d < 100 * MS));
        assert!(draws.iter().any(|d| *d < 10 * MS) && draws.iter().any(|d| *d > 90 * MS));
    }

    #[test]
    fn plan_sleep_cases() {
        let mut rng = StdRng::seed_from_u64(3);
        let max = Duration::from_secs(30);
        let s = Duration::from_secs;
        assert_eq!(plan_sleep(s(1), None, None, max, &mut rng), SleepPlan::Sleep(s(1)));
        assert_eq!(plan_sleep(s(60), None, None, max, &mut rng), SleepPlan::Sleep(max));
        assert_eq!(plan_sleep(s(1), None, Some(s(1)), max, &mut rng), SleepPlan::GiveUp { hint: None });
        assert_eq!(
            plan_sleep(s(1), None, Some(Duration::ZERO), max, &mut rng),
            SleepPlan::GiveUp { hint: None }
        );
        assert_eq!(
            plan_sleep(Duration::ZERO, None, Some(MS), max, &mut rng),
            SleepPlan::Sleep(Duration::ZERO)
        );
        match plan_sleep(s(0), Some(s(10)), None, max, &mut rng) {
            SleepPlan::Sleep(d) => assert!(d >= s(10) && d <= s(15), "{d:?}"),
            other => panic!("{other:?}"),
        }
        // An absurd hint is clamped for sleeping but reported as received.
        let absurd = Some(s(1_000_000_000));
        assert_eq!(plan_sleep(s(0), absurd, None, max, &mut rng), SleepPlan::Sleep(max));
        assert_eq!(plan_sleep(s(0), absurd, Some(s(20)), max, &mut rng), SleepPlan::GiveUp { hint: absurd });
        assert_eq!(
            plan_sleep(s(0), Some(Duration::ZERO), Some(MS), max, &mut rng),
            SleepPlan::Sleep(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_seconds_and_junk() {
        let now = SystemTime::now();
        let s = Duration::from_secs;
        assert_eq!(parse_retry_after("120", now), Some(s(120)));
        assert_eq!(parse_retry_after(" 0\t", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999999", now), Some(s(u64::MAX)));
        for junk in
            ["", " ", "-5", "1.5", "+3", "1e3", "soon", "12 s", "０", "Sun, 06 Nov 1994 08:49:37 GMT junk"]
        {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn retry_after_http_dates() {
        let at = |unix: u64| UNIX_EPOCH + Duration::from_secs(unix);
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, at(784_111_777 - 30)), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after(date, at(784_111_777 - 30) + 250 * MS),
            Some(Duration::from_millis(29_750))
        );
        assert_eq!(
            parse_retry_after(date, at(784_111_777 + 5)),
            Some(Duration::ZERO),
            "past date: retry now"
        );
        for (text, unix) in [
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Wed, 01 Mar 2000 00:00:00 GMT", 951_868_800),
            ("Tue, 19 Jan 2038 03:14:08 GMT", 2_147_483_648),
            ("Thu, 29 Feb 2024 12:00:00 GMT", 1_709_208_000),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799),
            ("Sun, 31 Dec 2023 23:59:60 GMT", 1_704_067_200),
        ] {
            assert_eq!(imf_fixdate(text), Some(unix), "{text}");
        }
        assert_eq!(imf_fixdate("Mon, 01 Jan 1900 00:00:00 GMT"), Some(-2_208_988_800));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 1900 00:00:00 GMT", SystemTime::now()),
            Some(Duration::ZERO)
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Wed, 29 Feb 1900 00:00:00 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov -994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:+7 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMé",
        ] {
            assert_eq!(parse_retry_after(bad, SystemTime::now()), None, "{bad}");
        }
    }

    #[test]
    fn budget_reserve_deposits_and_expiry() {
        let t0 = Instant::now();
        let budget = RetryBudget::default();
        let admitted = |at: Instant| (0..1000).take_while(|_| budget.withdraw(at)).count();
        assert_eq!(admitted(t0), 100, "reserve = 10/s × 10 s");
        (0..100).for_each(|_| budget.deposit(t0));
        assert_eq!(admitted(t0 + MS), 20, "20 % of 100 calls");
        assert_eq!(admitted(t0 + Duration::from_secs(9)), 0, "still inside the window");
        assert_eq!(admitted(t0 + Duration::from_secs(11)), 100, "old withdrawals and deposits expired");
        let stingy = RetryBudget::new(Duration::from_secs(10), 0, 0.0);
        stingy.deposit(t0);
        assert!(!stingy.withdraw(t0));
        // 0.3 × 10 deposits is 3 retries, not 10 / floor(1 / 0.3) = 3.33.
        let third = RetryBudget::new(Duration::from_secs(1), 0, 0.3);
        (0..10).for_each(|_| third.deposit(t0));
        assert_eq!((0..10).take_while(|_| third.withdraw(t0)).count(), 3);
    }

    #[test]
    fn budget_clamps_parameters_and_tolerates_clock_steps_back() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let tiny = RetryBudget::new(Duration::ZERO, 1, f64::NAN);
        assert_eq!((0..10).take_while(|_| tiny.withdraw(t0)).count(), 1, "ttl clamped to 1 s");
        let b = RetryBudget::new(Duration::from_secs(1), 1, 0.0);
        b.deposit(t0); // starts the clock
        assert!(b.withdraw(t0 + Duration::from_secs(5)));
        assert!(!b.withdraw(t0), "an earlier now counts as the latest time seen");
        assert!(b.withdraw(t0 + Duration::from_millis(6100)), "the window moved on");
    }

    #[test]
    fn budget_is_shared_across_threads() {
        let budget = Arc::new(RetryBudget::default());
        let now = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&budget);
                std::thread::spawn(move || (0..100).filter(|_| b.withdraw(now)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }

    proptest! {
        #[test]
        fn backoff_stays_in_range(base_ns in 0u64..20_000_000_000, cap_ns in 0u64..u64::MAX, n in 0u32..200, seed: u64) {
            let p = policy(Duration::from_nanos(base_ns), Duration::from_nanos(cap_ns));
            let ceiling = u128::from(base_ns).checked_mul(1u128.checked_shl(n).unwrap_or(0)).filter(|_| n < 128).unwrap_or(u128::MAX);
            let ceiling = if base_ns == 0 { 0 } else { ceiling.min(u128::from(cap_ns)) };
            let d = backoff(&p, n, &mut StdRng::seed_from_u64(seed)).as_nanos();
            prop_assert!(d < ceiling || (ceiling == 0 && d == 0), "{d} vs {ceiling}");
        }

        #[test]
        fn sleeps_never_exceed_remaining_or_max(
            computed_ms in 0u64..100_000,
            hint_ms in proptest::option::of(0u64..10_000_000),
            remaining_ms in proptest::option::of(0u64..100_000),
            max_ms in 0u64..100_000,
            seed: u64,
        ) {
            let (hint, remaining, max) = (hint_ms.map(Duration::from_millis), remaining_ms.map(Duration::from_millis), Duration::from_millis(max_ms));
            match plan_sleep(Duration::from_millis(computed_ms), hint, remaining, max, &mut StdRng::seed_from_u64(seed)) {
                SleepPlan::Sleep(d) => {
                    prop_assert!(d <= max);
                    prop_assert!(remaining.is_none_or(|r| d < r));
                    if let Some(h) = hint {
                        let low = h.min(max);
                        prop_assert!(d >= low && d <= low + low / 2);
                    }
                }
                SleepPlan::GiveUp { hint: h } => {
                    prop_assert_eq!(h, hint);
                    prop_assert!(remaining.is_some());
                }
            }
        }

        #[test]
        fn retries_stay_within_budget(
            ttl_ds in 10u64..200,
            min_per_sec in 0u32..5,
            percent in 0.0f64..1.5,
            events in proptest::collection::vec((0u64..1500, any::<bool>()), 1..400),
        ) {
            let ttl = Duration::from_millis(ttl_ds * 100);
            let budget = RetryBudget::new(ttl, min_per_sec, percent);
            let t0 = Instant::now();
            let (mut now, mut deposits, mut retries) = (Duration::ZERO, vec![], vec![]);
            for (step_ms, is_deposit) in events {
                now += Duration::from_millis(step_ms);
                if is_deposit {
                    budget.deposit(t0 + now);
                    deposits.push(now);
                } else if budget.withdraw(t0 + now) {
                    retries.push(now);
                }
            }
            let stretch = ttl / SLOTS as u32 * (SLOTS as u32 - 1);
            for &last in &retries {
                let admitted = retries.iter().filter(|&&t| t <= last && last - t <= stretch).count();
                let funded = deposits.iter().filter(|&&t| t <= last && last - t < ttl).count();
                let bound = f64::from(min_per_sec) * ttl.as_secs_f64() + percent * funded as f64;
                prop_assert!(admitted as f64 <= bound + 1e-9, "{admitted} > {bound} at {last:?}");
            }
        }

        #[test]
        fn retry_after_never_panics(s in ".{0,40}", t in "[A-Za-z0-9 ,:]{29}") {
            let _ = parse_retry_after(&s, SystemTime::now());
            let _ = parse_retry_after(&t, SystemTime::now());
        }
    }
}
