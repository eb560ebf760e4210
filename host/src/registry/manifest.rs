//! Plugin manifests: an optional `NAME.toml` beside `NAME.wasm`.
//!
//! ```toml
//! [limits]                 # overrides of the host's [defaults], field by field
//! timeout_ms = 5000
//! memory_mib = 64
//! fuel = 2000000000
//! output_bytes = 65536
//!
//! [config]                 # values the guest reads with host.config(key)
//! greeting = "Hello"
//!
//! [grants]                 # capabilities; everything not granted is denied
//! env = { API_BASE = "https://api.example.com" }
//! inherit_env = ["LANG"]   # copy these from the host's environment
//! dirs = [{ host = "/srv/data", guest = "/data" }]   # read-only
//! ```

use crate::config::LimitsOverride;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed plugin manifest. Every section is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Manifest {
    /// Per-call limit overrides.
    pub limits: LimitsOverride,
    /// Operator-set values readable by the guest.
    pub config: BTreeMap<String, String>,
    /// Capabilities granted to the plugin.
    pub grants: Grants,
    /// Fresh instance per call (default) or warm instances per tenant.
    pub instances: InstancePolicy,
}

/// `[instances]`: how calls get an instance.
///
/// `fresh` (default): a new instance per call, nothing survives a call.
/// `warm`: up to `max_idle` instances kept per tenant (never shared across
/// tenants) and reused; an instance is retired after `max_calls` calls, after
/// any error, trap or timeout, and after `idle_ms` without a call. The
/// trade-off: guest state (globals, caches, module-level variables) carries
/// over between calls *of the same tenant*.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InstancePolicy {
    /// `fresh` or `warm`.
    pub mode: InstanceMode,
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
        InstancePolicy { mode: InstanceMode::Fresh, max_idle: 2, max_calls: 1000, idle_ms: 60_000 }
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
    pub(crate) http_policy: Option<std::sync::Arc<crate::runtime::http::HttpPolicy>>,
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
}

impl Default for HttpGrant {
    fn default() -> Self {
        HttpGrant { hosts: Vec::new(), max_response_bytes: 1 << 20, allow_http: false }
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

impl Manifest {
    /// Reads `NAME.toml` beside `wasm`, if there is one.
    pub fn for_plugin(wasm: &Path) -> Result<Option<Manifest>> {
        let path = wasm.with_extension("toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Manifest::parse(&text)
                .map(Some)
                .map_err(|e| Error::Configuration(format!("manifest {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Configuration(format!("cannot read manifest {}: {e}", path.display()))),
        }
    }

    /// Parses manifest text.
    pub fn parse(text: &str) -> std::result::Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut m = m;
        let mut problems = crate::config::check::Problems::default();
        problems.at_least_one(m.instances.max_idle as u64, "instances.max_idle");
        problems.at_least_one(u64::from(m.instances.max_calls), "instances.max_calls");
        problems.at_least_one(m.instances.idle_ms, "instances.idle_ms");
        problems.into_string_result()?;
        if let Some(g) = &m.grants.http {
            m.grants.http_policy = Some(std::sync::Arc::new(crate::runtime::http::HttpPolicy::compile(g)?));
        }
        for d in &m.grants.dirs {
            if !d.host.is_absolute() {
                return Err(format!("grants.dirs: host path {} must be absolute", d.host.display()));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_manifest_grants_nothing() {
        let m = Manifest::parse("").unwrap();
        assert_eq!(m, Manifest::default());
        assert!(m.grants.env.is_empty() && m.grants.dirs.is_empty());
    }

    #[test]
    fn full_manifest_parses() {
        let m = Manifest::parse(
            "[limits]\ntimeout_ms = 50\n[config]\ngreeting = 'hi'\n[grants]\nenv = { A = 'b' }\ndirs = [{ host = '/tmp', guest = '/t' }]\n",
        )
        .unwrap();
        assert_eq!(m.limits.timeout_ms, Some(50));
        assert_eq!(m.config["greeting"], "hi");
        assert_eq!(m.grants.env["A"], "b");
    }

    #[test]
    fn typos_and_relative_dirs_are_rejected() {
        assert!(Manifest::parse("[limit]\ntimeout_ms = 5").is_err());
        assert!(Manifest::parse("[grants]\ndirs = [{ host = 'rel', guest = '/x' }]").is_err());
    }
}
