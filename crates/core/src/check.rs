//! Validation of a whole configuration: every problem names its key path and
//! the rule it breaks (`rate_limits.per_tenant.rate must be ≥ 1`), so an
//! operator can fix the file without reading code.
//!
//! Each section checks itself with a `check(&self, path, &mut Problems)`
//! method next to its definition; [`Config::validate`](super::Config::validate)
//! walks every section and reports all problems at once.

use crate::error::Error;
use std::fmt::Display;

/// Problems found while checking a configuration, each `key.path rule`.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records `path rule` unless `ok`.
    pub fn require(&mut self, ok: bool, path: impl Display, rule: impl Display) {
        if !ok {
            self.0.push(format!("{path} {rule}"));
        }
    }

    /// `path` must be at least 1 (a zero would refuse, hang or do nothing).
    pub fn at_least_one(&mut self, value: u64, path: impl Display) {
        self.require(value >= 1, path, "must be ≥ 1");
    }

    /// Records a problem already phrased with its path.
    pub fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    /// Every problem, joined with `; `, or `Ok` when there is none.
    pub fn into_string_result(self) -> Result<(), String> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0.join("; ")) }
    }

    /// As [`into_string_result`](Self::into_string_result), as a `CONFIGURATION_ERROR`.
    pub fn into_result(self) -> crate::Result<()> {
        self.into_string_result().map_err(Error::Configuration)
    }
}

/// `prefix.key`, or `key` when `prefix` is empty.
pub fn join(prefix: &str, key: impl Display) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

/// A map key as it is written in a key path: bare when it is a bare TOML key,
/// quoted otherwise (`policy.tools."text.upper"`).
pub fn map_key(key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if bare { key.to_string() } else { format!("{key:?}") }
}

/// Checks a glob pattern the way the executor compiles it.
pub fn glob(p: &mut Problems, pattern: &str, path: impl Display) {
    if let Err(e) = globset::Glob::new(pattern) {
        p.push(format!("{path} {pattern:?} is not a valid glob: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_join_with_their_paths() {
        let mut p = Problems::default();
        p.at_least_one(0, "a.b");
        p.at_least_one(1, "a.c");
        p.require(false, "x", "must be y");
        assert_eq!(p.into_string_result().unwrap_err(), "a.b must be ≥ 1; x must be y");
        assert!(Problems::default().into_result().is_ok());
        assert_eq!(map_key("acme"), "acme");
        assert_eq!(map_key("text.upper"), "\"text.upper\"");
    }
}
