//! `[tenants.NAME.quota]`: what one tenant may use, enforced by the host
//! (the executor's quota layer and the runtime's per-call limits). Every
//! field is optional; an unset one is no limit.
//!
//! ```toml
//! [tenants.acme.quota]
//! concurrent_calls = 8          # calls in flight at once
//! calls_per_minute = 600        # calls per 60 s window
//! fuel_per_call = 50_000_000    # caps the plugin's own `fuel` (the lower wins)
//! fuel_per_day = 10_000_000_000 # fuel of all calls in a 24 h window
//! memory_per_call = 67108864    # bytes; caps the plugin's `memory_mib` (whole MiB)
//! warm_instances = 2            # warm instances in use at once; beyond, fresh ones
//! cache_bytes = 1048576         # result-cache bytes this tenant's results may hold
//! ```

use crate::check::{Problems, join};
use serde::{Deserialize, Serialize};

/// One tenant's quotas. Unset fields are unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Calls of the tenant in flight at once; one more is refused at once
    /// with `QUOTA_EXCEEDED`. Default: none.
    pub concurrent_calls: Option<u32>,
    /// Calls per 60-second window (the window starts with the first call
    /// after the last one ended); past it `QUOTA_EXCEEDED` with
    /// `retry_after_ms` until the window ends. Default: none.
    pub calls_per_minute: Option<u64>,
    /// Fuel of one call: the plugin's `fuel` limit is lowered to it (needs
    /// `runtime.fuel = true`). Default: none.
    pub fuel_per_call: Option<u64>,
    /// Fuel of all the tenant's calls per 24-hour window; each call's fuel is
    /// also capped by what is left (needs `runtime.fuel = true`). Default: none.
    pub fuel_per_day: Option<u64>,
    /// Linear memory of one call, bytes (≥ 1 MiB; applied in whole MiB,
    /// rounded down): the plugin's `memory_mib` is lowered to it. Default: none.
    pub memory_per_call: Option<u64>,
    /// Warm instances the tenant's calls may hold at once; beyond it calls run
    /// in fresh instances (slower, never refused). Default: none.
    pub warm_instances: Option<u32>,
    /// Bytes of results this tenant may keep in the result cache; storing
    /// more evicts its oldest entries (a result larger than this is not
    /// cached). Default: none.
    pub cache_bytes: Option<u64>,
}

/// The quota names, as `QUOTA_EXCEEDED` details and metrics labels use them.
pub const QUOTA_NAMES: [&str; 7] = [
    "concurrent_calls",
    "calls_per_minute",
    "fuel_per_call",
    "fuel_per_day",
    "memory_per_call",
    "warm_instances",
    "cache_bytes",
];

impl QuotaConfig {
    /// Whether no quota is set.
    pub fn is_empty(&self) -> bool {
        *self == QuotaConfig::default()
    }

    /// Whether a fuel quota is set (these need `runtime.fuel = true`).
    pub fn meters_fuel(&self) -> bool {
        self.fuel_per_call.is_some() || self.fuel_per_day.is_some()
    }

    /// The limit called `name` (one of [`QUOTA_NAMES`]), if set.
    pub fn limit(&self, name: &str) -> Option<u64> {
        match name {
            "concurrent_calls" => self.concurrent_calls.map(u64::from),
            "calls_per_minute" => self.calls_per_minute,
            "fuel_per_call" => self.fuel_per_call,
            "fuel_per_day" => self.fuel_per_day,
            "memory_per_call" => self.memory_per_call,
            "warm_instances" => self.warm_instances.map(u64::from),
            "cache_bytes" => self.cache_bytes,
            _ => None,
        }
    }

    /// The memory cap in whole MiB, if set.
    pub fn memory_mib(&self) -> Option<u64> {
        self.memory_per_call.map(|b| (b >> 20).max(1))
    }

    /// Checks the section at key path `path`.
    pub fn check(&self, path: &str, p: &mut Problems) {
        for name in ["concurrent_calls", "calls_per_minute", "fuel_per_call", "fuel_per_day", "cache_bytes"] {
            if let Some(v) = self.limit(name) {
                p.at_least_one(v, join(path, name));
            }
        }
        if let Some(m) = self.memory_per_call {
            p.require(m >= 1 << 20, join(path, "memory_per_call"), "must be ≥ 1048576 (1 MiB)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_and_tiny_memory_are_refused() {
        let q = QuotaConfig { calls_per_minute: Some(0), memory_per_call: Some(1000), ..Default::default() };
        let mut p = Problems::default();
        q.check("tenants.a.quota", &mut p);
        let msg = p.into_string_result().unwrap_err();
        assert!(msg.contains("tenants.a.quota.calls_per_minute must be ≥ 1"), "{msg}");
        assert!(msg.contains("tenants.a.quota.memory_per_call"), "{msg}");
        // warm_instances = 0 is allowed: no warm instances for the tenant.
        let mut p = Problems::default();
        QuotaConfig { warm_instances: Some(0), ..Default::default() }.check("q", &mut p);
        assert!(p.into_string_result().is_ok());
        assert_eq!(
            QuotaConfig { memory_per_call: Some(96 << 20), ..Default::default() }.memory_mib(),
            Some(96)
        );
    }
}
