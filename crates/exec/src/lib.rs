//! # toolhost-exec
//!
//! The executor: production policies around every call, each its own layer,
//! with no sandbox, no backend and no front door in sight (this crate's
//! dependency tree has no wasmtime, redis, axum or rmcp).
//!
//! Layer order (outermost first; resilience.md §5), one file each:
//!
//! 1. `admission`: tenant, tool lookup, one absolute deadline for everything
//!    below (`min(context deadline, now + total timeout)`), argument parsing
//!    and schema validation (no guest CPU, not a breaker event);
//! 2. the [`cache`] layer (idempotent tools only; single flight; `cached =
//!    true` on hits);
//! 3. rate limits (`limit`: global, tenant, tool or pattern; wait ≤
//!    `min(deadline, max_wait_ms)` or reject);
//! 4. the retry loop (`attempts`: retryable outcomes of idempotent tools,
//!    full-jitter backoff, Retry-After hints, a retry budget; sleeps clipped
//!    to the deadline);
//! 5. circuit breaker per (tenant, tool), per attempt (open ends the loop);
//! 6. bulkheads (queue wait ≤ `min(deadline, acquisition timeout or max_wait_ms)`);
//! 7. the attempt, through the [`Attempt`] trait: `min(attempt timeout,
//!    remaining)`, which the layer below turns into an epoch deadline in a
//!    fresh store.
//!
//! Each policy's state machine (breaker, bulkhead, GCRA limiter, retry plan,
//! cache) lives in its own module with its own tests on virtual time; shared
//! state is reached only through the [`backend`] traits.
//!
//! Every wait (token, slot, backoff, an identical call in flight) ends at once
//! when the caller cancels ([`CallOptions::cancel`]) or its deadline passes
//! ([`wait`]), and none is unbounded without a deadline.
//!
//! Results are matched by `call_id`; return order is presentation only.
#![warn(missing_docs, unreachable_pub)]

mod admission;
pub mod attempt;
mod attempts;
pub mod backend;
pub mod batch;
pub mod breaker;
pub mod bulkhead;
pub mod cache;
mod call;
pub mod clock;
mod config;
pub mod confirm;
mod executor;
mod key_memo;
mod limit;
mod memory_cache;
pub mod parse;
pub mod policy;
pub mod quota;
pub mod rate_limit;
mod reconfigure;
pub mod retry;
pub mod scoped_cache;
pub mod wait;

pub use attempt::{Attempt, AttemptSpec, ToolInfo};
pub use backend::{BackendError, Health, RateLimitBackend, SharedState};
pub use call::{InputResponses, ToolCall, parse_input_responses};
pub use clock::TokioClock;
pub use config::{ExecutorConfig, RateLimitConfig};
pub use executor::{Executor, ExecutorSections};
pub use toolhost_core::{CallOptions, CallResult};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Effective, PolicyOverride};
    use crate::rate_limit::Quota;
    use std::sync::Arc;
    use std::time::Duration;

    fn executor(max_wait_ms: u64) -> Executor {
        let executor = ExecutorConfig { max_wait_ms, ..ExecutorConfig::default() };
        let sections = ExecutorSections { executor, ..Default::default() };
        Executor::new(sections, Arc::new(TokioClock), SharedState::default()).unwrap()
    }

    /// `ok` limited to one call per `per` and waiting for tokens.
    fn waiting(ex: &Executor, per: Duration) -> Effective {
        let mut eff =
            ex.policies.load().resolve("ok", true, None, Duration::from_secs(30), &PolicyOverride::default());
        eff.rate_limit = Some(("tool:ok".into(), Quota { rate: 1, per, burst: 1 }));
        eff.rate_limit_wait = true;
        eff
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_wait_fits_max_wait_and_the_deadline_and_ends_on_cancel() {
        let ex = executor(30_000);
        let eff = waiting(&ex, Duration::from_secs(20));
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        // 20 s fits in the default 30 s: it waits exactly that.
        let t = tokio::time::Instant::now();
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_secs(20));
        // A deadline sooner than the token: refused at once.
        let soon = Some(ex.clock.now() + Duration::from_secs(5));
        let e = ex.admit_rate("a", "ok", &eff, soon, None).await.unwrap_err();
        assert_eq!(
            (e.code(), t.elapsed()),
            (toolhost_core::ErrorCode::ToolRateLimited, Duration::from_secs(20))
        );
        // Cancelled while waiting: at once.
        let cancel = toolhost_core::CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            c.cancel();
        });
        let t = tokio::time::Instant::now();
        let e = ex.admit_rate("a", "ok", &eff, None, Some(&cancel)).await.unwrap_err();
        assert_eq!(
            (e.code(), t.elapsed()),
            (toolhost_core::ErrorCode::ToolCancelled, Duration::from_secs(3))
        );
        // No deadline, but the token is further away than max_wait_ms: refused at once.
        let ex = executor(10_000);
        let eff = waiting(&ex, Duration::from_secs(20));
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        let t = tokio::time::Instant::now();
        let e = ex.admit_rate("a", "ok", &eff, None, None).await.unwrap_err();
        assert_eq!((e.code(), t.elapsed()), (toolhost_core::ErrorCode::ToolRateLimited, Duration::ZERO));
    }
}
