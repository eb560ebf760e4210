//! `toolhost.toml`: the host's configuration, with every default documented.
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

use crate::error::{Error, Result};
use check::Problems;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) mod check;
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
    pub policy: crate::exec::policy::PolicyConfig,
    /// Result cache (`[cache]`).
    pub cache: crate::exec::cache::CacheConfig,
    /// Process-wide and per-tenant rate limits (`[rate_limits]`).
    pub rate_limits: crate::exec::RateLimitConfig,
    /// Concurrency limits (`[bulkheads]`).
    pub bulkheads: crate::exec::bulkhead::BulkheadConfig,
    /// Batch parallelism and retry budget (`[executor]`).
    pub executor: crate::exec::ExecutorConfig,
    /// MCP and HTTP serving: tenants of listeners and tokens, origins, limits (`[serve]`).
    pub serve: crate::serve::ServeConfig,
    /// Prometheus metrics (`[metrics]`).
    pub metrics: crate::observe::metrics::MetricsConfig,
    /// Shared Redis for several processes (`redis://host:port/db`). Default:
    /// none (everything in this process).
    pub redis_url: Option<String>,
    /// How the shared Redis is used (`[redis]`).
    pub redis: crate::backend::RedisConfig,
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
            if let Err(e) = crate::registry::tenant::TenantPolicy::compile(name, t) {
                p.push(config_message(e));
            }
        }
        self.policy.check("policy", &mut p);
        self.cache.check("cache", &mut p);
        self.rate_limits.check("rate_limits", &mut p);
        self.bulkheads.check("bulkheads", &mut p);
        self.executor.check("executor", &mut p);
        self.serve.check("serve", &mut p);
        self.redis.check("redis", &mut p);
        p.into_result()
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

/// The message of a configuration error, without the `configuration error:` prefix.
pub(crate) fn config_message(e: Error) -> String {
    match e {
        Error::Configuration(m) => m,
        e => e.to_string(),
    }
}

/// Per-call limits. Every field has a default; manifests override single fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time per call, milliseconds. Default: 30000.
    pub timeout_ms: u64,
    /// Total linear memory across all of a call's memories, MiB. Default: 128.
    pub memory_mib: u64,
    /// CPU budget in wasm fuel units (≈ 1e7 per ms of compute); `None` = unmetered. Default: none.
    pub fuel: Option<u64>,
    /// Largest result (value + content) in bytes. Default: 4 MiB.
    pub output_bytes: u64,
    /// Total table elements per call. Default: 100000.
    pub table_elements: u64,
    /// Core instances, tables and memories per call (each). Default: 128.
    pub instances: u32,
    /// Bytes of guest stdout/stderr kept per call (head and tail), the rest is
    /// counted and dropped. Default: 8192.
    pub stdio_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 30_000,
            memory_mib: 128,
            fuel: None,
            output_bytes: 4 * 1024 * 1024,
            table_elements: 100_000,
            instances: 128,
            stdio_bytes: 8192,
        }
    }
}

impl Limits {
    /// The per-call timeout.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }

    /// Memory limit in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib * 1024 * 1024
    }

    /// Checks the limits (at `path`: `defaults`, or `limits` in a manifest)
    /// against the engine's settings.
    pub(crate) fn check(&self, path: &str, rt: &RuntimeConfig, p: &mut Problems) {
        let at = |k: &str| check::join(path, k);
        p.at_least_one(self.timeout_ms, at("timeout_ms"));
        p.require(
            (1..=rt.max_memory_mib.max(1)).contains(&self.memory_mib),
            at("memory_mib"),
            format_args!("must be within 1..={} (runtime.max_memory_mib)", rt.max_memory_mib),
        );
        p.at_least_one(self.output_bytes, at("output_bytes"));
        p.at_least_one(self.table_elements, at("table_elements"));
        p.at_least_one(u64::from(self.instances), at("instances"));
        if let Some(fuel) = self.fuel {
            p.at_least_one(fuel, at("fuel"));
            p.require(rt.fuel, at("fuel"), "needs runtime.fuel = true (a fuel budget is only counted then)");
        }
    }

    /// Applies a manifest's overrides.
    pub fn merged(&self, o: &LimitsOverride) -> Limits {
        Limits {
            timeout_ms: o.timeout_ms.unwrap_or(self.timeout_ms),
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            fuel: o.fuel.or(self.fuel),
            output_bytes: o.output_bytes.unwrap_or(self.output_bytes),
            table_elements: o.table_elements.unwrap_or(self.table_elements),
            instances: o.instances.unwrap_or(self.instances),
            stdio_bytes: o.stdio_bytes.unwrap_or(self.stdio_bytes),
        }
    }
}

