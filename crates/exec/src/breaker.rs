//! Keyed circuit breakers, resilience4j-style (resilience.md §0, §1).
//!
//! One breaker per key (the caller builds it, by default `tenant:tool`), created
//! closed on first use. Per key:
//!
//! * **Closed**: every call gets a [`Permit`]; recorded outcomes feed the
//!   [`Window`]. It opens when the window's verdict says so (below
//!   `minimum_calls` there is no verdict; then `failure_rate >= threshold` or
//!   `slow_call_rate >= slow threshold`; a call is slow when its duration is
//!   `> slow_call_duration`).
//! * **Open** until `open_until = opened_at + min(open_duration × trips,
//!   max_open_duration)`, where `trips` counts consecutive openings since the
//!   last close. Calls are rejected with [`CircuitOpen`] and
//!   `retry_after = open_until − now`, and counted as rejected.
//! * **HalfOpen**, entered lazily by the first [`Breakers::acquire`] at or after
//!   `open_until` (no timer). Up to `half_open_permits` probes are handed out;
//!   when that many probe outcomes are recorded, the breaker closes (trips and
//!   window reset) unless the probes' own rates reach a threshold, in which case
//!   it opens again with a longer open duration. With a `Consecutive` window a
//!   single failed or slow probe reopens at once (chuk: one failure reopens).
//!   If probes are still outstanding `max_wait_in_half_open` after entering
//!   half-open, the breaker is considered to have reopened at that deadline.
//!
//! Every transition starts a new *generation*; an outcome recorded with a permit
//! from an older generation (admitted before the trip, Polly-style) still counts
//! in the snapshot totals but never moves the state. [`Outcome::Ignored`]
//! (caller errors, our own rejections, cancellation, upstream 429) counts
//! nowhere; it and a [`Permit`] dropped unrecorded release their half-open probe
//! slot, so a cancelled probe cannot wedge the breaker half-open.
//!
//! Time is read from the injected [`Clock`]; time-driven transitions are applied
//! lazily at the next event (acquire, record, drop, snapshot), as of the instant
//! they were due, so the state never depends on how often the breaker is polled.

use super::clock::{Clock, ceil_millis, serde_ms};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Largest accepted [`Window::Time`] (one bucket per second per key).
const MAX_TIME_WINDOW_SECS: u64 = 3600;

/// Which recent outcomes a closed breaker judges.
///
/// Serialized as a table with a `type` tag: `{ type = "consecutive", size = 5 }`,
/// `{ type = "count", size = 20 }`, `{ type = "time", secs = 60 }`. Sizes are ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowRepr", into = "WindowRepr")]
pub enum Window {
    /// Opens after this many consecutive failures, or this many consecutive slow
    /// calls (chuk-compatible). A streak is 100 % by definition, so
    /// `minimum_calls` and the rate thresholds are not consulted.
    Consecutive(u32),
    /// The last `size` recorded outcomes (ring buffer); `minimum_calls` is
    /// clamped to `size`.
    Count(u32),
    /// The outcomes of the last `secs` seconds (the duration is rounded up to
    /// whole seconds, at most 3600), one pre-aggregated bucket per second, the
    /// current second included.
    Time(Duration),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum WindowRepr {
    Consecutive { size: u32 },
    Count { size: u32 },
    Time { secs: u64 },
}

impl TryFrom<WindowRepr> for Window {
    type Error = String;

    /// Any size is read; [`BreakerConfig::validate`] (run for every
    /// configuration) refuses the invalid ones with their key path.
    fn try_from(r: WindowRepr) -> Result<Window, String> {
        Ok(match r {
            WindowRepr::Consecutive { size } => Window::Consecutive(size),
            WindowRepr::Count { size } => Window::Count(size),
            WindowRepr::Time { secs } => Window::Time(Duration::from_secs(secs)),
        })
    }
}

impl From<Window> for WindowRepr {
    fn from(w: Window) -> WindowRepr {
        match w {
            Window::Consecutive(size) => WindowRepr::Consecutive { size },
            Window::Count(size) => WindowRepr::Count { size },
            Window::Time(d) => WindowRepr::Time { secs: window_secs(d) },
        }
    }
}

impl Window {
    fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        match *self {
            Window::Consecutive(size) | Window::Count(size) => {
                p.at_least_one(u64::from(size), join(path, "size"))
            }
            Window::Time(d) => p.require(
                !d.is_zero() && window_secs(d) <= MAX_TIME_WINDOW_SECS,
                join(path, "secs"),
                format_args!("must be within 1..={MAX_TIME_WINDOW_SECS}"),
            ),
        }
    }
}

/// A time window's length in whole seconds, rounded up, at least 1.
fn window_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// Breaker policy. Every field has a default (chuk-compatible: five
/// consecutive failures open for 60 s, one probe decides).
///
/// Durations are whole milliseconds in configuration files (`*_ms` keys):
///
/// ```toml
/// window = { type = "count", size = 20 }
/// minimum_calls = 10
/// failure_rate_threshold = 50.0
/// open_duration_ms = 30000
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Which outcomes the closed state judges. Default: `Consecutive(5)`.
    pub window: Window,
    /// No verdict while the window holds fewer recorded calls (clamped to the
    /// size of a `Count` window; unused by `Consecutive`). Default: 5.
    pub minimum_calls: u32,
    /// Open when the failure percentage (0–100) is `>=` this. Default: 50.
    pub failure_rate_threshold: f64,
    /// Open when the slow-call percentage (0–100) is `>=` this. Default: 100
    /// (only when every call in the window is slow).
    pub slow_call_rate_threshold: f64,
    /// A call is slow when its duration is `>` this (`slow_call_duration_ms`).
    /// Default: 60 s.
    #[serde(rename = "slow_call_duration_ms", with = "serde_ms")]
    pub slow_call_duration: Duration,
    /// Open duration after the first trip; the n-th consecutive trip opens for
    /// n × this (`open_duration_ms`). Default: 60 s.
    #[serde(rename = "open_duration_ms", with = "serde_ms")]
    pub open_duration: Duration,
    /// Cap of the backed-off open duration (`max_open_duration_ms`). Default: 300 s.
    #[serde(rename = "max_open_duration_ms", with = "serde_ms")]
    pub max_open_duration: Duration,
    /// Concurrent probes in half-open; that many successful probes (below the
    /// thresholds) close the breaker. Default: 1.
    pub half_open_permits: u32,
    /// Half-open with outstanding probes for this long reopens the breaker
    /// (`max_wait_in_half_open_ms`). Default: 120 s.
    #[serde(rename = "max_wait_in_half_open_ms", with = "serde_ms")]
    pub max_wait_in_half_open: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: Window::Consecutive(5),
            minimum_calls: 5,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Duration::from_secs(60),
            open_duration: Duration::from_secs(60),
            max_open_duration: Duration::from_secs(300),
            half_open_permits: 1,
            max_wait_in_half_open: Duration::from_secs(120),
        }
    }
}

