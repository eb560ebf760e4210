//! The process-wide epoch ticker: one OS thread advancing the engine's epoch
//! on an absolute schedule (no drift), so every store's deadline is enforced
//! to within one tick. A dedicated thread, not a tokio task, so a busy runtime
//! cannot stall it.
//!
//! Health is "the ticker ticked recently": the time since its latest tick,
//! not the tick count against the elapsed time. After a stall (a suspended
//! VM, a starved CPU, `SIGSTOP`) the ticker skips the ticks it missed rather
//! than bursting, so a count would stay behind forever; the time since the
//! latest tick is small again as soon as it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// The ticker counts as stalled once its latest tick is older than this, or
/// than [`STALL_TICKS`] ticks, whichever is longer: a loaded machine may
/// delay one wake-up by tens of milliseconds without deadlines going wrong.
pub(crate) const STALL_FLOOR: Duration = Duration::from_secs(1);

/// Ticks without a tick that make the ticker stalled (when longer than [`STALL_FLOOR`]).
pub(crate) const STALL_TICKS: u32 = 10;

/// Handle to the ticker thread; stops it when dropped.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    ticks: Arc<AtomicU64>,
    /// Time of the latest tick, as nanoseconds since `started`.
    last_tick: Arc<AtomicU64>,
    started: Instant,
    tick: Duration,
    stall_after: Duration,
    /// Test hook: while set, the thread does not tick (a simulated stall).
    #[cfg(test)]
    hold: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> EpochTicker {
        Self::start_with(engine, tick, STALL_FLOOR)
    }

    /// A ticker that counts as stalled after `max(STALL_TICKS × tick, floor)` without a tick.
    pub(crate) fn start_with(engine: Engine, tick: Duration, floor: Duration) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let last_tick = Arc::new(AtomicU64::new(0));
        #[cfg(test)]
        let hold = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let thread = {
            let (stop, ticks, last_tick) = (stop.clone(), ticks.clone(), last_tick.clone());
            #[cfg(test)]
            let hold = hold.clone();
            std::thread::Builder::new()
                .name("toolhost-epoch".into())
                .spawn(move || {
                    let mut next = Instant::now() + tick;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        #[cfg(test)]
                        while hold.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(tick);
                        }
                        engine.increment_epoch();
                        ticks.fetch_add(1, Ordering::Relaxed);
                        last_tick.store(nanos_since(started), Ordering::Relaxed);
                        next += tick;
                        // After a long stall (suspended VM), do not burst-catch-up.
                        let now = Instant::now();
                        if now > next + tick * 10 {
                            next = now + tick;
                        }
                    }
                })
                .expect("spawn epoch ticker thread")
        };
        EpochTicker {
            stop,
            ticks,
            last_tick,
            started,
            tick,
            stall_after: (tick * STALL_TICKS).max(floor),
            #[cfg(test)]
            hold,
            thread: Some(thread),
        }
    }

    /// The tick period.
    pub(crate) fn tick(&self) -> Duration {
        self.tick
    }

    /// Ticks so far.
    #[allow(dead_code)]
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Time since the latest tick (since the start before the first one).
    pub(crate) fn since_last_tick(&self) -> Duration {
        let last = Duration::from_nanos(self.last_tick.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// True while the latest tick is older than `max(10 ticks, 1 s)`:
    /// deadlines would not fire. Clears by itself once the ticker runs again.
    pub(crate) fn is_stalled(&self) -> bool {
        self.since_last_tick() > self.stall_after
    }

    /// Deadline in ticks for a call that may run `budget`: the trap fires
    /// within one tick after the budget.
    pub(crate) fn ticks_for(&self, budget: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        (budget.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }
}

fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `f` every ms for up to `within`.
    fn eventually(within: Duration, f: impl Fn() -> bool) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        f()
    }

    #[test]
    fn a_stall_is_reported_and_health_comes_back_by_itself() {
        let t =
            EpochTicker::start_with(Engine::default(), Duration::from_millis(2), Duration::from_millis(40));
        assert!(eventually(Duration::from_secs(5), || t.ticks() > 3), "the ticker runs");
        assert!(!t.is_stalled(), "healthy while ticking ({:?} since the last tick)", t.since_last_tick());
        // A stall of many ticks (a suspended VM): the thread does not tick.
        t.hold.store(true, Ordering::Relaxed);
        assert!(eventually(Duration::from_secs(5), || t.is_stalled()), "a stalled ticker is reported");
        std::thread::sleep(Duration::from_millis(200)); // 100 ticks missed
        assert!(t.is_stalled());
        // It runs again: healthy again, without any catch-up of missed ticks.
        t.hold.store(false, Ordering::Relaxed);
        assert!(
            eventually(Duration::from_secs(5), || !t.is_stalled()),
            "still stalled after the ticker resumed: {} ticks, {:?} since the last",
            t.ticks(),
            t.since_last_tick()
        );
    }

    #[test]
    fn the_threshold_is_ten_ticks_or_the_floor_whichever_is_longer() {
        let fast = EpochTicker::start(Engine::default(), Duration::from_millis(5));
        assert_eq!(fast.stall_after, STALL_FLOOR);
        let slow = EpochTicker::start_with(Engine::default(), Duration::from_millis(200), Duration::ZERO);
        assert_eq!(slow.stall_after, Duration::from_secs(2));
    }
}
