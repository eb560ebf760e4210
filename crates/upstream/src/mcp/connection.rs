//! One connection to an MCP server: the child process (stdio) or the HTTP
//! session, rmcp's client running over it, and how it ends.

use super::error::{ConnectError, describe};
use super::handler::Handler;
use super::http::HttpClient;
use super::routes::Routes;
use super::stdio::{StderrTail, StdioSpec};
use rmcp::ServiceExt as _;
use rmcp::service::{Peer, QuitReason, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::Notify;
use tokio::task::JoinError;

/// How long a child that closed its stdout gets to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// How to reach the server.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// Start a child process speaking MCP on stdio.
    Stdio(StdioSpec),
    /// Streamable HTTP at a URL.
    Http {
        /// The MCP endpoint.
        url: String,
        /// The client (with the configured headers).
        client: HttpClient,
    },
}

/// Resolves when rmcp's service loop ends (it owns the running service:
/// dropping it closes the connection).
type Serving = Pin<Box<dyn Future<Output = Result<QuitReason, JoinError>> + Send>>;

/// A live connection.
pub(crate) struct Connection {
    peer: Peer<RoleClient>,
    /// `None` once it resolved.
    serving: Option<Serving>,
    child: Option<(Child, StderrTail)>,
    /// The calls in flight on it.
    pub(crate) routes: Arc<Routes>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("pid", &self.child.as_ref().and_then(|(c, _)| c.id())).finish()
    }
}

impl Launcher {
    /// `stdio` or `http`, for logs.
    pub(crate) fn transport(&self) -> &'static str {
        match self {
            Launcher::Stdio(_) => "stdio",
            Launcher::Http { .. } => "http",
        }
    }

    /// Connects and completes the MCP handshake within `timeout`. A child
    /// that does not make it is killed.
    pub(crate) async fn start(
        &self,
        upstream: &Arc<str>,
        list_changed: &Arc<Notify>,
        timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        let routes = Arc::new(Routes::default());
        let handler = Handler::new(upstream.clone(), routes.clone(), list_changed.clone());
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let (service, child) = match self {
            Launcher::Stdio(spec) => {
                let spawned = spec.spawn(upstream)?;
                let handshake = handler.serve((spawned.stdout, spawned.stdin));
                let service = tokio::time::timeout(timeout, handshake)
                    .await
                    .map_err(|_| ConnectError::InitializeTimeout(timeout_ms))?
                    .map_err(|e| handshake_error(e, &spawned.stderr))?;
                (service, Some((spawned.child, spawned.stderr)))
            }
            Launcher::Http { url, client } => {
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                let transport = StreamableHttpClientTransport::with_client(client.clone(), config);
                let service = tokio::time::timeout(timeout, handler.serve(transport))
                    .await
                    .map_err(|_| ConnectError::InitializeTimeout(timeout_ms))?
                    .map_err(|e| ConnectError::Initialize(toolhost_core::text::preview(&describe(&e))))?;
                (service, None)
            }
        };
        Ok(Connection::new(service, child, routes))
    }
}

/// Waits for rmcp's service loop to end (at once if it has).
async fn serving_ended(serving: &mut Option<Serving>) {
    if let Some(running) = serving.as_mut() {
        let _ = running.await;
        *serving = None;
    }
}

/// A failed handshake, with the child's last stderr lines when it has any.
fn handshake_error(e: rmcp::service::ClientInitializeError, stderr: &StderrTail) -> ConnectError {
    let mut reason = toolhost_core::text::preview(&describe(&e));
    if let Some(tail) = stderr.text() {
        reason.push_str("; stderr: ");
        reason.push_str(&tail);
    }
    ConnectError::Initialize(reason)
}

impl Connection {
    fn new(
        service: RunningService<RoleClient, Handler>,
        child: Option<(Child, StderrTail)>,
        routes: Arc<Routes>,
    ) -> Self {
        let peer = service.peer().clone();
        Connection { peer, serving: Some(Box::pin(service.waiting())), child, routes }
    }

    /// The peer calls are sent to.
    pub(crate) fn peer(&self) -> Peer<RoleClient> {
        self.peer.clone()
    }

    /// The child's process id (stdio).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|(c, _)| c.id())
    }

    /// Resolves when the connection is gone, with what happened ("exited
    /// (exit status: 3)", "closed the connection") and, for a child, its last
    /// stderr lines. Cancel-safe.
    pub(crate) async fn ended(&mut self) -> (String, Option<String>) {
        let Some((child, stderr)) = self.child.as_mut() else {
            serving_ended(&mut self.serving).await;
            return ("closed the connection".to_string(), None);
        };
        let exited = tokio::select! {
            status = child.wait() => status,
            () = serving_ended(&mut self.serving) => match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            },
        };
        let why = match exited {
            Ok(status) => format!("exited ({status})"),
            Err(e) => format!("exited (cannot wait for the process: {e})"),
        };
        (why, stderr.text())
    }

    /// Closes the connection (dropping rmcp's service cancels its loop) and
    /// kills the child.
    pub(crate) async fn close(mut self) {
        self.serving = None;
        if let Some((mut child, _)) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}
