//! The tenant quota layer (`[tenants.NAME.quota]`): calls in flight, calls
//! per minute, fuel per day, warm instances held, cache bytes; and the per-call
//! caps (fuel, memory) the layer below applies to each attempt.
//!
//! A refusal is `QUOTA_EXCEEDED` naming the quota, its limit and the use, with
//! `retry_after_ms` when a window will reopen (per minute, per day). Tenants
//! without quotas cost one map lookup per call. Quotas can be replaced while
//! calls run ([`Quotas::set_all`], [`Quotas::set`]): new calls see the new
//! limits at once; what is in use stays counted.

mod ledger;
mod window;

pub use toolhost_core::quota::{QUOTA_NAMES, QuotaConfig};

use crate::cache::CacheKey;
use crate::clock::{self, Clock};
use arc_swap::ArcSwap;
use ledger::{Ledger, Stored};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use toolhost_core::Error;
use window::Window;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What one tenant uses now.
#[derive(Debug, Default)]
struct Use {
    active: u32,
    warm: u32,
    minute: Window,
    day_fuel: Window,
    cache: Ledger,
}

#[derive(Debug)]
struct Inner {
    clock: Arc<dyn Clock>,
    cfg: ArcSwap<BTreeMap<String, QuotaConfig>>,
    /// Whether any tenant has a quota: when none has, a call costs one atomic load.
    any: AtomicBool,
    /// Serialises writers of `cfg` (so `any` follows the last map stored).
    writer: Mutex<()>,
    uses: Mutex<HashMap<String, Use>>,
}

/// Every tenant's quotas and use. Cloning yields another handle to the same state.
#[derive(Debug, Clone)]
pub struct Quotas {
    inner: Arc<Inner>,
}

/// The per-call caps of one attempt: the lower of the plugin's limits and these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCaps {
    /// Fuel, and the quota it comes from (`fuel_per_call` or `fuel_per_day`).
    pub fuel: Option<(u64, &'static str)>,
    /// Memory, whole MiB (`memory_per_call`).
    pub memory_mib: Option<u64>,
}

/// A call's place in its tenant's `concurrent_calls`; given back on drop.
#[derive(Debug)]
#[must_use]
pub struct CallPermit {
    held: Option<(Quotas, String)>,
}

/// A warm instance the tenant may hold (`warm_instances`); given back on drop.
#[derive(Debug)]
#[must_use]
pub struct WarmPermit {
    held: Option<(Quotas, String)>,
}

/// One quota of one tenant: limit (none = unlimited) and use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUse {
    /// Quota name.
    pub quota: &'static str,
    /// The limit, if set.
    pub limit: Option<u64>,
    /// Current use (in flight, in the open window, held).
    pub used: u64,
}

impl Quotas {
    /// No quotas yet.
    pub fn new(clock: Arc<dyn Clock>) -> Quotas {
        let inner = Inner {
            clock,
            cfg: ArcSwap::from_pointee(BTreeMap::new()),
            any: AtomicBool::new(false),
            writer: Mutex::default(),
            uses: Mutex::default(),
        };
        Quotas { inner: Arc::new(inner) }
    }

    fn uses(&self) -> MutexGuard<'_, HashMap<String, Use>> {
        self.inner.uses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Replaces every tenant's quotas (a config reload).
    pub fn set_all(&self, cfg: BTreeMap<String, QuotaConfig>) {
        let _writer = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.store(cfg.into_iter().filter(|(_, q)| !q.is_empty()).collect());
    }

    /// Replaces one tenant's quotas (`PUT /admin/tenants/NAME`).
    pub fn set(&self, tenant: &str, q: QuotaConfig) {
        let _writer = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all = (**self.inner.cfg.load()).clone();
        if q.is_empty() {
            all.remove(tenant);
        } else {
            all.insert(tenant.to_string(), q);
        }
        self.store(all);
    }

    fn store(&self, cfg: BTreeMap<String, QuotaConfig>) {
        self.inner.any.store(!cfg.is_empty(), Ordering::Release);
        self.inner.cfg.store(Arc::new(cfg));
    }

