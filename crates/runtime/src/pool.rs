//! Warm instances, per plugin version and per tenant (opt-in, manifest
//! `[instances] mode = "warm"`).
//!
//! Interpreter guests (Python, JavaScript) pay for initialising a whole
//! runtime on every fresh instance; reusing an instance skips that. An
//! instance is only put back after a call that succeeded cleanly (no trap, no
//! timeout, no tool error, no limit refused), at most `max_idle` are kept per
//! tenant, each serves at most `max_calls` calls, and one idle longer than
//! `idle_ms` is dropped (by the next `take`, and by the sweeper thread).
//! Instances never cross tenants: the pool is keyed by tenant.
//!
//! Every idle instance holds an instance slot of the engine's pool (and the
//! memory in it), so all pools together keep at most half of
//! `runtime.pool_instances` idle: past that, an instance is retired instead
//! of kept, and fresh instances always find slots.

use super::contract::Live as Plugin;
use super::state::StoreState;
use crate::InstancePolicy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// One idle instance and its store.
pub(crate) struct Warm {
    pub(crate) store: Store<StoreState>,
    pub(crate) plugin: Plugin,
    pub(crate) calls: u32,
    idle_since: Instant,
}

/// How many idle instances all the pools of a runtime may keep together.
#[derive(Debug)]
pub(crate) struct IdleBudget {
    idle: AtomicUsize,
    max: usize,
}

impl IdleBudget {
    pub(crate) fn new(max: usize) -> IdleBudget {
        IdleBudget { idle: AtomicUsize::new(0), max }
    }

    /// Counts one more idle instance, unless the budget is spent.
    fn try_reserve(&self) -> bool {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .is_ok()
    }

    /// `n` idle instances left the pools (taken or retired).
    fn release(&self, n: usize) {
        if n > 0 {
            self.idle.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// Idle instances of one plugin version, per tenant.
pub struct WarmPool {
    policy: InstancePolicy,
    budget: Arc<IdleBudget>,
    idle: Mutex<HashMap<Arc<str>, Vec<Warm>>>,
    reused: AtomicU64,
    created: AtomicU64,
    retired: AtomicU64,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool").field("policy", &self.policy).field("stats", &self.stats()).finish()
    }
}

/// Counters of a warm pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WarmStats {
    /// Calls served by a reused instance.
    pub reused: u64,
    /// Instances created for warm-mode calls.
    pub created: u64,
    /// Instances dropped (limits, errors, idle, tenant cap).
    pub retired: u64,
    /// Instances idle now, all tenants.
    pub idle: usize,
}

impl WarmPool {
    pub(crate) fn new(policy: InstancePolicy, budget: Arc<IdleBudget>) -> WarmPool {
        WarmPool {
            policy,
            budget,
            idle: Mutex::new(HashMap::new()),
            reused: AtomicU64::new(0),
            created: AtomicU64::new(0),
            retired: AtomicU64::new(0),
        }
    }

    /// Counters.
    pub fn stats(&self) -> WarmStats {
        WarmStats {
            reused: self.reused.load(Ordering::Relaxed),
            created: self.created.load(Ordering::Relaxed),
            retired: self.retired.load(Ordering::Relaxed),
            idle: self.idle.lock().unwrap_or_else(|e| e.into_inner()).values().map(Vec::len).sum(),
        }
    }

    fn idle_limit(&self) -> Duration {
        Duration::from_millis(self.policy.idle_ms)
    }

    /// The most recently used idle instance of `tenant`, if one is fresh enough.
    pub(crate) fn take(&self, tenant: &str) -> Option<Warm> {
        let mut expired = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            while let Some(w) = idle.get_mut(tenant).and_then(Vec::pop) {
                if w.idle_since.elapsed() < self.idle_limit() {
                    found = Some(w);
                    break;
                }
                expired.push(w);
            }
            found
        };
        self.budget.release(expired.len() + usize::from(found.is_some()));
        self.retire(expired);
        match &found {
            Some(_) => self.reused.fetch_add(1, Ordering::Relaxed),
            None => self.created.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Puts an instance back after a clean call (`calls` already counts it),
    /// unless it has served `max_calls` or the runtime keeps enough idle ones.
    pub(crate) fn put(&self, tenant: &Arc<str>, store: Store<StoreState>, plugin: Plugin, calls: u32) {
        if calls >= self.policy.max_calls || !self.budget.try_reserve() {
            self.retire([Warm { store, plugin, calls, idle_since: Instant::now() }]);
            return;
        }
        let overflow = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let list = idle.entry(tenant.clone()).or_default();
            list.push(Warm { store, plugin, calls, idle_since: Instant::now() });
            if list.len() > self.policy.max_idle { Some(list.remove(0)) } else { None }
        };
        self.budget.release(usize::from(overflow.is_some()));
        self.retire(overflow);
    }

    /// Drops instances idle longer than `idle_ms`.
    pub(crate) fn sweep(&self) {
        let limit = self.idle_limit();
        let expired: Vec<Warm> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::new();
            for list in idle.values_mut() {
                let (keep, old): (Vec<_>, Vec<_>) =
                    list.drain(..).partition(|w| w.idle_since.elapsed() < limit);
                *list = keep;
                out.extend(old);
            }
            idle.retain(|_, l| !l.is_empty());
            out
        };
        self.budget.release(expired.len());
        self.retire(expired);
    }

    /// Drops instances outside the lock.
    fn retire(&self, gone: impl IntoIterator<Item = Warm>) {
        let n = gone.into_iter().count();
        self.retired.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for WarmPool {
    /// A pool dropped with its plugin version gives its idle instances' budget back.
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        self.budget.release(idle.values().map(Vec::len).sum());
    }
}

/// Every live pool, swept once a second by one background thread.
pub(crate) struct Pools {
    pools: Arc<Mutex<Vec<Weak<WarmPool>>>>,
    budget: Arc<IdleBudget>,
}

impl Pools {
    /// No pools yet; together they will keep at most `max_idle` idle instances.
    pub(crate) fn new(max_idle: usize) -> Pools {
        Pools { pools: Arc::default(), budget: Arc::new(IdleBudget::new(max_idle)) }
    }

    /// A new pool, registered for sweeping.
    pub(crate) fn create(&self, policy: InstancePolicy) -> Arc<WarmPool> {
        let pool = Arc::new(WarmPool::new(policy, self.budget.clone()));
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if pools.is_empty() {
            self.start_sweeper();
        }
        pools.push(Arc::downgrade(&pool));
        pool
    }

    fn start_sweeper(&self) {
        let list = Arc::downgrade(&self.pools);
        let spawned = std::thread::Builder::new().name("toolhost-warm-sweeper".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(list) = list.upgrade() else { return };
                let live: Vec<Arc<WarmPool>> = {
                    let mut pools = list.lock().unwrap_or_else(|e| e.into_inner());
                    pools.retain(|w| w.strong_count() > 0);
                    if pools.is_empty() {
                        return;
                    }
                    pools.iter().filter_map(Weak::upgrade).collect()
                };
                for p in live {
                    p.sweep();
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no warm-instance sweeper; idle instances retire on the next call only");
        }
    }
}
