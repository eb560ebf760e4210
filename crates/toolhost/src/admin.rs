//! Operating a running host: reloading `toolhost.toml` (tokens, tenants,
//! policies, quotas) without dropping calls, enabling and disabling plugins,
//! resetting breakers, clearing the result cache, reading and changing a
//! tenant's quotas. The HTTP admin API (`/admin/*`) and `SIGHUP` call these.
//!
//! A reload is all or nothing: the new file is parsed and every section
//! checked and compiled before anything changes; a bad file is refused with
//! its `CONFIGURATION_ERROR` and the running configuration stays. Calls in
//! flight finish under the rules they started with. Settings that shape the
//! process itself (listeners, `plugins_dir`, `[runtime]`, `[defaults]`,
//! `[cache]`, `[executor]`, Redis, upstreams, sources, metrics, OAuth) need a
//! restart: a reload that changes them says so and keeps the running values.

use crate::Host;
use crate::access::auth::Tokens;
use crate::config::Config;
use serde::Serialize;
use std::sync::Arc;
use toolhost_core::error::{Error, Result};
use toolhost_core::quota::QuotaConfig;
use toolhost_exec::SharedState;
use toolhost_exec::quota::{QuotaUse, Quotas};
use toolhost_exec::scoped_cache::{Cleared, ScopedCache};
use toolhost_registry::RegistryEvent;
use toolhost_registry::tenant::Tenants;

/// Re-reads the configuration (the CLI's: the file plus its command-line overrides).
pub type Reloader = Arc<dyn Fn() -> Result<Config> + Send + Sync>;

/// What a reload replaces.
pub(crate) struct Live {
    /// The configuration in force: the start's plus what reloads changed.
    current: arc_swap::ArcSwap<Config>,
    /// `[[serve.tokens]]` in force.
    tokens: arc_swap::ArcSwap<Tokens>,
    /// Re-reads the configuration for [`Host::reload`] (set by the CLI).
    reloader: std::sync::Mutex<Option<Reloader>>,
}

impl Live {
    pub(crate) fn new(cfg: &Config) -> Result<Live> {
        Ok(Live {
            current: arc_swap::ArcSwap::from_pointee(cfg.clone()),
            tokens: arc_swap::ArcSwap::from_pointee(Tokens::compile(&cfg.serve.tokens)?),
            reloader: Default::default(),
        })
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    /// Whether a configuration was read and applied (no reloader: only plugins).
    pub config: bool,
    /// Changed sections that need a restart (kept at their running values).
    pub restart_needed: Vec<&'static str>,
    /// What the rescan of the plugins folder changed.
    pub plugins: RegistryEvent,
}

/// The tenants' quotas from `cfg`, and the cache backend wrapped so results
/// are recorded per tenant and tool.
pub(crate) fn tenancy_state(
    cfg: &Config,
    mut shared: SharedState,
    clock: &Arc<dyn toolhost_exec::clock::Clock>,
) -> (Quotas, SharedState, Option<Arc<ScopedCache>>) {
    let quotas = Quotas::new(clock.clone());
    quotas.set_all(cfg.tenants.iter().map(|(t, c)| (t.clone(), c.quota.clone())).collect());
    if !cfg.cache.enabled {
        return (quotas, shared, None);
    }
    let inner = shared
        .cache
        .take()
        .unwrap_or_else(|| Arc::new(toolhost_exec::cache::MemoryCache::new(cfg.cache.max_bytes)));
    let scoped = Arc::new(ScopedCache::new(inner, quotas.clone()));
    shared.cache = Some(scoped.clone());
    (quotas, shared, Some(scoped))
}

/// `new` with the sections a reload cannot change taken from `old`, and their names.
fn keep_fixed(old: &Config, mut new: Config) -> (Config, Vec<&'static str>) {
    let mut fixed = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                fixed.push(stringify!($field));
                new.$field = old.$field.clone();
            }
        )*};
    }
    keep!(plugins_dir, cache_dir, watch, defaults, runtime, cache, executor, metrics, redis_url, redis);
    keep!(upstreams, sources);
    let serve_rest =
        |s: &crate::access::ServeConfig| crate::access::ServeConfig { tokens: vec![], ..s.clone() };
    if serve_rest(&old.serve) != serve_rest(&new.serve) {
        fixed.push("serve (other than tokens)");
        new.serve = crate::access::ServeConfig { tokens: new.serve.tokens, ..old.serve.clone() };
    }
    (new, fixed)
}

