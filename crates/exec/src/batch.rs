//! Batches: many calls at once, results matched by `call_id`, returned in
//! completion order (default) or submission order, or streamed as each
//! call starts and finishes. One failing call never hides or cancels its
//! siblings; a call whose task panics is an `INTERNAL` result of its own.

use crate::ToolCall;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use toolhost_core::error::Error;
use toolhost_core::{CallOptions, CallResult, ExecutionContext};

/// Order of results in a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// As each call finishes (default).
    #[default]
    Completion,
    /// As submitted.
    Submission,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "completion" => Ok(Order::Completion),
            "submission" => Ok(Order::Submission),
            o => Err(format!("order must be `completion` or `submission`, not {o:?}")),
        }
    }
}

/// Options of one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// Result order.
    pub order: Order,
    /// Run identical calls (same tool and arguments) once and share the
    /// result; each call still gets its own result and id. Default: off.
    pub dedup: bool,
    /// Cancels every call of the batch.
    pub cancel: Option<toolhost_core::CancelToken>,
}

/// A batch event, for streaming.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// A call got its turn and is starting.
    Started {
        /// Position in the batch.
        index: usize,
        /// Its id.
        call_id: String,
        /// Its tool.
        tool: String,
    },
    /// A guest event (log, progress, emit) of a running call.
    Guest {
        /// The call's id.
        call_id: String,
        /// What the guest reported.
        event: toolhost_core::events::GuestEvent,
    },
    /// A call finished.
    Finished(Box<CallResult>),
}

/// Where a batch's results go: streamed as events, or collected. Every
/// runner of the batch holds it.
#[derive(Clone)]
enum Out {
    /// `Started`, `Finished` (and guest) events on a channel.
    Stream(mpsc::Sender<CallEvent>),
    /// Every result in one vector, completion order, no events.
    Collect(Arc<Mutex<Vec<CallResult>>>),
}

impl Out {
    async fn finished(&self, result: CallResult) {
        match self {
            Out::Stream(tx) => {
                let _ = tx.send(CallEvent::Finished(Box::new(result))).await;
            }
            Out::Collect(v) => v.lock().unwrap_or_else(PoisonError::into_inner).push(result),
        }
    }

    fn events(&self) -> Option<&mpsc::Sender<CallEvent>> {
        match self {
            Out::Stream(tx) => Some(tx),
            Out::Collect(_) => None,
        }
    }

    /// What was collected (nothing when it streams).
    fn take(&self) -> Vec<CallResult> {
        match self {
            Out::Collect(v) => std::mem::take(&mut *v.lock().unwrap_or_else(PoisonError::into_inner)),
            Out::Stream(_) => Vec::new(),
        }
    }
}

/// The batch driver (behind `Host::stream_batch`): runs `calls` at most
/// `parallel` at a time, each through `run`, and streams their events.
pub fn spawn_batch<R, Fut>(
    ctx: ExecutionContext,
    calls: Vec<ToolCall>,
    opts: BatchOptions,
    guest_events: bool,
    parallel: usize,
    run: R,
) -> mpsc::Receiver<CallEvent>
where
    R: Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CallResult> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(calls.len().clamp(16, 1024) * 2);
    let guest_events = guest_events.then(|| tx.clone());
    tokio::spawn(drive(ctx, calls, opts, guest_events, parallel, run, Out::Stream(tx)));
    rx
}

/// The batch driver behind `Host::run_batch`: as [`spawn_batch`], but the
/// results come back together (completion order) and no events are built or
/// sent. The driver runs on the runtime, so the caller is woken once, not
/// once per call.
pub fn collect_batch<R, Fut>(
    ctx: ExecutionContext,
    calls: Vec<ToolCall>,
    opts: BatchOptions,
    parallel: usize,
    run: R,
) -> impl Future<Output = Vec<CallResult>> + Send + 'static
where
    R: Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CallResult> + Send + 'static,
{
    let out = Out::Collect(Arc::new(Mutex::new(Vec::with_capacity(calls.len()))));
    let driver = tokio::spawn(drive(ctx, calls, opts, None, parallel, run, out));
    async move {
        match driver.await {
            Ok(out) => out,
            // Panics are caught per call; only a runtime shutdown ends the driver early.
            Err(e) => {
                tracing::warn!(error = %e, "a batch driver ended without its results");
                Vec::new()
            }
        }
    }
}