/// A manifest's `[limits]`: each field overrides the host default when set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LimitsOverride {
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub fuel: Option<u64>,
    pub output_bytes: Option<u64>,
    pub table_elements: Option<u64>,
    pub instances: Option<u32>,
    pub stdio_bytes: Option<usize>,
}

/// How instance memory is allocated.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Pooling when the address space allows, else on-demand (logged).
    Auto,
    /// Pooling allocator: fastest instantiation; fails if it cannot reserve.
    Pooling,
    /// Allocate each instance on demand.
    OnDemand,
}

/// Engine-wide settings (one engine per process).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Epoch ticker period, ms: deadlines are enforced to within one tick. Default: 5.
    pub epoch_tick_ms: u64,
    /// Memory allocator. Default: `auto`.
    pub allocator: Allocator,
    /// Count fuel, so manifests can set CPU budgets and calls report fuel used.
    /// Default: `true`.
    pub fuel: bool,
    /// Largest wasm stack, KiB (stays below the 2 MiB async stack). Default: 512.
    pub max_wasm_stack_kib: usize,
    /// Largest memory any plugin may be granted, MiB (pool slot size). Default: 512.
    pub max_memory_mib: u64,
    /// Concurrent instances in the pool (process-wide admission). Default: 256.
    pub pool_instances: u32,
    /// Refuse plugins that import `wasi:sockets` or `wasi:http` at load instead
    /// of denying every connection at run time. Default: `false`.
    pub deny_network_imports: bool,
    /// Largest plugin file accepted, MiB. Default: 128.
    pub max_plugin_mib: u64,
    /// Parallel compilations. Default: 2.
    pub compile_concurrency: usize,
    /// Time allowed for `describe()` at load, ms. Default: 10000.
    pub describe_timeout_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            epoch_tick_ms: 5,
            allocator: Allocator::Auto,
            fuel: true,
            max_wasm_stack_kib: 512,
            max_memory_mib: 512,
            pool_instances: 256,
            deny_network_imports: false,
            max_plugin_mib: 128,
            compile_concurrency: 2,
            describe_timeout_ms: 10_000,
        }
    }
}

impl RuntimeConfig {
    /// Largest `max_wasm_stack_kib`: below wasmtime's 2 MiB async stack.
    pub const MAX_WASM_STACK_KIB: usize = 2047;

    pub(crate) fn check(&self, path: &str, p: &mut Problems) {
        let at = |k: &str| check::join(path, k);
        p.require((1..=1000).contains(&self.epoch_tick_ms), at("epoch_tick_ms"), "must be within 1..=1000");
        p.require(
            (1..=Self::MAX_WASM_STACK_KIB).contains(&self.max_wasm_stack_kib),
            at("max_wasm_stack_kib"),
            format_args!("must be within 1..={} (below the 2 MiB async stack)", Self::MAX_WASM_STACK_KIB),
        );
        p.at_least_one(self.max_memory_mib, at("max_memory_mib"));
        p.at_least_one(u64::from(self.pool_instances), at("pool_instances"));
        p.at_least_one(self.max_plugin_mib, at("max_plugin_mib"));
        p.at_least_one(self.compile_concurrency as u64, at("compile_concurrency"));
        p.at_least_one(self.describe_timeout_ms, at("describe_timeout_ms"));
    }
}

/// What one tenant may see. Globs use `*`, `?`, `[..]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    /// Plugin names (file stems) this tenant may use. Default: `["*"]`.
    pub plugins: Vec<String>,
    /// Tool names this tenant may use. Default: `["*"]`.
    pub tools: Vec<String>,
    /// Tool names hidden from this tenant even when matched above. Default: none.
    pub deny_tools: Vec<String>,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig { plugins: vec!["*".into()], tools: vec!["*".into()], deny_tools: vec![] }
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
        assert_eq!(err.code(), crate::ErrorCode::ConfigurationError);
        assert!(err.to_string().contains("plugin_dir"), "{err}");
    }

    #[test]
    fn limits_are_validated() {
        let err = Config::from_toml("[defaults]\nmemory_mib = 100000").unwrap_err();
        assert!(err.to_string().contains("memory_mib"), "{err}");
        let err = Config::from_toml("[runtime]\nfuel = false\n[defaults]\nfuel = 5").unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }

    #[test]
    fn manifest_overrides_merge_field_by_field() {
        let base = Limits::default();
        let o = LimitsOverride { timeout_ms: Some(50), ..Default::default() };
        let m = base.merged(&o);
        assert_eq!(m.timeout_ms, 50);
        assert_eq!(m.memory_mib, base.memory_mib);
    }
}
