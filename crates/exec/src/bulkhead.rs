//! Bulkheads: bounded concurrency per global, tenant, namespace and tool (or
//! glob pattern) compartment, with bounded queues and acquisition timeouts.
//!
//! A call must hold a slot in every compartment that applies to it; slots are
//! taken in a fixed order (global → tenant → namespace → tool) so two calls can
//! never wait on each other. A caller is refused at once with `BULKHEAD_FULL`
//! when a compartment's queue is full or when its acquisition timeout is 0 and
//! no slot is free; otherwise it waits at most `min(acquisition timeout,
//! remaining deadline)`, where a compartment without its own acquisition
//! timeout uses the default wait (`executor.max_wait_ms`), so no wait is
//! unbounded. A waiter that gives up (or whose future is dropped) leaves the
//! queue at once. The returned [`BulkheadPermit`] is held until the
//! guest has stopped (the store is dropped inside the call future, so dropping
//! the permit after that future ends is exactly "when the guest stopped").

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One compartment's limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Calls allowed to run at once.
    pub max_concurrent: u32,
    /// Callers allowed to wait; more are refused at once. Default: 100.
    #[serde(default = "default_queue")]
    pub max_queue_depth: u32,
    /// Longest wait for a slot, ms; 0 = never wait. Default: the executor's
    /// `max_wait_ms` (the call's deadline ends any wait sooner).
    #[serde(default)]
    pub acquisition_timeout_ms: Option<u64>,
}

fn default_queue() -> u32 {
    100
}

impl Limit {
    /// `n` concurrent calls, default queue and timeout.
    pub fn concurrent(n: u32) -> Limit {
        Limit { max_concurrent: n, max_queue_depth: default_queue(), acquisition_timeout_ms: None }
    }
}

impl Limit {
    /// `max_concurrent >= 1` (0 would queue every call until its deadline).
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        p.at_least_one(u64::from(self.max_concurrent), toolhost_core::check::join(path, "max_concurrent"));
    }
}

impl BulkheadConfig {
    /// Checks every compartment's limit and pattern, naming its key path.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::{glob, join, map_key};
        for (key, limit) in
            [("global", &self.global), ("per_tenant", &self.per_tenant), ("default_tool", &self.default_tool)]
        {
            if let Some(l) = limit {
                l.check(&join(path, key), p);
            }
        }
        for (section, map) in [("namespaces", &self.namespaces), ("tools", &self.tools)] {
            for (name, l) in map {
                l.check(&join(path, format_args!("{section}.{}", map_key(name))), p);
            }
        }
        for (i, pl) in self.patterns.iter().enumerate() {
            let at = join(path, format_args!("patterns[{i}]"));
            glob(p, &pl.pattern, join(&at, "pattern"));
            pl.limit.check(&at, p);
        }
    }
}

/// `[bulkheads]` in `toolhost.toml`. Every level is off unless set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkheadConfig {
    /// Whole-process limit.
    pub global: Option<Limit>,
    /// Limit per tenant (each tenant gets its own compartment).
    pub per_tenant: Option<Limit>,
    /// Limits per namespace (`web` for `web.fetch`).
    pub namespaces: BTreeMap<String, Limit>,
    /// Limits per exact tool name (checked first).
    pub tools: BTreeMap<String, Limit>,
    /// Limits per glob over tool names, first match wins (checked second);
    /// every tool matching one pattern shares its compartment.
    pub patterns: Vec<PatternLimit>,
    /// Limit for each tool matched by neither (each tool its own compartment).
    pub default_tool: Option<Limit>,
}

impl BulkheadConfig {
    /// Whether any call can meet a compartment.
    fn limits_any(&self) -> bool {
        self.global.is_some()
            || self.per_tenant.is_some()
            || !self.namespaces.is_empty()
            || !self.tools.is_empty()
            || !self.patterns.is_empty()
            || self.default_tool.is_some()
    }
}

/// A glob and its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternLimit {
    /// Glob over tool names, e.g. `web.*`.
    pub pattern: String,
    /// The compartment's limit.
    #[serde(flatten)]
    pub limit: Limit,
}

/// Why no slot was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bulkhead '{key}' is full ({reason}) after waiting {} ms", waited.as_millis())]
pub struct BulkheadFull {
    /// The compartment that refused.
    pub key: String,
    /// `queue full`, `no free slot` or `timed out`.
    pub reason: &'static str,
    /// How long the caller waited.
    pub waited: Duration,
}

