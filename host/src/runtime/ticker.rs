//! The process-wide epoch ticker: one OS thread advancing the engine's epoch
//! on an absolute schedule (no drift), so every store's deadline is enforced
//! to within one tick. A dedicated thread, not a tokio task, so a busy runtime
//! cannot stall it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// Handle to the ticker thread; stops it when dropped.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    ticks: Arc<AtomicU64>,
    started: Instant,
    tick: Duration,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let thread = {
            let (stop, ticks) = (stop.clone(), ticks.clone());
            std::thread::Builder::new()
                .name("toolhost-epoch".into())
                .spawn(move || {
                    let mut next = Instant::now() + tick;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        engine.increment_epoch();
                        ticks.fetch_add(1, Ordering::Relaxed);
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
        EpochTicker { stop, ticks, started, tick, thread: Some(thread) }
    }

    /// The tick period.
    pub(crate) fn tick(&self) -> Duration {
        self.tick
    }

    /// Ticks so far; health checks compare it with the elapsed time.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// True when the ticker has fallen more than 10 ticks behind the clock.
    pub(crate) fn is_stalled(&self) -> bool {
        let expected = self.started.elapsed().as_nanos() / self.tick.as_nanos().max(1);
        expected > u128::from(self.ticks()) + 10
    }

    /// Deadline in ticks for a call that may run `budget`: the trap fires
    /// within one tick after the budget.
    pub(crate) fn ticks_for(&self, budget: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        (budget.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
