//! [`Executor`]: the policy state of one host (breakers, bulkheads, limiters,
//! the result cache, the retry budget), built from its configuration sections.
//! The layers a call passes through live in their own files, outermost first:
//! [`admission`](crate::admission) → [`cache`](crate::cache) layer →
//! [`limit`](crate::limit) → [`attempts`](crate::attempts) (retry loop,
//! breaker, bulkhead, the attempt).

use crate::backend::{RateLimitBackend, SharedState};
use crate::breaker::{self, Breakers};
use crate::bulkhead::{self, Bulkheads};
use crate::cache::{self, MemoryCache, ResultCache};
use crate::clock::Clock;
use crate::config::{ExecutorConfig, RateLimitConfig};
use crate::policy::{self, Policies};
use crate::rate_limit::RateLimiter;
use crate::retry::RetryBudget;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toolhost_core::Error;

/// Policy state shared by every call of one host.
#[derive(Debug)]
pub struct Executor {
    /// Replaced whole on a config reload ([`Executor::reconfigure`]).
    pub(crate) policies: arc_swap::ArcSwap<Policies>,
    pub(crate) rate_cfg: arc_swap::ArcSwap<RateLimitConfig>,
    pub(crate) cfg: ExecutorConfig,
    pub(crate) cache: Option<ResultCache>,
    pub(crate) limiter: RateLimiter,
    pub(crate) breakers: Breakers,
    pub(crate) bulkheads: Bulkheads,
    pub(crate) budget: RetryBudget,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Mutex<rand::rngs::StdRng>,
    pub(crate) rate_checks: AtomicU64,
    /// The shared limiter, when one is configured; `limiter` is then the
    /// always-warm fallback at its `local_share` of each quota.
    pub(crate) shared_limiter: Option<Arc<dyn RateLimitBackend>>,
    /// Set while rate limits run on the local fallback (logs once per outage).
    pub(crate) rate_fallback: AtomicBool,
}

/// The configuration sections an [`Executor`] is built from.
#[derive(Debug, Clone, Default)]
pub struct ExecutorSections {
    /// `[policy]`.
    pub policy: policy::PolicyConfig,
    /// `[rate_limits]`.
    pub rate_limits: RateLimitConfig,
    /// `[bulkheads]`.
    pub bulkheads: bulkhead::BulkheadConfig,
    /// `[cache]`.
    pub cache: cache::CacheConfig,
    /// `[executor]`.
    pub executor: ExecutorConfig,
}

impl Executor {
    /// Builds the executor from its configuration sections. `shared` holds
    /// the backends several processes share (none: everything in memory).
    pub fn new(cfg: ExecutorSections, clock: Arc<dyn Clock>, shared: SharedState) -> Result<Executor, Error> {
        use rand::SeedableRng;
        let ExecutorSections { policy, rate_limits, bulkheads, cache: cache_cfg, executor } = cfg;
        let cache = cache_cfg.enabled.then(|| {
            let store = shared.cache.unwrap_or_else(|| Arc::new(MemoryCache::new(cache_cfg.max_bytes)));
            ResultCache::new(store)
        });
        Ok(Executor {
            policies: arc_swap::ArcSwap::from_pointee(
                Policies::new(policy)
                    .map_err(Error::Configuration)?
                    .with_cache_ttl(Duration::from_secs(cache_cfg.ttl_secs)),
            ),
            rate_cfg: arc_swap::ArcSwap::from_pointee(rate_limits),
            limiter: RateLimiter::new(clock.clone()),
            breakers: Breakers::new(clock.clone()),
            bulkheads: Bulkheads::new(bulkheads)
                .map_err(Error::Configuration)?
                .with_default_wait(Duration::from_millis(executor.max_wait_ms)),
            budget: RetryBudget::new(
                Duration::from_secs(executor.retry_budget_ttl_secs.max(1)),
                executor.retry_budget_min_per_sec,
                executor.retry_budget_percent,
            ),
            cfg: executor,
            cache,
            clock,
            rng: Mutex::new(rand::rngs::StdRng::from_os_rng()),
            rate_checks: Default::default(),
            shared_limiter: shared.rate_limits,
            rate_fallback: Default::default(),
        })
    }

    /// Executor settings.
    pub fn config(&self) -> &ExecutorConfig {
        &self.cfg
    }

    /// Breaker states and counters, per `tenant:tool`.
    pub fn breakers(&self) -> Vec<(String, breaker::BreakerSnapshot)> {
        self.breakers.snapshots()
    }

    /// Bulkhead counters per compartment.
    pub fn bulkheads(&self) -> &Bulkheads {
        &self.bulkheads
    }

    /// Cache (hits, misses), when caching is on.
    pub fn cache_counters(&self) -> Option<(u64, u64)> {
        self.cache.as_ref().map(ResultCache::counters)
    }

    pub(crate) fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(self.clock.now()))
    }

    /// What is left of a wait that started at `since`: `max_wait_ms`, or the
    /// deadline when that comes sooner.
    pub(crate) fn wait_left(&self, deadline: Option<Instant>, since: Instant) -> Duration {
        let waited = self.clock.now().saturating_duration_since(since);
        let left = Duration::from_millis(self.cfg.max_wait_ms).saturating_sub(waited);
        self.remaining(deadline).map_or(left, |r| r.min(left))
    }
}
