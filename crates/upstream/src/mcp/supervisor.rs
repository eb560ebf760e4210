//! Keeps an MCP source connected: watches the live connection, re-lists the
//! tools on `notifications/tools/list_changed`, and when the process dies or
//! the connection fails, reconnects with capped exponential backoff.
//!
//! Backoff: the first attempt after a failure waits [`FIRST_DELAY`], each
//! further failed attempt doubles the wait up to [`MAX_DELAY`]; a connection
//! that stayed up [`STABLE_AFTER`] resets it. Every attempt counts as a
//! restart in the health report; each successful one re-lists the tools and
//! moves the `changes` counter.

use super::connection::Connection;
use super::error::ConnectError;
use super::state::Shared;
use super::tools;
use crate::UpstreamTool;
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::{Peer, RoleClient};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Wait before the first reconnection attempt.
pub const FIRST_DELAY: Duration = Duration::from_millis(200);
/// Longest wait between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A connection up this long resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How long a connection that fails a ping gets to report that it ended.
const ENDED_GRACE: Duration = Duration::from_secs(3);

/// Capped exponential backoff.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the next attempt (and doubles the one after).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }

    /// A connection ended after being up `lasted`: a stable one resets the
    /// backoff.
    pub(crate) fn ended_after(&mut self, lasted: Duration) {
        if lasted >= STABLE_AFTER {
            self.next = FIRST_DELAY;
        }
    }
}

/// A new connection and its tools.
pub(crate) type Started = (Connection, Vec<Arc<UpstreamTool>>);

/// Connects, completes the handshake and lists the tools, each within the
/// source's timeout.
pub(crate) async fn start(shared: &Shared) -> Result<Started, ConnectError> {
    let conn = shared.launcher.start(&shared.name, &shared.list_changed, shared.timeout).await?;
    match tools::list(&shared.name, &conn.peer(), shared.timeout).await {
        Ok(tools) => Ok((conn, tools)),
        Err(e) => {
            conn.close().await;
            Err(e)
        }
    }
}

/// Supervises `conn` (already live, `ended` its end signal) and every
/// connection after it, until `shutdown`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut conn: Connection,
    mut ended: watch::Sender<Option<String>>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let up_since = Instant::now();
        if !watch_connection(&shared, conn, &ended, &shutdown).await {
            return;
        }
        backoff.ended_after(up_since.elapsed());
        let Some((next, tools)) = reconnect(&shared, &mut backoff, &shutdown).await else {
            return;
        };
        tracing::info!(
            upstream = &*shared.name,
            tools = tools.len(),
            pid = next.pid(),
            "MCP upstream reconnected"
        );
        ended = shared.go_live(&next, tools);
        conn = next;
    }
}

/// Serves `conn` until it ends (`true`) or `shutdown` (`false`); either way
/// it is closed and the source is down on return.
async fn watch_connection(
    shared: &Shared,
    mut conn: Connection,
    ended: &watch::Sender<Option<String>>,
    shutdown: &CancellationToken,
) -> bool {
    let upstream = &*shared.name;
    let (why, stderr) = loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                shared.go_down(None);
                conn.close().await;
                return false;
            }
            ended = conn.ended() => break ended,
            () = shared.list_changed.notified() => relist(shared, conn.peer()).await,
            () = shared.suspect.notified() => {
                if let Err(e) = ping(conn.peer(), shared.timeout).await {
                    // A process that died says so (with its exit status) at once.
                    match tokio::time::timeout(ENDED_GRACE, conn.ended()).await {
                        Ok(ended) => break ended,
                        Err(_) => break (format!("stopped answering ({e})"), None),
                    }
                }
            }
        }
    };
    let transport = shared.launcher.transport();
    tracing::warn!(upstream, transport, why, stderr, "MCP upstream went down; restarting it");
    let _ = ended.send(Some(why.clone()));
    let health = match stderr {
        Some(tail) => format!("{why}; stderr: {tail}"),
        None => why,
    };
    shared.go_down(Some(health));
    conn.close().await;
    true
}

/// Re-lists the tools after `notifications/tools/list_changed` (a failure
/// keeps the old list).
async fn relist(shared: &Shared, peer: Peer<RoleClient>) {
    match tools::list(&shared.name, &peer, shared.timeout).await {
        Ok(tools) => {
            tracing::info!(upstream = &*shared.name, tools = tools.len(), "MCP upstream tool list changed");
            shared.set_tools(tools);
        }
        Err(e) => {
            tracing::warn!(upstream = &*shared.name, error = %e, "cannot re-list the MCP upstream's tools")
        }
    }
}

/// Whether the server still answers a `ping` within `timeout`.
async fn ping(peer: Peer<RoleClient>, timeout: Duration) -> Result<(), String> {
    let request = ClientRequest::PingRequest(PingRequest::default());
    match tokio::time::timeout(timeout, peer.send_request(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(toolhost_core::text::preview(&e.to_string())),
        Err(_) => Err(format!("no answer to ping within {} ms", timeout.as_millis())),
    }
}

/// Reconnects with backoff until it works (`Some`) or `shutdown` (`None`).
async fn reconnect(shared: &Shared, backoff: &mut Backoff, shutdown: &CancellationToken) -> Option<Started> {
    loop {
        let delay = backoff.next_delay();
        shared.retry_at(Instant::now() + delay);
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
        shared.count_restart();
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return None,
            attempt = start(shared) => attempt,
        };
        match attempt {
            Ok(started) => return Some(started),
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(upstream = &*shared.name, error, next_in_ms = ?backoff.next, "MCP upstream restart failed");
                shared.failed(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets_when_stable() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        b.ended_after(Duration::from_secs(5));
        assert_eq!(b.next_delay(), MAX_DELAY);
        b.ended_after(STABLE_AFTER);
        assert_eq!(b.next_delay(), FIRST_DELAY);
    }
}
