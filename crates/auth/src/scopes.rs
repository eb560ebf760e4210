//! Scopes: what an access token lets its bearer do.
//!
//! | scope | lets the bearer |
//! |---|---|
//! | `tools:list` | list tools (only those it may call are shown) |
//! | `tools:call` | call every tool of its tenant |
//! | `tools:call:<glob>` | call the tools matching `<glob>` (`math.*`, `text.upper`) |
//! | `runs` | start, read and cancel DAG runs (`/v1/runs`) |
//! | `admin` | the operator routes (`/metrics`, `/v1/stats`) |
//!
//! A static token (`[[serve.tokens]]`) holds every scope but `admin`, which
//! it holds when marked `admin = true`.

use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeSet;

/// List tools.
pub const TOOLS_LIST: &str = "tools:list";
/// Call every tool (`tools:call:<glob>`: the matching ones).
pub const TOOLS_CALL: &str = "tools:call";
/// DAG runs.
pub const RUNS: &str = "runs";
/// The operator routes.
pub const ADMIN: &str = "admin";

/// The scopes of one caller.
#[derive(Debug, Clone)]
pub struct Scopes {
    /// A static token: everything (`admin` as configured).
    everything: bool,
    granted: BTreeSet<String>,
    /// `tools:call:<glob>` patterns.
    calls: GlobSet,
}

impl Scopes {
    /// A static token's: every scope, `admin` if the token is an operator's.
    pub fn everything(admin: bool) -> Scopes {
        let granted = if admin { BTreeSet::from([ADMIN.to_string()]) } else { BTreeSet::new() };
        Scopes { everything: true, granted, calls: GlobSet::empty() }
    }

    /// The scopes a token grants (`scope` claim: space-separated; `scp`: a list).
    /// A `tools:call:<glob>` whose glob does not parse grants nothing.
    pub fn granted<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Scopes {
        let granted: BTreeSet<String> =
            scopes.into_iter().filter(|s| !s.is_empty()).map(str::to_string).collect();
        let mut calls = GlobSetBuilder::new();
        for glob in granted.iter().filter_map(|s| s.strip_prefix("tools:call:")) {
            match Glob::new(glob) {
                Ok(g) => {
                    calls.add(g);
                }
                Err(e) => {
                    tracing::warn!(scope = %glob, error = %e, "a tools:call scope's glob does not parse; it grants nothing")
                }
            }
        }
        Scopes { everything: false, granted, calls: calls.build().unwrap_or_else(|_| GlobSet::empty()) }
    }

    /// Whether `scope` is held (exactly; `tools:call:<glob>` is checked by [`may_call`](Self::may_call)).
    pub fn has(&self, scope: &str) -> bool {
        (self.everything && scope != ADMIN) || self.granted.contains(scope)
    }

    /// Whether the bearer may call `tool`.
    pub fn may_call(&self, tool: &str) -> bool {
        self.has(TOOLS_CALL) || self.calls.is_match(tool)
    }

    /// The scope that would let the bearer call `tool` (named in a 403).
    pub fn to_call(tool: &str) -> String {
        format!("{TOOLS_CALL}:{tool}")
    }

    /// The scopes as granted (for logs and audit).
    pub fn list(&self) -> Vec<String> {
        if self.everything {
            let mut all = vec![TOOLS_LIST.to_string(), TOOLS_CALL.to_string(), RUNS.to_string()];
            all.extend(self.granted.iter().cloned());
            return all;
        }
        self.granted.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_grant_matching_tools_only() {
        let s = Scopes::granted("tools:list tools:call:math.* tools:call:text.upper".split(' '));
        assert!(s.has(TOOLS_LIST) && !s.has(TOOLS_CALL) && !s.has(RUNS) && !s.has(ADMIN));
        assert!(s.may_call("math.add") && s.may_call("text.upper"));
        assert!(!s.may_call("text.lower") && !s.may_call("mathx.add"));
        assert_eq!(Scopes::to_call("text.lower"), "tools:call:text.lower");
    }

    #[test]
    fn static_tokens_hold_everything_but_admin_unless_marked() {
        let user = Scopes::everything(false);
        assert!(user.has(TOOLS_LIST) && user.has(RUNS) && user.may_call("anything") && !user.has(ADMIN));
        assert!(Scopes::everything(true).has(ADMIN));
        let none = Scopes::granted([]);
        assert!(!none.has(TOOLS_LIST) && !none.may_call("x"));
        let bad = Scopes::granted(["tools:call:[", "tools:call:ok"]);
        assert!(bad.may_call("ok") && !bad.may_call("["));
    }
}
