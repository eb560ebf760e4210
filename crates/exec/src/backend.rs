//! Where the executor's shared state lives, as traits: the executor keeps
//! everything in this process unless it is handed a backend (Redis, in
//! `toolhost-redis`) that several processes share. A backend that fails
//! degrades a call (a cache miss, the local rate limiter), never fails it.

use crate::cache::{BoxFuture, CacheBackend};
use crate::rate_limit::{Quota, RateLimited};
use serde::Serialize;
use std::sync::Arc;

/// Whether shared state is reachable: `ok`, or `degraded` (an operation on
/// the shared backend failed recently; local fallbacks are in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Everything reachable (or no shared backend configured).
    Ok,
    /// The shared backend is failing; calls are answered with local fallbacks.
    Degraded,
}

/// A shared backend could not answer (unreachable, timed out, refused).
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared backend unavailable: {0}")]
pub struct BackendError(pub String);

/// Rate-limit decisions shared by several processes.
pub trait RateLimitBackend: Send + Sync + std::fmt::Debug {
    /// Charges `cost` against every `(key, quota)` at once, or refuses with the
    /// longest wait; `Err` when the shared store cannot decide (the executor
    /// then decides locally with [`local_share`](Self::local_share) of each quota).
    fn check<'a>(
        &'a self,
        checks: &'a [(&'a str, &'a Quota)],
        cost: u32,
    ) -> BoxFuture<'a, Result<Result<(), RateLimited>, BackendError>>;

    /// Share of each quota this process may use on its own while the shared
    /// store is unreachable (0 < share ≤ 1).
    fn local_share(&self) -> f64;
}

/// The shared state handed to an [`Executor`](crate::Executor): none by
/// default (an in-memory, byte-bounded result cache and a local limiter).
#[derive(Debug, Clone, Default)]
pub struct SharedState {
    /// Where cached results live (default: in memory, `cache.max_bytes`).
    pub cache: Option<Arc<dyn CacheBackend>>,
    /// Shared rate limits (default: none; the local limiter decides).
    pub rate_limits: Option<Arc<dyn RateLimitBackend>>,
}
