//! What an MCP source shares between its calls and its supervisor: the live
//! connection (if any), the current tool list, the `changes` counter and
//! the health report.

use super::connection::{Connection, Launcher};
use super::error::transient;
use super::routes::Routes;
use crate::{SourceHealth, UpstreamConfig, UpstreamTool};
use rmcp::service::{Peer, RoleClient};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use toolhost_core::Error;

/// The connection calls go to, while it is up.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// rmcp's handle to the server.
    pub(crate) peer: Peer<RoleClient>,
    /// The calls in flight on it.
    pub(crate) routes: Arc<Routes>,
    /// Why it ended, once it has (set before calls in flight fail).
    pub(crate) ended: watch::Receiver<Option<String>>,
}

/// Restarts, the latest failure and the next attempt.
#[derive(Debug, Default)]
struct Health {
    restarts: u32,
    error: Option<String>,
    retry_at: Option<Instant>,
}

/// State shared by an MCP source's calls and its supervisor.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The upstream's name (the namespace).
    pub(crate) name: Arc<str>,
    /// How to (re)connect.
    pub(crate) launcher: Launcher,
    /// Time for the handshake and for `tools/list`.
    pub(crate) timeout: Duration,
    /// Largest tool result accepted (as JSON), bytes.
    pub(crate) max_response_bytes: u64,
    /// Woken on `notifications/tools/list_changed`.
    pub(crate) list_changed: Arc<Notify>,
    /// Woken by a call that hit a transport failure: the supervisor checks
    /// that the server still answers.
    pub(crate) suspect: Notify,
    live: RwLock<Option<Live>>,
    tools: RwLock<Vec<Arc<UpstreamTool>>>,
    changes: watch::Sender<u64>,
    health: Mutex<Health>,
}

impl Shared {
    /// A source for `cfg`, not connected yet.
    pub(crate) fn new(cfg: &UpstreamConfig, launcher: Launcher) -> Self {
        Shared {
            name: Arc::from(cfg.name.as_str()),
            launcher,
            timeout: cfg.timeout(),
            max_response_bytes: cfg.max_response_bytes,
            list_changed: Arc::new(Notify::new()),
            suspect: Notify::new(),
            live: RwLock::new(None),
            tools: RwLock::new(Vec::new()),
            changes: watch::Sender::new(0),
            health: Mutex::new(Health::default()),
        }
    }

    fn health_mut(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live connection, if the server is up.
    pub(crate) fn live(&self) -> Option<Live> {
        self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The current tools.
    pub(crate) fn tools(&self) -> Vec<Arc<UpstreamTool>> {
        self.tools.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the tool list and moves the `changes` counter.
    pub(crate) fn set_tools(&self, tools: Vec<Arc<UpstreamTool>>) {
        *self.tools.write().unwrap_or_else(std::sync::PoisonError::into_inner) = tools;
        self.changes.send_modify(|n| *n += 1);
    }

    /// A receiver of the `changes` counter.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Makes `conn` the live connection with `tools`; returns where to say
    /// why it ended.
    pub(crate) fn go_live(
        &self,
        conn: &Connection,
        tools: Vec<Arc<UpstreamTool>>,
    ) -> watch::Sender<Option<String>> {
        let (ended_tx, ended) = watch::channel(None);
        let live = Live { peer: conn.peer(), routes: conn.routes.clone(), ended };
        *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(live);
        {
            let mut health = self.health_mut();
            health.error = None;
            health.retry_at = None;
        }
        self.set_tools(tools);
        ended_tx
    }

    /// No connection now; `why` is the failure, when there is one.
    pub(crate) fn go_down(&self, why: Option<String>) {
        *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        if why.is_some() {
            self.health_mut().error = why;
        }
    }

    /// A (re)connection attempt failed.
    pub(crate) fn failed(&self, why: String) {
        self.health_mut().error = Some(why);
    }

    /// The next attempt is due at `at`.
    pub(crate) fn retry_at(&self, at: Instant) {
        self.health_mut().retry_at = Some(at);
    }

    /// One more restart (or reconnection) attempt.
    pub(crate) fn count_restart(&self) {
        let mut health = self.health_mut();
        health.restarts = health.restarts.saturating_add(1);
    }

    /// The health report.
    pub(crate) fn health(&self) -> SourceHealth {
        let up = self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).is_some();
        let health = self.health_mut();
        SourceHealth { up, restarts: health.restarts, error: health.error.clone() }
    }

    /// The error of a call made while the server is down: transient, with
    /// the time until the next attempt as its retry hint.
    pub(crate) fn unavailable(&self, tool: &str) -> Error {
        let health = self.health_mut();
        let message = format!("upstream '{}' is not connected (restarting); try again shortly", self.name);
        let mut error = transient(tool, message);
        if let (Error::Tool { retry_after_ms, .. }, Some(at)) = (&mut error, health.retry_at) {
            let wait = at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            *retry_after_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        }
        error
    }
}
