//! A checkpointing [`Dispatch`]: each call of a durable run is recorded in
//! Redis so that a resumed run reuses what already finished.
//!
//! Per call: a recorded result is reused (the call does not run again);
//! otherwise an `inflight` marker is written, the call runs on the host, and
//! its result is recorded. A call found in flight from an earlier attempt
//! runs again when its tool is idempotent (or `rerun_interrupted` is set);
//! otherwise it is reported as [`Error::Interrupted`].

use crate::runs::{Checkpoints, RunStore, RunStoreError};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toolhost_core::CallResult;
use toolhost_core::{CancelToken, Error, ErrorCode, ExecutionContext, ToolOutput};
use toolhost_scheduler::{Dispatch, NodeSpec};

/// State of one attempt at a run, shared by the worker and the dispatcher.
#[derive(Debug, Default)]
pub struct AttemptState {
    /// Start no new call (the worker's shutdown token: drain).
    pub drain: CancelToken,
    /// A call was not started because of draining or an abort.
    pub refused: AtomicBool,
    /// Another worker reclaimed the run's entry.
    pub lost: AtomicBool,
    /// Cancellation of the run was requested (`DELETE /v1/runs/{id}` from any
    /// process): the attempt stops and the run ends `cancelled`.
    pub cancelled: AtomicBool,
    /// A checkpoint could not be written; the attempt is abandoned.
    pub aborted: Mutex<Option<RunStoreError>>,
    /// Stops running calls (passed as the run's cancel token).
    pub hard: CancelToken,
    /// Calls that ran in this attempt.
    pub executed: AtomicUsize,
    /// Calls answered from checkpoints.
    pub reused: AtomicUsize,
}

impl AttemptState {
    /// A new attempt that drains when `drain` is cancelled.
    pub fn new(drain: CancelToken) -> AttemptState {
        AttemptState { drain, ..Default::default() }
    }

    /// Whether new calls must not start.
    pub fn stopping(&self) -> bool {
        self.drain.is_cancelled() || self.hard.is_cancelled() || self.is_aborted()
    }

    /// Whether a checkpoint write failed.
    pub fn is_aborted(&self) -> bool {
        self.aborted.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn abort(&self, e: RunStoreError) {
        tracing::warn!(error = %e, "checkpoint write failed; abandoning this attempt (the run stays pending and is reclaimed)");
        self.aborted.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        self.hard.cancel();
    }
}

/// Wraps the host for one attempt at one run.
pub struct CheckpointDispatch {
    host: Arc<dyn Dispatch>,
    store: RunStore,
    run_id: String,
    worker: String,
    tenant: String,
    rerun_interrupted: bool,
    checkpoints: Checkpoints,
    state: Arc<AttemptState>,
    /// The run's guests ask their caller through the run hash.
    asking: bool,
}

impl CheckpointDispatch {
    /// A dispatcher for `run_id` resuming from `checkpoints`.
    pub fn new(
        host: Arc<dyn Dispatch>,
        store: RunStore,
        run_id: String,
        worker: String,
        tenant: String,
        checkpoints: Checkpoints,
        state: Arc<AttemptState>,
    ) -> CheckpointDispatch {
        let rerun_interrupted = store.redis().config().rerun_interrupted;
        CheckpointDispatch {
            host,
            store,
            run_id,
            worker,
            tenant,
            rerun_interrupted,
            checkpoints,
            state,
            asking: false,
        }
    }

    /// Lets the run's guests ask their caller ([`RunInteract`](crate::asks::RunInteract)).
    pub fn asking(mut self, asking: bool) -> CheckpointDispatch {
        self.asking = asking;
        self
    }

