//! MCP on stdin/stdout: one session, tenant from `[serve] tenant`. Nothing
//! but MCP messages is ever written to stdout (logs go to stderr); incoming
//! lines longer than `[serve] max_message_bytes` are dropped.

use crate::mcp::McpServer;
use crate::state::Shared;
use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;
use std::sync::Arc;
use toolhost::{Error, Host};

/// Serves one MCP session on stdio until the client closes stdin or
/// `shutdown` resolves (then in-flight calls get the grace period).
pub async fn serve_stdio(host: Host, shutdown: impl Future<Output = ()>) -> toolhost::Result<()> {
    let cfg = host.config().serve.clone();
    let shared = Arc::new(Shared::new(host, cfg.tenant.clone()));
    // 2025-11-25 task messages are adapted on the way (see `task_wire`).
    let (stdin, stdout) = crate::task_wire::stdio_pipes(cfg.max_message_bytes);
    let transport = AsyncRwTransport::new_server(stdin, stdout).with_max_line_length(cfg.max_message_bytes);
    let running = McpServer::new(shared.clone())
        .serve(transport)
        .await
        .map_err(|e| Error::Configuration(format!("MCP session did not start: {e}")))?;
    let stop = running.cancellation_token();
    tokio::pin!(shutdown);
    let waiting = running.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        r = &mut waiting => {
            tracing::info!(reason = ?r.ok(), "MCP client closed the session");
            return Ok(());
        }
        _ = &mut shutdown => {}
    }
    tracing::info!(inflight = shared.inflight.count(), "shutting down: draining in-flight calls");
    shared.inflight.shutdown(cfg.grace()).await;
    stop.cancel();
    let _ = waiting.await;
    Ok(())
}