    /// Whether any tenant has a quota (else every call is admitted uncapped).
    fn any(&self) -> bool {
        self.inner.any.load(Ordering::Acquire)
    }

    /// The quotas of `tenant` (empty: none).
    pub fn get(&self, tenant: &str) -> QuotaConfig {
        self.inner.cfg.load().get(tenant).cloned().unwrap_or_default()
    }

    /// Admits one call of `tenant` to `tool`, or refuses it: `concurrent_calls`
    /// and `calls_per_minute` are checked and counted, and a tenant whose
    /// `fuel_per_day` is used up is refused until the window closes.
    pub fn admit(&self, tenant: &str, tool: &str) -> Result<CallPermit, Error> {
        if !self.any() {
            return Ok(CallPermit { held: None });
        }
        let cfg = self.inner.cfg.load();
        let Some(q) = cfg.get(tenant) else { return Ok(CallPermit { held: None }) };
        let now = self.now();
        let mut uses = self.uses();
        let u = use_of(&mut uses, tenant);
        let refuse = |quota: &str, limit: u64, used: u64, retry: Option<Duration>| Error::QuotaExceeded {
            tenant: tenant.to_string(),
            tool: tool.to_string(),
            quota: quota.to_string(),
            limit,
            used,
            retry_after_ms: retry.map(clock::ceil_millis),
        };
        if let Some(limit) = q.concurrent_calls
            && u.active >= limit
        {
            return Err(refuse("concurrent_calls", limit.into(), u.active.into(), None));
        }
        if let Some(limit) = q.calls_per_minute
            && u.minute.used(now, MINUTE) >= limit
        {
            let retry = u.minute.closes_in(now, MINUTE);
            return Err(refuse("calls_per_minute", limit, u.minute.used(now, MINUTE), Some(retry)));
        }
        if let Some(limit) = q.fuel_per_day
            && u.day_fuel.used(now, DAY) >= limit
        {
            let retry = u.day_fuel.closes_in(now, DAY);
            return Err(refuse("fuel_per_day", limit, u.day_fuel.used(now, DAY), Some(retry)));
        }
        u.minute.add(now, MINUTE, 1);
        if q.concurrent_calls.is_none() {
            return Ok(CallPermit { held: None });
        }
        u.active += 1;
        Ok(CallPermit { held: Some((self.clone(), tenant.to_string())) })
    }

    /// The fuel and memory caps of one attempt of `tenant`: `fuel_per_call`,
    /// or what is left of `fuel_per_day` when that is lower.
    pub fn caps(&self, tenant: &str) -> CallCaps {
        if !self.any() {
            return CallCaps::default();
        }
        let cfg = self.inner.cfg.load();
        let Some(q) = cfg.get(tenant) else { return CallCaps::default() };
        let mut fuel = q.fuel_per_call.map(|f| (f, "fuel_per_call"));
        if let Some(day) = q.fuel_per_day {
            let now = self.now();
            let used = use_of(&mut self.uses(), tenant).day_fuel.used(now, DAY);
            let left = day.saturating_sub(used);
            if fuel.is_none_or(|(f, _)| left < f) {
                fuel = Some((left, "fuel_per_day"));
            }
        }
        CallCaps { fuel, memory_mib: q.memory_mib() }
    }

    /// Counts `fuel` burnt by an attempt of `tenant` (against `fuel_per_day`).
    pub fn charge_fuel(&self, tenant: &str, fuel: u64) {
        if fuel == 0
            || !self.any()
            || self.inner.cfg.load().get(tenant).is_none_or(|q| q.fuel_per_day.is_none())
        {
            return;
        }
        let now = self.now();
        use_of(&mut self.uses(), tenant).day_fuel.add(now, DAY, fuel);
    }

