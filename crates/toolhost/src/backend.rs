//! Where shared state lives. The embedded default keeps everything in this
//! process ([`memory`]); with `redis_url` set, several `toolhost` processes share
//! one Redis ([`redis`]): the result cache, rate limits and durable runs.
//! Redis trouble degrades (cache miss, local rate limiter) instead of failing
//! calls; only accepting a durable run fails when it cannot be stored.
//!
//! The Redis implementations live in `toolhost-redis`, the only crate that
//! names `redis`; this module picks one from the configuration and hands the
//! executor its traits.

pub mod memory;
pub use toolhost_exec::Health;
pub use toolhost_redis as redis;
pub use toolhost_redis::RedisConfig;

use std::sync::Arc;
use toolhost_exec::SharedState;

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
    pub fn from_config(cfg: &crate::Config) -> Result<Backend, toolhost_core::Error> {
        match &cfg.redis_url {
            None => Ok(Backend::Memory),
            Some(url) => redis::Redis::open(url, cfg.redis.clone())
                .map(Backend::Redis)
                .map_err(|e| toolhost_core::Error::Configuration(e.to_string())),
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

    /// What the executor shares through this backend: nothing in memory;
    /// the result cache and rate limits in Redis.
    pub fn shared_state(&self) -> SharedState {
        match self.redis() {
            None => SharedState::default(),
            Some(r) => SharedState {
                cache: Some(Arc::new(redis::RedisCache::new(r.clone()))),
                rate_limits: Some(Arc::new(redis::RedisRateLimiter::new(r.clone()))),
            },
        }
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        if self.redis().is_some() { "redis" } else { "memory" }
    }

    /// `memory`, or the Redis URL with its password redacted.
    pub fn describe(&self) -> String {
        self.redis().map_or_else(|| "memory".to_string(), redis::Redis::display_url)
    }
}
