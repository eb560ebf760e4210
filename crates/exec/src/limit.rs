//! The rate-limit layer: every applicable quota (global, tenant, tool or
//! pattern) at once, once per call; waits for a token when the policy allows
//! it and the wait fits `min(deadline, max_wait_ms)`, else `TOOL_RATE_LIMITED`
//! with an exact `retry_after_ms`. With a shared backend the decision is
//! shared; when the backend fails, the local limiter decides at its share.

use crate::clock;
use crate::executor::Executor;
use crate::policy::Effective;
use crate::rate_limit::{self, Quota};
use crate::wait;
use std::time::Instant;
use toolhost_core::{CancelToken, Error};

impl Executor {
    /// No quota applies to `tenant` under `eff`: admission is `Ok` without
    /// waiting. Read without touching the shared reference count (a write
    /// every core would contend on).
    pub(crate) fn rate_free(&self, tenant: &str, eff: &Effective) -> bool {
        let cfg = self.rate_cfg.load();
        eff.rate_limit.is_none() && cfg.global.is_none() && cfg.tenant_quota(tenant).is_none()
    }

    /// All applicable quotas at once; waits when allowed and the wait fits
    /// in `min(remaining deadline, max_wait_ms)`, unless cancelled. Its caller
    /// asks only when [`Self::rate_free`] is false.
    pub(crate) async fn admit_rate(
        &self,
        tenant: &str,
        tool: &str,
        eff: &Effective,
        deadline: Option<Instant>,
        cancel: Option<&CancelToken>,
    ) -> Result<(), Error> {
        let rate_cfg = self.rate_cfg.load_full();
        let tenant_quota = rate_cfg.tenant_quota(tenant);
        // Idle keys are evicted now and then so per-(tenant, tool) state stays bounded.
        if self.rate_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        let tenant_key = format!("tenant:{tenant}");
        let mut checks: Vec<(&str, &Quota)> = Vec::with_capacity(3);
        if let Some(q) = &rate_cfg.global {
            checks.push(("global", q));
        }
        if let Some(q) = tenant_quota {
            checks.push((&tenant_key, q));
        }
        let scoped;
        if let Some((scope, q)) = &eff.rate_limit {
            scoped = format!("{scope}@{tenant}");
            checks.push((&scoped, q));
        }
        let mut waiting_since = None;
        loop {
            let checked = self.check_rate(&checks).await;
            toolhost_core::observe::metrics::rate_limit_check(checked.is_ok());
            match checked {
                Ok(()) => return Ok(()),
                Err(limited) => {
                    let fits = eff.rate_limit_wait && !limited.impossible && {
                        let since = *waiting_since.get_or_insert_with(|| self.clock.now());
                        limited.retry_after < self.wait_left(deadline, since)
                    };
                    if fits {
                        if wait::sleep(limited.retry_after, cancel).await.is_err() {
                            return Err(Error::Cancelled { tool: tool.to_string() });
                        }
                        continue;
                    }
                    return Err(Error::RateLimited {
                        tool: tool.to_string(),
                        key: limited.key,
                        retry_after_ms: clock::ceil_millis(limited.retry_after),
                    });
                }
            }
        }
    }

    /// One admission decision: the shared limiter when there is one, else
    /// (or when it fails) the local one; the fallback uses
    /// `local_rate_share` of every quota.
    async fn check_rate(&self, checks: &[(&str, &Quota)]) -> Result<(), rate_limit::RateLimited> {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(shared) = &self.shared_limiter else {
            return self.limiter.check(checks, 1);
        };
        match shared.check(checks, 1).await {
            Ok(decision) => {
                if self.rate_fallback.swap(false, Relaxed) {
                    tracing::info!("rate limits shared through the backend again");
                }
                decision
            }
            Err(e) => {
                toolhost_core::observe::metrics::redis_fallback("rate_limit");
                let share = shared.local_share();
                if !self.rate_fallback.swap(true, Relaxed) {
                    tracing::warn!(error = %e, share,
                        "shared rate limit unavailable; using the local limiter at its share of each quota");
                }
                let scaled: Vec<(&str, Quota)> = checks.iter().map(|(k, q)| (*k, q.share(share))).collect();
                let refs: Vec<(&str, &Quota)> = scaled.iter().map(|(k, q)| (*k, q)).collect();
                self.limiter.check(&refs, 1)
            }
        }
    }
}