/// Counters of one compartment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BulkheadStats {
    /// Current slot limit.
    pub limit: u32,
    /// Calls holding a slot now.
    pub active: u32,
    /// Highest `active` seen.
    pub peak: u32,
    /// Callers waiting now.
    pub queued: u32,
    /// Total time callers spent waiting, ms.
    pub total_wait_ms: u64,
    /// Callers refused (queue full, fail-fast or timeout).
    pub rejected: u64,
    /// Of those, refused after waiting out their timeout.
    pub timeouts: u64,
}

#[derive(Debug)]
struct Compartment {
    key: String,
    sem: Arc<Semaphore>,
    limit: AtomicU32,
    max_queue: AtomicU32,
    timeout_ms: Mutex<Option<u64>>,
    active: AtomicU32,
    peak: AtomicU32,
    queued: AtomicU32,
    wait_us: AtomicU64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
}

impl Compartment {
    fn new(key: String, l: &Limit) -> Compartment {
        Compartment {
            key,
            sem: Arc::new(Semaphore::new(l.max_concurrent as usize)),
            limit: AtomicU32::new(l.max_concurrent),
            max_queue: AtomicU32::new(l.max_queue_depth),
            timeout_ms: Mutex::new(l.acquisition_timeout_ms),
            active: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            wait_us: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    fn refuse(&self, reason: &'static str, waited: Duration) -> BulkheadFull {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        BulkheadFull { key: self.key.clone(), reason, waited }
    }

    async fn acquire(
        self: &Arc<Self>,
        remaining: Option<Duration>,
        default_wait: Duration,
    ) -> Result<Slot, BulkheadFull> {
        if let Ok(p) = self.sem.clone().try_acquire_owned() {
            return Ok(self.admit(p));
        }
        let timeout = self.timeout_ms.lock().unwrap().map_or(default_wait, Duration::from_millis);
        let wait = remaining.map_or(timeout, |r| timeout.min(r));
        if wait.is_zero() {
            return Err(self.refuse("no free slot", Duration::ZERO));
        }
        // Count ourselves as a waiter first, so the bound holds under races.
        let before = self.queued.fetch_add(1, Ordering::SeqCst);
        if before >= self.max_queue.load(Ordering::Relaxed) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(self.refuse("queue full", Duration::ZERO));
        }
        // Leaves the queue however the wait ends, also when this future is dropped.
        let waiting = Waiting { compartment: self, started: tokio::time::Instant::now() };
        let got = tokio::time::timeout(wait, self.sem.clone().acquire_owned()).await.ok();
        let waited = waiting.started.elapsed();
        drop(waiting);
        match got {
            Some(Ok(p)) => Ok(self.admit(p)),
            Some(Err(_)) => Err(self.refuse("closed", waited)),
            None => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(self.refuse("timed out", waited))
            }
        }
    }

    fn admit(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Slot { _permit: permit, compartment: self.clone() }
    }

    fn resize(self: &Arc<Self>, l: &Limit) {
        let old = self.limit.swap(l.max_concurrent, Ordering::SeqCst);
        self.max_queue.store(l.max_queue_depth, Ordering::Relaxed);
        *self.timeout_ms.lock().unwrap() = l.acquisition_timeout_ms;
        if l.max_concurrent > old {
            self.sem.add_permits((l.max_concurrent - old) as usize);
        } else if l.max_concurrent < old {
            // Take back slots as they come free: forget what is free now and
            // retire the rest when their holders release them.
            let shrink = (old - l.max_concurrent) as usize;
            let forgotten = self.sem.forget_permits(shrink);
            let rest = (shrink - forgotten) as u32;
            if rest > 0 {
                let sem = self.sem.clone();
                tokio::spawn(async move {
                    if let Ok(p) = sem.acquire_many_owned(rest).await {
                        p.forget();
                    }
                });
            }
        }
    }