impl BreakerConfig {
    /// Checks window sizes, thresholds within (0, 100], `half_open_permits >= 1`,
    /// positive durations and `max_open_duration >= open_duration`.
    pub fn validate(&self) -> Result<(), String> {
        let mut p = toolhost_core::check::Problems::default();
        self.check("breaker", &mut p);
        p.into_string_result()
    }

    /// [`validate`](Self::validate), each problem named at `path`
    /// (`policy.breaker.open_duration_ms must be ≥ 1`).
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.window.check(&join(path, "window"), p);
        for (name, v) in [
            ("failure_rate_threshold", self.failure_rate_threshold),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            // 0 would open on every verdict, NaN never.
            p.require(v > 0.0 && v <= 100.0, join(path, name), "must be within (0, 100]");
        }
        p.at_least_one(u64::from(self.half_open_permits), join(path, "half_open_permits"));
        p.at_least_one(ms(self.open_duration), join(path, "open_duration_ms"));
        p.require(
            self.max_open_duration >= self.open_duration,
            join(path, "max_open_duration_ms"),
            format_args!("must be ≥ open_duration_ms ({})", ms(self.open_duration)),
        );
        p.at_least_one(ms(self.slow_call_duration), join(path, "slow_call_duration_ms"));
        p.at_least_one(ms(self.max_wait_in_half_open), join(path, "max_wait_in_half_open_ms"));
    }

    /// Whether `c` reaches either rate threshold (`>=`, resilience4j).
    fn exceeded(&self, c: Counts) -> bool {
        let reached = |part: u32, threshold: f64| f64::from(part) * 100.0 >= threshold * f64::from(c.calls);
        c.calls > 0
            && (reached(c.failures, self.failure_rate_threshold)
                || reached(c.slow, self.slow_call_rate_threshold))
    }

    fn permits(&self) -> u32 {
        self.half_open_permits.max(1)
    }
}

/// A breaker's state, as exported by the `tool_circuit_breaker_state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass and are observed.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A limited number of probe calls decide between closed and open.
    HalfOpen,
}

impl BreakerState {
    /// Gauge value: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// How a call admitted by a [`Permit`] ended, classified per resilience.md §0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The tool worked (slow if its duration exceeds `slow_call_duration`).
    Success,
    /// Transient guest error, host I/O error, timeout, trap, invalid output, …
    Failure,
    /// Caller errors, rejections by our own policies, upstream 429,
    /// cancellation: counted nowhere; releases a half-open probe slot.
    Ignored,
}

/// A call refused by an open (or fully probing half-open) breaker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit '{key}' is open; retry after {} ms", ceil_millis(*.retry_after))]
pub struct CircuitOpen {
    /// The breaker's key.
    pub key: String,
    /// Open: exactly `open_until − now`. Half-open with every probe slot taken:
    /// the time until `max_wait_in_half_open` forces a decision (an upper bound;
    /// the probes usually decide sooner). Never zero.
    pub retry_after: Duration,
}

/// Permission for one call through a breaker. Hand it back with
/// [`Breakers::record`]; dropping it unrecorded counts as [`Outcome::Ignored`]
/// and releases its half-open probe slot.
#[derive(Debug)]
#[must_use = "record the call's outcome with Breakers::record"]
pub struct Permit {
    key: String,
    generation: u64,
    probe: bool,
    /// Held by unrecorded probes: the state whose slot `Drop` releases.
    lease: Option<Arc<Shared>>,
}

impl Permit {
    /// The breaker key this permit belongs to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The breaker generation (number of transitions) the permit was issued in.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.lease.take() {
            let mut breakers = shared.lock();
            let now = shared.clock.now();
            if let Some(b) = breakers.get_mut(&self.key) {
                b.expire_half_open(now, &self.key);
                if b.generation == self.generation {
                    b.release_probe();
                }
            }
        }
    }
}

/// A point-in-time view of one breaker (for metrics and `/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerSnapshot {
    /// Current state (an overdue open breaker still reads `Open` until the
    /// next acquire moves it to half-open).
    pub state: BreakerState,
    /// Failures recorded since the breaker was created (stale ones included).
    pub failures: u64,
    /// Successes recorded since the breaker was created (stale ones included).
    pub successes: u64,
    /// Calls rejected since the breaker was created.
    pub rejected: u64,
    /// Consecutive trips since the last close (the open-duration multiplier).
    pub trips: u32,
    /// While open: `open_until − now` (zero once due); `None` otherwise.
    /// Serialized as `retry_after_ms`, rounded up.
    #[serde(rename = "retry_after_ms", serialize_with = "serde_ms::serialize_opt")]
    pub retry_after: Option<Duration>,
}

/// Keyed circuit breakers sharing one clock. Cloning yields another handle to
/// the same breakers.
#[derive(Debug, Clone)]
pub struct Breakers {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    clock: Arc<dyn Clock>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Breaker>> {
        // Updates never leave a breaker half-written, so a poisoned lock is still consistent.
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Breakers {
    /// No breakers yet; each key's breaker is created closed on first acquire.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Breakers { shared: Arc::new(Shared { clock, breakers: Mutex::new(HashMap::new()) }) }
    }

    /// Asks `key`'s breaker for permission to make one call under `cfg`.
    ///
    /// `cfg` is the key's current policy; if it differs from the one last used
    /// (hot reload), it replaces it: a changed window starts empty, and a
    /// half-open breaker restarts its half-open phase.
    pub fn acquire(&self, key: &str, cfg: &BreakerConfig) -> Result<Permit, CircuitOpen> {
        let mut breakers = self.shared.lock();
        let now = self.shared.clock.now();
        if !breakers.contains_key(key) {
            breakers.insert(key.to_owned(), Breaker::new(cfg, now));
        }
        let b = breakers.get_mut(key).expect("inserted above");
        b.configure(cfg, now, key);
        b.expire_half_open(now, key);
        if let State::Open { until } = b.state
            && now >= until
        {
            b.half_open(now, key);
        }
        let verdict = match &mut b.state {
            State::Closed => Ok(false),
            State::Open { until } => Err(until.saturating_duration_since(now)),
            State::HalfOpen { since, outstanding, probes } => {
                if *outstanding + probes.calls < b.cfg.permits() {
                    *outstanding += 1;
                    Ok(true)
                } else {
                    Err(instant_after(*since, b.cfg.max_wait_in_half_open).saturating_duration_since(now))
                }
            }
        };
        match verdict {
            Ok(probe) => Ok(Permit {
                key: key.to_owned(),
                generation: b.generation,
                probe,
                lease: probe.then(|| Arc::clone(&self.shared)),
            }),
            Err(retry_after) => {
                b.rejected += 1;
                Err(CircuitOpen { key: key.to_owned(), retry_after })
            }
        }
    }

