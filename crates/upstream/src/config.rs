//! `[[upstreams]]`: one entry per source. Exactly one of `command` (an MCP
//! server on stdio), `url` (an MCP server over streamable HTTP) or `openapi`
//! (an HTTP API) says what the source is.
//!
//! ```toml
//! [[upstreams]]
//! name = "billing"
//! openapi = "http://127.0.0.1:8080/openapi.json"   # or a file path
//! base_url = "http://127.0.0.1:8080"               # default: servers[0].url
//! retry_on_status = [429, 502, 503, 504]           # Retry-After honoured
//! max_concurrency = 2
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use toolhost_core::check::{Problems, join};

/// One upstream source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The namespace of its tools (`<name>.<tool>`); also what `[tenants.X]
    /// plugins` globs match. Required.
    pub name: String,
    /// An MCP server started as a child process, speaking MCP on stdio
    /// (`["npx", "-y", "@modelcontextprotocol/server-everything"]`).
    pub command: Vec<String>,
    /// An MCP server over streamable HTTP.
    pub url: Option<String>,
    /// An HTTP API: URL or path of its OpenAPI 3 document (JSON or YAML).
    pub openapi: Option<String>,
    /// Base URL of the HTTP API. Default: the document's `servers[0].url`, else
    /// the origin the document was fetched from.
    pub base_url: Option<String>,
    /// Headers sent with every request to an HTTP API or an MCP server over
    /// HTTP; a value
    /// `env:NAME` is read from the host's environment when the source starts
    /// (secrets stay out of the file and out of logs).
    pub headers: BTreeMap<String, String>,
    /// Environment of a stdio server, on top of a cleared environment
    /// (values may be `env:NAME` references too). Default: none.
    pub env: BTreeMap<String, String>,
    /// HTTP statuses that are retryable (transient or rate-limited).
    /// Default: `[429, 502, 503, 504]`.
    pub retry_on_status: Vec<u16>,
    /// Calls in flight at this upstream at once; the rest queue within their
    /// deadline. Default: unlimited.
    pub max_concurrency: Option<usize>,
    /// Time per call, ms (the executor's per-tool and per-call policies may
    /// set less). Default: 30000.
    pub timeout_ms: u64,
    /// Largest response read from an upstream (an HTTP body, an MCP result as
    /// JSON), bytes; a longer one fails the call. Default: 1 MiB.
    pub max_response_bytes: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            name: String::new(),
            command: Vec::new(),
            url: None,
            openapi: None,
            base_url: None,
            headers: BTreeMap::new(),
            env: BTreeMap::new(),
            retry_on_status: vec![429, 502, 503, 504],
            max_concurrency: None,
            timeout_ms: 30_000,
            max_response_bytes: 1 << 20,
        }
    }
}

/// What an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `command`: MCP over stdio.
    McpStdio,
    /// `url`: MCP over streamable HTTP.
    McpHttp,
    /// `openapi`: an HTTP API.
    OpenApi,
}

impl Kind {
    /// What serves the tools: an MCP server or an HTTP API.
    pub fn source_kind(self) -> crate::SourceKind {
        match self {
            Kind::McpStdio | Kind::McpHttp => crate::SourceKind::Mcp,
            Kind::OpenApi => crate::SourceKind::Http,
        }
    }
}

impl UpstreamConfig {
    /// Which kind of source this is (`None` unless exactly one of
    /// `command`, `url`, `openapi` is set).
    pub fn kind(&self) -> Option<Kind> {
        match (!self.command.is_empty(), self.url.is_some(), self.openapi.is_some()) {
            (true, false, false) => Some(Kind::McpStdio),
            (false, true, false) => Some(Kind::McpHttp),
            (false, false, true) => Some(Kind::OpenApi),
            _ => None,
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Checks the entry at key path `path` (`upstreams[0]`).
    pub fn check(&self, path: &str, p: &mut Problems) {
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        p.require(valid_name, join(path, "name"), "must be 1–64 characters of A–Z, a–z, 0–9, _ or -");
        p.require(
            self.kind().is_some(),
            path,
            "needs exactly one of `command` (MCP on stdio), `url` (MCP over HTTP) or `openapi` (HTTP API)",
        );
        p.at_least_one(self.timeout_ms, join(path, "timeout_ms"));
        p.at_least_one(self.max_response_bytes, join(path, "max_response_bytes"));
        if let Some(n) = self.max_concurrency {
            p.at_least_one(n as u64, join(path, "max_concurrency"));
        }
        for s in &self.retry_on_status {
            p.require(
                (100..=599).contains(s),
                join(path, "retry_on_status"),
                "holds HTTP statuses (100–599)",
            );
        }
        let refs = self.headers.iter().chain(&self.env);
        for (k, v) in refs {
            if let Some(var) = v.strip_prefix("env:") {
                p.require(!var.is_empty(), join(path, k), "names an empty environment variable");
            }
        }
    }
}

/// `value`, or the environment variable it names as `env:NAME`. A missing
/// variable is an error naming it (never the value).
pub fn resolve_secret(value: &str) -> Result<String, String> {
    match value.strip_prefix("env:") {
        None => Ok(value.to_string()),
        Some(var) => std::env::var(var).map_err(|_| format!("environment variable {var} is not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_text: &str) -> String {
        let c: UpstreamConfig = toml::from_str(toml_text).unwrap();
        let mut p = Problems::default();
        c.check("upstreams[0]", &mut p);
        p.into_string_result().err().unwrap_or_default()
    }

    #[test]
    fn exactly_one_kind_and_a_name() {
        assert_eq!(problems("name = 'a'\nopenapi = 'x.json'"), "");
        assert!(problems("name = 'a'").contains("exactly one of"));
        assert!(problems("name = 'a'\nurl = 'http://x'\nopenapi = 'y'").contains("exactly one of"));
        assert!(problems("name = 'a.b'\nurl = 'http://x'").contains("upstreams[0].name"));
        assert!(problems("name = 'a'\nurl = 'http://x'\nretry_on_status = [99]").contains("retry_on_status"));
    }

    #[test]
    fn secrets_come_from_the_environment() {
        assert_eq!(resolve_secret("plain").unwrap(), "plain");
        let e = resolve_secret("env:TOOLHOST_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("TOOLHOST_SURELY_UNSET_VAR"));
    }
}
