//! Per-tool policy with precedence: per-call > per-tool > pattern > global.
//!
//! ```toml
//! [policy]                    # global: applies to every tool
//! timeout_ms = 30000          # per attempt
//! total_timeout_ms = 90000    # across attempts and backoff sleeps
//! retry = { max_attempts = 3, base_ms = 100, cap_ms = 5000 }
//!
//! [policy.patterns."web.*"]   # first matching pattern (in file order)
//! timeout_ms = 5000
//! rate_limit = { rate = 10, per_ms = 1000, burst = 5 }
//!
//! [policy.tools."text.upper"] # exact tool name
//! cache = true
//!
//! [policy.tools."files.purge"]
//! confirm_destructive = false # per tool, like every field
//! ```

use super::breaker::BreakerConfig;
use super::rate_limit::Quota;
use super::retry::RetryPolicy;
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every field optional: an unset field falls through to the next level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyOverride {
    /// Time per attempt, ms.
    pub timeout_ms: Option<u64>,
    /// Time across all attempts and backoff sleeps, ms.
    pub total_timeout_ms: Option<u64>,
    /// Retry policy.
    pub retry: Option<RetryPolicy>,
    /// Cache successful results (only idempotent tools).
    pub cache: Option<bool>,
    /// Cache entry lifetime, seconds.
    pub cache_ttl_secs: Option<u64>,
    /// Overrides the tool's own `idempotent` declaration.
    pub idempotent: Option<bool>,
    /// Circuit breaker settings (the breaker is off unless set somewhere).
    pub breaker: Option<BreakerConfig>,
    /// Rate limit for this tool (per tenant), or shared by a pattern's tools.
    pub rate_limit: Option<Quota>,
    /// Rate-limited calls wait (up to the deadline) instead of failing at once.
    pub rate_limit_wait: Option<bool>,
    /// JSON result returned instead of an error once every attempt failed.
    pub fallback: Option<serde_json::Value>,
    /// Ask the caller to confirm before a tool annotated `destructive` runs
    /// (an elicitation through the call's `interact`; see [`crate::confirm`]).
    pub confirm_destructive: Option<bool>,
}

impl PolicyOverride {
    /// `self` with unset fields taken from `base`.
    fn over(&self, base: &PolicyOverride) -> PolicyOverride {
        PolicyOverride {
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            total_timeout_ms: self.total_timeout_ms.or(base.total_timeout_ms),
            retry: self.retry.clone().or_else(|| base.retry.clone()),
            cache: self.cache.or(base.cache),
            cache_ttl_secs: self.cache_ttl_secs.or(base.cache_ttl_secs),
            idempotent: self.idempotent.or(base.idempotent),
            breaker: self.breaker.clone().or_else(|| base.breaker.clone()),
            rate_limit: self.rate_limit.or(base.rate_limit),
            rate_limit_wait: self.rate_limit_wait.or(base.rate_limit_wait),
            fallback: self.fallback.clone().or_else(|| base.fallback.clone()),
            confirm_destructive: self.confirm_destructive.or(base.confirm_destructive),
        }
    }
}

impl PolicyOverride {
    /// Checks every set field, naming it at `path` (`policy.tools."x".timeout_ms must be ≥ 1`).
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        for (key, v) in [
            ("timeout_ms", self.timeout_ms),
            ("total_timeout_ms", self.total_timeout_ms),
            ("cache_ttl_secs", self.cache_ttl_secs),
        ] {
            if let Some(v) = v {
                p.at_least_one(v, join(path, key));
            }
        }
        if let Some(r) = &self.retry {
            r.check(&join(path, "retry"), p);
        }
        if let Some(b) = &self.breaker {
            b.check(&join(path, "breaker"), p);
        }
        if let Some(q) = &self.rate_limit {
            q.check(&join(path, "rate_limit"), p);
        }
    }

    /// Checks a per-call override (from a request): every problem
    /// (`timeout_ms must be ≥ 1`), or `Ok`.
    pub fn validate(&self) -> Result<(), String> {
        let mut p = toolhost_core::check::Problems::default();
        self.check("", &mut p);
        p.into_string_result()
    }
}

/// `[policy]`: global defaults plus pattern and tool overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Applies to every tool.
    #[serde(flatten)]
    pub global: PolicyOverride,
    /// Glob over tool names → override; the first match (in order) applies.
    pub patterns: Vec<PatternPolicy>,
    /// Exact tool name → override.
    pub tools: BTreeMap<String, PolicyOverride>,
}

impl PolicyConfig {
    /// Checks the global policy, every pattern (glob and fields) and every tool's.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::{glob, join, map_key};
        self.global.check(path, p);
        for (i, rule) in self.patterns.iter().enumerate() {
            let at = join(path, format_args!("patterns[{i}]"));
            glob(p, &rule.pattern, join(&at, "pattern"));
            rule.policy.check(&at, p);
        }
        for (tool, o) in &self.tools {
            o.check(&join(path, format_args!("tools.{}", map_key(tool))), p);
        }
    }
}

/// One pattern rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternPolicy {
    /// Glob over tool names.
    pub pattern: String,
    /// Its settings.
    #[serde(flatten)]
    pub policy: PolicyOverride,
}