    fn stats(&self) -> BulkheadStats {
        BulkheadStats {
            limit: self.limit.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            total_wait_ms: self.wait_us.load(Ordering::Relaxed) / 1000,
            rejected: self.rejected.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }
}

/// A caller in a compartment's queue: counted in `queued` until dropped.
struct Waiting<'a> {
    compartment: &'a Compartment,
    started: tokio::time::Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let c = self.compartment;
        c.queued.fetch_sub(1, Ordering::SeqCst);
        c.wait_us.fetch_add(self.started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    compartment: Arc<Compartment>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.compartment.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Slots held by one call; released when dropped.
#[derive(Debug, Default)]
pub struct BulkheadPermit {
    _slots: Vec<Slot>,
}

/// Every compartment of the process.
#[derive(Debug)]
pub struct Bulkheads {
    cfg: Mutex<(BulkheadConfig, Vec<GlobMatcher>)>,
    /// Whether any compartment is configured: when none is, a call takes no lock.
    any: AtomicBool,
    compartments: Mutex<BTreeMap<String, Arc<Compartment>>>,
    /// Longest wait in a compartment without its own acquisition timeout.
    default_wait: Duration,
}

/// The default longest wait for a slot (`executor.max_wait_ms`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

fn compile_patterns(cfg: &BulkheadConfig) -> Result<Vec<GlobMatcher>, String> {
    cfg.patterns
        .iter()
        .map(|p| {
            Glob::new(&p.pattern)
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("bulkheads pattern {:?}: {e}", p.pattern))
        })
        .collect()
}

impl Bulkheads {
    /// Builds the compartments' rules (compartments are created on first use);
    /// compartments without an acquisition timeout wait at most [`DEFAULT_WAIT`].
    pub fn new(cfg: BulkheadConfig) -> Result<Bulkheads, String> {
        let matchers = compile_patterns(&cfg)?;
        Ok(Bulkheads {
            any: AtomicBool::new(cfg.limits_any()),
            cfg: Mutex::new((cfg, matchers)),
            compartments: Mutex::new(BTreeMap::new()),
            default_wait: DEFAULT_WAIT,
        })
    }

    /// Compartments without an acquisition timeout wait at most `wait`.
    pub fn with_default_wait(mut self, wait: Duration) -> Bulkheads {
        self.default_wait = wait;
        self
    }

    /// The compartments that apply to a call, in acquisition order.
    fn keys(&self, tenant: &str, tool: &str) -> Vec<(String, Limit)> {
        let guard = self.cfg.lock().unwrap();
        let (cfg, matchers) = &*guard;
        let mut out = Vec::with_capacity(4);
        if let Some(l) = cfg.global {
            out.push(("global".to_string(), l));
        }
        if let Some(l) = cfg.per_tenant {
            out.push((format!("tenant:{tenant}"), l));
        }
        if let Some((ns, _)) = tool.split_once('.')
            && let Some(l) = cfg.namespaces.get(ns)
        {
            out.push((format!("namespace:{ns}"), *l));
        }
        if let Some(l) = cfg.tools.get(tool) {
            out.push((format!("tool:{tool}"), *l));
        } else if let Some(i) = matchers.iter().position(|m| m.is_match(tool)) {
            out.push((format!("pattern:{}", cfg.patterns[i].pattern), cfg.patterns[i].limit));
        } else if let Some(l) = cfg.default_tool {
            out.push((format!("tool:{tool}"), l));
        }
        out
    }

    fn compartment(&self, key: &str, limit: &Limit) -> Arc<Compartment> {
        let mut map = self.compartments.lock().unwrap();
        map.entry(key.to_string())
            .or_insert_with(|| Arc::new(Compartment::new(key.to_string(), limit)))
            .clone()
    }

    /// Some rule limits some call (else [`Self::acquire`] is a default permit at once).
    pub fn limits_any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Takes a slot in every applicable compartment, waiting at most
    /// `remaining` in total. On refusal nothing is held.
    pub async fn acquire(
        &self,
        tenant: &str,
        tool: &str,
        remaining: Option<Duration>,
    ) -> Result<BulkheadPermit, BulkheadFull> {
        if !self.limits_any() {
            return Ok(BulkheadPermit::default());
        }
        let keys = self.keys(tenant, tool);
        if keys.is_empty() {
            return Ok(BulkheadPermit::default());
        }
        let started = tokio::time::Instant::now();
        let mut slots = Vec::with_capacity(keys.len());
        for (key, limit) in keys {
            let left = remaining.map(|r| r.saturating_sub(started.elapsed()));
            slots.push(self.compartment(&key, &limit).acquire(left, self.default_wait).await?);
        }
        Ok(BulkheadPermit { _slots: slots })
    }