    /// Records how the call admitted by `permit` ended; `duration` decides
    /// whether it was slow. Outcomes of stale permits (issued before the
    /// breaker's latest transition) are counted in the totals but change nothing.
    pub fn record(&self, mut permit: Permit, outcome: Outcome, duration: Duration) {
        permit.lease = None; // the slot is released here, not by Drop
        let mut breakers = self.shared.lock();
        let now = self.shared.clock.now();
        let Some(b) = breakers.get_mut(&permit.key) else {
            return;
        };
        b.expire_half_open(now, &permit.key);
        let current = permit.generation == b.generation;
        if current && permit.probe {
            b.release_probe();
        }
        let failed = match outcome {
            Outcome::Ignored => return,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        if failed {
            b.failures += 1;
        } else {
            b.successes += 1;
        }
        if current {
            let slow = duration > b.cfg.slow_call_duration;
            b.observe(
                now,
                Counts { calls: 1, failures: u32::from(failed), slow: u32::from(slow) },
                &permit.key,
            );
        }
    }

    /// A view of `key`'s breaker, if it exists.
    pub fn snapshot(&self, key: &str) -> Option<BreakerSnapshot> {
        let mut breakers = self.shared.lock();
        let now = self.shared.clock.now();
        let b = breakers.get_mut(key)?;
        b.expire_half_open(now, key);
        Some(b.snapshot(now))
    }

    /// Forgets `key`'s breaker: its next call finds it closed with an empty
    /// window. Returns whether it existed.
    pub fn reset(&self, key: &str) -> bool {
        self.shared.lock().remove(key).is_some()
    }

    /// Views of every breaker, sorted by key.
    pub fn snapshots(&self) -> Vec<(String, BreakerSnapshot)> {
        let mut breakers = self.shared.lock();
        let now = self.shared.clock.now();
        let mut all: Vec<_> = breakers
            .iter_mut()
            .map(|(key, b)| {
                b.expire_half_open(now, key);
                (key.clone(), b.snapshot(now))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Calls, failures and slow calls of a set of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.calls += o.calls;
        self.failures += o.failures;
        self.slow += o.slow;
    }

    fn sub(&mut self, o: Counts) {
        self.calls -= o.calls;
        self.failures -= o.failures;
        self.slow -= o.slow;
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { since: Instant, outstanding: u32, probes: Counts },
}

/// The closed state's window (see [`Window`]).
#[derive(Debug)]
enum Outcomes {
    Consecutive { size: u32, failures: u32, slow: u32 },
    Count { size: usize, ring: VecDeque<Counts>, totals: Counts },
    Time { origin: Instant, head: u64, buckets: Box<[Counts]>, totals: Counts },
}

impl Outcomes {
    fn new(window: Window, now: Instant) -> Self {
        match window {
            Window::Consecutive(n) => Outcomes::Consecutive { size: n.max(1), failures: 0, slow: 0 },
            Window::Count(n) => {
                Outcomes::Count { size: n.max(1) as usize, ring: VecDeque::new(), totals: Counts::default() }
            }
            Window::Time(d) => Outcomes::Time {
                origin: now,
                head: 0,
                buckets: vec![Counts::default(); window_secs(d) as usize].into_boxed_slice(),
                totals: Counts::default(),
            },
        }
    }

    /// Adds one outcome (`s.calls == 1`); O(1) amortized.
    fn record(&mut self, now: Instant, s: Counts) {
        match self {
            Outcomes::Consecutive { failures, slow, .. } => {
                *failures = if s.failures > 0 { failures.saturating_add(1) } else { 0 };
                *slow = if s.slow > 0 { slow.saturating_add(1) } else { 0 };
            }
            Outcomes::Count { size, ring, totals } => {
                if ring.len() == *size
                    && let Some(old) = ring.pop_front()
                {
                    totals.sub(old);
                }
                ring.push_back(s);
                totals.add(s);
            }
            Outcomes::Time { origin, head, buckets, totals } => {
                let n = buckets.len() as u64;
                let sec = now.saturating_duration_since(*origin).as_secs();
                if sec > *head {
                    // Evict the seconds that left the window: (head, sec], at most n buckets.
                    for second in sec - (sec - *head).min(n) + 1..=sec {
                        let bucket = &mut buckets[(second % n) as usize];
                        totals.sub(*bucket);
                        *bucket = Counts::default();
                    }
                    *head = sec;
                }
                buckets[(*head % n) as usize].add(s);
                totals.add(s);
            }
        }
    }

    /// The closed-state verdict after the latest [`record`](Self::record).
    fn should_open(&self, cfg: &BreakerConfig) -> bool {
        match self {
            Outcomes::Consecutive { size, failures, slow } => failures >= size || slow >= size,
            Outcomes::Count { size, totals, .. } => {
                totals.calls as usize >= (cfg.minimum_calls as usize).min(*size) && cfg.exceeded(*totals)
            }
            Outcomes::Time { totals, .. } => totals.calls >= cfg.minimum_calls && cfg.exceeded(*totals),
        }
    }
}

/// One key's breaker.
#[derive(Debug)]
struct Breaker {
    cfg: BreakerConfig,
    state: State,
    /// Incremented on every transition; permits of older generations are stale.
    generation: u64,
    trips: u32,
    window: Outcomes,
    failures: u64,
    successes: u64,
    rejected: u64,
}

impl Breaker {
    fn new(cfg: &BreakerConfig, now: Instant) -> Self {
        Breaker {
            cfg: cfg.clone(),
            state: State::Closed,
            generation: 0,
            trips: 0,
            window: Outcomes::new(cfg.window, now),
            failures: 0,
            successes: 0,
            rejected: 0,
        }
    }

    fn configure(&mut self, cfg: &BreakerConfig, now: Instant, key: &str) {
        if self.cfg == *cfg {
            return;
        }
        if self.cfg.window != cfg.window {
            self.window = Outcomes::new(cfg.window, now);
        }
        self.cfg = cfg.clone();
        if let State::HalfOpen { .. } = self.state {
            self.half_open(now, key);
        }
    }

    /// Half-open with outstanding probes past `max_wait_in_half_open`: reopen as
    /// of that deadline.
    fn expire_half_open(&mut self, now: Instant, key: &str) {
        if let State::HalfOpen { since, outstanding, .. } = self.state
            && outstanding > 0
        {
            let deadline = instant_after(since, self.cfg.max_wait_in_half_open);
            if now >= deadline {
                tracing::warn!(key, outstanding, "circuit breaker probes outlived max_wait_in_half_open");
                self.trip(deadline, key);
            }
        }
    }

    fn release_probe(&mut self) {
        if let State::HalfOpen { outstanding, .. } = &mut self.state {
            *outstanding = outstanding.saturating_sub(1);
        }
    }

    /// A current-generation, non-ignored outcome.
    fn observe(&mut self, now: Instant, sample: Counts, key: &str) {
        match &mut self.state {
            State::Closed => {
                self.window.record(now, sample);
                if self.window.should_open(&self.cfg) {
                    self.trip(now, key);
                }
            }
            State::HalfOpen { probes, .. } => {
                probes.add(sample);
                let probes = *probes;
                let reopen = match self.cfg.window {
                    Window::Consecutive(_) => probes.failures > 0 || probes.slow > 0,
                    _ => probes.calls >= self.cfg.permits() && self.cfg.exceeded(probes),
                };
                if reopen {
                    self.trip(now, key);
                } else if probes.calls >= self.cfg.permits() {
                    self.close(now, key);
                }
            }
            // No permit is ever issued in the open state's generation.
            State::Open { .. } => {}
        }
    }

    fn trip(&mut self, at: Instant, key: &str) {
        self.trips = self.trips.saturating_add(1);
        let open_for = self.cfg.open_duration.saturating_mul(self.trips).min(self.cfg.max_open_duration);
        self.state = State::Open { until: instant_after(at, open_for) };
        self.generation += 1;
        tracing::warn!(key, trips = self.trips, open_ms = ceil_millis(open_for), "circuit breaker opened");
    }

    fn half_open(&mut self, now: Instant, key: &str) {
        self.state = State::HalfOpen { since: now, outstanding: 0, probes: Counts::default() };
        self.generation += 1;
        tracing::info!(key, "circuit breaker half-open");
    }

    fn close(&mut self, now: Instant, key: &str) {
        self.state = State::Closed;
        self.trips = 0;
        self.window = Outcomes::new(self.cfg.window, now);
        self.generation += 1;
        tracing::info!(key, "circuit breaker closed");
    }

    fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let (state, retry_after) = match self.state {
            State::Closed => (BreakerState::Closed, None),
            State::Open { until } => (BreakerState::Open, Some(until.saturating_duration_since(now))),
            State::HalfOpen { .. } => (BreakerState::HalfOpen, None),
        };
        BreakerSnapshot {
            state,
            failures: self.failures,
            successes: self.successes,
            rejected: self.rejected,
            trips: self.trips,
            retry_after,
        }
    }
}

/// `at + d`; a duration too large for `Instant` is clamped to a year.
fn instant_after(at: Instant, d: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    at.checked_add(d).unwrap_or_else(|| at + YEAR)
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;
    use Outcome::{Failure, Ignored, Success};
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    fn setup() -> (ManualClock, Breakers) {
        let clock = ManualClock::new();
        (clock.clone(), Breakers::new(Arc::new(clock)))
    }

    /// Acquire + record on key "k" with a fast (1 ms) call.
    fn call(b: &Breakers, cfg: &BreakerConfig, outcome: Outcome) -> Result<(), CircuitOpen> {
        call_taking(b, cfg, outcome, MS)
    }

    fn call_taking(
        b: &Breakers,
        cfg: &BreakerConfig,
        outcome: Outcome,
        d: Duration,
    ) -> Result<(), CircuitOpen> {
        let p = b.acquire("k", cfg)?;
        b.record(p, outcome, d);
        Ok(())
    }

    fn snap(b: &Breakers) -> BreakerSnapshot {
        b.snapshot("k").expect("breaker exists")
    }

    fn state(b: &Breakers) -> BreakerState {
        snap(b).state
    }

    fn rate_cfg(window: Window, minimum_calls: u32) -> BreakerConfig {
        BreakerConfig { window, minimum_calls, ..BreakerConfig::default() }
    }

    /// Opens the default (Consecutive(5)) breaker on "k".
    fn trip_default(b: &Breakers) {
        for _ in 0..5 {
            call(b, &BreakerConfig::default(), Failure).unwrap();
        }
        assert_eq!(state(b), BreakerState::Open);
    }

    #[test]
    fn defaults_are_chuk_compatible() {
        let c = BreakerConfig::default();
        assert_eq!(c.window, Window::Consecutive(5));
        assert_eq!(c.minimum_calls, 5);
        assert_eq!((c.failure_rate_threshold, c.slow_call_rate_threshold), (50.0, 100.0));
        assert_eq!(c.slow_call_duration, 60 * SEC);
        assert_eq!((c.open_duration, c.max_open_duration), (60 * SEC, 300 * SEC));
        assert_eq!(c.half_open_permits, 1);
        assert_eq!(c.max_wait_in_half_open, 120 * SEC);
        c.validate().unwrap();
    }

    #[test]
    fn config_deserializes_with_defaults_and_millis() {
        use serde::de::value::{Error, MapDeserializer};
        let parse = |pairs: Vec<(&'static str, u64)>| {
            BreakerConfig::deserialize(MapDeserializer::<_, Error>::new(pairs.into_iter()))
        };
        assert_eq!(parse(vec![]).unwrap(), BreakerConfig::default());
        let c = parse(vec![("minimum_calls", 7), ("open_duration_ms", 1500), ("failure_rate_threshold", 30)])
            .unwrap();
        assert_eq!((c.minimum_calls, c.open_duration, c.failure_rate_threshold), (7, 1500 * MS, 30.0));
        assert_eq!(c.max_open_duration, 300 * SEC, "unset fields keep their defaults");
        assert!(parse(vec![("open_duration", 1)]).is_err(), "durations are *_ms keys");
    }

    #[test]
    fn window_repr_round_trips_and_validates() {
        for w in [Window::Consecutive(5), Window::Count(20), Window::Time(60 * SEC)] {
            assert_eq!(Window::try_from(WindowRepr::from(w)), Ok(w));
        }
        assert!(matches!(WindowRepr::from(Window::Time(1500 * MS)), WindowRepr::Time { secs: 2 }));
        // Read as written; the config check refuses them with their key path.
        for (repr, field) in [
            (WindowRepr::Count { size: 0 }, "window.size"),
            (WindowRepr::Consecutive { size: 0 }, "window.size"),
            (WindowRepr::Time { secs: 0 }, "window.secs"),
            (WindowRepr::Time { secs: 3601 }, "window.secs"),
        ] {
            let window = Window::try_from(repr).unwrap();
            let e = BreakerConfig { window, ..Default::default() }.validate().unwrap_err();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn validate_rejects_bad_configs() {
        let bad = [
            BreakerConfig { failure_rate_threshold: 101.0, ..Default::default() },
            BreakerConfig { slow_call_rate_threshold: f64::NAN, ..Default::default() },
            BreakerConfig { half_open_permits: 0, ..Default::default() },
            BreakerConfig { open_duration: Duration::ZERO, ..Default::default() },
            BreakerConfig { max_open_duration: 30 * SEC, ..Default::default() },
            BreakerConfig { window: Window::Count(0), ..Default::default() },
            BreakerConfig { failure_rate_threshold: 0.0, ..Default::default() },
            BreakerConfig { slow_call_duration: Duration::ZERO, ..Default::default() },
            BreakerConfig { max_wait_in_half_open: Duration::ZERO, ..Default::default() },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn gauge_values() {
        assert_eq!(BreakerState::Closed.as_gauge(), 0);
        assert_eq!(BreakerState::Open.as_gauge(), 1);
        assert_eq!(BreakerState::HalfOpen.as_gauge(), 2);
    }

    #[test]
    fn consecutive_failures_open_and_reject_with_retry_after() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        for _ in 0..4 {
            call(&b, &cfg, Failure).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed);
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
        let err = b.acquire("k", &cfg).unwrap_err();
        assert_eq!(err, CircuitOpen { key: "k".into(), retry_after: 60 * SEC });
        assert_eq!(err.to_string(), "circuit 'k' is open; retry after 60000 ms");
        clock.advance(10 * SEC + MS / 2);
        assert_eq!(b.acquire("k", &cfg).unwrap_err().retry_after, 50 * SEC - MS / 2);
        let s = snap(&b);
        assert_eq!((s.failures, s.successes, s.rejected, s.trips), (5, 0, 2, 1));
        assert_eq!(s.retry_after, Some(50 * SEC - MS / 2));
    }

    #[test]
    fn success_resets_consecutive_streak() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig::default();
        for o in [Failure, Failure, Failure, Failure, Success, Failure, Failure, Failure, Failure] {
            call(&b, &cfg, o).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed);
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn open_becomes_half_open_lazily() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        clock.advance(60 * SEC - MS);
        assert!(b.acquire("k", &cfg).is_err());
        clock.advance(MS);
        // Due, but nothing moves until the next acquire.
        assert_eq!((state(&b), snap(&b).retry_after), (BreakerState::Open, Some(Duration::ZERO)));
        let probe = b.acquire("k", &cfg).unwrap();
        assert!(probe.is_probe());
        assert_eq!(state(&b), BreakerState::HalfOpen);
        // One permit: the next caller waits at most max_wait_in_half_open.
        assert_eq!(b.acquire("k", &cfg).unwrap_err().retry_after, 120 * SEC);
        b.record(probe, Success, MS);
    }

    #[test]
    fn half_open_success_closes_and_resets() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        clock.advance(60 * SEC);
        call(&b, &cfg, Success).unwrap();
        let s = snap(&b);
        assert_eq!((s.state, s.trips, s.retry_after), (BreakerState::Closed, 0, None));
        // Window reset: four failures do not open, the fifth opens with the base duration.
        for _ in 0..4 {
            call(&b, &cfg, Failure).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed);
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(snap(&b).retry_after, Some(60 * SEC));
    }

    #[test]
    fn half_open_failure_reopens_with_backoff_capped() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        let mut open_for = 60 * SEC;
        for trips in 2..=7u32 {
            clock.advance(open_for);
            call(&b, &cfg, Failure).unwrap();
            let s = snap(&b);
            open_for = (60 * SEC * trips).min(300 * SEC);
            assert_eq!((s.state, s.trips, s.retry_after), (BreakerState::Open, trips, Some(open_for)));
        }
        assert_eq!(open_for, 300 * SEC, "capped at max_open_duration");
    }

    #[test]
    fn count_window_needs_minimum_calls() {
        let (_clock, b) = setup();
        let cfg = rate_cfg(Window::Count(10), 4);
        for _ in 0..3 {
            call(&b, &cfg, Failure).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed, "3 of 3 failed, but below minimum_calls");
        call(&b, &cfg, Success).unwrap();
        assert_eq!(state(&b), BreakerState::Open, "75 % >= 50 %");

        let (_clock, b) = setup();
        for o in [Success, Failure, Success] {
            call(&b, &cfg, o).unwrap();
        }
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open, "exactly 50 % opens (>=)");
    }

    #[test]
    fn count_window_minimum_clamped_to_size() {
        let (_clock, b) = setup();
        let cfg = rate_cfg(Window::Count(3), 100);
        call(&b, &cfg, Failure).unwrap();
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Closed);
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn count_window_slides() {
        let (_clock, b) = setup();
        let cfg = rate_cfg(Window::Count(4), 4);
        for o in [Failure, Success, Success, Success, Success, Failure] {
            call(&b, &cfg, o).unwrap();
            assert_eq!(state(&b), BreakerState::Closed);
        }
        call(&b, &cfg, Failure).unwrap(); // window S S F F
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn time_window_evicts_old_buckets() {
        let cfg = rate_cfg(Window::Time(10 * SEC), 4);
        // Three failures, then a success 9.9 s later: all four in the window.
        let (clock, b) = setup();
        for _ in 0..3 {
            call(&b, &cfg, Failure).unwrap();
        }
        clock.advance(9900 * MS);
        call(&b, &cfg, Success).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
        // Same, 10 s later: the failures' second has left the window.
        let (clock, b) = setup();
        for _ in 0..3 {
            call(&b, &cfg, Failure).unwrap();
        }
        clock.advance(10 * SEC);
        call(&b, &cfg, Success).unwrap();
        assert_eq!(state(&b), BreakerState::Closed);
        for _ in 0..2 {
            call(&b, &cfg, Failure).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed, "3 calls in the window");
        clock.advance(3600 * SEC); // far beyond the window: every bucket cleared
        for _ in 0..3 {
            call(&b, &cfg, Success).unwrap();
        }
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Closed, "25 %");
    }

    #[test]
    fn slow_calls_open_rate_window() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig {
            slow_call_rate_threshold: 50.0,
            slow_call_duration: 100 * MS,
            ..rate_cfg(Window::Count(4), 4)
        };
        call_taking(&b, &cfg, Success, 100 * MS).unwrap(); // not slow: > is strict
        call_taking(&b, &cfg, Success, 100 * MS).unwrap();
        call_taking(&b, &cfg, Success, 101 * MS).unwrap();
        call_taking(&b, &cfg, Success, MS).unwrap();
        assert_eq!(state(&b), BreakerState::Closed, "25 % slow");
        call_taking(&b, &cfg, Failure, 5 * SEC).unwrap(); // slow failures count as slow
        assert_eq!(state(&b), BreakerState::Open, "50 % slow");
        assert_eq!(snap(&b).failures, 1);
    }

    #[test]
    fn consecutive_slow_calls_open() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig {
            window: Window::Consecutive(3),
            slow_call_duration: 100 * MS,
            ..Default::default()
        };
        call_taking(&b, &cfg, Success, SEC).unwrap();
        call_taking(&b, &cfg, Success, SEC).unwrap();
        call_taking(&b, &cfg, Success, MS).unwrap();
        call_taking(&b, &cfg, Success, SEC).unwrap();
        call_taking(&b, &cfg, Success, SEC).unwrap();
        assert_eq!(state(&b), BreakerState::Closed);
        call_taking(&b, &cfg, Success, SEC).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn ignored_outcomes_never_trip() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig { window: Window::Consecutive(1), ..Default::default() };
        for _ in 0..100 {
            call_taking(&b, &cfg, Ignored, 3600 * SEC).unwrap();
            drop(b.acquire("k", &cfg).unwrap());
        }
        let s = snap(&b);
        assert_eq!((s.state, s.failures, s.successes, s.rejected), (BreakerState::Closed, 0, 0, 0));
        // Ignored between failures does not break a streak either.
        let cfg = BreakerConfig { window: Window::Consecutive(2), ..Default::default() };
        call(&b, &cfg, Failure).unwrap();
        call(&b, &cfg, Ignored).unwrap();
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn rejections_never_trip() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        for _ in 0..1000 {
            assert!(b.acquire("k", &cfg).is_err());
        }
        let s = snap(&b);
        assert_eq!((s.rejected, s.trips, s.retry_after), (1000, 1, Some(60 * SEC)));
        clock.advance(60 * SEC);
        call(&b, &cfg, Success).unwrap();
        assert_eq!((snap(&b).state, snap(&b).trips), (BreakerState::Closed, 0));
    }

