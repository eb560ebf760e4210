//! # toolhost-upstream
//!
//! Tools that live elsewhere, served next to the WASM plugins under the same
//! policies, tenants and limits: remote MCP servers (a supervised stdio child
//! process, or streamable HTTP) and HTTP APIs described by an OpenAPI 3
//! document. Each `[[upstreams]]` entry is a [`Source`] whose tools are
//! namespaced `<name>.<tool>`; the facade (`toolhost`) looks them up, checks
//! arguments against their input schema and puts the executor's layers in
//! front of [`Source::call`], exactly as for a plugin.
//!
//! An upstream is trusted by the operator: a stdio server is a child process
//! with the host's rights (started with a cleared environment plus what its
//! entry grants); an HTTP upstream gets the call's context as headers.
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod mcp;
pub mod openapi;

pub use config::UpstreamConfig;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use toolhost_core::{CancelToken, Error, EventSink, ExecutionContext, ToolOutput};

/// A boxed future, for the object-safe [`Source`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What kind of upstream a source is (the `source` label of metrics and spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A remote MCP server (stdio child process or streamable HTTP).
    Mcp,
    /// An HTTP API described by an OpenAPI document.
    Http,
}

impl SourceKind {
    /// `mcp` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Mcp => "mcp",
            SourceKind::Http => "http",
        }
    }
}

/// One tool an upstream offers.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTool {
    /// Full name, `<source>.<tool>`.
    pub name: String,
    /// The source's name (the namespace).
    pub source: String,
    /// The name the upstream itself uses (MCP tool name, OpenAPI `operationId`).
    pub remote_name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: serde_json::Value,
    /// JSON Schema of a successful result's `value`, when known.
    pub output_schema: Option<serde_json::Value>,
    /// Safe to cache and retry (MCP `idempotentHint`; HTTP GET/HEAD/PUT/DELETE).
    pub idempotent: bool,
}

/// One call to an upstream tool, after the executor admitted it.
#[derive(Debug)]
pub struct UpstreamCall<'a> {
    /// The tool (as listed by [`Source::tools`]).
    pub tool: &'a UpstreamTool,
    /// Validated arguments.
    pub args: &'a serde_json::Value,
    /// The request context (propagated as headers or MCP `_meta`).
    pub ctx: &'a ExecutionContext,
    /// The call's id.
    pub call_id: &'a str,
    /// Wall-clock budget of this attempt.
    pub timeout: Duration,
    /// Cancels the call (forwarded upstream, best effort).
    pub cancel: Option<&'a CancelToken>,
    /// Receives progress and log events the upstream reports.
    pub events: Option<&'a EventSink>,
}

/// An upstream source: its current tools and one call at a time.
///
/// A call's failure is a typed [`Error`]: `TOOL_EXECUTION_FAILED` with the
/// kind the upstream's answer maps to (4xx → invalid-input / not-found /
/// denied, 429 → rate-limited with its retry-after, 5xx and transport
/// failures → transient and retryable), `TOOL_TIMEOUT` past `timeout`,
/// `TOOL_CANCELLED` when cancelled.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The `[[upstreams]]` name.
    fn name(&self) -> &str;
    /// MCP or HTTP.
    fn kind(&self) -> SourceKind;
    /// The tools offered now (a list may change while the source runs).
    fn tools(&self) -> Vec<Arc<UpstreamTool>>;
    /// Calls one tool.
    fn call<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<ToolOutput, Error>>;

    /// A counter that moves whenever [`tools`](Self::tools) may have changed
    /// (an MCP `notifications/tools/list_changed`, a reconnect); the host
    /// re-reads the list then. Default: the list never changes.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Whether the source can take calls now, how often it was restarted,
    /// and the latest failure. Default: always up.
    fn health(&self) -> SourceHealth {
        SourceHealth { up: true, restarts: 0, error: None }
    }
}

/// A source's health, as `toolhost list`, `/readyz` and the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceHealth {
    /// Can take calls now (an MCP server process is running and initialized).
    pub up: bool,
    /// Times the source was restarted or reconnected after it died.
    pub restarts: u32,
    /// The latest failure, while it lasts.
    pub error: Option<String>,
}