    fn idempotent(&self, tool: &str) -> bool {
        // An unknown tool cannot run anyway: letting it through reports TOOL_NOT_FOUND.
        self.host.idempotent(&self.tenant, tool).unwrap_or(true)
    }
}

/// A result for a call that did not run.
fn not_run(node: &NodeSpec, error: Error) -> CallResult {
    CallResult::not_run(0, node.call_id.clone(), node.tool.clone(), error)
}

fn recorded_error(v: &Value) -> Error {
    Error::Recorded {
        code: serde_json::from_value::<ErrorCode>(v["code"].clone())
            .unwrap_or(ErrorCode::ToolExecutionFailed),
        message: v["message"].as_str().unwrap_or("").to_string(),
        retryable: v["retryable"].as_bool().unwrap_or(false),
        retry_after_ms: v["retry_after_ms"].as_u64(),
        details: v.get("details").cloned(),
    }
}

/// Rebuilds a [`CallResult`] from its [`CallResult::to_json`] view (no stats):
/// its `to_json` gives the same document back.
pub fn call_result_from_json(v: &Value) -> CallResult {
    let result = if v["ok"].as_bool().unwrap_or(false) {
        let value = match v.get("value") {
            None | Some(Value::Null) => None,
            Some(x) => Some(x.clone()),
        };
        let content =
            v.get("content").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
        Ok(Arc::new(ToolOutput { value, content }))
    } else {
        Err(recorded_error(&v["error"]))
    };
    CallResult {
        index: v["index"].as_u64().unwrap_or(0) as usize,
        call_id: v["call_id"].as_str().unwrap_or("").to_string(),
        tool: v["tool"].as_str().unwrap_or("").to_string(),
        result,
        attempts: v["attempts"].as_u64().unwrap_or(0) as u32,
        cached: v["cached"].as_bool().unwrap_or(false),
        fallback_for: v.get("fallback_for").map(recorded_error),
        started: Duration::ZERO,
        duration: Duration::from_secs_f64(v["duration_ms"].as_f64().unwrap_or(0.0).max(0.0) / 1e3),
        stats: None,
    }
}

impl Dispatch for CheckpointDispatch {
    fn dispatch(
        &self,
        node: NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
        let recorded = self.checkpoints.results.get(&node.call_id).cloned();
        let was_inflight = self.checkpoints.inflight.contains(&node.call_id);
        let interrupted =
            recorded.is_none() && was_inflight && !self.rerun_interrupted && !self.idempotent(&node.tool);
        let (host, store, state) = (self.host.clone(), self.store.clone(), self.state.clone());
        let (run_id, worker) = (self.run_id.clone(), self.worker.clone());
        let interact = self.asking.then(|| {
            let asks =
                crate::asks::RunInteract::new(self.store.clone(), run_id.clone(), self.state.hard.clone());
            Arc::new(asks) as Arc<dyn toolhost_core::interact::Interact>
        });
        Box::pin(async move {
            if let Some(v) = recorded {
                state.reused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(run_id, call_id = %node.call_id, "call already finished; reusing its checkpoint");
                return call_result_from_json(&v);
            }
            if state.stopping() {
                state.refused.store(true, Ordering::SeqCst);
                return not_run(&node, Error::Cancelled { tool: node.tool.clone() });
            }
            if interrupted {
                tracing::warn!(run_id, call_id = %node.call_id, tool = %node.tool,
                    "non-idempotent call was in flight when its worker stopped; reporting it interrupted");
                let r = not_run(&node, Error::Interrupted { tool: node.tool.clone() });
                if let Err(e) = store.store_call(&run_id, &node.call_id, &r.to_json()).await {
                    state.refused.store(true, Ordering::SeqCst);
                    state.abort(e);
                }
                return r;
            }
            if was_inflight {
                tracing::info!(run_id, call_id = %node.call_id, "call was in flight on a stopped worker; running it again");
            }
            if let Err(e) = store.mark_inflight(&run_id, &node.call_id, &worker).await {
                state.refused.store(true, Ordering::SeqCst);
                state.abort(e);
                return not_run(&node, Error::Cancelled { tool: node.tool.clone() });
            }
            state.executed.fetch_add(1, Ordering::Relaxed);
            let call_id = node.call_id.clone();
            let r = host.dispatch_asking(node, args, ctx, cancel, interact).await;
            if state.hard.is_cancelled() && matches!(r.result, Err(Error::Cancelled { .. })) {
                // Stopped before it finished: no result; the in-flight marker stays.
                return r;
            }
            if let Err(e) = store.store_call(&run_id, &call_id, &r.to_json()).await {
                state.abort(e);
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuilt_result_serialises_as_the_original() {
        let ok = CallResult {
            index: 0,
            call_id: "a".into(),
            tool: "t".into(),
            result: Ok(Arc::new(ToolOutput {
                value: Some(serde_json::json!({"x": 1})),
                content: vec![toolhost_core::Content::Text { text: "hi".into() }],
            })),
            attempts: 2,
            cached: false,
            fallback_for: None,
            started: Duration::ZERO,
            duration: Duration::from_millis(12),
            stats: None,
        };
        assert_eq!(call_result_from_json(&ok.to_json()).to_json(), ok.to_json());
        let failed = CallResult {
            result: Err(Error::Tool {
                tool: "t".into(),
                kind: toolhost_core::ToolErrorKind::Transient,
                message: "boom".into(),
                retryable: true,
                retry_after_ms: Some(5),
                details: Some(serde_json::json!({"k": 1})),
            }),
            fallback_for: Some(Error::Interrupted { tool: "t".into() }),
            ..ok.clone()
        };
        let back = call_result_from_json(&failed.to_json());
        assert_eq!(back.to_json(), failed.to_json());
        assert_eq!(back.result.unwrap_err().code(), ErrorCode::ToolExecutionFailed);
        let i = not_run(
            &NodeSpec { call_id: "c".into(), tool: "t".into(), ..node() },
            Error::Interrupted { tool: "t".into() },
        );
        let j = i.to_json();
        assert_eq!(j["error"]["code"], "INTERRUPTED");
        assert_eq!(j["error"]["retryable"], false);
        assert_eq!(call_result_from_json(&j).to_json(), j);
    }

    fn node() -> NodeSpec {
        serde_json::from_value(serde_json::json!({"call_id": "n", "tool": "t"})).unwrap()
    }
}