    /// A warm instance for a call of `tenant`: `Some` when it may use one
    /// (holding a `warm_instances` slot if the tenant has that quota), `None`
    /// when its warm instances are all in use (the call runs in a fresh one).
    pub fn warm(&self, tenant: &str) -> Option<WarmPermit> {
        if !self.any() {
            return Some(WarmPermit { held: None });
        }
        let cfg = self.inner.cfg.load();
        let Some(limit) = cfg.get(tenant).and_then(|q| q.warm_instances) else {
            return Some(WarmPermit { held: None });
        };
        let mut uses = self.uses();
        let u = use_of(&mut uses, tenant);
        if u.warm >= limit {
            return None;
        }
        u.warm += 1;
        Some(WarmPermit { held: Some((self.clone(), tenant.to_string())) })
    }

    /// Records a result of `tenant`'s call to `tool` stored under `key` for
    /// `ttl`. `Some(keys)`: store it, after evicting `keys` (its oldest
    /// entries, to stay within `cache_bytes`); `None`: do not store it (larger
    /// than the whole quota). `weigh` is called only under a `cache_bytes` quota.
    pub fn cache_store(
        &self,
        tenant: &str,
        tool: &str,
        key: &CacheKey,
        ttl: Duration,
        weigh: impl FnOnce() -> u64,
    ) -> Option<Vec<CacheKey>> {
        let cap = self.inner.cfg.load().get(tenant).and_then(|q| q.cache_bytes);
        let bytes = if cap.is_some() { weigh() } else { 0 };
        let now = self.now();
        let stored = Stored { key: key.clone(), tool: tool.to_string(), bytes, expires: now + ttl };
        use_of(&mut self.uses(), tenant).cache.store(stored, cap, now)
    }

    /// Forgets the cached results of `tenant` (any when `None`) and `tool`
    /// (any when `None`) this process stored, returning their keys.
    pub fn cache_forget(&self, tenant: Option<&str>, tool: Option<&str>) -> Vec<CacheKey> {
        let mut uses = self.uses();
        let matches = |e: &Stored| tool.is_none_or(|t| e.tool == t);
        uses.iter_mut()
            .filter(|(t, _)| tenant.is_none_or(|want| want == t.as_str()))
            .flat_map(|(_, u)| u.cache.take_where(matches))
            .collect()
    }

    /// Every quota of `tenant`: its limit (none: unlimited) and current use.
    pub fn usage(&self, tenant: &str) -> Vec<QuotaUse> {
        let q = self.get(tenant);
        let now = self.now();
        let mut uses = self.uses();
        let u = use_of(&mut uses, tenant);
        let used = |name: &str, u: &mut Use| match name {
            "concurrent_calls" => u.active.into(),
            "calls_per_minute" => u.minute.used(now, MINUTE),
            "fuel_per_day" => u.day_fuel.used(now, DAY),
            "warm_instances" => u.warm.into(),
            "cache_bytes" => u.cache.bytes(now),
            // Per-call caps have no standing use.
            _ => 0,
        };
        QUOTA_NAMES
            .iter()
            .map(|&name| QuotaUse { quota: name, limit: q.limit(name), used: used(name, u) })
            .collect()
    }

    /// `(tenant, use)` of every set quota of every tenant with quotas, for gauges.
    pub fn snapshot(&self) -> Vec<(String, QuotaUse)> {
        let tenants: Vec<String> = self.inner.cfg.load().keys().cloned().collect();
        tenants
            .into_iter()
            .flat_map(|t| {
                self.usage(&t).into_iter().filter(|u| u.limit.is_some()).map(move |u| (t.clone(), u))
            })
            .collect()
    }
}

/// `tenant`'s use, created on first sight (no key allocation once it exists).
fn use_of<'a>(uses: &'a mut HashMap<String, Use>, tenant: &str) -> &'a mut Use {
    if !uses.contains_key(tenant) {
        uses.insert(tenant.to_string(), Use::default());
    }
    uses.get_mut(tenant).expect("just inserted")
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if let Some((q, tenant)) = self.held.take()
            && let Some(u) = q.uses().get_mut(&tenant)
        {
            u.active = u.active.saturating_sub(1);
        }
    }
}

impl Drop for WarmPermit {
    fn drop(&mut self) {
        if let Some((q, tenant)) = self.held.take()
            && let Some(u) = q.uses().get_mut(&tenant)
        {
            u.warm = u.warm.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests;