/// What the runners of one batch share: the calls not yet started, where
/// results go, and how dedup followers get theirs.
struct Batch<R> {
    ctx: Arc<ExecutionContext>,
    queue: Mutex<std::vec::IntoIter<(usize, ToolCall)>>,
    followers: HashMap<usize, Vec<usize>>,
    follower_ids: HashMap<usize, String>,
    cancel: Option<toolhost_core::CancelToken>,
    guest_events: Option<mpsc::Sender<CallEvent>>,
    run: R,
    out: Out,
}

/// Runs `calls` at most `parallel` at a time and hands each result to `out`;
/// returns what `out` collected (nothing when it streams).
///
/// `parallel` runners (fewer for a shorter batch) each take the next call,
/// run it and deliver its result, until none is left: a call costs no task
/// spawn and no wake-up of a driver, and a runner stays on the worker thread
/// it runs on, so a call's state is not handed from one core to another.
async fn drive<R, Fut>(
    ctx: ExecutionContext,
    calls: Vec<ToolCall>,
    opts: BatchOptions,
    guest_events: Option<mpsc::Sender<CallEvent>>,
    parallel: usize,
    run: R,
    out: Out,
) -> Vec<CallResult>
where
    R: Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CallResult> + Send + 'static,
{
    let calls: Vec<ToolCall> = calls
        .into_iter()
        .map(|mut c| {
            c.call_id.get_or_insert_with(toolhost_core::new_call_id);
            c
        })
        .collect();
    // Dedup: followers wait for their leader's result.
    let followers = if opts.dedup { followers_by_leader(&calls) } else { HashMap::new() };
    let follower_set: std::collections::HashSet<usize> = followers.values().flatten().copied().collect();
    // Followers only need their own ids back; don't copy whole calls.
    let follower_ids: HashMap<usize, String> =
        follower_set.iter().map(|&i| (i, calls[i].call_id.clone().unwrap_or_default())).collect();
    let queue: Vec<(usize, ToolCall)> =
        calls.into_iter().enumerate().filter(|(i, _)| !follower_set.contains(i)).collect();
    let runners = parallel.clamp(1, queue.len().max(1));
    let batch = Arc::new(Batch {
        ctx: Arc::new(ctx),
        queue: Mutex::new(queue.into_iter()),
        followers,
        follower_ids,
        cancel: opts.cancel,
        guest_events,
        run,
        out,
    });
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..runners {
        set.spawn(runner(batch.clone()));
    }
    while let Some(done) = set.join_next().await {
        // Panics are caught per call; only a runtime shutdown ends a runner early.
        if let Err(e) = done {
            tracing::warn!(error = %e, "a batch runner ended early");
        }
    }
    batch.out.take()
}

/// One runner of a batch: takes the next call until none is left. A call's
/// future is built only once a runner takes it, so at most `parallel` exist
/// at once: the batch's memory does not grow with its length.
async fn runner<R, Fut>(batch: Arc<Batch<R>>)
where
    R: Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> Fut,
    Fut: Future<Output = CallResult>,
{
    loop {
        let next = batch.queue.lock().unwrap_or_else(PoisonError::into_inner).next();
        let Some((i, call)) = next else { break };
        let id = call.call_id.clone().unwrap_or_default();
        let events = batch.guest_events.clone().map(|tx| forward_guest_events(id, tx));
        let opts = CallOptions { cancel: batch.cancel.clone(), events, interact: None };
        let result = run_call(&batch, call, i, opts).await;
        send_finished(result, &batch.followers, &batch.follower_ids, &batch.ctx, &batch.out).await;
    }
}

