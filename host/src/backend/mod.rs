//! Where shared state lives. The embedded default keeps everything in this
//! process ([`memory`]); with `redis_url` set, several `toolhost` processes share
//! one Redis ([`redis`]): the result cache, rate limits and durable runs.
//! Redis trouble degrades (cache miss, local rate limiter) instead of failing
//! calls; only accepting a durable run fails when it cannot be stored.
//!
//! This module is the only place the `redis` crate appears.

pub mod memory;
pub mod redis;

use serde::{Deserialize, Serialize};

/// `[redis]`: how this process uses a shared Redis (only when `redis_url` is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Timeout of every Redis operation, ms; past it the operation counts as
    /// failed and the degraded path is taken. Default: 250.
    pub op_timeout_ms: u64,
    /// Prefix of every key (`{prefix}:…`). Default: `toolhost`.
    pub key_prefix: String,
    /// Share of each rate limit this process may use on its own while Redis is
    /// unreachable (0 < share <= 1). Default: 0.5.
    pub local_rate_share: f64,
    /// A run claimed by a worker that stops heart-beating is reclaimed by
    /// another worker after this long, ms. Default: 30000.
    pub visibility_timeout_ms: u64,
    /// How long run state and per-call checkpoints are kept, seconds. Default: 86400.
    pub run_ttl_secs: u64,
    /// Re-run a non-idempotent call that was in flight when its worker died
    /// (instead of reporting it `interrupted`). Default: false.
    pub rerun_interrupted: bool,
    /// Single-flight lease of a cache miss being computed, ms: other processes
    /// wait for the result at most this long, and a dead holder's lease expires. Default: 30000.
    pub cache_lease_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            op_timeout_ms: 250,
            key_prefix: "toolhost".into(),
            local_rate_share: 0.5,
            visibility_timeout_ms: 30_000,
            run_ttl_secs: 86_400,
            rerun_interrupted: false,
            cache_lease_ms: 30_000,
        }
    }
}

impl RedisConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
        let mut p = crate::config::check::Problems::default();
        self.check("redis", &mut p);
        p.into_string_result()
    }

    /// [`validate`](Self::validate), every problem named at its key path.
    pub(crate) fn check(&self, path: &str, p: &mut crate::config::check::Problems) {
        use crate::config::check::join;
        p.at_least_one(self.op_timeout_ms, join(path, "op_timeout_ms"));
        let share = self.local_rate_share;
        p.require(share > 0.0 && share <= 1.0, join(path, "local_rate_share"), "must be within (0, 1]");
        p.require(self.visibility_timeout_ms >= 100, join(path, "visibility_timeout_ms"), "must be ≥ 100");
        p.at_least_one(self.run_ttl_secs, join(path, "run_ttl_secs"));
        p.require(
            !self.key_prefix.is_empty() && !self.key_prefix.contains(['{', '}', ' ']),
            join(path, "key_prefix"),
            "must be non-empty without braces or spaces",
        );
    }
}

/// Whether shared state is reachable: `ok`, or `degraded` (a Redis operation
/// failed recently; local fallbacks are in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Everything reachable (or no shared backend configured).
    Ok,
    /// The shared backend is failing; calls are answered with local fallbacks.
    Degraded,
}

/// The shared-state backend of one host, built from the configuration:
/// [`Backend::Memory`] by default, [`Backend::Redis`] when `redis_url` is set.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// Everything in this process.
    #[default]
    Memory,
    /// Shared state in one Redis (connected lazily; the process starts while it is down).
    Redis(redis::Redis),
}

impl Backend {
    /// `redis_url` set → [`Backend::Redis`] (an invalid URL is a configuration
    /// error); otherwise [`Backend::Memory`].
    pub fn from_config(cfg: &crate::Config) -> Result<Backend, crate::Error> {
        match &cfg.redis_url {
            None => Ok(Backend::Memory),
            Some(url) => redis::Redis::open(url, cfg.redis.clone())
                .map(Backend::Redis)
                .map_err(|e| crate::Error::Configuration(e.to_string())),
        }
    }

    /// The Redis handle, when shared state is in Redis.
    pub fn redis(&self) -> Option<&redis::Redis> {
        match self {
            Backend::Memory => None,
            Backend::Redis(r) => Some(r),
        }
    }

    /// Health as of the latest Redis operation (always `Ok` in memory).
    pub fn health(&self) -> Health {
        self.redis().map_or(Health::Ok, redis::Redis::health)
    }

    /// Pings Redis (within `op_timeout_ms`) and returns the resulting health,
    /// so recovery is seen without traffic. `Ok` in memory.
    pub async fn check(&self) -> Health {
        match self.redis() {
            None => Health::Ok,
            Some(r) => {
                let _ = r.ping().await;
                r.health()
            }
        }
    }

    /// The result-cache store: Redis, or a byte-bounded in-memory cache.
    pub fn cache_store(
        &self,
        cfg: &crate::exec::cache::CacheConfig,
    ) -> std::sync::Arc<dyn crate::exec::cache::CacheBackend> {
        match self {
            Backend::Memory => std::sync::Arc::new(memory::MemoryCache::new(cfg.max_bytes)),
            Backend::Redis(r) => std::sync::Arc::new(redis::RedisCache::new(r.clone())),
        }
    }

    /// The shared rate limiter, when shared state is in Redis.
    pub fn rate_limiter(&self) -> Option<redis::RedisRateLimiter> {
        self.redis().map(|r| redis::RedisRateLimiter::new(r.clone()))
    }

    /// `memory`, or the Redis URL with its password redacted.
    pub fn describe(&self) -> String {
        self.redis().map_or_else(|| "memory".to_string(), redis::Redis::display_url)
    }
}
