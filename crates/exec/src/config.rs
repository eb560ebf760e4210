//! The executor's own configuration sections: `[rate_limits]` and `[executor]`
//! (each policy file owns its section: `[policy]`, `[cache]`, `[bulkheads]`).

use crate::bulkhead;
use crate::rate_limit::Quota;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[rate_limits]`: process-wide and per-tenant quotas (tool and pattern
/// quotas live in `[policy]`). All applicable limits apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// One bucket for the whole process.
    pub global: Option<Quota>,
    /// One bucket per tenant, unless the tenant has its own entry below.
    pub per_tenant: Option<Quota>,
    /// Buckets for named tenants.
    pub tenants: BTreeMap<String, Quota>,
}

/// `[executor]`: concurrency and retry-budget settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Calls of one batch running at once, unless the request asks for fewer. Default: 64.
    pub max_parallel: usize,
    /// Retry budget window, seconds. Default: 10.
    pub retry_budget_ttl_secs: u64,
    /// Retries always allowed per second. Default: 10.
    pub retry_budget_min_per_sec: u32,
    /// Extra retries as a fraction of recent calls. Default: 0.2.
    pub retry_budget_percent: f64,
    /// Largest honoured Retry-After hint, ms. Default: 30000.
    pub max_retry_after_ms: u64,
    /// Longest wait for a rate-limit token, or for a bulkhead slot in a
    /// compartment without its own `acquisition_timeout_ms`, ms, deadline or
    /// not (a deadline ends a wait sooner). Default: 30000.
    pub max_wait_ms: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_parallel: 64,
            retry_budget_ttl_secs: 10,
            retry_budget_min_per_sec: 10,
            retry_budget_percent: 0.2,
            max_retry_after_ms: 30_000,
            max_wait_ms: bulkhead::DEFAULT_WAIT.as_millis() as u64,
        }
    }
}

impl RateLimitConfig {
    /// The bucket `tenant`'s calls count against: its own entry, else `per_tenant`.
    pub fn tenant_quota(&self, tenant: &str) -> Option<&Quota> {
        self.tenants.get(tenant).or(self.per_tenant.as_ref())
    }

    /// Checks this section at key path `path`, recording every problem in `p`.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::{join, map_key};
        for (key, q) in [("global", &self.global), ("per_tenant", &self.per_tenant)] {
            if let Some(q) = q {
                q.check(&join(path, key), p);
            }
        }
        for (tenant, q) in &self.tenants {
            q.check(&join(path, format_args!("tenants.{}", map_key(tenant))), p);
        }
    }
}

impl ExecutorConfig {
    /// Checks this section at key path `path`, recording every problem in `p`.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        p.at_least_one(self.max_parallel as u64, join(path, "max_parallel"));
        p.at_least_one(self.retry_budget_ttl_secs, join(path, "retry_budget_ttl_secs"));
        p.at_least_one(self.max_wait_ms, join(path, "max_wait_ms"));
        let pct = self.retry_budget_percent;
        p.require(pct.is_finite() && pct >= 0.0, join(path, "retry_budget_percent"), "must be a number ≥ 0");
    }
}