    #[test]
    fn stale_outcomes_are_ignored() {
        let (clock, b) = setup();
        let cfg = BreakerConfig { window: Window::Consecutive(2), ..Default::default() };
        let p: Vec<Permit> = (0..4).map(|_| b.acquire("k", &cfg).unwrap()).collect();
        let mut p = p.into_iter();
        b.record(p.next().unwrap(), Failure, MS);
        b.record(p.next().unwrap(), Failure, MS);
        assert_eq!(snap(&b).trips, 1);
        clock.advance(10 * SEC);
        // Admitted before the trip: counted, but neither re-trips nor extends the open period.
        b.record(p.next().unwrap(), Failure, MS);
        let s = snap(&b);
        assert_eq!((s.state, s.trips, s.failures, s.retry_after), (BreakerState::Open, 1, 3, Some(50 * SEC)));
        clock.advance(50 * SEC);
        let probe = b.acquire("k", &cfg).unwrap();
        // A stale success cannot close a half-open breaker.
        b.record(p.next().unwrap(), Success, MS);
        assert_eq!(state(&b), BreakerState::HalfOpen);
        b.record(probe, Failure, MS);
        assert_eq!((state(&b), snap(&b).trips), (BreakerState::Open, 2));
    }

    #[test]
    fn dropped_probe_releases_slot() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        clock.advance(60 * SEC);
        let probe = b.acquire("k", &cfg).unwrap();
        assert!(b.acquire("k", &cfg).is_err());
        drop(probe); // cancelled before it ran
        assert_eq!(state(&b), BreakerState::HalfOpen);
        let probe = b.acquire("k", &cfg).unwrap();
        b.record(probe, Success, MS);
        assert_eq!(state(&b), BreakerState::Closed);
    }