/// One call of a batch: announces its start (when the batch streams), runs
/// it, and turns a panic into a result of its own.
async fn run_call<R, Fut>(batch: &Batch<R>, call: ToolCall, i: usize, opts: CallOptions) -> CallResult
where
    R: Fn(Arc<ExecutionContext>, ToolCall, usize, CallOptions) -> Fut,
    Fut: Future<Output = CallResult>,
{
    // The ids outlive the call, for its result should it panic.
    let call_id = call.call_id.clone().unwrap_or_default();
    let tool = call.tool.clone();
    if let Some(tx) = batch.out.events() {
        let started = CallEvent::Started { index: i, call_id: call_id.clone(), tool: tool.clone() };
        let _ = tx.send(started).await;
    }
    let running = std::panic::AssertUnwindSafe(|| (batch.run)(batch.ctx.clone(), call, i, opts));
    let caught = match std::panic::catch_unwind(running) {
        Ok(fut) => std::panic::AssertUnwindSafe(fut).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    caught.unwrap_or_else(|panic| panicked(i, call_id, tool, &batch.ctx, &*panic))
}

/// For identical calls (same tool and canonical arguments), the first one's index → the
/// indices of the later ones, which share its result.
fn followers_by_leader(calls: &[ToolCall]) -> HashMap<usize, Vec<usize>> {
    let mut leaders: HashMap<(String, String), usize> = HashMap::new();
    let mut followers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, c) in calls.iter().enumerate() {
        if let Ok(args) = &c.arguments {
            let key = (c.tool.clone(), canonical_args(args));
            match leaders.get(&key) {
                Some(&l) => followers.entry(l).or_default().push(i),
                None => {
                    leaders.insert(key, i);
                }
            }
        }
    }
    followers
}

/// Sends a finished call's `result`, after a cached copy of it for each of its followers (with
/// the follower's index and id from `follower_ids`).
async fn send_finished(
    result: CallResult,
    followers: &HashMap<usize, Vec<usize>>,
    follower_ids: &HashMap<usize, String>,
    ctx: &ExecutionContext,
    out: &Out,
) {
    for &f in followers.get(&result.index).into_iter().flatten() {
        let mut copy = result.clone();
        copy.index = f;
        copy.call_id = follower_ids[&f].clone();
        copy.cached = true;
        // A follower never reaches the executor: its own line here.
        let tenant = ctx.tenant_id.as_deref().unwrap_or(toolhost_core::DEFAULT_TENANT);
        toolhost_core::observe::logs::call_finished(&copy, &ctx.request_id, tenant);
        out.finished(copy).await;
    }
    out.finished(result).await;
}

/// The result of a call whose task panicked: `INTERNAL`, logged with its ids.
fn panicked(
    index: usize,
    call_id: String,
    tool: String,
    ctx: &ExecutionContext,
    panic: &(dyn std::any::Any + Send),
) -> CallResult {
    let tenant = ctx.tenant_id.as_deref().unwrap_or(toolhost_core::DEFAULT_TENANT);
    let error = Error::from_panic(&tool, &call_id, tenant, panic);
    let result = CallResult::not_run(index, call_id, tool, error);
    toolhost_core::observe::metrics::call_finished(
        &result,
        result.tool.split_once('.').map(|(ns, _)| ns),
        "unknown",
        tenant,
    );
    result
}

fn canonical_args(args: &str) -> String {
    serde_json::from_str::<serde_json::Value>(args)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| args.to_string())
}

