//! The level below the policies: what the executor asks of the layer that
//! actually runs a tool (the sandbox, through the `toolhost` facade; later,
//! an upstream). The executor names no runtime: it sees tools only through
//! [`ToolInfo`] and runs them only through [`Attempt`].

use crate::cache::BoxFuture;
use std::time::Duration;
use toolhost_core::{CallOptions, CallStats, Error, ExecutionContext, ToolOutput};

/// What the policies need to know of a tool: its name (precedence, keys),
/// namespace (metrics), idempotency (cache, retries), its own timeout and
/// the digest of everything that can change its results (cache keys).
#[derive(Debug, Clone, Copy)]
pub struct ToolInfo<'a> {
    /// Full tool name (`ns.tool`).
    pub name: &'a str,
    /// Namespace, when the name has one.
    pub namespace: Option<&'a str>,
    /// Declared idempotent (a per-call or configured policy may override it).
    pub idempotent: bool,
    /// A timeout the tool's own manifest sets (`timeout_ms`), if any.
    pub timeout_override: Option<Duration>,
    /// The attempt timeout when no policy sets one.
    pub default_timeout: Duration,
    /// Digest of the tool's code and configuration (part of every cache key).
    pub cache_digest: &'a str,
    /// What serves it (`plugin`, `mcp`, `http`): a label of metrics and spans.
    pub source: &'static str,
    /// Annotated `destructive` (may delete or overwrite): with the policy's
    /// `confirm_destructive` the caller confirms before it runs.
    pub destructive: bool,
}

/// One sandboxed attempt, as the executor asks for it.
#[derive(Debug)]
pub struct AttemptSpec<'a> {
    /// Validated arguments (JSON text, as the caller sent it).
    pub args: &'a str,
    /// The same arguments, parsed (once, when they were validated).
    pub value: &'a serde_json::Value,
    /// The request context.
    pub ctx: &'a ExecutionContext,
    /// The call's id.
    pub call_id: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Wall-clock budget of this attempt.
    pub timeout: Duration,
    /// Cancellation and guest events.
    pub opts: &'a CallOptions,
}

/// What the executor needs from the layer below it.
pub trait Attempt: Send + Sync {
    /// A resolved tool (cheap to clone: a handle).
    type Tool: Send + Sync;

    /// The tool `name` as `tenant` sees it, if it may see it.
    fn lookup(&self, tenant: &str, name: &str) -> Option<Self::Tool>;

    /// The tool's metadata.
    fn info<'t>(&self, tool: &'t Self::Tool) -> ToolInfo<'t>;

    /// Strict parse and schema check of raw arguments: the text as given and
    /// the parsed value, or `INVALID_ARGUMENTS` (no attempt runs).
    fn parse_arguments(
        &self,
        tool: &Self::Tool,
        raw: &Result<String, String>,
    ) -> Result<(String, serde_json::Value), Error>;

    /// An id of the exact rules `parse_arguments` applies to `tool`, unique
    /// in the process and never reused (a plugin version's number), or
    /// `None`. With an id, an argument text `tool` accepted before is
    /// accepted again without being parsed, and a cache hit for it skips
    /// parsing, validation and key hashing. Default: `None` (always parsed).
    fn arguments_version(&self, _tool: &Self::Tool) -> Option<u64> {
        None
    }

    /// Runs one attempt.
    fn attempt<'a>(
        &'a self,
        tool: &'a Self::Tool,
        spec: AttemptSpec<'a>,
    ) -> BoxFuture<'a, (Result<ToolOutput, Error>, CallStats)>;
}
