//! Changing an executor's rules while calls run (a config reload): policies,
//! rate limits and bulkheads are replaced for new calls; breaker, bulkhead
//! and limiter state carry over, and calls in flight keep the policy they
//! started with.

use crate::bulkhead::BulkheadConfig;
use crate::config::RateLimitConfig;
use crate::executor::Executor;
use crate::policy::{Policies, PolicyConfig};
use std::sync::Arc;
use toolhost_core::Error;

impl Executor {
    /// Checks every section first and changes nothing when one is invalid.
    pub fn reconfigure(
        &self,
        policy: PolicyConfig,
        rate_limits: RateLimitConfig,
        bulkheads: BulkheadConfig,
    ) -> Result<(), Error> {
        let ttl = self.policies.load().default_cache_ttl();
        let policies = Policies::new(policy).map_err(Error::Configuration)?.with_cache_ttl(ttl);
        // Compiled first so a bad pattern leaves the old rules in place.
        crate::bulkhead::Bulkheads::new(bulkheads.clone()).map_err(Error::Configuration)?;
        self.bulkheads.reconfigure(bulkheads).map_err(Error::Configuration)?;
        self.policies.store(Arc::new(policies));
        self.rate_cfg.store(Arc::new(rate_limits));
        Ok(())
    }

    /// Closes the breaker of `tenant`'s calls to `tool` (forgets its state).
    /// Returns whether there was one.
    pub fn reset_breaker(&self, tenant: &str, tool: &str) -> bool {
        self.breakers.reset(&format!("{tenant}:{tool}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExecutorSections, SharedState, TokioClock};

    #[test]
    fn a_bad_pattern_changes_nothing_and_a_good_config_applies() {
        let ex =
            Executor::new(ExecutorSections::default(), Arc::new(TokioClock), SharedState::default()).unwrap();
        let bad: PolicyConfig = toml::from_str("[[patterns]]\npattern = \"[x\"").unwrap();
        assert!(ex.reconfigure(bad, Default::default(), Default::default()).is_err());
        let limits: RateLimitConfig =
            toml::from_str("per_tenant = { rate = 1, per_ms = 1000, burst = 1 }").unwrap();
        ex.reconfigure(Default::default(), limits.clone(), Default::default()).unwrap();
        assert_eq!(**ex.rate_cfg.load(), limits);
        assert!(!ex.reset_breaker("a", "t"));
    }
}