/// The policy in force for one call, after precedence.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// Per attempt.
    pub attempt_timeout: Duration,
    /// Across attempts, if bounded.
    pub total_timeout: Option<Duration>,
    /// Retries.
    pub retry: RetryPolicy,
    /// Cache this call's success.
    pub cache: bool,
    /// Cache TTL.
    pub cache_ttl: Duration,
    /// Idempotent (declared, or overridden).
    pub idempotent: bool,
    /// Breaker, if on.
    pub breaker: Option<BreakerConfig>,
    /// Tool-level rate limit and its scope (`tool:…` or `pattern:…`); the
    /// executor counts it per tenant.
    pub rate_limit: Option<(String, Quota)>,
    /// Wait instead of rejecting when rate-limited.
    pub rate_limit_wait: bool,
    /// Fallback value.
    pub fallback: Option<serde_json::Value>,
    /// Confirm with the caller before a destructive tool runs.
    pub confirm_destructive: bool,
}

/// Compiled [`PolicyConfig`].
#[derive(Debug)]
pub struct Policies {
    cfg: PolicyConfig,
    matchers: Vec<GlobMatcher>,
    /// Cache lifetime when no policy level sets `cache_ttl_secs` (`[cache] ttl_secs`).
    default_ttl: Duration,
    /// Resolved policies of calls without per-call overrides, per
    /// (tool, manifest timeout, default timeout, declared idempotency).
    memo: std::sync::RwLock<Memo>,
}

/// Resolved policies by tool name, then by (manifest timeout, default
/// timeout, declared idempotency): a tool has one or a few of those.
/// Keyed by tool names the registry found (a caller's typo never gets here).
type Memo = std::collections::HashMap<
    String,
    Vec<(MemoRest, std::sync::Arc<Effective>)>,
    toolhost_core::fold_hash::BuildFold,
>;
type MemoRest = (Option<Duration>, Duration, bool);

/// Default cache lifetime (`[cache] ttl_secs` replaces it, see [`Policies::with_cache_ttl`]).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