impl Host {
    /// The configuration in force (the start's plus reloads).
    pub fn current_config(&self) -> Arc<Config> {
        self.inner().live.current.load_full()
    }

    /// The `[[serve.tokens]]` in force.
    pub fn tokens(&self) -> Arc<Tokens> {
        self.inner().live.tokens.load_full()
    }

    /// Every tenant's quotas and use.
    pub fn quotas(&self) -> &Quotas {
        &self.inner().quotas
    }

    pub(crate) fn scoped_cache(&self) -> Option<&Arc<ScopedCache>> {
        self.inner().scoped_cache.as_ref()
    }

    /// How [`reload`](Self::reload) re-reads the configuration.
    pub fn set_reloader(&self, f: impl Fn() -> Result<Config> + Send + Sync + 'static) {
        *self.inner().live.reloader.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    /// Re-reads the configuration (when a reloader is set) and applies it,
    /// then rescans the plugins folder. A configuration that does not parse
    /// or validate is refused (`CONFIGURATION_ERROR`) and nothing changes.
    pub async fn reload(&self) -> Result<Reloaded> {
        let reloader = self.inner().live.reloader.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (config, restart_needed) = match reloader {
            Some(read) => (true, self.apply_config(read()?)?),
            None => (false, vec![]),
        };
        let plugins = self.registry().load_all().await?;
        Ok(Reloaded { config, restart_needed, plugins })
    }

    /// Applies `new`'s tokens, tenants, policies, rate limits, bulkheads and
    /// quotas to new calls, all or nothing. Returns the changed sections that
    /// need a restart (their running values are kept).
    pub fn apply_config(&self, new: Config) -> Result<Vec<&'static str>> {
        new.validate()?;
        let old = self.current_config();
        let (new, fixed) = keep_fixed(&old, new);
        let tokens = Tokens::compile(&new.serve.tokens)?;
        let tenants = Tenants::compile(&new.tenants)?;
        self.executor().reconfigure(new.policy.clone(), new.rate_limits.clone(), new.bulkheads.clone())?;
        self.inner().live.tokens.store(Arc::new(tokens));
        self.registry().set_tenants(tenants.clone());
        self.inner().upstreams.set_tenants(tenants);
        self.quotas().set_all(new.tenants.iter().map(|(t, c)| (t.clone(), c.quota.clone())).collect());
        if !fixed.is_empty() {
            tracing::warn!(sections = ?fixed, "configuration reloaded; these changed sections need a restart and keep their running values");
        }
        tracing::info!(
            tokens = new.serve.tokens.len(),
            tenants = new.tenants.len(),
            "configuration reloaded"
        );
        self.inner().live.current.store(Arc::new(new));
        Ok(fixed)
    }

    /// Disables or enables plugin `name` (its tools leave or rejoin every
    /// listing; MCP sessions are told). Returns whether it changed.
    pub async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        self.registry().set_enabled(name, enabled).await
    }

    /// Closes `tenant`'s breaker of `tool`; whether there was one.
    pub fn reset_breaker(&self, tenant: &str, tool: &str) -> bool {
        self.executor().reset_breaker(tenant, tool)
    }

    /// Removes cached results of `tenant` and `tool` (any when `None`; with
    /// neither, everything, Redis included when configured). `None` when
    /// the result cache is off.
    pub async fn clear_cache(&self, tenant: Option<&str>, tool: Option<&str>) -> Option<Cleared> {
        let cache = self.scoped_cache()?;
        Some(cache.clear(tenant, tool).await)
    }

    /// `tenant`'s quotas and their use.
    pub fn tenant_quota(&self, tenant: &str) -> (QuotaConfig, Vec<QuotaUse>) {
        (self.quotas().get(tenant), self.quotas().usage(tenant))
    }

    /// Replaces `tenant`'s quotas for new calls at once (until the next
    /// configuration reload). Checked like the file's.
    pub fn set_tenant_quota(&self, tenant: &str, q: QuotaConfig) -> Result<()> {
        let mut p = toolhost_core::check::Problems::default();
        crate::config::check_quota(tenant, &q, &self.config().runtime, &mut p);
        p.into_result()?;
        if tenant.is_empty() {
            return Err(Error::Configuration("tenant name must not be empty".into()));
        }
        self.quotas().set(tenant, q);
        tracing::info!(tenant, "tenant quota changed by an operator");
        Ok(())
    }
}