fn forward_guest_events(call_id: String, tx: mpsc::Sender<CallEvent>) -> toolhost_core::events::EventSink {
    let (gtx, mut grx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(event) = grx.recv().await {
            if tx.send(CallEvent::Guest { call_id: call_id.clone(), event }).await.is_err() {
                break;
            }
        }
    });
    gtx
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_core::call::ToolOutput;

    /// Answers every call with its arguments; panics on tool `boom`.
    fn run(
        ctx: Arc<ExecutionContext>,
        call: ToolCall,
        index: usize,
        _: CallOptions,
    ) -> impl Future<Output = CallResult> {
        async move {
            let _ = ctx;
            if call.tool == "boom" {
                panic!("a bug in the call path");
            }
            let value = serde_json::from_str(call.arguments.as_deref().unwrap()).unwrap();
            let mut r = CallResult::not_run(
                index,
                call.call_id.unwrap(),
                call.tool,
                Error::Cancelled { tool: String::new() },
            );
            r.result = Ok(Arc::new(ToolOutput { value: Some(value), content: vec![] }));
            r.attempts = 1;
            r
        }
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_internal_result_of_its_own() {
        let calls = vec![
            ToolCall::new("ok", r#"{"n":1}"#).with_id("a"),
            ToolCall::new("boom", "{}").with_id("b"),
            ToolCall::new("ok", r#"{"n":2}"#).with_id("c"),
            ToolCall::new("boom", "{}").with_id("d"),
        ];
        let opts = BatchOptions { dedup: true, ..Default::default() };
        let ctx = ExecutionContext::new().with_tenant_id("acme");
        let mut rx = spawn_batch(ctx, calls, opts, false, 2, run);
        let mut done = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let CallEvent::Finished(r) = ev {
                done.push(*r);
            }
        }
        done.sort_by_key(|r| r.index);
        let ids: Vec<_> = done.iter().map(|r| r.call_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"], "every call has a result");
        for r in [&done[1], &done[3]] {
            let e = r.result.as_ref().unwrap_err();
            assert_eq!((e.code(), r.tool.as_str()), (toolhost_core::ErrorCode::Internal, "boom"), "{r:?}");
        }
        assert_eq!(done[2].result.as_ref().unwrap().value, Some(serde_json::json!({"n": 2})));
    }

    /// A runner that panics while building a call's future (before it is
    /// polled) fails that call alone: the rest of the batch still runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_panics_before_it_runs_is_an_internal_result_of_its_own() {
        let eager = |ctx, call: ToolCall, index, opts| {
            assert_ne!(call.tool, "eager", "a bug building the call");
            run(ctx, call, index, opts)
        };
        let calls = vec![
            ToolCall::new("ok", r#"{"n":1}"#).with_id("a"),
            ToolCall::new("eager", "{}").with_id("b"),
            ToolCall::new("ok", r#"{"n":2}"#).with_id("c"),
        ];
        let mut done = collect_batch(ExecutionContext::new(), calls, BatchOptions::default(), 2, eager).await;
        done.sort_by_key(|r| r.index);
        let ids: Vec<_> = done.iter().map(|r| r.call_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"], "every call has a result");
        assert_eq!(done[1].result.as_ref().unwrap_err().code(), toolhost_core::ErrorCode::Internal);
        assert_eq!(done[2].result.as_ref().unwrap().value, Some(serde_json::json!({"n": 2})));
    }

    /// `collect_batch` gives every result back at once, a panic as its own
    /// `INTERNAL` result, dedup followers as cached copies with their own ids.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_collected_batch_has_every_result_once() {
        let mut calls: Vec<ToolCall> = (0..50)
            .map(|i| ToolCall::new("ok", format!(r#"{{"n":{i}}}"#)).with_id(format!("c{i}")))
            .collect();
        calls.push(ToolCall::new("boom", "{}").with_id("b"));
        calls.push(ToolCall::new("ok", r#"{"n": 7}"#).with_id("dup"));
        let opts = BatchOptions { dedup: true, ..Default::default() };
        let mut done = collect_batch(ExecutionContext::new(), calls, opts, 4, run).await;
        done.sort_by_key(|r| r.index);
        assert_eq!(done.len(), 52);
        assert!(done.iter().enumerate().all(|(i, r)| r.index == i));
        assert_eq!(done[50].result.as_ref().unwrap_err().code(), toolhost_core::ErrorCode::Internal);
        let (leader, dup) = (&done[7], &done[51]);
        assert_eq!((dup.call_id.as_str(), dup.cached, leader.cached), ("dup", true, false));
        assert_eq!(dup.result.as_ref().unwrap().value, Some(serde_json::json!({"n": 7})));
    }

    /// A batch's memory is bounded by its parallelism, not its length: a call's
    /// future (the whole call path's state) exists only once the call has a slot.
    #[tokio::test]
    async fn only_parallel_calls_exist_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Live(Arc<(AtomicUsize, AtomicUsize)>);
        impl Drop for Live {
            fn drop(&mut self) {
                self.0.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let c = counts.clone();
        let counted = move |ctx, call, index, opts| {
            let now = c.0.fetch_add(1, Ordering::SeqCst) + 1;
            c.1.fetch_max(now, Ordering::SeqCst);
            let live = Live(c.clone());
            let inner = run(ctx, call, index, opts);
            async move {
                tokio::task::yield_now().await;
                let r = inner.await;
                drop(live);
                r
            }
        };
        let calls: Vec<ToolCall> = (0..200).map(|i| ToolCall::new("ok", format!(r#"{{"n":{i}}}"#))).collect();
        let mut rx = spawn_batch(ExecutionContext::new(), calls, BatchOptions::default(), false, 3, counted);
        let mut finished = 0;
        while let Some(ev) = rx.recv().await {
            finished += usize::from(matches!(ev, CallEvent::Finished(_)));
        }
        assert_eq!(finished, 200);
        assert!(
            counts.1.load(Ordering::SeqCst) <= 3,
            "{} calls existed at once",
            counts.1.load(Ordering::SeqCst)
        );
    }
}
