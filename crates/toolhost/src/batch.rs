//! Batches on a [`Host`]: many calls at once through the executor's batch
//! driver, results matched by `call_id`.

use crate::Host;
use futures::future::BoxFuture;
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
        let mut out = toolhost_exec::batch::collect_batch(
            ctx.clone(),
            calls,
            opts,
            self.batch_parallel(ctx),
            self.batch_runner(),
        )
        .await;
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
        let (parallel, run) = (self.batch_parallel(&ctx), self.batch_runner());
        toolhost_exec::batch::spawn_batch(ctx, calls, opts, guest_events, parallel, run)
    }

    /// How many calls of a batch run at once: the context's `max_parallel`
    /// within the executor's.
    fn batch_parallel(&self, ctx: &ExecutionContext) -> usize {
        ctx.max_parallel.unwrap_or(usize::MAX).min(self.executor().config().max_parallel).max(1)
    }

    /// Runs one call of a batch on this host.
    fn batch_runner(
        &self,
    ) -> impl Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> BoxFuture<'static, CallResult>
    + Send
    + Sync
    + 'static {
        let host = self.clone();
        move |ctx: Arc<ExecutionContext>, call: ToolCall, index: usize, opts: CallOptions| {
            let host = host.clone();
            Box::pin(async move { host.execute_at(&ctx, call, index, &opts).await })
        }
    }
}
