//! Batches on a [`Host`]: many calls at once through the executor's batch
//! driver, results matched by `call_id`.

use crate::Host;
use std::sync::Arc;
use tokio::sync::mpsc;
use toolhost_core::{CallOptions, CallResult, ExecutionContext};
use toolhost_exec::ToolCall;
use toolhost_exec::batch::{BatchOptions, CallEvent, Order};

impl Host {
    /// Runs a batch and returns every result, in the requested order.
    pub async fn run_batch(
        &self,
        ctx: &ExecutionContext,
        calls: Vec<ToolCall>,
        opts: BatchOptions,
    ) -> Vec<CallResult> {
        let order = opts.order;
        let mut rx = self.stream_batch(ctx.clone(), calls, opts, false);
        let mut out = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let CallEvent::Finished(r) = ev {
                out.push(*r);
            }
        }
        if order == Order::Submission {
            out.sort_by_key(|r| r.index);
        }
        out
    }

    /// Runs a batch in the background, sending `Started`/`Finished` events (and
    /// guest events when `guest_events`) as they happen. Finished events come
    /// in completion order; the channel closes after the last one.
    pub fn stream_batch(
        &self,
        ctx: ExecutionContext,
        calls: Vec<ToolCall>,
        opts: BatchOptions,
        guest_events: bool,
    ) -> mpsc::Receiver<CallEvent> {
        let parallel =
            ctx.max_parallel.unwrap_or(usize::MAX).min(self.executor().config().max_parallel).max(1);
        let host = self.clone();
        let run = move |ctx: Arc<ExecutionContext>, call: ToolCall, index: usize, opts: CallOptions| {
            let host = host.clone();
            async move { host.execute_at(&ctx, call, index, &opts).await }
        };
        toolhost_exec::batch::spawn_batch(ctx, calls, opts, guest_events, parallel, run)
    }
}