impl Policies {
    /// Compiles the pattern globs.
    pub fn new(cfg: PolicyConfig) -> Result<Policies, String> {
        let matchers = cfg
            .patterns
            .iter()
            .map(|p| {
                Glob::new(&p.pattern)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("policy pattern {:?}: {e}", p.pattern))
            })
            .collect::<Result<_, _>>()?;
        Ok(Policies { cfg, matchers, default_ttl: DEFAULT_CACHE_TTL, memo: Default::default() })
    }

    /// The cache lifetime of calls no policy level gives one (`[cache]
    /// ttl_secs`); `cache_ttl_secs` per call, tool, pattern or globally wins.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Policies {
        self.default_ttl = ttl;
        self
    }

    /// The cache lifetime of calls no policy level gives one.
    pub fn default_cache_ttl(&self) -> Duration {
        self.default_ttl
    }

    /// [`resolve`](Self::resolve), memoised for calls without per-call
    /// overrides (the common case): the hot path does no merging or cloning.
    pub fn resolve_cached(
        &self,
        tool: &str,
        declared_idempotent: bool,
        plugin_timeout: Option<Duration>,
        default_timeout: Duration,
        per_call: &PolicyOverride,
    ) -> std::sync::Arc<Effective> {
        if *per_call != PolicyOverride::default() {
            let e = self.resolve(tool, declared_idempotent, plugin_timeout, default_timeout, per_call);
            return std::sync::Arc::new(e);
        }
        let rest = (plugin_timeout, default_timeout, declared_idempotent);
        // Looked up by the borrowed name: a hit allocates nothing.
        let found = |memo: &Memo| memo.get(tool)?.iter().find(|(r, _)| *r == rest).map(|(_, e)| e.clone());
        if let Some(e) = found(&self.memo.read().unwrap()) {
            return e;
        }
        let e = std::sync::Arc::new(self.resolve(
            tool,
            declared_idempotent,
            plugin_timeout,
            default_timeout,
            per_call,
        ));
        let mut memo = self.memo.write().unwrap();
        if memo.len() > 10_000 {
            memo.clear();
        }
        let versions = memo.entry(tool.to_string()).or_default();
        if versions.len() >= 8 {
            versions.clear();
        }
        versions.push((rest, e.clone()));
        e
    }

    /// Resolves the policy of one call. `per_call` wins over everything;
    /// the plugin manifest's own `timeout_ms` sits between global and pattern;
    /// `default_timeout` (the host's `[defaults]`) applies when nothing is set.
    pub fn resolve(
        &self,
        tool: &str,
        declared_idempotent: bool,
        plugin_timeout: Option<Duration>,
        default_timeout: Duration,
        per_call: &PolicyOverride,
    ) -> Effective {
        let mut merged = self.cfg.global.clone();
        if let Some(t) = plugin_timeout {
            merged.timeout_ms = Some(t.as_millis() as u64);
        }
        let mut limit_key = format!("tool:{tool}");
        if let Some(i) = self.matchers.iter().position(|m| m.is_match(tool)) {
            let p = &self.cfg.patterns[i];
            if p.policy.rate_limit.is_some() {
                limit_key = format!("pattern:{}", p.pattern);
            }
            merged = p.policy.over(&merged);
        }
        if let Some(t) = self.cfg.tools.get(tool) {
            if t.rate_limit.is_some() {
                limit_key = format!("tool:{tool}");
            }
            merged = t.over(&merged);
        }
        merged = per_call.over(&merged);
        Effective {
            attempt_timeout: merged.timeout_ms.map(Duration::from_millis).unwrap_or(default_timeout),
            total_timeout: merged.total_timeout_ms.map(Duration::from_millis),
            retry: merged.retry.unwrap_or_default(),
            cache: merged.cache.unwrap_or(false),
            cache_ttl: merged.cache_ttl_secs.map(Duration::from_secs).unwrap_or(self.default_ttl),
            idempotent: merged.idempotent.unwrap_or(declared_idempotent),
            breaker: merged.breaker,
            rate_limit: merged.rate_limit.map(|q| (limit_key, q)),
            rate_limit_wait: merged.rate_limit_wait.unwrap_or(false),
            fallback: merged.fallback,
            confirm_destructive: merged.confirm_destructive.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(30);

    fn cfg() -> Policies {
        let text = r#"
            timeout_ms = 1000
            cache = false
            [[patterns]]
            pattern = "web.*"
            timeout_ms = 200
            cache = true
            [[patterns]]
            pattern = "*"
            timeout_ms = 999
            [tools."web.fetch"]
            timeout_ms = 50
        "#;
        Policies::new(toml::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn precedence_is_call_then_tool_then_pattern_then_global() {
        let p = cfg();
        let none = PolicyOverride::default();
        assert_eq!(p.resolve("web.fetch", false, None, D, &none).attempt_timeout, Duration::from_millis(50));
        assert_eq!(
            p.resolve("web.search", false, None, D, &none).attempt_timeout,
            Duration::from_millis(200)
        );
        assert!(
            p.resolve("web.fetch", false, None, D, &none).cache,
            "tool inherits its pattern's unset fields"
        );
        assert_eq!(p.resolve("math.eval", false, None, D, &none).attempt_timeout, Duration::from_millis(999));
        let call = PolicyOverride { timeout_ms: Some(7), ..Default::default() };
        assert_eq!(p.resolve("web.fetch", false, None, D, &call).attempt_timeout, Duration::from_millis(7));
    }

    #[test]
    fn built_in_defaults_apply_when_nothing_is_configured() {
        let p = Policies::new(PolicyConfig::default()).unwrap();
        let e = p.resolve("x", true, None, D, &PolicyOverride::default());
        assert_eq!(e.attempt_timeout, D);
        assert!(!e.cache && e.idempotent && e.breaker.is_none() && e.rate_limit.is_none());
        assert_eq!(e.retry, RetryPolicy::default());
    }

    #[test]
    fn the_cache_section_sets_the_default_ttl_and_policy_levels_win() {
        let none = PolicyOverride::default();
        let plain = Policies::new(PolicyConfig::default()).unwrap();
        assert_eq!(plain.resolve("x", true, None, D, &none).cache_ttl, DEFAULT_CACHE_TTL);
        let text = "[tools.\"t\"]\ncache_ttl_secs = 9";
        let p = Policies::new(toml::from_str(text).unwrap()).unwrap().with_cache_ttl(Duration::from_secs(7));
        assert_eq!(p.resolve("x", true, None, D, &none).cache_ttl, Duration::from_secs(7));
        assert_eq!(p.resolve_cached("x", true, None, D, &none).cache_ttl, Duration::from_secs(7));
        assert_eq!(p.resolve("t", true, None, D, &none).cache_ttl, Duration::from_secs(9));
        let call = PolicyOverride { cache_ttl_secs: Some(3), ..Default::default() };
        assert_eq!(p.resolve("t", true, None, D, &call).cache_ttl, Duration::from_secs(3));
    }

    #[test]
    fn confirm_destructive_is_off_unless_a_level_sets_it() {
        let none = PolicyOverride::default();
        assert!(
            !Policies::new(PolicyConfig::default())
                .unwrap()
                .resolve("x", false, None, D, &none)
                .confirm_destructive
        );
        let text = "confirm_destructive = true\n[tools.\"safe\"]\nconfirm_destructive = false";
        let p = Policies::new(toml::from_str(text).unwrap()).unwrap();
        assert!(p.resolve("files.purge", false, None, D, &none).confirm_destructive);
        assert!(!p.resolve("safe", false, None, D, &none).confirm_destructive);
    }

    #[test]
    fn the_manifest_timeout_sits_between_global_and_pattern() {
        let p = cfg();
        let none = PolicyOverride::default();
        let m = Some(Duration::from_millis(333));
        assert_eq!(p.resolve("web.search", false, m, D, &none).attempt_timeout, Duration::from_millis(200));
        let plain = Policies::new(PolicyConfig::default()).unwrap();
        assert_eq!(plain.resolve("x", false, m, D, &none).attempt_timeout, Duration::from_millis(333));
    }
}
