//! Tenant scoping: which plugins and tools each tenant may see.
//!
//! Keys always come from the caller's authenticated identity (or the listener's
//! configuration), never from request fields. A tenant that may not see a tool
//! gets exactly what it would get for a tool that does not exist.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toolhost_core::error::{Error, Result};

/// The tenant used when a caller names none.
pub const DEFAULT_TENANT: &str = "default";

/// One tenant's compiled allow/deny lists.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    plugins: GlobSet,
    tools: GlobSet,
    deny_tools: GlobSet,
}

fn globs(tenant: &str, field: &str, patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p)
            .map_err(|e| Error::Configuration(format!("tenants.{tenant}.{field}: bad pattern {p:?}: {e}")))?;
        b.add(g);
    }
    b.build().map_err(|e| Error::Configuration(format!("tenants.{tenant}.{field}: {e}")))
}

impl TenantPolicy {
    /// Compiles a tenant's configuration.
    pub fn compile(name: &str, cfg: &TenantConfig) -> Result<TenantPolicy> {
        Ok(TenantPolicy {
            plugins: globs(name, "plugins", &cfg.plugins)?,
            tools: globs(name, "tools", &cfg.tools)?,
            deny_tools: globs(name, "deny_tools", &cfg.deny_tools)?,
        })
    }

    fn allows(&self, plugin: &str, tool: &str) -> bool {
        self.plugins.is_match(plugin) && self.tools.is_match(tool) && !self.deny_tools.is_match(tool)
    }
}

/// Every tenant's policy.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    /// Empty = single-user host: every tenant sees everything.
    policies: BTreeMap<String, TenantPolicy>,
}

impl Tenants {
    /// Compiles the `[tenants]` section.
    pub fn compile(cfg: &BTreeMap<String, TenantConfig>) -> Result<Tenants> {
        let mut policies = BTreeMap::new();
        for (name, t) in cfg {
            policies.insert(name.clone(), TenantPolicy::compile(name, t)?);
        }
        Ok(Tenants { policies })
    }

    /// Whether `tenant` may use plugin `plugin` at all (its prompts and
    /// resources follow this; its tools also need `tools`/`deny_tools`).
    pub fn allows_plugin(&self, tenant: &str, plugin: &str) -> bool {
        self.policies.is_empty() || self.policies.get(tenant).is_some_and(|p| p.plugins.is_match(plugin))
    }

    /// Whether `tenant` may see `tool` of `plugin`.
    pub fn allows(&self, tenant: &str, plugin: &str, tool: &str) -> bool {
        if self.policies.is_empty() {
            return true;
        }
        self.policies.get(tenant).is_some_and(|p| p.allows(plugin, tool))
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
    /// `[tenants.NAME.quota]`: what this tenant may use (see
    /// [`QuotaConfig`](toolhost_core::quota::QuotaConfig)). Default: no quotas.
    #[serde(skip_serializing_if = "toolhost_core::quota::QuotaConfig::is_empty")]
    pub quota: toolhost_core::quota::QuotaConfig,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            plugins: vec!["*".into()],
            tools: vec!["*".into()],
            deny_tools: vec![],
            quota: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(plugins: &[&str], tools: &[&str], deny: &[&str]) -> TenantConfig {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        TenantConfig { plugins: v(plugins), tools: v(tools), deny_tools: v(deny), quota: Default::default() }
    }

    #[test]
    fn no_tenants_configured_means_everyone_sees_everything() {
        let t = Tenants::compile(&BTreeMap::new()).unwrap();
        assert!(t.allows("anyone", "text", "text.upper"));
    }

    #[test]
    fn listed_tenants_see_their_grants_and_others_see_nothing() {
        let mut m = BTreeMap::new();
        m.insert("acme".to_string(), cfg(&["text"], &["text.*"], &["text.secret"]));
        let t = Tenants::compile(&m).unwrap();
        assert!(t.allows("acme", "text", "text.upper"));
        assert!(!t.allows("acme", "text", "text.secret"));
        assert!(!t.allows("acme", "math", "math.eval"));
        assert!(!t.allows("intruder", "text", "text.upper"));
    }

    #[test]
    fn bad_patterns_are_configuration_errors() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), cfg(&["[unclosed"], &["*"], &[]));
        assert_eq!(Tenants::compile(&m).unwrap_err().code(), toolhost_core::ErrorCode::ConfigurationError);
    }
}