    /// Replaces the rules; existing compartments are resized in place
    /// (growing at once, shrinking as slots come free).
    pub fn reconfigure(&self, cfg: BulkheadConfig) -> Result<(), String> {
        let matchers = compile_patterns(&cfg)?;
        let mut current = self.cfg.lock().unwrap();
        self.any.store(cfg.limits_any(), Ordering::Release);
        *current = (cfg, matchers);
        drop(current);
        let map = self.compartments.lock().unwrap();
        for (key, c) in map.iter() {
            if let Some(l) = self.limit_for_key(key) {
                c.resize(&l);
            }
        }
        Ok(())
    }

    fn limit_for_key(&self, key: &str) -> Option<Limit> {
        let guard = self.cfg.lock().unwrap();
        let cfg = &guard.0;
        let (kind, name) = key.split_once(':').unwrap_or((key, ""));
        match kind {
            "global" => cfg.global,
            "tenant" => cfg.per_tenant,
            "namespace" => cfg.namespaces.get(name).copied(),
            "pattern" => cfg.patterns.iter().find(|p| p.pattern == name).map(|p| p.limit),
            "tool" => cfg.tools.get(name).copied().or(cfg.default_tool),
            _ => None,
        }
    }

    /// Counters per compartment key.
    pub fn stats(&self) -> BTreeMap<String, BulkheadStats> {
        self.compartments.lock().unwrap().iter().map(|(k, c)| (k.clone(), c.stats())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_tool(tool: &str, n: u32, queue: u32, timeout: Option<u64>) -> BulkheadConfig {
        let mut c = BulkheadConfig::default();
        c.tools.insert(
            tool.into(),
            Limit { max_concurrent: n, max_queue_depth: queue, acquisition_timeout_ms: timeout },
        );
        c
    }

    #[tokio::test(start_paused = true)]
    async fn compartments_added_and_removed_by_a_reload_apply_to_the_next_call() {
        let b = Bulkheads::new(BulkheadConfig::default()).unwrap();
        let _free = b.acquire("a", "t", None).await.unwrap();
        assert!(b.stats().is_empty(), "no compartment: nothing counted");
        b.reconfigure(cfg_tool("t", 1, 0, Some(0))).unwrap();
        let _held = b.acquire("a", "t", None).await.unwrap();
        assert!(b.acquire("a", "t", None).await.is_err(), "the new limit of 1 applies");
        b.reconfigure(BulkheadConfig::default()).unwrap();
        assert!(b.acquire("a", "t", None).await.is_ok(), "limits removed: admitted again");
    }

    #[tokio::test(start_paused = true)]
    async fn limit_8_queue_32_admits_exactly_40() {
        let b = Arc::new(Bulkheads::new(cfg_tool("t", 8, 32, None)).unwrap());
        let mut held = vec![];
        for _ in 0..8 {
            held.push(b.acquire("a", "t", None).await.unwrap());
        }
        let mut waiters = vec![];
        for _ in 0..32 {
            let b = b.clone();
            waiters
                .push(tokio::spawn(async move { b.acquire("a", "t", Some(Duration::from_secs(60))).await }));
        }
        tokio::task::yield_now().await;
        while b.stats()["tool:t"].queued < 32 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            let e = b.acquire("a", "t", Some(Duration::from_secs(60))).await.unwrap_err();
            assert_eq!(e.reason, "queue full");
        }
        drop(held);
        for w in waiters {
            drop(w.await.unwrap().unwrap());
        }
        let s = &b.stats()["tool:t"];
        assert_eq!((s.rejected, s.peak, s.active, s.queued), (100, 8, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_timeout_fails_fast_and_timeouts_are_bounded() {
        let b = Bulkheads::new(cfg_tool("t", 1, 10, Some(0))).unwrap();
        let _p = b.acquire("a", "t", None).await.unwrap();
        assert_eq!(b.acquire("a", "t", None).await.unwrap_err().reason, "no free slot");
        b.reconfigure(cfg_tool("t", 1, 10, Some(200))).unwrap();
        let t = tokio::time::Instant::now();
        let e = b.acquire("a", "t", Some(Duration::from_secs(5))).await.unwrap_err();
        assert_eq!((e.reason, t.elapsed()), ("timed out", Duration::from_millis(200)));
        // The call's own deadline wins when shorter.
        let t = tokio::time::Instant::now();
        b.acquire("a", "t", Some(Duration::from_millis(50))).await.unwrap_err();
        assert_eq!(t.elapsed(), Duration::from_millis(50));
        assert_eq!(b.stats()["tool:t"].timeouts, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_wait_without_deadline_or_timeout_ends_after_the_default_wait() {
        let b = Bulkheads::new(cfg_tool("t", 1, 10, None)).unwrap();
        let _held = b.acquire("a", "t", None).await.unwrap();
        let t = tokio::time::Instant::now();
        let waited = tokio::time::timeout(Duration::from_secs(3600), b.acquire("a", "t", None)).await;
        let e = waited.expect("the wait ends by itself").unwrap_err();
        assert_eq!((e.reason, t.elapsed()), ("timed out", Duration::from_secs(30)));
        assert_eq!(b.stats()["tool:t"].queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_dropped_mid_wait_leaves_the_queue() {
        let b = Arc::new(Bulkheads::new(cfg_tool("t", 1, 1, Some(60_000))).unwrap());
        let held = b.acquire("a", "t", None).await.unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.acquire("a", "t", None).await.map(drop) });
        while b.stats()["tool:t"].queued < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(b.stats()["tool:t"].queued, 0, "an abandoned wait frees its queue place");
        drop(held);
        // The queue (depth 1) has room again.
        let _p = b.acquire("a", "t", None).await.unwrap();
    }

    #[tokio::test]
    async fn exact_tool_then_pattern_then_default_and_all_levels_apply() {
        let mut c = BulkheadConfig::default();
        c.global = Some(Limit::concurrent(100));
        c.per_tenant = Some(Limit::concurrent(10));
        c.namespaces.insert("web".into(), Limit::concurrent(5));
        c.tools.insert("web.fetch".into(), Limit::concurrent(1));
        c.patterns.push(PatternLimit { pattern: "web.*".into(), limit: Limit::concurrent(2) });
        c.default_tool = Some(Limit::concurrent(3));
        let b = Bulkheads::new(c).unwrap();
        let keys = |t: &str| b.keys("acme", t).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys("web.fetch"), ["global", "tenant:acme", "namespace:web", "tool:web.fetch"]);
        assert_eq!(keys("web.search"), ["global", "tenant:acme", "namespace:web", "pattern:web.*"]);
        assert_eq!(keys("math.eval"), ["global", "tenant:acme", "tool:math.eval"]);
        let _p = b.acquire("acme", "web.search", None).await.unwrap();
        let s = b.stats();
        assert_eq!(s["global"].active, 1);
        assert_eq!(s["pattern:web.*"].active, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn limits_change_at_runtime() {
        let b = Bulkheads::new(cfg_tool("t", 1, 10, Some(0))).unwrap();
        let p1 = b.acquire("a", "t", None).await.unwrap();
        assert!(b.acquire("a", "t", None).await.is_err());
        b.reconfigure(cfg_tool("t", 2, 10, Some(0))).unwrap();
        let p2 = b.acquire("a", "t", None).await.unwrap();
        b.reconfigure(cfg_tool("t", 1, 10, Some(0))).unwrap();
        drop(p1);
        tokio::task::yield_now().await;
        // One slot is retired as it comes free: still only one may run.
        assert!(b.acquire("a", "t", None).await.is_err());
        drop(p2);
        assert!(b.acquire("a", "t", None).await.is_ok());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn observed_concurrency_never_exceeds_the_limit(limit in 1u32..6, calls in 1usize..40, hold_ms in prop::collection::vec(0u64..20, 40)) {
                let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
                rt.block_on(async {
                    let b = Arc::new(Bulkheads::new(cfg_tool("t", limit, 1000, None)).unwrap());
                    let running = Arc::new(AtomicU32::new(0));
                    let max_seen = Arc::new(AtomicU32::new(0));
                    let mut tasks = vec![];
                    for i in 0..calls {
                        let (b, running, max_seen, hold) = (b.clone(), running.clone(), max_seen.clone(), hold_ms[i]);
                        tasks.push(tokio::spawn(async move {
                            let _p = b.acquire("a", "t", None).await.unwrap();
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(hold)).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                        }));
                    }
                    for t in tasks { t.await.unwrap(); }
                    prop_assert!(max_seen.load(Ordering::SeqCst) <= limit);
                    prop_assert_eq!(b.stats()["tool:t"].active, 0);
                    Ok(())
                })?;
            }
        }
    }
}
