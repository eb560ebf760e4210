//! What a plugin's manifest grants its sandbox: environment, read-only
//! directories, outbound HTTP hosts, and how instances are reused. Everything
//! not granted is denied.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[instances]`: how calls get an instance.
///
/// `fresh`: a new instance per call, nothing survives a call.
/// `warm`: up to `max_idle` instances kept per tenant (never shared across
/// tenants) and reused; an instance is retired after `max_calls` calls, after
/// any error, trap or timeout, and after `idle_ms` without a call. The
/// trade-off: guest state (globals, caches, module-level variables) carries
/// over between calls *of the same tenant*.
///
/// Without `mode`, the manifest's `stateless` decides: `warm` when the plugin
/// declares its tools stateless, `fresh` otherwise. An explicit `mode` wins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InstancePolicy {
    /// `fresh` or `warm`; unset: see [`InstancePolicy::mode`].
    #[serde(rename = "mode", skip_serializing_if = "Option::is_none")]
    pub explicit_mode: Option<InstanceMode>,
    /// The plugin declares that its tools keep no state between calls that a
    /// later call could observe (no module-level caches of arguments, no
    /// counters): reusing an instance cannot change a result. Makes `warm` the
    /// default mode. Default: false.
    pub stateless: bool,
    /// Idle warm instances kept per tenant. Default: 2.
    pub max_idle: usize,
    /// Calls an instance serves before it is retired. Default: 1000.
    pub max_calls: u32,
    /// Idle time after which an instance is retired, ms. Default: 60000.
    pub idle_ms: u64,
}

/// Instance reuse mode.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InstanceMode {
    /// A new instance per call.
    #[default]
    Fresh,
    /// Warm instances per tenant.
    Warm,
}

impl Default for InstancePolicy {
    fn default() -> Self {
        InstancePolicy {
            explicit_mode: None,
            stateless: false,
            max_idle: 2,
            max_calls: 1000,
            idle_ms: 60_000,
        }
    }
}

impl InstancePolicy {
    /// The mode in effect: the explicit `mode`, else `warm` for a stateless
    /// plugin and `fresh` for any other.
    pub fn mode(&self) -> InstanceMode {
        match (self.explicit_mode, self.stateless) {
            (Some(mode), _) => mode,
            (None, true) => InstanceMode::Warm,
            (None, false) => InstanceMode::Fresh,
        }
    }
}

/// Capabilities a manifest grants. The default grants nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// Environment variables set for the guest.
    pub env: BTreeMap<String, String>,
    /// Host environment variables copied into the guest when set.
    pub inherit_env: Vec<String>,
    /// Read-only directories.
    pub dirs: Vec<DirGrant>,
    /// Outbound HTTP (`wasi:http`): the hosts this plugin may reach.
    pub http: Option<HttpGrant>,
    /// `http`, checked and compiled when the manifest is read.
    #[serde(skip)]
    pub(crate) http_policy: Option<std::sync::Arc<crate::http::HttpPolicy>>,
}

/// `[grants.http]`: outbound HTTP through `wasi:http`, to listed hosts only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpGrant {
    /// `host` (any port), `host:port`, or `*.domain` (subdomains, any port).
    /// Names are matched as written in the URL; then every address the name
    /// resolves to must be public, unless this list names that IP literally
    /// (or `localhost`, for loopback addresses).
    pub hosts: Vec<String>,
    /// Largest response body, bytes; a longer body is cut off with an error. Default: 1 MiB.
    pub max_response_bytes: u64,
    /// Allow plain `http://` (not only `https://`). Default: false; a loopback
    /// host written literally (`localhost`, `127.0.0.1`, `[::1]`) may always use it.
    pub allow_http: bool,
    /// `[grants.http.auth."<host>"]`: a credential the host adds to requests
    /// to that granted host; the guest never sees it (see `secrets`).
    pub auth: std::collections::BTreeMap<String, crate::secrets::HostAuth>,
}

impl Default for HttpGrant {
    fn default() -> Self {
        HttpGrant {
            hosts: Vec::new(),
            max_response_bytes: 1 << 20,
            allow_http: false,
            auth: Default::default(),
        }
    }
}

/// A read-only directory mapping.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// Path on the host.
    pub host: PathBuf,
    /// Path the guest sees.
    pub guest: String,
}

impl Grants {
    /// Checks and compiles `[grants.http]` (done when a manifest is read).
    pub fn compile(&mut self) -> Result<(), String> {
        // A brokered secret's variable never reaches the guest's environment.
        for (host, auth) in self.http.iter().flat_map(|g| &g.auth) {
            if let Some(var) = auth
                .env_vars()
                .find(|var| self.env.contains_key(*var) || self.inherit_env.iter().any(|v| v == var))
            {
                return Err(format!(
                    "grants.http.auth.\"{host}\": {var} holds a brokered secret and must not be in grants.env or grants.inherit_env"
                ));
            }
        }
        self.http_policy = match &self.http {
            Some(g) => Some(std::sync::Arc::new(crate::http::HttpPolicy::compile(g)?)),
            None => None,
        };
        Ok(())
    }

    /// Whether the plugin may send outbound HTTP (a compiled `[grants.http]`).
    pub fn allows_http(&self) -> bool {
        self.http_policy.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_makes_warm_the_default_and_an_explicit_mode_wins() {
        let p = |stateless, explicit_mode| InstancePolicy { stateless, explicit_mode, ..Default::default() };
        assert_eq!(p(false, None).mode(), InstanceMode::Fresh);
        assert_eq!(p(true, None).mode(), InstanceMode::Warm);
        assert_eq!(p(true, Some(InstanceMode::Fresh)).mode(), InstanceMode::Fresh);
        assert_eq!(p(false, Some(InstanceMode::Warm)).mode(), InstanceMode::Warm);
    }
}
