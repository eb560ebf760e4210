//! Remote MCP servers as upstream sources: a supervised child process
//! speaking MCP on stdio, or a server over streamable HTTP, through the
//! official Rust SDK (`rmcp`).
//!
//! ```toml
//! [[upstreams]]
//! name = "files"
//! command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]
//! env = { API_TOKEN = "env:FILES_TOKEN" }   # on top of a cleared environment
//! timeout_ms = 30000
//!
//! [[upstreams]]
//! name = "search"
//! url = "https://mcp.example.com/mcp"
//! headers = { Authorization = "env:SEARCH_TOKEN" }
//! ```
//!
//! * **Tools**: `tools/list` (every page), each tool served as
//!   `<name>.<tool>` with its description, input and output schemas;
//!   idempotent when annotated `idempotentHint` or `readOnlyHint`. A
//!   `notifications/tools/list_changed` re-lists them and moves
//!   [`Source::changes`].
//! * **Calls**: see the `call` module for `_meta`, timeouts and cancellation and
//!   the `output` module for how results map (structured content, content
//!   blocks, `isError`); JSON-RPC and transport failures map as the `error`
//!   module's table says.
//! * **stdio**: the child gets a cleared environment plus the host's `PATH`
//!   and `HOME` and the entry's `env` (`env:NAME` values resolved at
//!   connect); its stderr goes to `tracing` at debug; it is killed when the
//!   source is dropped.
//! * **HTTP**: the entry's `headers` (`env:NAME` resolved at connect) go with
//!   every request; TLS is rustls with ring.
//! * **Supervision**: when the process exits or the connection fails, calls
//!   in flight fail with a retryable transient error ("upstream 'X' exited
//!   …"), calls made meanwhile fail the same way with the time to the next
//!   attempt as `retry_after_ms`, and the source reconnects with capped
//!   exponential backoff (200 ms doubling to 30 s, reset once a connection
//!   stayed up 60 s). [`Source::health`] reports up/down, the restart count
//!   and the latest failure; each reconnection re-lists the tools and moves
//!   [`Source::changes`].

mod call;
mod connection;
mod error;
mod handler;
mod http;
mod output;
mod routes;
mod state;
mod stdio;
mod supervisor;
mod tools;

pub use supervisor::{FIRST_DELAY, MAX_DELAY, STABLE_AFTER};

use crate::config::{Kind, resolve_secret};
use crate::{BoxFuture, Source, SourceHealth, SourceKind, UpstreamCall, UpstreamConfig, UpstreamTool};
use connection::Launcher;
use error::ConnectError;
use state::Shared;
use std::sync::Arc;
use std::time::Instant;
use stdio::StdioSpec;
use tokio_util::sync::{CancellationToken, DropGuard};
use toolhost_core::{Error, ToolOutput};

/// A remote MCP server as a [`Source`] of tools. Dropping the last handle
/// stops its supervisor and kills its process.
pub struct McpSource {
    shared: Arc<Shared>,
    _shutdown: DropGuard,
}

impl std::fmt::Debug for McpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSource")
            .field("name", &self.shared.name)
            .field("transport", &self.shared.launcher.transport())
            .field("health", &self.shared.health())
            .finish_non_exhaustive()
    }
}

/// Connects to the MCP server of `cfg` (`command`: starts it; `url`:
/// streamable HTTP), completes the handshake and lists its tools, each within
/// `cfg.timeout()`, then supervises the connection in a task.
///
/// A first connection that fails (the program cannot start, the handshake
/// fails or times out, HTTP errors, an `env:` variable is unset) is an
/// [`Error::Configuration`] naming the upstream (never a secret's value).
pub async fn connect(cfg: &UpstreamConfig) -> Result<Arc<McpSource>, Error> {
    let started = Instant::now();
    match connect_inner(cfg).await {
        Ok(source) => {
            let tools = source.shared.tools().len();
            let transport = source.shared.launcher.transport();
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::info!(upstream = cfg.name, transport, tools, elapsed_ms, "MCP upstream ready");
            Ok(Arc::new(source))
        }
        Err(e) => Err(Error::Configuration(format!("upstream '{}': {e}", cfg.name))),
    }
}

async fn connect_inner(cfg: &UpstreamConfig) -> Result<McpSource, ConnectError> {
    let shared = Arc::new(Shared::new(cfg, launcher(cfg)?));
    let (conn, tools) = supervisor::start(&shared).await?;
    let ended = shared.go_live(&conn, tools);
    let shutdown = CancellationToken::new();
    tokio::spawn(supervisor::run(shared.clone(), conn, ended, shutdown.clone()));
    Ok(McpSource { shared, _shutdown: shutdown.drop_guard() })
}

/// How to reach the server of `cfg`, secrets resolved.
fn launcher(cfg: &UpstreamConfig) -> Result<Launcher, ConnectError> {
    match (cfg.kind(), &cfg.url) {
        (Some(Kind::McpStdio), _) => {
            let mut env = Vec::with_capacity(cfg.env.len());
            for (name, value) in &cfg.env {
                let value = resolve_secret(value)
                    .map_err(|reason| ConnectError::Env { name: name.clone(), reason })?;
                env.push((name.clone(), value));
            }
            Ok(Launcher::Stdio(StdioSpec::new(cfg.command.clone(), env)))
        }
        (Some(Kind::McpHttp), Some(url)) => {
            Ok(Launcher::Http { url: url.clone(), client: http::HttpClient::new(&cfg.headers)? })
        }
        _ => Err(ConnectError::NoTransport),
    }
}

impl McpSource {
    /// `stdio` or `http`.
    pub fn transport(&self) -> &'static str {
        self.shared.launcher.transport()
    }
}

impl Source for McpSource {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Mcp
    }

    fn tools(&self) -> Vec<Arc<UpstreamTool>> {
        self.shared.tools()
    }

    fn call<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<ToolOutput, Error>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = call::run(&self.shared, &call).await;
            let outcome = result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok");
            tracing::debug!(
                upstream = &*self.shared.name,
                tool = call.tool.name,
                call_id = call.call_id,
                elapsed_ms = started.elapsed().as_millis() as u64,
                outcome,
                "upstream call"
            );
            result
        })
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.shared.changes())
    }

    fn health(&self) -> SourceHealth {
        self.shared.health()
    }
}
