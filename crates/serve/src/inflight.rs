//! In-flight calls of a server, for graceful shutdown: once shutdown starts,
//! new calls are refused, running ones get a grace period, and whatever still
//! runs after it is cancelled (its guest interrupted, its slot freed, nothing
//! cached).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use toolhost::CancelToken;

/// Tracks a server's running calls. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Inflight(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    calls: Mutex<HashMap<u64, CancelToken>>,
    next: AtomicU64,
    draining: AtomicBool,
    idle: Notify,
}

/// One running call (or batch); dropping it ends it. Its token is cancelled
/// when the grace period runs out.
#[derive(Debug)]
pub struct InflightGuard {
    owner: Inflight,
    id: u64,
    token: CancelToken,
}

impl InflightGuard {
    /// The token that cancels this call.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut calls = self.owner.0.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.remove(&self.id);
        if calls.is_empty() {
            self.owner.0.idle.notify_waiters();
        }
    }
}

impl Inflight {
    /// Registers a call; `None` once shutdown has started.
    pub fn enter(&self) -> Option<InflightGuard> {
        if self.0.draining.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        self.0.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(id, token.clone());
        Some(InflightGuard { owner: self.clone(), id, token })
    }

    /// Calls running now.
    pub fn count(&self) -> usize {
        self.0.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether shutdown has started.
    pub fn draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Starts shutdown: refuses new calls, waits up to `grace` for running
    /// ones, then cancels the rest and waits (briefly) for them to unwind.
    /// Returns how many calls had to be cancelled.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.0.draining.store(true, Ordering::SeqCst);
        if tokio::time::timeout(grace, self.idle()).await.is_ok() {
            return 0;
        }
        let tokens: Vec<CancelToken> =
            self.0.calls.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for t in &tokens {
            t.cancel();
        }
        tracing::warn!(cancelled = tokens.len(), "grace period over; cancelled the calls still running");
        // A cancelled guest stops within one epoch tick; don't wait forever on a stuck one.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.idle()).await;
        tokens.len()
    }

    async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drains_then_cancels_stragglers() {
        let inflight = Inflight::default();
        let quick = inflight.enter().unwrap();
        let slow = inflight.enter().unwrap();
        let slow_token = slow.token().clone();
        assert_eq!(inflight.count(), 2);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(quick);
            // The slow call only ends once it is cancelled.
            slow.token().cancelled().await;
            drop(slow);
        });
        let cancelled = inflight.shutdown(Duration::from_millis(100)).await;
        assert_eq!(cancelled, 1);
        assert!(slow_token.is_cancelled());
        assert_eq!(inflight.count(), 0);
        assert!(inflight.enter().is_none(), "no new calls once draining");
    }

    #[tokio::test]
    async fn idle_server_shuts_down_at_once() {
        let inflight = Inflight::default();
        drop(inflight.enter());
        assert_eq!(inflight.shutdown(Duration::from_secs(60)).await, 0);
    }
}