    #[test]
    fn ignored_probe_releases_slot() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        clock.advance(60 * SEC);
        call(&b, &cfg, Ignored).unwrap();
        assert_eq!(state(&b), BreakerState::HalfOpen);
        call(&b, &cfg, Failure).unwrap();
        assert_eq!((state(&b), snap(&b).trips), (BreakerState::Open, 2));
    }

    #[test]
    fn half_open_limits_probes_and_waits_for_all() {
        let (clock, b) = setup();
        let cfg = BreakerConfig { half_open_permits: 3, ..rate_cfg(Window::Count(4), 2) };
        call(&b, &cfg, Failure).unwrap();
        call(&b, &cfg, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
        for (outcomes, reopens) in [([Failure, Failure, Success], true), ([Failure, Success, Success], false)]
        {
            clock.advance(snap(&b).retry_after.unwrap_or_default());
            let probes: Vec<Permit> = (0..3).map(|_| b.acquire("k", &cfg).unwrap()).collect();
            assert!(probes.iter().all(Permit::is_probe));
            assert!(b.acquire("k", &cfg).is_err(), "at most 3 concurrent probes");
            for (i, (p, o)) in probes.into_iter().zip(outcomes).enumerate() {
                b.record(p, o, MS);
                if i < 2 {
                    assert_eq!(state(&b), BreakerState::HalfOpen, "decided only when all probes are in");
                }
            }
            let expected = if reopens { BreakerState::Open } else { BreakerState::Closed };
            assert_eq!(state(&b), expected);
        }
    }

    #[test]
    fn consecutive_half_open_reopens_on_first_failure() {
        let (clock, b) = setup();
        let cfg = BreakerConfig { half_open_permits: 2, ..Default::default() };
        trip_default(&b);
        clock.advance(60 * SEC);
        let p1 = b.acquire("k", &cfg).unwrap();
        let p2 = b.acquire("k", &cfg).unwrap();
        b.record(p1, Failure, MS);
        assert_eq!((state(&b), snap(&b).trips), (BreakerState::Open, 2));
        b.record(p2, Success, MS); // stale now
        assert_eq!(state(&b), BreakerState::Open);
        // Closing needs every probe to succeed.
        clock.advance(120 * SEC);
        call(&b, &cfg, Success).unwrap();
        assert_eq!(state(&b), BreakerState::HalfOpen);
        call(&b, &cfg, Success).unwrap();
        assert_eq!(state(&b), BreakerState::Closed);
    }

    #[test]
    fn half_open_max_wait_forces_reopen() {
        let (clock, b) = setup();
        let cfg = BreakerConfig::default();
        trip_default(&b);
        clock.advance(60 * SEC);
        let stuck = b.acquire("k", &cfg).unwrap();
        clock.advance(120 * SEC - MS);
        assert_eq!(b.acquire("k", &cfg).unwrap_err().retry_after, MS);
        clock.advance(MS);
        // Reopened as of the deadline, with the backed-off duration.
        let s = snap(&b);
        assert_eq!((s.state, s.trips, s.retry_after), (BreakerState::Open, 2, Some(120 * SEC)));
        b.record(stuck, Success, MS); // the late probe is stale
        assert_eq!(state(&b), BreakerState::Open);
        // Lazily: a probe first seen long after the deadline reopened as of the deadline.
        clock.advance(120 * SEC);
        let stuck = b.acquire("k", &cfg).unwrap();
        clock.advance(1000 * SEC);
        drop(stuck);
        let s = snap(&b);
        assert_eq!((s.state, s.trips, s.retry_after), (BreakerState::Open, 3, Some(Duration::ZERO)));
    }

    #[test]
    fn keys_are_independent() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig { window: Window::Consecutive(1), ..Default::default() };
        let p = b.acquire("acme:x", &cfg).unwrap();
        b.record(p, Failure, MS);
        assert!(b.acquire("acme:x", &cfg).is_err());
        let p = b.acquire("globex:x", &cfg).unwrap();
        b.record(p, Success, MS);
        let all = b.snapshots();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["acme:x", "globex:x"]);
        assert_eq!((all[0].1.state, all[1].1.state), (BreakerState::Open, BreakerState::Closed));
        assert!(b.snapshot("initech:x").is_none());
    }

    #[test]
    fn config_change_resets_window() {
        let (_clock, b) = setup();
        let cfg = BreakerConfig::default();
        for _ in 0..4 {
            call(&b, &cfg, Failure).unwrap();
        }
        let relaxed = BreakerConfig { window: Window::Consecutive(6), ..Default::default() };
        for _ in 0..5 {
            call(&b, &relaxed, Failure).unwrap();
        }
        assert_eq!(state(&b), BreakerState::Closed, "the new window starts empty");
        call(&b, &relaxed, Failure).unwrap();
        assert_eq!(state(&b), BreakerState::Open);
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Breakers>();
        check::<Permit>();
    }

    // ---- Reference model (Consecutive, Count and Time windows), written plainly. ----

    #[derive(Debug, Clone, Copy)]
    struct ModelPermit {
        generation: u64,
        probe: bool,
    }

    #[derive(Debug)]
    struct Model {
        cfg: BreakerConfig,
        state: BreakerState,
        generation: u64,
        trips: u32,
        open_until: Instant,
        half_open_since: Instant,
        window_start: Instant,
        /// Closed-state outcomes since the last close: (at, failed, slow).
        history: Vec<(Instant, bool, bool)>,
        /// Half-open probe outcomes: (failed, slow).
        probes: Vec<(bool, bool)>,
        outstanding: u32,
        failures: u64,
        successes: u64,
        rejected: u64,
    }

    impl Model {
        fn new(cfg: BreakerConfig, now: Instant) -> Model {
            Model {
                cfg,
                state: BreakerState::Closed,
                generation: 0,
                trips: 0,
                open_until: now,
                half_open_since: now,
                window_start: now,
                history: Vec::new(),
                probes: Vec::new(),
                outstanding: 0,
                failures: 0,
                successes: 0,
                rejected: 0,
            }
        }

        fn tick(&mut self, now: Instant) {
            let deadline = self.half_open_since + self.cfg.max_wait_in_half_open;
            if self.state == BreakerState::HalfOpen && self.outstanding > 0 && now >= deadline {
                self.open(deadline);
            }
        }

        fn open(&mut self, at: Instant) {
            self.trips += 1;
            let mut open_for = self.cfg.open_duration * self.trips;
            if open_for > self.cfg.max_open_duration {
                open_for = self.cfg.max_open_duration;
            }
            self.open_until = at + open_for;
            self.state = BreakerState::Open;
            self.generation += 1;
        }

        fn close(&mut self, now: Instant) {
            self.state = BreakerState::Closed;
            self.trips = 0;
            self.history.clear();
            self.window_start = now;
            self.generation += 1;
        }

        fn acquire(&mut self, now: Instant) -> Result<ModelPermit, Duration> {
            self.tick(now);
            if self.state == BreakerState::Open && now >= self.open_until {
                self.state = BreakerState::HalfOpen;
                self.half_open_since = now;
                self.outstanding = 0;
                self.probes.clear();
                self.generation += 1;
            }
            match self.state {
                BreakerState::Closed => Ok(ModelPermit { generation: self.generation, probe: false }),
                BreakerState::Open => {
                    self.rejected += 1;
                    Err(self.open_until - now)
                }
                BreakerState::HalfOpen => {
                    if self.outstanding as usize + self.probes.len() < self.cfg.half_open_permits as usize {
                        self.outstanding += 1;
                        Ok(ModelPermit { generation: self.generation, probe: true })
                    } else {
                        self.rejected += 1;
                        Err(self.half_open_since + self.cfg.max_wait_in_half_open - now)
                    }
                }
            }
        }

        fn drop_permit(&mut self, p: ModelPermit, now: Instant) {
            self.tick(now);
            if p.probe && p.generation == self.generation {
                self.outstanding -= 1;
            }
        }

        fn record(&mut self, p: ModelPermit, outcome: Outcome, duration: Duration, now: Instant) {
            self.tick(now);
            let current = p.generation == self.generation;
            if p.probe && current {
                self.outstanding -= 1;
            }
            let failed = match outcome {
                Ignored => return,
                Success => {
                    self.successes += 1;
                    false
                }
                Failure => {
                    self.failures += 1;
                    true
                }
            };
            if !current {
                return;
            }
            let slow = duration > self.cfg.slow_call_duration;
            if self.state == BreakerState::Closed {
                self.history.push((now, failed, slow));
                if self.closed_verdict(now) {
                    self.open(now);
                }
            } else {
                self.probes.push((failed, slow));
                let all_in = self.probes.len() == self.cfg.half_open_permits as usize;
                let reopen = match self.cfg.window {
                    Window::Consecutive(_) => self.probes.iter().any(|&(f, s)| f || s),
                    _ => all_in && self.rates_exceeded(&self.probes),
                };
                if reopen {
                    self.open(now);
                } else if all_in {
                    self.close(now);
                }
            }
        }

        fn closed_verdict(&self, now: Instant) -> bool {
            let min_calls = self.cfg.minimum_calls as usize;
            match self.cfg.window {
                Window::Consecutive(n) => {
                    let failures = self.history.iter().rev().take_while(|e| e.1).count();
                    let slow = self.history.iter().rev().take_while(|e| e.2).count();
                    failures >= n as usize || slow >= n as usize
                }
                Window::Count(n) => {
                    let last: Vec<(bool, bool)> =
                        self.history.iter().rev().take(n as usize).map(|e| (e.1, e.2)).collect();
                    last.len() >= min_calls.min(n as usize) && self.rates_exceeded(&last)
                }
                Window::Time(d) => {
                    let second = |t: Instant| (t - self.window_start).as_secs();
                    let recent: Vec<(bool, bool)> = self
                        .history
                        .iter()
                        .filter(|e| second(e.0) + d.as_secs() > second(now))
                        .map(|e| (e.1, e.2))
                        .collect();
                    recent.len() >= min_calls && self.rates_exceeded(&recent)
                }
            }
        }

        fn rates_exceeded(&self, outcomes: &[(bool, bool)]) -> bool {
            if outcomes.is_empty() {
                return false;
            }
            let percent = |n: usize| 100.0 * n as f64 / outcomes.len() as f64;
            percent(outcomes.iter().filter(|o| o.0).count()) >= self.cfg.failure_rate_threshold
                || percent(outcomes.iter().filter(|o| o.1).count()) >= self.cfg.slow_call_rate_threshold
        }

        fn snapshot(&mut self, now: Instant) -> BreakerSnapshot {
            self.tick(now);
            BreakerSnapshot {
                state: self.state,
                failures: self.failures,
                successes: self.successes,
                rejected: self.rejected,
                trips: self.trips,
                retry_after: (self.state == BreakerState::Open)
                    .then(|| self.open_until.saturating_duration_since(now)),
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Advance(u32),
        /// Acquire and record at once.
        Call(Outcome, u32),
        /// Acquire and keep the permit.
        Hold,
        /// Record a held permit (index modulo the number held).
        Finish(usize, Outcome, u32),
        /// Drop a held permit unrecorded.
        Release(usize),
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![3 => Just(Failure), 3 => Just(Success), 1 => Just(Ignored)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..400).prop_map(Op::Advance),
            1 => (0u32..2500).prop_map(Op::Advance),
            6 => (outcome(), 0u32..100).prop_map(|(o, d)| Op::Call(o, d)),
            2 => Just(Op::Hold),
            2 => (any::<usize>(), outcome(), 0u32..100).prop_map(|(i, o, d)| Op::Finish(i, o, d)),
            1 => any::<usize>().prop_map(Op::Release),
        ]
    }

    fn config() -> impl Strategy<Value = BreakerConfig> {
        let window = prop_oneof![
            (1u32..4).prop_map(Window::Consecutive),
            (1u32..6).prop_map(Window::Count),
            (1u64..4).prop_map(|s| Window::Time(Duration::from_secs(s))),
        ];
        let percent = || prop::sample::select(vec![0.0, 25.0, 50.0, 50.0, 75.0, 100.0, 100.0]);
        (window, 0u32..7, percent(), percent(), 1u32..4, 1u32..4, 1u32..4, 1u32..7).prop_map(
            |(window, minimum_calls, failure, slow, open, cap, permits, wait)| BreakerConfig {
                window,
                minimum_calls,
                failure_rate_threshold: failure,
                slow_call_rate_threshold: slow,
                slow_call_duration: 50 * MS,
                open_duration: 100 * MS * open,
                max_open_duration: 100 * MS * open * cap,
                half_open_permits: permits,
                max_wait_in_half_open: 100 * MS * wait,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The breaker and the plain model agree on every decision and snapshot.
        #[test]
        fn matches_reference_model(cfg in config(), ops in proptest::collection::vec(op(), 1..150)) {
            let (clock, real) = setup();
            let mut model = Model::new(cfg.clone(), clock.now());
            drop(real.acquire("k", &cfg).unwrap()); // create the breaker at the model's start
            let mut held: Vec<(Permit, ModelPermit)> = Vec::new();
            for op in ops {
                let now = clock.now();
                match op {
                    Op::Advance(ms) => clock.advance(MS * ms),
                    Op::Call(..) | Op::Hold => {
                        let (r, m) = (real.acquire("k", &cfg), model.acquire(now));
                        prop_assert_eq!(
                            r.as_ref().map(|p| (p.is_probe(), p.generation())).map_err(|e| e.retry_after),
                            m.map(|p| (p.probe, p.generation))
                        );
                        if let (Ok(p), Ok(mp)) = (r, m) {
                            match op {
                                Op::Call(o, d) => {
                                    real.record(p, o, MS * d);
                                    model.record(mp, o, MS * d, now);
                                }
                                _ => held.push((p, mp)),
                            }
                        }
                    }
                    Op::Finish(i, o, d) if !held.is_empty() => {
                        let (p, mp) = held.remove(i % held.len());
                        real.record(p, o, MS * d);
                        model.record(mp, o, MS * d, now);
                    }
                    Op::Release(i) if !held.is_empty() => {
                        let (p, mp) = held.remove(i % held.len());
                        drop(p);
                        model.drop_permit(mp, now);
                    }
                    Op::Finish(..) | Op::Release(_) => {}
                }
                let now = clock.now();
                prop_assert_eq!(real.snapshot("k").unwrap(), model.snapshot(now));
                prop_assert!(model.outstanding <= cfg.half_open_permits);
            }
        }
    }
}
