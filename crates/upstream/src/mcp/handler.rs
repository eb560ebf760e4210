//! The client side of one MCP connection: who we are in `initialize`, and
//! what we do with the server's notifications (progress and log lines to the
//! call in flight, `tools/list_changed` to the supervisor).
//!
//! Requests from the server (sampling, elicitation, roots) are answered by
//! rmcp's defaults: toolhost declares none of those capabilities.
// Logging is deprecated in rmcp 3.11 (see routes.rs).
#![allow(deprecated)]

use super::routes::Routes;
use rmcp::ClientHandler;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RoleClient};
use std::sync::Arc;
use tokio::sync::Notify;

/// Handles one connection's notifications.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    /// The upstream's name, for logs.
    upstream: Arc<str>,
    /// The calls in flight on this connection.
    routes: Arc<Routes>,
    /// Woken on `notifications/tools/list_changed`.
    list_changed: Arc<Notify>,
}

impl Handler {
    /// A handler routing to `routes` and waking `list_changed`.
    pub(crate) fn new(upstream: Arc<str>, routes: Arc<Routes>, list_changed: Arc<Notify>) -> Self {
        Handler { upstream, routes, list_changed }
    }
}

impl ClientHandler for Handler {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.routes.progress(&self.upstream, params).await;
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.routes.log(&self.upstream, params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(upstream = &*self.upstream, "upstream tool list changed");
        self.list_changed.notify_one();
    }

    /// `toolhost` with no client capabilities, on the newest protocol
    /// version that still has the `initialize` handshake.
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("toolhost", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}
