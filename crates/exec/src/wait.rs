//! Every wait of a call (a rate-limit token, a bulkhead slot, a retry
//! backoff, an identical call in flight, another process's cache lease) ends
//! as soon as the caller cancels or the call's deadline passes.

use std::future::Future;
use std::time::Duration;
use toolhost_core::call::CancelToken;
use toolhost_core::error::Error;

/// Why a wait ended before what it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The caller cancelled the call.
    Cancelled,
    /// The call's deadline passed.
    DeadlinePassed,
}

impl Interrupted {
    /// The call's error: `TOOL_CANCELLED`, or `TOOL_TIMEOUT` for a call that
    /// was given `budget` in all.
    pub fn into_error(self, tool: &str, budget: Option<Duration>) -> Error {
        match self {
            Interrupted::Cancelled => Error::Cancelled { tool: tool.to_string() },
            Interrupted::DeadlinePassed => Error::Timeout {
                tool: tool.to_string(),
                timeout_ms: budget.map_or(0, |b| b.as_millis() as u64),
            },
        }
    }
}

/// Awaits `fut` unless `cancel` fires or `remaining` elapses first.
///
/// `fut` is polled first, so a wait that is over at once (a free slot) sets
/// no timer and registers with no token.
pub async fn interruptible<F: Future>(
    fut: F,
    cancel: Option<&CancelToken>,
    remaining: Option<Duration>,
) -> Result<F::Output, Interrupted> {
    if cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(Interrupted::Cancelled);
    }
    // Pinned in place and raced by reference: the futures are stored once in
    // the caller's state (moved into `select!`, each would be stored twice).
    let fut = std::pin::pin!(fut);
    let cancelled = std::pin::pin!(CancelToken::cancelled_or_never(cancel));
    let expired = std::pin::pin!(async {
        match remaining {
            Some(r) => tokio::time::sleep(r).await,
            None => std::future::pending().await,
        }
    });
    tokio::select! {
        biased;
        v = fut => Ok(v),
        () = cancelled => Err(Interrupted::Cancelled),
        () = expired => Err(Interrupted::DeadlinePassed),
    }
}

/// Sleeps `d` unless `cancel` fires first.
pub async fn sleep(d: Duration, cancel: Option<&CancelToken>) -> Result<(), Interrupted> {
    interruptible(tokio::time::sleep(d), cancel, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_on_cancel_or_deadline_and_a_ready_future_wins() {
        let cancel = CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            c.cancel();
        });
        let t = tokio::time::Instant::now();
        let r =
            interruptible(std::future::pending::<()>(), Some(&cancel), Some(Duration::from_secs(60))).await;
        assert_eq!((r, t.elapsed()), (Err(Interrupted::Cancelled), Duration::from_secs(5)));
        assert_eq!(sleep(Duration::from_secs(1), Some(&cancel)).await, Err(Interrupted::Cancelled));
        let t = tokio::time::Instant::now();
        let r = interruptible(std::future::pending::<()>(), None, Some(Duration::from_secs(7))).await;
        assert_eq!((r, t.elapsed()), (Err(Interrupted::DeadlinePassed), Duration::from_secs(7)));
        assert_eq!(interruptible(async { 3 }, None, Some(Duration::ZERO)).await, Ok(3));
        let e = Interrupted::DeadlinePassed.into_error("x", Some(Duration::from_millis(1500)));
        assert_eq!(
            (e.code(), e.to_string().contains("1500 ms")),
            (toolhost_core::ErrorCode::ToolTimeout, true)
        );
    }
}
