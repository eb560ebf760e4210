//! `[redis]`: how this process uses a shared Redis (only when `redis_url` is set).

use serde::{Deserialize, Serialize};
use toolhost_core::check::Problems;

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
        let mut p = Problems::default();
        self.check("redis", &mut p);
        p.into_string_result()
    }

    /// [`validate`](Self::validate), every problem named at its key path.
    pub fn check(&self, path: &str, p: &mut Problems) {
        use toolhost_core::check::join;
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
