//! Who may call, and from where: the `[serve]` section the front doors
//! (`toolhost-serve`) read — bearer tokens and the tenant each maps to
//! ([`auth`]), allowed browser origins and `Host` names ([`origin`]), request
//! limits — kept here, below them, so the host's [`Config`](crate::Config)
//! composes it and checks it with every other section.

pub mod auth;
pub mod origin;

pub use auth::Caller;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use toolhost_core::error::Result;

/// `[serve]`: how `toolhost serve` listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Tenant of stdio sessions, and of HTTP callers while no token is
    /// configured. Default: `default`.
    pub tenant: String,
    /// Bearer tokens and the tenant each one maps to. Once any is configured,
    /// every HTTP request needs a valid one (401 otherwise), and `/metrics`
    /// and `/v1/stats` need an `admin = true` one (403 otherwise). Default: none.
    pub tokens: Vec<TokenConfig>,
    /// Browser origins allowed to call the HTTP routes (`scheme://host[:port]`,
    /// `:*` = any port, `null` = `Origin: null`). A request with an `Origin`
    /// header not listed here gets 403; requests without one pass.
    /// Default: loopback origins on any port.
    pub allowed_origins: Vec<String>,
    /// Accepted `Host` header names (DNS-rebinding protection). Empty (default):
    /// loopback names when the listener is bound to loopback, any host otherwise.
    pub allowed_hosts: Vec<String>,
    /// Largest request body on any HTTP route, bytes (413 beyond). Default: 4 MiB.
    pub max_body_bytes: usize,
    /// Largest MCP message on stdio, bytes (longer lines are dropped). Default: 4 MiB.
    pub max_message_bytes: usize,
    /// Time a client has to send a request's headers, ms. Default: 10000.
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's body, ms (408 beyond). Default: 30000.
    pub body_timeout_ms: u64,
    /// On shutdown, how long in-flight calls may run before they are
    /// cancelled, ms. Default: 10000.
    pub shutdown_grace_ms: u64,
    /// Longest `POST /v1/runs?wait=true` waits for the run's result, ms (the
    /// request's own deadline, when shorter, wins). Past it the answer is 202
    /// with the run id and its status, and the run goes on. Default: 60000.
    pub run_wait_ms: u64,
    /// Most tool calls in one `POST /v1/calls` batch or `POST /v1/runs` run
    /// (413 beyond, naming this key). Default: 1024. `toolhost run` has no limit.
    pub max_batch_calls: usize,
    /// Key (≥ 32 bytes) that signs the `requestState` of MCP multi-round-trip
    /// requests (protocol 2026-07-28: a tool that asks the user answers
    /// `input_required` and the client calls again). Every replica behind one
    /// endpoint needs the same key. Default: a random key per process.
    pub request_state_key: Option<String>,
    /// How long MCP 2026-07-28 clients may reuse a tool, prompt or resource
    /// list (`ttlMs`; the lists are per tenant, so `cacheScope: private`), ms.
    /// Hot reload still notifies clients listening for list changes. 0: always
    /// stale. Default: 60000.
    pub list_ttl_ms: u64,
    /// `[serve.oauth]`: also accept JWT access tokens of this OAuth 2.1
    /// issuer (tenant from a claim, scopes from `scope`/`scp`).
    pub oauth: Option<toolhost_auth::OAuthConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            tenant: toolhost_core::DEFAULT_TENANT.to_string(),
            tokens: Vec::new(),
            allowed_origins: origin::LOOPBACK_ORIGINS.iter().map(|s| s.to_string()).collect(),
            allowed_hosts: Vec::new(),
            max_body_bytes: 4 << 20,
            max_message_bytes: 4 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            run_wait_ms: 60_000,
            max_batch_calls: toolhost_exec::parse::MAX_CALLS,
            request_state_key: None,
            list_ttl_ms: 60_000,
            oauth: None,
        }
    }
}

/// One bearer token. Give exactly one of `token`, `token_env`, `token_sha256`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// The tenant this token authenticates as.
    pub tenant: String,
    /// The token itself (prefer `token_env` or `token_sha256` in shared files).
    pub token: Option<String>,
    /// Name of an environment variable holding the token.
    pub token_env: Option<String>,
    /// Hex SHA-256 of the token.
    pub token_sha256: Option<String>,
    /// An operator token: besides acting as its tenant, it may read the
    /// process-wide observability routes (`/metrics`, `/v1/stats`), which
    /// answer 403 to every other token. Default: false.
    pub admin: bool,
    /// Who this token is, as the audit trail records it (its `principal`).
    /// Default: `token:` and the first 12 hex digits of its SHA-256.
    pub name: Option<String>,
}

impl ServeConfig {
    /// Checks the section (token sources, tenants, origins, limits).
    pub fn validate(&self) -> Result<()> {
        let mut p = toolhost_core::check::Problems::default();
        self.check("serve", &mut p);
        p.into_result()
    }

    /// [`validate`](Self::validate), every problem named at its key path.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        for (i, t) in self.tokens.iter().enumerate() {
            // An empty token would let `Authorization: Bearer ` in.
            let empty = t.token.as_deref().is_some_and(|s| s.trim().is_empty());
            p.require(!empty, join(path, format_args!("tokens[{i}].token")), "must not be empty");
        }
        if let Err(e) = auth::Tokens::compile(&self.tokens) {
            p.push(crate::config::config_message(e));
        }
        if let Err(e) = origin::OriginPolicy::compile(&self.allowed_origins) {
            p.push(crate::config::config_message(e));
        }
        p.require(!self.tenant.is_empty(), join(path, "tenant"), "must not be empty");
        for (key, v) in
            [("max_body_bytes", self.max_body_bytes), ("max_message_bytes", self.max_message_bytes)]
        {
            p.require(v >= 1024, join(path, key), "must be ≥ 1024");
        }
        p.at_least_one(self.header_timeout_ms, join(path, "header_timeout_ms"));
        p.at_least_one(self.body_timeout_ms, join(path, "body_timeout_ms"));
        p.at_least_one(self.max_batch_calls as u64, join(path, "max_batch_calls"));
        p.at_least_one(self.run_wait_ms, join(path, "run_wait_ms"));
        let short = self.request_state_key.as_deref().is_some_and(|k| k.len() < 32);
        p.require(!short, join(path, "request_state_key"), "must be at least 32 bytes");
        if let Some(oauth) = &self.oauth {
            for problem in oauth.problems(&join(path, "oauth")) {
                p.push(problem);
            }
        }
    }

    /// The 413 answer to a batch or run of `calls` calls over `max_batch_calls`.
    pub fn too_many_calls(&self, calls: &str) -> String {
        format!(
            "the request holds more than {} {calls}; raise serve.max_batch_calls (`max_batch_calls` in [serve] of toolhost.toml, now {}) or split the request",
            self.max_batch_calls, self.max_batch_calls
        )
    }

    /// How long in-flight calls may run on shutdown (`shutdown_grace_ms`).
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// How long `?wait=true` may wait for a run with context `ctx`: the
    /// request's deadline or `run_wait_ms`, whichever comes first.
    pub fn run_wait(&self, ctx: &toolhost_core::ExecutionContext) -> Duration {
        let cap = Duration::from_millis(self.run_wait_ms);
        ctx.deadline.map_or(cap, |d| cap.min(d.saturating_duration_since(std::time::Instant::now())))
    }
}
