//! The accept loop: hyper connections with a header read timeout (slow
//! clients cannot hold connections open), and graceful shutdown that stops
//! accepting, lets running requests finish and then closes connections.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;
use toolhost::access::ServeConfig;

/// How long open connections get to close after the drain completes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Accepts connections until `shutdown` resolves; then stops accepting and
/// runs `drain` (which waits for in-flight calls and ends long-lived streams)
/// while open connections finish their current requests and close.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    cfg: &ServeConfig,
    shutdown: impl Future<Output = ()>,
    drain: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(cfg.header_timeout_ms))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let close = async {
        if tokio::time::timeout(cfg.grace() + CLOSE_TIMEOUT, graceful.shutdown()).await.is_err() {
            tracing::warn!("connections still open after the grace period; closing them");
        }
    };
    tokio::join!(drain, close);
}
