//! `toolhost.toml`: the host's configuration, with every default documented.
//! Each layer owns its section's type and checks (`[runtime]` and
//! `[defaults]` the runtime, `[tenants]` the registry, `[policy]` …
//! `[executor]` the executor, `[redis]` the Redis backend, `[serve]` the
//! access rules of the front doors); [`Config`] only composes them.
//! Each layer owns its section's type and checks (`[runtime]` and
//! `[defaults]` the runtime, `[tenants]` the registry, `[policy]` …
//! `[executor]` the executor, `[redis]` the Redis backend, `[serve]` the
//! access rules of the front doors); [`Config`] only composes them.
//!
//! ```toml
//! plugins_dir = "plugins"          # folder of NAME.wasm (+ optional NAME.toml)
//! cache_dir = "~/.cache/toolhost"  # compiled-code cache (host-private)
//! watch = false                    # hot reload (serve turns it on)
//!
//! [defaults]                       # per-call limits; a plugin manifest may override
//! timeout_ms = 30000
//! memory_mib = 128
//! output_bytes = 4194304
//!
//! [runtime]
//! epoch_tick_ms = 5
//!
//! [tenants.acme]                   # once any tenant is listed, unlisted tenants see nothing
//! plugins = ["text", "math"]
//! tools = ["*"]
//! deny_tools = ["math.random"]
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toolhost_core::check::Problems;
use toolhost_core::error::{Error, Result};
use toolhost_registry::tenant::TenantConfig;
use toolhost_runtime::{Limits, RuntimeConfig};

pub mod reference;

/// The whole host configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder holding the plugins (`NAME.wasm` plus an optional `NAME.toml`
    /// manifest). Default: `plugins`.
    pub plugins_dir: PathBuf,
    /// Host-private folder for compiled code. Default: `$XDG_CACHE_HOME/toolhost`
    /// or `~/.cache/toolhost`. Must not be inside `plugins_dir`.
    pub cache_dir: Option<PathBuf>,
    /// Watch `plugins_dir` and hot-reload changes. Default: `false`
    /// (`toolhost serve` turns it on).
    pub watch: bool,
    /// Per-call limits for every plugin; manifests may override them.
    pub defaults: Limits,
    /// Engine-wide settings.
    pub runtime: RuntimeConfig,
    /// Tenants and what each may see. Empty (default): a single-user host where
    /// every tenant sees every tool. Once one tenant is listed, a tenant that is
    /// not listed sees nothing.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Executor policies per tool, pattern and globally (`[policy]`).
    pub policy: toolhost_exec::policy::PolicyConfig,
    /// Result cache (`[cache]`).
    pub cache: toolhost_exec::cache::CacheConfig,
    /// Process-wide and per-tenant rate limits (`[rate_limits]`).
    pub rate_limits: toolhost_exec::RateLimitConfig,
    /// Concurrency limits (`[bulkheads]`).
    pub bulkheads: toolhost_exec::bulkhead::BulkheadConfig,
    /// Batch parallelism and retry budget (`[executor]`).
    pub executor: toolhost_exec::ExecutorConfig,
    /// MCP and HTTP serving: tenants of listeners and tokens, origins, limits (`[serve]`).
    pub serve: crate::access::ServeConfig,
    /// Prometheus metrics (`[metrics]`).
    pub metrics: toolhost_core::observe::metrics::MetricsConfig,
    /// Shared Redis for several processes (`redis://host:port/db`). Default:
    /// none (everything in this process).
    pub redis_url: Option<String>,
    /// How the shared Redis is used (`[redis]`).
    pub redis: toolhost_redis::RedisConfig,
    /// Tools that live elsewhere (`[[upstreams]]`): MCP servers (stdio child
    /// process or streamable HTTP) and HTTP APIs described by an OpenAPI
    /// document, served as `<name>.<tool>`. Default: none.
    pub upstreams: Vec<toolhost_upstream::UpstreamConfig>,
    /// Plugins pulled from OCI registries at start (`[[sources]]`): each
    /// verified (a signature by `verify_key` unless `insecure_unsigned`),
    /// locked by digest in `plugins_dir/toolhost.lock` and installed into
    /// `plugins_dir`. Default: none.
    pub sources: Vec<toolhost_oci::SourceConfig>,
    /// The audit trail (`[audit]`): one JSON line per call and per operator action.
    pub audit: crate::observe::audit::AuditConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            plugins_dir: PathBuf::from("plugins"),
            cache_dir: None,
            watch: false,
            defaults: Limits::default(),
            runtime: RuntimeConfig::default(),
            tenants: BTreeMap::new(),
            policy: Default::default(),
            cache: Default::default(),
            rate_limits: Default::default(),
            bulkheads: Default::default(),
            executor: Default::default(),
            serve: Default::default(),
            metrics: Default::default(),
            redis_url: None,
            redis: Default::default(),
            upstreams: Vec::new(),
            sources: Vec::new(),
            audit: Default::default(),
        }
    }
}

