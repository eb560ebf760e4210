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
//!
//! [instances]              # how calls get an instance
//! stateless = true         # the tools keep nothing between calls: warm by default
//! # mode = "fresh"         # an explicit mode wins over `stateless`
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use toolhost_core::error::{Error, Result};
use toolhost_runtime::{Grants, InstancePolicy, LimitsOverride};

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
    /// Fresh instance per call or warm instances per tenant (the default of a
    /// plugin that declares itself `stateless`).
    pub instances: InstancePolicy,
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
        let mut problems = toolhost_core::check::Problems::default();
        problems.at_least_one(m.instances.max_idle as u64, "instances.max_idle");
        problems.at_least_one(u64::from(m.instances.max_calls), "instances.max_calls");
        problems.at_least_one(m.instances.idle_ms, "instances.idle_ms");
        problems.into_string_result()?;
        m.grants.compile()?;
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
    fn stateless_makes_warm_the_default_unless_a_mode_is_given() {
        use toolhost_runtime::InstanceMode;
        assert_eq!(Manifest::parse("").unwrap().instances.mode(), InstanceMode::Fresh);
        let stateless = Manifest::parse("[instances]\nstateless = true\n").unwrap();
        assert_eq!(stateless.instances.mode(), InstanceMode::Warm);
        let fresh = Manifest::parse("[instances]\nstateless = true\nmode = \"fresh\"\n").unwrap();
        assert_eq!(fresh.instances.mode(), InstanceMode::Fresh);
        assert!(Manifest::parse("[instances]\nstateless = \"yes\"\n").is_err());
    }

    #[test]
    fn typos_and_relative_dirs_are_rejected() {
        assert!(Manifest::parse("[limit]\ntimeout_ms = 5").is_err());
        assert!(Manifest::parse("[grants]\ndirs = [{ host = 'rel', guest = '/x' }]").is_err());
    }
}