impl Config {
    /// Parses a `toolhost.toml` document.
    pub fn from_toml(text: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Configuration(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a config file. Relative `plugins_dir`/`cache_dir` are
    /// resolved against the file's folder.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Configuration(format!("cannot read {}: {e}", path.display())))?;
        let mut cfg = Config::from_toml(&text).map_err(|e| match e {
            Error::Configuration(m) => Error::Configuration(format!("{}: {m}", path.display())),
            e => e,
        })?;
        if let Some(base) = path.parent() {
            if cfg.plugins_dir.is_relative() {
                cfg.plugins_dir = base.join(&cfg.plugins_dir);
            }
            if let Some(c) = &cfg.cache_dir
                && c.is_relative()
            {
                cfg.cache_dir = Some(base.join(c));
            }
            for s in &mut cfg.sources {
                s.resolve_paths(base);
            }
        }
        Ok(cfg)
    }

    /// Checks every section: each problem names its key path and the rule
    /// (`rate_limits.per_tenant.rate must be ≥ 1`); all problems are
    /// reported at once as one `CONFIGURATION_ERROR`.
    pub fn validate(&self) -> Result<()> {
        let mut p = Problems::default();
        self.runtime.check("runtime", &mut p);
        self.defaults.check("defaults", &self.runtime, &mut p);
        for (name, t) in &self.tenants {
            if let Err(e) = toolhost_registry::tenant::TenantPolicy::compile(name, t) {
                p.push(config_message(e));
            }
            check_quota(name, &t.quota, &self.runtime, &mut p);
        }
        self.policy.check("policy", &mut p);
        self.cache.check("cache", &mut p);
        self.rate_limits.check("rate_limits", &mut p);
        self.bulkheads.check("bulkheads", &mut p);
        self.executor.check("executor", &mut p);
        self.serve.check("serve", &mut p);
        self.redis.check("redis", &mut p);
        self.audit.check("audit", &mut p);
        self.check_upstreams(&mut p);
        for (i, s) in self.sources.iter().enumerate() {
            s.check(&format!("sources[{i}]"), &mut p);
        }
        p.into_result()
    }

    /// Every `[[upstreams]]` entry, and unique names.
    fn check_upstreams(&self, p: &mut Problems) {
        let mut seen = std::collections::BTreeSet::new();
        for (i, u) in self.upstreams.iter().enumerate() {
            let at = format!("upstreams[{i}]");
            u.check(&at, p);
            p.require(
                seen.insert(u.name.as_str()),
                toolhost_core::check::join(&at, "name"),
                "is used by another upstream",
            );
        }
    }

    /// The compile-cache folder this config resolves to (`None` = caching off).
    pub fn resolved_cache_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.cache_dir {
            if dir.as_os_str() == "off" {
                return None;
            }
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("toolhost"))
    }
}

/// Checks `[tenants.NAME.quota]`: limits ≥ 1, and fuel quotas only where
/// fuel is counted (`runtime.fuel = true`).
pub fn check_quota(
    tenant: &str,
    q: &toolhost_core::quota::QuotaConfig,
    runtime: &RuntimeConfig,
    p: &mut Problems,
) {
    let at = format!("tenants.{}.quota", toolhost_core::check::map_key(tenant));
    q.check(&at, p);
    p.require(
        runtime.fuel || !q.meters_fuel(),
        format!("{at}.fuel_per_call/fuel_per_day"),
        "need runtime.fuel = true (fuel is not counted otherwise)",
    );
}

/// The message of a configuration error, without the `configuration error:` prefix.
pub fn config_message(e: Error) -> String {
    match e {
        Error::Configuration(m) => m,
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let cfg = Config::from_toml("").unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.defaults.timeout_ms, 30_000);
        assert_eq!(cfg.defaults.memory_mib, 128);
        assert_eq!(cfg.runtime.epoch_tick_ms, 5);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = Config::from_toml("plugin_dir = 'x'").unwrap_err();
        assert_eq!(err.code(), toolhost_core::ErrorCode::ConfigurationError);
        assert!(err.to_string().contains("plugin_dir"), "{err}");
    }

    /// `[tenants.NAME.quota]` parses at its path (every key) and is checked.
    #[test]
    fn tenant_quotas_parse_and_are_checked() {
        let cfg = Config::from_toml(
            "[tenants.acme.quota]\nconcurrent_calls = 2\ncalls_per_minute = 60\nfuel_per_call = 1000\n\
             fuel_per_day = 5000\nmemory_per_call = 67108864\nwarm_instances = 1\ncache_bytes = 4096",
        )
        .unwrap();
        let q = &cfg.tenants["acme"].quota;
        assert_eq!(
            (q.concurrent_calls, q.calls_per_minute, q.fuel_per_call),
            (Some(2), Some(60), Some(1000))
        );
        assert_eq!((q.fuel_per_day, q.memory_per_call), (Some(5000), Some(64 << 20)));
        assert_eq!((q.warm_instances, q.cache_bytes), (Some(1), Some(4096)));
        let err = Config::from_toml("[tenants.acme.quota]\ncalls_per_minute = 0").unwrap_err();
        assert!(err.to_string().contains("tenants.acme.quota.calls_per_minute"), "{err}");
        let err =
            Config::from_toml("[runtime]\nfuel = false\n[tenants.a.quota]\nfuel_per_day = 5").unwrap_err();
        assert!(err.to_string().contains("runtime.fuel"), "{err}");
        let err = Config::from_toml("[tenants.acme.quota]\ncalls_per_hour = 5").unwrap_err();
        assert!(err.to_string().contains("calls_per_hour"), "{err}");
    }

    #[test]
    fn limits_are_validated() {
        let err = Config::from_toml("[defaults]\nmemory_mib = 100000").unwrap_err();
        assert!(err.to_string().contains("memory_mib"), "{err}");
        let err = Config::from_toml("[runtime]\nfuel = false\n[defaults]\nfuel = 5").unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }
}
